package cache

import (
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// TestReverseProxyOrigin runs the cache in front of a real backend through
// httputil.ReverseProxy, the way the pipeline's integration step does.
func TestReverseProxyOrigin(t *testing.T) {
	t.Parallel()
	body := jsonBody(4 << 10)
	var mode atomic.Int32 // 0: gzip JSON, 1: connection dropped mid-body
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("Cache-Control") != "" {
			t.Errorf("backend got client headers: %v", r.Header)
		}
		if mode.Load() == 1 {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(200)
			_, _ = w.Write([]byte("partial"))
			panic(http.ErrAbortHandler) // drops the connection
		}
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("backend Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		_, _ = w.Write(gzipped(t, body))
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ErrorLog: log.New(testLog{t}, "proxy: ", 0),
	}
	origin := func(w http.ResponseWriter, r *http.Request, _ bool) { proxy.ServeHTTP(w, r) }

	e := newEnv(t, "edge")
	p := &Policy{HonorOrigin: true}
	serve := func(hdr ...string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := newRequest(http.MethodGet, "/pets", hdr...)
		e.s.Serve(w, r, p, "/pets", origin)
		return w
	}
	expect(t, serve("Accept-Encoding", "gzip", "If-None-Match", `"x"`, "Cache-Control", "max-age=0"), "Miss from edge", body)
	expect(t, serve(), "Hit from edge", body)
	expect(t, serve("Accept-Encoding", "zstd"), "Hit from edge", body)

	mode.Store(1)
	e.clock.Advance(30 * time.Second)
	expect(t, serve("Accept-Encoding", "gzip"), "Stale from edge", body)
}
