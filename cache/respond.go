package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HeaderXCache is the response header naming how each tier answered, e.g.
// "Miss from edge, Hit from regional".
const HeaderXCache = "X-Cache"

// xcache returns the X-Cache value for result at this tier, followed by
// the upstream tier's value when there is one.
func (c *Cache) xcache(r Result, upstream string) string {
	if upstream == "" {
		return c.labels[r][0]
	}
	return r.String() + " from " + c.tier + ", " + upstream
}

// xcacheValue returns xcache(r, upstream) as a header value, shared (see
// shareHeader) when there is no upstream value.
func (c *Cache) xcacheValue(r Result, upstream string) []string {
	if upstream == "" {
		return c.labels[r]
	}
	return []string{c.xcache(r, upstream)}
}

// codingValues are the Content-Encoding values of the stored codings,
// shared by every response (see shareHeader).
var codingValues = [...][]string{codingGzip: {"gzip"}, codingZstd: {"zstd"}}

// writeEntry answers r from e, marked with the X-Cache value xc.
// Conditional requests that match e's validators get 304; the body is sent
// in the best coding r accepts. The header values are e's own, shared
// rather than copied (see shareHeader); only Age is made for each hit.
func (s *Stage) writeEntry(w http.ResponseWriter, r *http.Request, e *entry, xc []string, now int64) {
	h := w.Header()
	shareHeader(h, e.header)
	h[HeaderXCache] = xc
	age := e.age + time.Duration(max(now-e.storedAt, 0))
	h["Age"] = ageValue(int64(age / time.Second))
	if e.vary != nil {
		h["Vary"] = e.vary
	}
	delete(h, "Content-Encoding")
	if e.status == http.StatusOK && notModified(r.Header, e) {
		delete(h, "Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	head := r.Method == http.MethodHead
	body := e.raw
	c := identity
	if e.zstd != nil || e.gzip != nil {
		c = parseAcceptEncoding(r.Header["Accept-Encoding"]).choose(e.zstd != nil, e.gzip != nil)
	}
	switch c {
	case codingZstd:
		body = e.zstd
	case codingGzip:
		body = e.gzip
	case identity:
		if body == nil && !head && e.rawLen > 0 {
			var err error
			if body, err = e.decoded(); err != nil {
				// Only a bug can corrupt a stored body; do not send it.
				s.c.log.Error("decode stored body", "api", s.api, "stage", s.name, "err", err)
				http.Error(w, "cache: stored response unreadable", http.StatusInternalServerError)
				return
			}
		}
	}
	if c != identity {
		h["Content-Encoding"] = codingValues[c]
		if e.weakETag != nil {
			h["Etag"] = e.weakETag
		}
	}
	if bodyAllowed(e.status) && (head || len(body) >= serverCountsBelow) {
		h["Content-Length"] = e.sizes[c]
	}
	w.WriteHeader(e.status)
	if !head && bodyAllowed(e.status) {
		_, _ = w.Write(body) // a failed write means the client left
	}
}

// serverCountsBelow is the body size under which a hit leaves
// Content-Length to the server: net/http (HTTP/1.1 buffers 2048 bytes
// before it must choose, HTTP/2 4 KiB) and quic-go's HTTP/3 all count a
// body that a handler wrote whole before returning. net/http then writes
// the header without the map entry, the clone of it and the sort it costs
// here (quic-go sets it in the map itself, so HTTP/3 saves nothing).
// TestHitContentLengthOverTheWire checks it for every protocol.
const serverCountsBelow = 2048

// ageValues are the Age header values of the first sharedAges seconds,
// shared by every response (see shareHeader): a hit then allocates
// nothing for its Age.
var ageValues = func() [][]string {
	v := make([][]string, sharedAges)
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

// sharedAges covers the default TTL (300 s) and then some.
const sharedAges = 1024

// ageValue returns the Age header value for an age of sec seconds.
func ageValue(sec int64) []string {
	if sec >= 0 && sec < sharedAges {
		return ageValues[sec]
	}
	return []string{strconv.FormatInt(sec, 10)}
}

// decoded returns the entry's body without content coding.
func (e *entry) decoded() ([]byte, error) {
	if e.zstd != nil {
		return zstdDecoder().DecodeAll(e.zstd, make([]byte, 0, e.rawLen))
	}
	if e.gzip != nil {
		return decodeBody(codingGzip, e.gzip, e.rawLen)
	}
	return e.raw, nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// shareHeader puts the header src into dst without copying its values:
// each value slice is capped at its length, so that Add or append by a
// later handler copies rather than writes into it (as the pipeline does
// with its request id). Nothing may write into a value slice in place.
func shareHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs[:len(vs):len(vs)]
	}
}

// notModified reports whether the conditional headers of a request are
// satisfied by e, so a 304 answers it (RFC 9110 §13.1.2, §13.1.3;
// If-Modified-Since is ignored when If-None-Match is present).
func notModified(h http.Header, e *entry) bool {
	if inm, ok := h["If-None-Match"]; ok {
		return e.etag != "" && etagMatch(inm, e.etag)
	}
	ims := h["If-Modified-Since"]
	if len(ims) == 0 || e.lastModified == "" {
		return false
	}
	t, err := http.ParseTime(ims[0])
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(e.lastModified)
	return err == nil && !lm.After(t)
}

// etagMatch reports whether an If-None-Match list matches etag under weak
// comparison (RFC 9110 §8.8.3.2).
func etagMatch(list []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range list {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			v = strings.TrimPrefix(v, "W/")
			if v == "" || v[0] != '"' {
				// Malformed: skip to the next member.
				_, v, _ = strings.Cut(v, ",")
				continue
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				return false
			}
			if v[:end+2] == want {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

// passWriter marks a response passed through from the origin with the
// tier's X-Cache, followed by the origin's own, when its header is sent.
type passWriter struct {
	http.ResponseWriter
	result Result
	c      *Cache
	marked bool
}

func (p *passWriter) mark() {
	if p.marked {
		return
	}
	p.marked = true
	h := p.ResponseWriter.Header()
	h.Set(HeaderXCache, p.c.xcache(p.result, h.Get(HeaderXCache)))
}

// WriteHeader marks the header before a final status; informational ones
// pass unmarked.
func (p *passWriter) WriteHeader(code int) {
	if code >= 200 {
		p.mark()
	}
	p.ResponseWriter.WriteHeader(code)
}

// Write marks the header if it has not been sent yet.
func (p *passWriter) Write(b []byte) (int, error) {
	p.mark()
	return p.ResponseWriter.Write(b)
}

// Flush sends what was written so far, if the underlying writer can.
func (p *passWriter) Flush() {
	p.mark()
	_ = http.NewResponseController(p.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (p *passWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// passThrough calls origin for r uncached, marking the response with result.
func (s *Stage) passThrough(w http.ResponseWriter, r *http.Request, origin Origin, result Result) {
	pw := &passWriter{ResponseWriter: w, result: result, c: s.c}
	origin(pw, r, false)
	pw.mark() // an origin that wrote nothing still gets the header
}
