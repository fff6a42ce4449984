package cache

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkHit measures the hit path: key, lookup, flush check, headers
// and a stored gzip body, from parallel clients.
func BenchmarkHit(b *testing.B) {
	e := newEnv(b, "edge")
	body := jsonBody(2 << 10)
	o := &origin{fn: text(body, "Content-Type", "application/json", "Cache-Control", "max-age=60", "Etag", `"v1"`)}
	p := (&Policy{TTL: time.Hour, KeyQuery: []string{"page"}, KeyHeaders: []string{"Accept-Language"}}).WithDefaults()
	target := "/pets?page=2&utm_source=x"
	hdr := []string{"Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en", "Authorization", "Bearer token"}
	if got := e.get(&p, o, target, hdr...).Header().Get(HeaderXCache); got != "Miss from edge" {
		b.Fatalf("X-Cache %q", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := newRequest(http.MethodGet, target, hdr...)
		w := newRecorderDiscard()
		serve := o.serve
		for pb.Next() {
			clear(w.h)
			e.s.Serve(w, r, &p, "/pets", serve)
		}
	})
	b.StopTimer()
	if o.calls.Load() != 1 {
		b.Fatalf("origin calls = %d", o.calls.Load())
	}
}
