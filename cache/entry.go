package cache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// entry is one item of a stage's store. Entries are immutable once stored:
// a revalidation stores a modified copy.
//
// An entry is either a stored response, or, when record is set, a vary
// record: the request headers that the responses stored at this key vary
// on, whose values select the key of the variant (see variantKey).
type entry struct {
	record []string // vary record: canonical, sorted header names

	status int
	header http.Header // origin headers, without those in Cache.drop
	raw    []byte      // body, when stored uncompressed
	zstd   []byte      // zstd encoding of the body, when it is smaller
	gzip   []byte      // gzip encoding of the body, when it is smaller
	rawLen int         // decoded body size

	storedAt   int64         // unix ns when received or last revalidated
	age        time.Duration // origin's Age when received
	freshUntil int64         // unix ns
	swr, sie   time.Duration // windows after freshUntil
	revalidate bool          // no-cache: validate before every use
	expireAt   int64         // unix ns when the store drops it

	etag, lastModified string

	varyNames  []string // Vary header names (canonical, sorted), Accept-Encoding excluded
	varyValues []string // the fetching request's values of varyNames

	// Header values sent with the entry, shared by its responses (see
	// shareHeader).
	vary     []string    // Vary, nil when none
	weakETag []string    // ETag of compressed bodies, nil when none
	sizes    [3][]string // Content-Length by coding

	epoch  uint64 // the stage's flush epoch when the fetch started
	path   string // stage-relative path, for flushes
	weight uint32
}

// cacheableStatus lists the status codes stored: the heuristically
// cacheable ones of RFC 9110 §15.1 without 206 (Range requests bypass the
// cache). 405 and 501 are kept because only GET is stored, so they describe
// the route, not the request.
func cacheableStatus(code int) bool {
	switch code {
	case http.StatusOK, http.StatusNonAuthoritativeInfo, http.StatusNoContent,
		http.StatusMultipleChoices, http.StatusMovedPermanently, http.StatusPermanentRedirect,
		http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone,
		http.StatusRequestURITooLong, http.StatusNotImplemented:
		return true
	}
	return false
}

// hopHeaders are connection-specific (RFC 9110 §7.6.1), never stored.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// dropHeader lists the headers a stored response loses besides hop-by-hop
// ones and Options.DropHeaders (New joins them in Cache.drop): those
// recomputed when serving, the tier's own X-Cache, and Alt-Svc, which
// names the answering server's alternatives (an endpoint adds its own per
// connection).
var dropHeader = []string{
	"Content-Length", "Content-Encoding", "X-Cache", "Age", "Vary", "Set-Cookie", "Alt-Svc",
}

// keepRawBytes: a body up to this size is also kept as it came, next to
// its compressed copies. Decompressing it on every hit for a client that
// accepts no encoding (most API clients, load tools) cost about 13 % of an
// edge's CPU in the edge benchmark, more than the memory it saves; bigger
// bodies are decompressed on such hits, as compression pays off there.
const keepRawBytes = 16 << 10

// maxLifetime bounds lifetimes and windows so that time sums cannot
// overflow.
const maxLifetime = maxDeltaSeconds * time.Second

// newEntry builds the entry for a response recorded from the origin, or
// returns why it may not be stored. req is the request sent to the origin,
// whose headers give the values of the response's Vary names.
func (c *Cache) newEntry(status int, h http.Header, body []byte, req *http.Request, p *Policy,
	path string, epoch uint64, now time.Time) (*entry, string) {
	if !cacheableStatus(status) {
		return nil, "status not cacheable"
	}
	if len(h["Set-Cookie"]) > 0 {
		return nil, "response sets a cookie"
	}
	if staleUpstream(h) {
		return nil, "the next tier served a stale copy"
	}
	vary, ok := parseVary(h["Vary"])
	if !ok {
		return nil, "Vary: *"
	}
	coding, ok := originCoding(h["Content-Encoding"])
	if !ok {
		return nil, "unsupported Content-Encoding"
	}
	f, ok := freshnessOf(h, p, now)
	if !ok {
		return nil, "not storable by freshness"
	}
	raw, err := decodeBody(coding, body, p.maxEntryBytes())
	if err != nil {
		return nil, err.Error()
	}
	e := &entry{
		status: status,
		header: c.storedHeader(h),
		rawLen: len(raw),
		epoch:  epoch,
		path:   path,
	}
	if _, set := h["Content-Type"]; !set && len(raw) > 0 {
		// Served compressed, the body could no longer be sniffed.
		e.header.Set("Content-Type", http.DetectContentType(raw))
	}
	if m := p.compressMin(); m >= 0 && len(raw) >= m && compressible(e.header.Get("Content-Type")) {
		e.zstd, e.gzip = compressBody(raw)
	}
	if (e.zstd == nil && e.gzip == nil) || len(raw) <= keepRawBytes {
		e.raw = bytes.Clone(raw)
	}
	e.varyNames = vary
	for _, n := range vary {
		e.varyValues = append(e.varyValues, headerValue(req.Header, n))
	}
	e.setFreshness(f, now)
	e.finish()
	return e, ""
}

// setFreshness sets the entry's times from f, measured from now.
func (e *entry) setFreshness(f freshness, now time.Time) {
	e.storedAt = now.UnixNano()
	lifetime := min(f.lifetime, maxLifetime)
	e.freshUntil = e.storedAt + int64(lifetime)
	e.swr, e.sie = min(f.swr, maxLifetime), min(f.sie, maxLifetime)
	e.revalidate = f.revalidate
	e.age = f.age
}

