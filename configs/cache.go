package configs

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cache limits, from Amazon API Gateway's stage cache where it has one.
const (
	DefaultCacheTTL      = 300 * time.Second
	MaxCacheTTL          = 3600 * time.Second
	DefaultCacheCapacity = 64 << 20 // bytes per stage per node
	MinCacheCapacity     = 1 << 20
	MaxCacheCapacity     = 64 << 30
	MaxCacheEntryBytes   = 1 << 20 // a larger response is passed through, not stored
	MaxCacheKeyParams    = 16      // query strings plus headers
	MaxCacheStale        = 24 * time.Hour
	// MaxCacheFlushes is how many invalidations a stage remembers; older
	// ones fold into CacheFlushFloor (a whole-stage flush at that point).
	MaxCacheFlushes = 16
	// DefaultCompressionSize is the smallest body compressed when an API
	// does not set MinimumCompressionSize.
	DefaultCompressionSize = 1024
	MaxCompressionSize     = 10 * 1024 * 1024
)

// StageCache is a stage's response cache, as API Gateway's stage cache
// settings and method overrides. Edge and regional nodes both cache with
// it; the capacity is per node.
type StageCache struct {
	Enabled bool `json:"enabled"`
	// TTL of an entry; default 300s, 0 to 3600s (0 stores nothing).
	TTL *Duration `json:"ttl,omitempty"`
	// Capacity in bytes per node, e.g. 64MiB (the default).
	Capacity ByteSize `json:"capacity,omitempty"`
	// KeyQuery and KeyHeaders name the query strings and request headers
	// that are part of the cache key besides the method and path.
	KeyQuery   []string `json:"key_query,omitempty"`
	KeyHeaders []string `json:"key_headers,omitempty"`
	// Methods that are cached; default GET and HEAD.
	Methods []string `json:"methods,omitempty"`
	// HonorOriginCacheControl makes the backend's Cache-Control (no-store,
	// private, no-cache, max-age, s-maxage, stale-*) decide instead of the
	// TTL, which then only applies when the backend sends none.
	HonorOriginCacheControl bool `json:"honor_origin_cache_control,omitempty"`
	// StaleWhileRevalidate and StaleIfError extend how long an expired
	// entry may be served while it is refreshed, or while the backend
	// fails.
	StaleWhileRevalidate Duration `json:"stale_while_revalidate,omitempty"`
	StaleIfError         Duration `json:"stale_if_error,omitempty"`
	// AllowClientInvalidation lets a caller's "Cache-Control: max-age=0"
	// refresh an entry. Denied by default: the header is then ignored.
	AllowClientInvalidation bool `json:"allow_client_invalidation,omitempty"`
	// Overrides by route key ("GET /pets/{id}", "$default").
	Overrides map[string]CacheOverride `json:"overrides,omitempty"`
}

// CacheOverride changes the stage cache settings for one route. A field
// left out keeps the stage's value.
type CacheOverride struct {
	Enabled    *bool     `json:"enabled,omitempty"`
	TTL        *Duration `json:"ttl,omitempty"`
	KeyQuery   []string  `json:"key_query,omitempty"`
	KeyHeaders []string  `json:"key_headers,omitempty"`
}

// CacheFlush is one committed invalidation of a stage's caches. Seq is
// the Raft index that committed it: entries stored by a fetch that began
// before Seq was known and whose path starts with Prefix are invalid.
type CacheFlush struct {
	Seq    uint64    `json:"seq"`
	Prefix string    `json:"prefix,omitempty"`
	At     time.Time `json:"at"`
}

// RouteCache is the effective cache setting of one route.
type RouteCache struct {
	Enabled                 bool
	TTL                     time.Duration
	Methods                 []string
	KeyQuery, KeyHeaders    []string
	HonorOrigin             bool
	StaleWhileRevalidate    time.Duration
	StaleIfError            time.Duration
	AllowClientInvalidation bool
}

// ForRoute returns the effective settings for the route with key
// routeKey, applying its override. A nil or disabled cache gives
// Enabled false.
func (c *StageCache) ForRoute(routeKey string) RouteCache {
	if c == nil {
		return RouteCache{}
	}
	rc := RouteCache{
		Enabled:                 c.Enabled,
		TTL:                     DefaultCacheTTL,
		Methods:                 c.Methods,
		KeyQuery:                c.KeyQuery,
		KeyHeaders:              c.KeyHeaders,
		HonorOrigin:             c.HonorOriginCacheControl,
		StaleWhileRevalidate:    c.StaleWhileRevalidate.D(),
		StaleIfError:            c.StaleIfError.D(),
		AllowClientInvalidation: c.AllowClientInvalidation,
	}
	if c.TTL != nil {
		rc.TTL = c.TTL.D()
	}
	if len(rc.Methods) == 0 {
		rc.Methods = []string{http.MethodGet, http.MethodHead}
	}
	if o, ok := c.Overrides[routeKey]; ok {
		if o.Enabled != nil {
			rc.Enabled = *o.Enabled
		}
		if o.TTL != nil {
			rc.TTL = o.TTL.D()
		}
		if o.KeyQuery != nil {
			rc.KeyQuery = o.KeyQuery
		}
		if o.KeyHeaders != nil {
			rc.KeyHeaders = o.KeyHeaders
		}
	}
	if rc.TTL <= 0 && !rc.HonorOrigin {
		rc.Enabled = false
	}
	return rc
}

