package endpoints

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// discardWriter is a ResponseWriter that keeps nothing, so benchmarks
// measure the pipeline rather than the recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkRegionalProxy is the whole request path: pipeline, routing,
// URI substitution and a real loopback round trip to a backend.
func BenchmarkRegionalProxy(b *testing.B) { benchProxy(b, true) }

// BenchmarkRegionalProxyNoBufferPool is the same without the copy buffer
// pool, to keep the pool's effect visible.
func BenchmarkRegionalProxyNoBufferPool(b *testing.B) { benchProxy(b, false) }

func benchProxy(b *testing.B, pooled bool) {
	backend := benchBackend()
	defer backend.Close()
	src := newSource(buildState(b, apiDef{id: "proxyapi01", def: proxyAPI, stages: prod(map[string]string{
		"backend": strings.TrimPrefix(backend.URL, "http://"),
	})}))
	g := newRegional(b, src, func(c *Config) { c.Logger = nil })
	if !pooled {
		g.proxy.BufferPool = nil
	}
	defer g.transport.CloseIdleConnections()
	runProxyBench(b, g.Handler())
}

// BenchmarkBareReverseProxy is the floor BenchmarkRegionalProxy is
// measured against: a bare httputil.ReverseProxy with the same transport
// and buffer pool, the same backend and the same request, and nothing
// else (no routing, request id, exchange, timeout or metrics).
func BenchmarkBareReverseProxy(b *testing.B) {
	backend := benchBackend()
	defer backend.Close()
	target, err := url.Parse(backend.URL + "/items/42")
	if err != nil {
		b.Fatal(err)
	}
	tr := newUpstreamTransport(newTransport())
	defer tr.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			query := pr.Out.URL.RawQuery
			*pr.Out.URL = *target
			pr.Out.URL.RawQuery = query
			pr.Out.Host = target.Host
			pr.SetXForwarded()
		},
		Transport:  tr,
		BufferPool: newBufferPool(),
	}
	runProxyBench(b, rp)
}

// benchBackend answers every request with a small fixed body after
// draining the request body.
func benchBackend() *httptest.Server {
	payload := strings.Repeat("x", 512)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, payload)
	}))
}

// runProxyBench sends GET /prod/items/42?x=1 through h from parallel
// goroutines and wants 200 every time.
func runProxyBench(b *testing.B, h http.Handler) {
	runGatewayBench(b, h, "proxyapi01", "/prod/items/42?x=1")
}

// runGatewayBench sends GET target to the API apiID through h from
// parallel goroutines (no Accept-Encoding, as wrk sends none) and wants
// 200 every time.
func runGatewayBench(b *testing.B, h http.Handler, apiID, target string) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptestRequest("GET", target)
		r.Host = host(apiID)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.code != 200 {
				b.Fatalf("status %d", w.code)
			}
		}
	})
}

// BenchmarkRegionalMock is the pipeline without a backend.
func BenchmarkRegionalMock(b *testing.B) {
	src := newSource(buildState(b, apiDef{id: "helloapi01", def: helloAPI, stages: prod(nil)}))
	h := newRegional(b, src, func(c *Config) { c.Logger = nil }).Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptestRequest("GET", "/prod/hello")
		r.Host = host("helloapi01")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkRouteMatch looks up paths in a table of 200 resources.
func BenchmarkRouteMatch(b *testing.B) {
	rt := &router{}
	var ops []configs.Operation
	for i := range 50 {
		ops = append(ops,
			configs.Operation{Method: "GET", Path: fmt.Sprintf("/svc%d", i)},
			configs.Operation{Method: "GET", Path: fmt.Sprintf("/svc%d/items/{id}", i)},
			configs.Operation{Method: "PUT", Path: fmt.Sprintf("/svc%d/items/{id}/tags/{tag}", i)},
			configs.Operation{Method: "ANY", Path: fmt.Sprintf("/svc%d/files/{path+}", i)},
		)
	}
	for _, op := range ops {
		if err := rt.add(op, http.NotFoundHandler()); err != nil {
			b.Fatal(err)
		}
	}
	paths := []struct{ method, path string }{
		{"GET", "svc7"},
		{"GET", "svc23/items/42"},
		{"PUT", "svc49/items/42/tags/blue"},
		{"DELETE", "svc3/files/a/b/c/d.txt"},
		{"GET", "svc3/nothing"},
	}
	var buf [maxParams]string
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := paths[i%len(paths)]
		rt.lookup(p.method, p.path, buf[:0])
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		normalizePath("/prod/svc23/items/42/tags/blue")
	}
}

func BenchmarkRequestID(b *testing.B) {
	b.Run("endpoints", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				newRequestID()
			}
		})
	})
	b.Run("configs", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				configs.NewRequestID()
			}
		})
	})
}

// BenchmarkRegionalCacheHit is the whole pipeline answering from the
// stage cache: what an edge does per hit, minus net/http's server.
func BenchmarkRegionalCacheHit(b *testing.B) {
	backend := newCountingBackend(b)
	def := strings.Replace(edgeAPI, "[EDGE]", "[EDGE, REGIONAL]", 1)
	st := buildState(b, apiDef{id: "shop000001", def: def, stages: prod(map[string]string{"backend": strings.TrimPrefix(backend.URL, "http://")})})
	s := *st.Stage("shop000001", "prod")
	s.Cache = &configs.StageCache{Enabled: true, TTL: ttl(time.Hour)}
	st = st.WithStage(st.Index+1, &s)
	g := newRegional(b, newSource(st), func(c *Config) { c.Logger = nil })
	defer g.transport.CloseIdleConnections()
	h := g.Handler()
	r := httptestRequest("GET", "/prod/items/42")
	r.Host = host("shop000001")
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.code != 200 || w.h.Get("X-Cache") == "" {
		b.Fatalf("priming: status %d, headers %v", w.code, w.h)
	}
	runGatewayBench(b, h, "shop000001", "/prod/items/42")
	b.StopTimer()
	if n := backend.count("/items/42"); n != 1 {
		b.Fatalf("backend called %d times, want 1", n)
	}
}