// finish derives the fields computed from the others: validators, the
// Vary value, retention and weight.
func (e *entry) finish() {
	e.etag = e.header.Get("Etag")
	e.weakETag = nil
	if e.etag != "" {
		e.weakETag = []string{e.etag}
		if !strings.HasPrefix(e.etag, "W/") {
			e.weakETag[0] = "W/" + e.etag
		}
	}
	e.lastModified = e.header.Get("Last-Modified")
	names := e.varyNames
	if e.zstd != nil || e.gzip != nil {
		names = append(slices.Clip(names), "Accept-Encoding")
	}
	e.vary = nil
	if len(names) > 0 {
		e.vary = []string{strings.Join(names, ", ")}
	}
	e.sizes = [3][]string{
		identity:   {strconv.Itoa(e.rawLen)},
		codingGzip: {strconv.Itoa(len(e.gzip))},
		codingZstd: {strconv.Itoa(len(e.zstd))},
	}

	// Kept while it may be served stale; with validators also one more
	// lifetime, so that a late request can still revalidate cheaply.
	keep := max(e.swr, e.sie)
	if e.etag != "" || e.lastModified != "" {
		keep = max(keep, time.Duration(e.freshUntil-e.storedAt))
	}
	e.expireAt = e.freshUntil + int64(keep)
	e.weight = e.weigh()
}

// entryOverhead estimates the fixed memory of an entry and its store node.
const entryOverhead = 256

// weigh estimates the entry's memory in bytes, its weight in the store.
func (e *entry) weigh() uint32 {
	n := entryOverhead + len(key{}) + len(e.raw) + len(e.zstd) + len(e.gzip) + len(e.path)
	n += len(e.etag)*2 + len(e.lastModified)
	if e.vary != nil {
		n += len(e.vary[0])
	}
	for _, s := range e.record {
		n += len(s) + 16
	}
	for _, v := range e.varyValues {
		n += len(v) + 16
	}
	for k, vs := range e.header {
		n += len(k) + 32
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	return uint32(min(n, 1<<32-1))
}

// newRecord returns a vary record for names.
func newRecord(names []string, path string, expireAt int64) *entry {
	e := &entry{record: names, path: path, expireAt: expireAt}
	e.weight = e.weigh()
	return e
}

// refreshed returns a copy of e freshened by a 304 response with header h
// (RFC 9111 §4.3.4): the 304's headers replace the stored ones, and the
// freshness is computed anew. ok is false when the result may not be
// stored, though it may still answer the requests waiting for it.
func (c *Cache) refreshed(e *entry, h http.Header, p *Policy, epoch uint64, now time.Time) (n *entry, ok bool) {
	cp := *e
	cp.header = e.header.Clone()
	for k, vs := range h {
		if isHop(k) || c.dropped(k) {
			continue
		}
		cp.header[k] = slices.Clone(vs)
	}
	calc := cp.header
	if age, set := h["Age"]; set {
		calc = cp.header.Clone()
		calc["Age"] = age
	}
	f, ok := freshnessOf(calc, p, now)
	cp.setFreshness(f, now)
	cp.epoch = epoch
	cp.finish()
	return &cp, ok
}

// fresh reports whether e may be served without contacting the origin.
func (e *entry) fresh(now int64) bool { return !e.revalidate && now < e.freshUntil }

// staleWhileRevalidate reports whether e may be served while a background
// refresh runs.
func (e *entry) staleWhileRevalidate(now int64) bool {
	return !e.revalidate && now < e.freshUntil+int64(e.swr)
}

// staleIfError reports whether e may replace an origin failure.
func (e *entry) staleIfError(now int64) bool { return now < e.freshUntil+int64(e.sie) }

// varyMatches reports whether the request headers h select this variant.
func (e *entry) varyMatches(h http.Header) bool {
	for i, n := range e.varyNames {
		if headerValue(h, n) != e.varyValues[i] {
			return false
		}
	}
	return true
}

// parseVary returns the canonical, sorted header names of Vary values,
// without Accept-Encoding (the cache negotiates codings itself); ok is
// false for Vary: *.
func parseVary(values []string) (names []string, ok bool) {
	for _, v := range values {
		for _, n := range strings.Split(v, ",") {
			n = strings.TrimSpace(n)
			switch {
			case n == "":
				continue
			case n == "*":
				return nil, false
			}
			n = http.CanonicalHeaderKey(n)
			if n != "Accept-Encoding" {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), true
}

// storedHeader returns the headers of h worth storing, in one allocation
// of values: neither hop-by-hop nor in c.drop.
func (c *Cache) storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, f := range out["Connection"] {
		for _, n := range strings.Split(f, ",") {
			out.Del(strings.TrimSpace(n))
		}
	}
	for _, n := range hopHeaders {
		delete(out, n)
	}
	for _, n := range c.drop {
		delete(out, n)
	}
	return out
}

// dropped reports whether a stored response loses the header with
// canonical name k (see Cache.drop).
func (c *Cache) dropped(k string) bool {
	_, found := slices.BinarySearch(c.drop, k)
	return found
}

func isHop(name string) bool { return slices.Contains(hopHeaders, name) }

// staleUpstream reports whether the next cache tier answered with an
// expired entry (its X-Cache starts with "Stale"). Storing it as fresh
// would extend its life by another TTL at this tier.
func staleUpstream(h http.Header) bool {
	v := h.Get(HeaderXCache)
	return len(v) >= 5 && strings.EqualFold(v[:5], "stale")
}
