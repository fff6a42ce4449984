package cache

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// fakeClock is an injected clock that only moves when told.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// results records what the cache reports to its Observer.
type results struct {
	mu     sync.Mutex
	got    []Result
	stages [][2]string // the api and stage of each Stage call
}

func (o *results) Stage(api, stage string) StageObserver {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stages = append(o.stages, [2]string{api, stage})
	return o
}

func (o *results) Lookup(r Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, r)
}

func (o *results) all() []Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Result(nil), o.got...)
}

// testLog routes the cache's logs to t.Log.
type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// env is one cache with one stage on an injected clock.
type env struct {
	t     testing.TB
	clock *fakeClock
	c     *Cache
	s     *Stage
	obs   *results
}

func newEnv(t testing.TB, tier string) *env {
	clock := newClock()
	obs := &results{}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := New(Options{Tier: tier, Now: clock.Now, Observer: obs, Logger: log})
	t.Cleanup(c.Close)
	return &env{t: t, clock: clock, c: c, s: c.Stage("pets", "prod", 1<<20), obs: obs}
}

// Len returns the approximate number of items in the stage's store (vary
// records included), after pending maintenance.
func (s *Stage) Len() int {
	st := s.store.Load()
	if st == nil {
		return 0
	}
	st.CleanUp()
	return st.EstimatedSize()
}

// Weight returns the estimated bytes held by the stage's store, after
// pending maintenance: at most its capacity.
func (s *Stage) Weight() int64 {
	st := s.store.Load()
	if st == nil {
		return 0
	}
	st.CleanUp()
	return int64(st.WeightedSize())
}

// origin is a fake next tier that counts its calls.
type origin struct {
	calls atomic.Int32
	fn    func(w http.ResponseWriter, r *http.Request, background bool)
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request, background bool) {
	o.calls.Add(1)
	o.fn(w, r, background)
}

// text answers with body as text/plain, status 200, and header pairs,
// which replace the defaults.
func text(body string, hdr ...string) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, _ *http.Request, _ bool) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		seen := map[string]bool{}
		for i := 0; i+1 < len(hdr); i += 2 {
			if k := http.CanonicalHeaderKey(hdr[i]); !seen[k] {
				seen[k] = true
				h.Set(k, hdr[i+1])
			} else {
				h.Add(k, hdr[i+1])
			}
		}
		_, _ = io.WriteString(w, body)
	}
}

// versioned answers "v1", "v2", … by call, with header pairs.
func versioned(o *origin, hdr ...string) func(http.ResponseWriter, *http.Request, bool) {
	return func(w http.ResponseWriter, r *http.Request, bg bool) {
		text("v"+strconv.Itoa(int(o.calls.Load())), hdr...)(w, r, bg)
	}
}

func newRequest(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

// entry returns what the stage holds for a GET of path without request
// headers under p, prepared first as Serve prepares it (baseKey requires
// a prepared policy), or nil.
func (e *env) entry(p *Policy, path string) *entry {
	e.t.Helper()
	q := p.WithDefaults()
	st := e.s.store.Load()
	if st == nil {
		return nil
	}
	_, en := e.s.lookup(st, baseKey(newRequest(http.MethodGet, path), &q, path), http.Header{})
	return en
}

// do serves one request through the stage.
func (e *env) do(p *Policy, o *origin, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.s.Serve(w, r, p, r.URL.Path, o.serve)
	return w
}

func (e *env) get(p *Policy, o *origin, target string, hdr ...string) *httptest.ResponseRecorder {
	return e.do(p, o, newRequest(http.MethodGet, target, hdr...))
}

// expect checks a response's X-Cache and decoded body.
func expect(t testing.TB, w *httptest.ResponseRecorder, xc, body string) {
	t.Helper()
	if got := w.Header().Get(HeaderXCache); got != xc {
		t.Errorf("X-Cache = %q, want %q", got, xc)
	}
	if got := decodeResponse(t, w); got != body {
		t.Errorf("body = %q, want %q", got, body)
	}
}

// decodeResponse returns a recorded body without its content coding.
func decodeResponse(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	b := w.Body.Bytes()
	switch ce := w.Header().Get("Content-Encoding"); ce {
	case "":
		return string(b)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		return string(out)
	case "zstd":
		out, err := zstdDecoder().DecodeAll(b, nil)
		if err != nil {
			t.Fatalf("zstd body: %v", err)
		}
		return string(out)
	default:
		t.Fatalf("unexpected Content-Encoding %q", ce)
		return ""
	}
}

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, s string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll([]byte(s), nil)
}

// jsonBody returns a compressible JSON document of about n bytes.
func jsonBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"pets":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":` + strconv.Itoa(i) + `,"name":"pet number ` + strconv.Itoa(i) + `","tag":"dog"}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// eventually waits for cond to hold, failing the test after a generous
// bound.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// isClosed reports whether close was called.
func (b *background) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// within waits for ch or fails the test after a generous bound, so that a
// bug shows up as a failure rather than a hung test.
func within(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Errorf("timed out waiting for %s", what)
	}
}
