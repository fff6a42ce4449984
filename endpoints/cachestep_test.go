package endpoints

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// TestRegionalCachesAndCompresses: a REGIONAL API's stage cache at the
// regional tier (with a route override), compressed answers negotiated
// per client, and a client's max-age=0 honoured only when allowed.
func TestRegionalCachesAndCompresses(t *testing.T) {
	b := newCountingBackend(t)
	def := `
name: shop
resources:
  - path: /items/{id}
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items/{id}"}}
  - path: /live
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/live"}}
`
	off := false
	st := buildState(t, apiDef{id: "shop000002", def: def, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	s := *st.Stage("shop000002", "prod")
	s.Cache = &configs.StageCache{Enabled: true, TTL: ttl(time.Minute), Overrides: map[string]configs.CacheOverride{"GET /live": {Enabled: &off}}}
	src := newSource(st.WithStage(st.Index+1, &s))
	g := newRegional(t, src)
	h := g.Handler()

	gz := http.Header{"Accept-Encoding": {"gzip"}}
	w := call(t, h, "GET", "shop000002", "/prod/items/1", gz, nil)
	if w.Code != 200 || w.Header().Get("X-Cache") != "Miss from regional" || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("first: %d X-Cache %q encoding %q", w.Code, w.Header().Get("X-Cache"), w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	gzBody, _ := io.ReadAll(zr)
	plain := call(t, h, "GET", "shop000002", "/prod/items/1", nil, nil)
	if plain.Header().Get("X-Cache") != "Hit from regional" || plain.Header().Get("Content-Encoding") != "" || !bytes.Equal(plain.Body.Bytes(), gzBody) {
		t.Fatalf("identity client: X-Cache %q encoding %q, body equal %v", plain.Header().Get("X-Cache"), plain.Header().Get("Content-Encoding"), bytes.Equal(plain.Body.Bytes(), gzBody))
	}
	if n := b.count("/items/1"); n != 1 {
		t.Fatalf("backend calls = %d, want 1", n)
	}
	// Denied by default: max-age=0 from the client is ignored.
	if w := call(t, h, "GET", "shop000002", "/prod/items/1", http.Header{"Cache-Control": {"max-age=0"}}, nil); w.Header().Get("X-Cache") != "Hit from regional" {
		t.Errorf("client max-age=0 while denied: X-Cache %q, want a hit", w.Header().Get("X-Cache"))
	}

	// The override turns caching off for /live; its answer is still
	// compressed for a client that accepts it.
	for range 2 {
		w := call(t, h, "GET", "shop000002", "/prod/live", gz, nil)
		if w.Header().Get("X-Cache") != "" || w.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("/live: X-Cache %q encoding %q, want uncached and compressed", w.Header().Get("X-Cache"), w.Header().Get("Content-Encoding"))
		}
	}
	if n := b.count("/live"); n != 2 {
		t.Fatalf("backend calls for /live = %d, want 2", n)
	}

	// Allowed: max-age=0 refreshes the entry.
	s2 := *src.State().Stage("shop000002", "prod")
	c := *s2.Cache
	c.AllowClientInvalidation = true
	s2.Cache = &c
	src.Set(src.State().WithStage(src.State().Index+1, &s2))
	g.rebuild(src.State())
	call(t, h, "GET", "shop000002", "/prod/items/1", http.Header{"Cache-Control": {"max-age=0"}}, nil)
	if n := b.count("/items/1"); n != 2 {
		t.Fatalf("backend calls after an allowed max-age=0 = %d, want 2", n)
	}
}
