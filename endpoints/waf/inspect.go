package waf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"

	"github.com/corazawaf/coraza/v3/types"
)

// verdict is what the Core Rule Set made of one request.
type verdict struct {
	hit    bool   // a rule denied the request, or the engine failed
	reason Reason // KindCRS or KindError when hit
	// request is the request to pass on: the original one, or a shallow
	// copy whose Body replays the inspected prefix before the rest.
	request *http.Request
}

// inspect runs the request phases of the Core Rule Set: headers, then up
// to InspectBodyLimit of the body. The transaction is logged and closed
// on every path, and a panic inside the engine becomes an error verdict,
// never a crashed request.
func (f *Firewall) inspect(r *http.Request, client netip.Addr) (v verdict) {
	v.request = r
	tx := f.crs.waf.NewTransaction()
	defer func() {
		if p := recover(); p != nil {
			v.hit, v.reason = true, Reason{Kind: KindError, Index: -1, Err: fmt.Errorf("core rule set panicked: %v", p)}
		}
	}()
	defer func() {
		tx.ProcessLogging()
		if err := tx.Close(); err != nil {
			f.log.Warn("close core rule set transaction", "err", err)
		}
	}()

	cport := 0
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		cport = int(ap.Port())
	}
	saddr, sport := localAddr(r)
	tx.ProcessConnection(client.String(), cport, saddr, sport)
	uri := r.RequestURI
	if len(uri) == 0 || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, val := range vs {
			tx.AddRequestHeader(k, val)
		}
	}
	// net/http moves these out of r.Header.
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			tx.SetServerName(h)
		} else {
			tx.SetServerName(r.Host)
		}
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	// A request built in-process (or by a rewriting middleware) may carry
	// its length only in ContentLength; CRS 920180 wants the header.
	if r.ContentLength > 0 && len(r.TransferEncoding) == 0 && len(r.Header["Content-Length"]) == 0 {
		tx.AddRequestHeader("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return f.crsHit(v, tx, it)
	}

	if tx.IsRequestBodyAccessible() && r.Body != nil && r.Body != http.NoBody {
		prefix, eof, readErr := readPrefix(r.Body, InspectBodyLimit, r.ContentLength)
		v.request = withBody(r, prefix, eof, readErr)
		// A body that could not be read is not inspected: it can never
		// reach the backend whole (the handler gets the same read error),
		// and a cut-off document would only trip the parse-error rules.
		// The body phase still runs for the rules on the URL and headers.
		if len(prefix) > 0 && readErr == nil {
			// With InspectBodyLimit bytes or more coraza processes the
			// body right here (ProcessPartial).
			it, _, err := tx.WriteRequestBody(prefix)
			if err != nil {
				return errVerdict(v, fmt.Errorf("write request body: %w", err))
			}
			if it != nil {
				return f.crsHit(v, tx, it)
			}
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		return errVerdict(v, fmt.Errorf("process request body: %w", err))
	}
	if it == nil {
		it = tx.Interruption() // set by an earlier ProcessPartial
	}
	if it != nil {
		return f.crsHit(v, tx, it)
	}
	return v
}

// crsHit fills in a KindCRS verdict from an interruption. The matched
// rules are copied out: the transaction is reused after Close.
func (f *Firewall) crsHit(v verdict, tx types.Transaction, it *types.Interruption) verdict {
	v.hit = true
	v.reason = Reason{Kind: KindCRS, Index: -1, RuleID: it.RuleID}
	for _, m := range tx.MatchedRules() {
		md := m.Rule()
		if md.Severity() == types.RuleSeverityUnset || md.ID() == it.RuleID {
			continue // CRS bookkeeping rules, or the deciding one
		}
		if !slices.Contains(v.reason.Matched, md.ID()) {
			v.reason.Matched = append(v.reason.Matched, md.ID())
		}
	}
	return v
}

func errVerdict(v verdict, err error) verdict {
	v.hit = true
	v.reason = Reason{Kind: KindError, Index: -1, Err: err}
	return v
}

// localAddr is the address the request came in on, when the server
// recorded it.
func localAddr(r *http.Request) (string, int) {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return "", 0
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return "", 0
	}
	return ap.Addr().String(), int(ap.Port())
}

// readPrefix reads up to limit bytes of body. eof reports that the body
// ended within them; err is a read error other than io.EOF. hint is the
// declared length (-1 if unknown), used to size the buffer.
func readPrefix(body io.Reader, limit int, hint int64) (buf []byte, eof bool, err error) {
	size := 512
	if hint >= 0 {
		size = int(min(hint+1, int64(limit))) // +1 to see EOF without growing
	}
	buf = make([]byte, 0, max(size, 1))
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), limit-len(buf)))
		}
		n, rerr := body.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if errors.Is(rerr, io.EOF) {
			return buf, true, nil
		}
		if rerr != nil {
			return buf, false, rerr
		}
	}
	return buf, false, nil
}

// withBody returns a shallow copy of r whose body yields prefix and then
// whatever of the original body was not read (or the read error). Close
// closes the original body.
func withBody(r *http.Request, prefix []byte, eof bool, readErr error) *http.Request {
	var rd io.Reader = bytes.NewReader(prefix)
	switch {
	case readErr != nil:
		rd = io.MultiReader(rd, errReader{readErr})
	case !eof:
		rd = io.MultiReader(rd, r.Body)
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Body = replayBody{Reader: rd, Closer: r.Body}
	return r2
}

type replayBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