// CapacityBytes is the configured capacity or the default.
func (c *StageCache) CapacityBytes() int64 {
	if c == nil || c.Capacity == 0 {
		return DefaultCacheCapacity
	}
	return int64(c.Capacity)
}

// Validate checks the settings; field paths start with "cache.". routes
// are the route keys of the stage's deployment (nil skips the check of
// override keys).
func (c *StageCache) Validate(routes []string) error {
	var p problems
	c.validate(&p, "cache", routes)
	return p.err()
}

func (c *StageCache) validate(p *problems, f string, routes []string) {
	if c == nil {
		return
	}
	if c.TTL != nil {
		validateTTL(p, f+".ttl", c.TTL.D())
	}
	if c.Capacity != 0 && (c.Capacity < MinCacheCapacity || c.Capacity > MaxCacheCapacity) {
		p.add(f+".capacity", "must be between %s and %s", ByteSize(MinCacheCapacity), ByteSize(MaxCacheCapacity))
	}
	validateKeyParams(p, f, c.KeyQuery, c.KeyHeaders)
	for i, m := range c.Methods {
		if m != strings.ToUpper(m) || !slices.Contains(Methods, m) || m == "ANY" {
			p.add(fmt.Sprintf("%s.methods[%d]", f, i), "must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")
		}
	}
	for name, d := range map[string]Duration{"stale_while_revalidate": c.StaleWhileRevalidate, "stale_if_error": c.StaleIfError} {
		if d < 0 || d.D() > MaxCacheStale {
			p.add(f+"."+name, "must be between 0s and %s", MaxCacheStale)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Overrides)) {
		of := f + ".overrides[" + strconv.Quote(k) + "]"
		if routes != nil && !slices.Contains(routes, k) {
			p.add(of, "no route %q in the deployment", k)
		}
		o := c.Overrides[k]
		if o.TTL != nil {
			validateTTL(p, of+".ttl", o.TTL.D())
		}
		validateKeyParams(p, of, o.KeyQuery, o.KeyHeaders)
	}
}

func validateTTL(p *problems, f string, d time.Duration) {
	if d < 0 || d > MaxCacheTTL {
		p.add(f, "must be between 0s and %s", MaxCacheTTL)
	}
}

func validateKeyParams(p *problems, f string, query, headers []string) {
	if len(query)+len(headers) > MaxCacheKeyParams {
		p.add(f, "at most %d cache key parameters (query strings plus headers)", MaxCacheKeyParams)
	}
	for i, q := range query {
		if q == "" || len(q) > 128 || strings.ContainsAny(q, "&=#") {
			p.add(fmt.Sprintf("%s.key_query[%d]", f, i), "must be a query string name")
		}
	}
	for i, h := range headers {
		if !headerNameRE.MatchString(h) {
			p.add(fmt.Sprintf("%s.key_headers[%d]", f, i), "must be a header name")
		}
	}
}

// WithFlush returns a copy of the stage with the invalidation appended,
// keeping the newest MaxCacheFlushes and folding older ones into the
// floor.
func (s *Stage) WithFlush(f CacheFlush) *Stage {
	c := *s
	c.CacheFlushes = append(slices.Clone(s.CacheFlushes), f)
	if n := len(c.CacheFlushes) - MaxCacheFlushes; n > 0 {
		c.CacheFlushFloor = max(c.CacheFlushFloor, c.CacheFlushes[n-1].Seq)
		c.CacheFlushes = slices.Clone(c.CacheFlushes[n:])
	}
	return &c
}

// ByteSize is a size in bytes written as a number or a string with a
// unit: "64MiB", "512KiB", "1GB", "1048576".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseByteSize parses "64MiB", "10MB", "1024" and the like.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q (use bytes or a unit such as 64MiB)", s)
	}
	return ByteSize(n * float64(mult)), nil
}

func (b ByteSize) String() string {
	for i := 3; i >= 0; i-- { // the largest binary unit that divides it
		if m := byteUnits[i].mult; b >= ByteSize(m) && int64(b)%m == 0 {
			return strconv.FormatInt(int64(b)/m, 10) + byteUnits[i].suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		if n < 0 {
			return fmt.Errorf("size must not be negative")
		}
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("size must be a number of bytes or a string such as \"64MiB\"")
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// CompressionSize is the API's minimum compression size or the default.
func (a *API) CompressionSize() int {
	if a.MinimumCompressionSize == nil {
		return DefaultCompressionSize
	}
	return *a.MinimumCompressionSize
}
