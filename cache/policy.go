package cache

import (
	"net/http"
	"slices"
	"time"
)

// Defaults that zero Policy fields take.
const (
	// DefaultMaxEntryBytes bounds one stored response body (decoded size).
	DefaultMaxEntryBytes = 1 << 20
	// DefaultCompressMinBytes is the smallest body stored compressed, and
	// the smallest response Compressor compresses.
	DefaultCompressMinBytes = 1024
)

// defaultIdentityHeaders are the request headers that carry a caller's
// identity when Policy.IdentityHeaders is empty.
var defaultIdentityHeaders = []string{"Authorization", "X-Api-Key"}

// Policy is one route's compiled cache settings, built by the pipeline from
// the stage configuration. Serve never modifies a Policy and may keep using
// it for a background refresh after the request ends, so a Policy must not
// be changed once handed to Serve: build a new one instead.
//
// The zero value of each field means its documented default. WithDefaults
// returns the same settings with defaults filled in and names normalised;
// Serve accepts either form.
type Policy struct {
	// TTL is how long a stored response is fresh when origin Cache-Control
	// is not honoured, or when the origin gives no lifetime. A zero
	// lifetime means the response is not stored.
	TTL time.Duration

	// Methods lists the cacheable methods; default GET and HEAD. Only GET
	// and HEAD can be cached (the key does not cover request bodies); other
	// methods listed here are passed through like unlisted ones. A HEAD is
	// answered from the GET entry; a HEAD miss is passed through uncached.
	Methods []string

	// KeyQuery lists the query parameters that are part of the key; other
	// parameters are ignored for keying. Names are case-sensitive; the key
	// takes them sorted by name, each with its values in request order.
	KeyQuery []string

	// KeyHeaders lists the request headers that are part of the key.
	// Names are canonicalised.
	KeyHeaders []string

	// HonorOrigin makes the origin's Cache-Control, Expires and Age decide:
	// no-store and private are not stored; the lifetime is s-maxage, else
	// max-age, else Expires, else TTL; no-cache is stored but revalidated
	// before every use; must-revalidate and proxy-revalidate disable stale
	// serving; stale-while-revalidate and stale-if-error override the
	// policy's windows. Without it origin caching headers are ignored (as
	// API Gateway does), except that responses setting cookies are never
	// stored.
	HonorOrigin bool

	// StaleWhileRevalidate is how long after expiry a stored response is
	// still served while one background refresh runs.
	StaleWhileRevalidate time.Duration

	// StaleIfError is how long after expiry a stored response replaces an
	// origin failure (500, 502, 503, 504, an aborted or empty response).
	StaleIfError time.Duration

	// AllowClientInvalidation lets a request with Cache-Control max-age=0
	// or no-cache (or Pragma: no-cache) skip the lookup, fetch and replace
	// the entry. Without it such directives are ignored.
	AllowClientInvalidation bool

	// MaxEntryBytes bounds the decoded body of a stored response; default
	// DefaultMaxEntryBytes. Larger responses are passed through.
	MaxEntryBytes int

	// IdentityHeaders are the request headers whose values identify the
	// caller; default Authorization and X-Api-Key. When a request carries
	// any of them, their values are hashed into the key, so two callers
	// never share an entry.
	IdentityHeaders []string

	// CompressMinBytes is the smallest body of a compressible content type
	// that is stored compressed; default DefaultCompressMinBytes. A
	// negative value stores every body raw.
	CompressMinBytes int

	// prepared is set by WithDefaults: the name lists are sorted and
	// canonical, so keys are built from them as they are.
	prepared bool
}

// WithDefaults returns a copy of p with zero fields set to their defaults,
// header names canonicalised and KeyQuery and KeyHeaders sorted. Serve
// prepares a policy that was not prepared this way on every call; the
// pipeline calls it once when it compiles a route.
func (p Policy) WithDefaults() Policy {
	if len(p.Methods) == 0 {
		p.Methods = []string{http.MethodGet, http.MethodHead}
	}
	if p.MaxEntryBytes <= 0 {
		p.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if p.CompressMinBytes == 0 {
		p.CompressMinBytes = DefaultCompressMinBytes
	}
	if len(p.IdentityHeaders) == 0 {
		p.IdentityHeaders = defaultIdentityHeaders
	}
	p.KeyQuery = slices.Compact(slices.Sorted(slices.Values(p.KeyQuery)))
	p.KeyHeaders = canonicalSorted(p.KeyHeaders)
	p.IdentityHeaders = canonicalSorted(p.IdentityHeaders)
	p.prepared = true
	return p
}

// cacheable reports whether requests with method m may be answered from
// the store.
func (p *Policy) cacheable(m string) bool {
	if m != http.MethodGet && m != http.MethodHead {
		return false
	}
	if len(p.Methods) == 0 {
		return true
	}
	return slices.Contains(p.Methods, m)
}

func (p *Policy) maxEntryBytes() int {
	if p.MaxEntryBytes <= 0 {
		return DefaultMaxEntryBytes
	}
	return p.MaxEntryBytes
}

// compressMin returns the smallest body stored compressed, or -1 when
// bodies are never compressed.
func (p *Policy) compressMin() int {
	switch {
	case p.CompressMinBytes == 0:
		return DefaultCompressMinBytes
	case p.CompressMinBytes < 0:
		return -1
	}
	return p.CompressMinBytes
}

// canonicalSorted returns names canonicalised, sorted and without
// duplicates, in a new slice.
func canonicalSorted(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, http.CanonicalHeaderKey(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
