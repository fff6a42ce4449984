// Package cache is Portico's response cache. An edge node and a regional
// node each keep one Cache (its tier); the request pipeline calls
// Stage.Serve right before the integration, and Serve answers from the
// stage's store or calls the Origin (the backend proxy, or the regional
// node) and stores what it may.
//
// The package is a leaf: it sees net/http types and its own, nothing else
// of Portico. What it does, in the order a request meets it:
//
//   - Keys (key.go): method class (GET and HEAD share), the stage-relative
//     path, the query parameters and request headers the route names, and a
//     fingerprint of the caller's identity headers, hashed with SHA-256 to a
//     fixed 32-byte key. Responses that carry Vary add a second key level.
//   - Freshness (control.go, entry.go): a route TTL, or with HonorOrigin the
//     origin's Cache-Control (s-maxage over max-age over Expires over TTL),
//     stale-while-revalidate and stale-if-error windows, validators for
//     conditional revalidation.
//   - Collapsing (collapse.go): concurrent misses of one key make one origin
//     call; followers wait for it within their own request's context.
//   - Storage (store.go): one byte-bounded store per stage; bodies are
//     compressed once at insertion (compress.go) and served in the encoding
//     the client accepts.
//   - Invalidation (flush.go): flushes by path prefix, known from gossip or
//     committed state, make older entries invisible at lookup.
//
// Compressor (compressor.go) compresses the responses the cache does not
// serve, for the same pipeline.
//
// # Why otter
//
// The store is github.com/maypok86/otter/v2, chosen over
// github.com/dgraph-io/ristretto and github.com/hashicorp/golang-lru/v2:
//
//   - ristretto's Set is asynchronous: it goes through a buffer that may drop
//     it (Set returns false) and through an admission policy that may refuse
//     it later, so a lookup right after a miss is not guaranteed to hit even
//     with room to spare (its own Wait exists to paper over this). The
//     collapse-then-serve design here needs "stored means visible".
//   - golang-lru/v2 bounds the number of entries, not bytes; API responses
//     range from a few bytes to a megabyte, so a count bound either wastes
//     memory or overshoots it. Its LRU eviction also loses to frequency-aware
//     policies on skewed API traffic.
//   - otter v2 bounds the total weight (here: stored body bytes, a header
//     estimate and the key; Options.MaximumWeight with a Weigher), writes
//     its hash table synchronously (an entry is readable as soon as Set
//     returns; eviction happens afterwards in its maintenance pass, which
//     may briefly leave the weight above the bound), evicts with adaptive
//     W-TinyLFU, which keeps hit ratios high across recency- and
//     frequency-skewed workloads, supports per-entry expiry from a
//     calculator and an injectable clock, resizes in place (SetMaximum), and
//     iterates its entries (All) for eager flushes.
package cache
