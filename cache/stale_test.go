package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	release := make(chan struct{})
	var background atomic.Int32
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		if bg {
			background.Add(1)
			within(t, release, "release")
			if err := r.Context().Err(); err != nil {
				t.Errorf("background context: %v", err)
			}
		}
		versioned(o)(w, r, bg)
	}
	p := &Policy{TTL: 10 * time.Second, StaleWhileRevalidate: time.Minute}

	expect(t, e.get(p, o, "/pets"), "Miss from edge", "v1")
	e.clock.Advance(11 * time.Second)
	for range 5 {
		expect(t, e.get(p, o, "/pets"), "Stale from edge", "v1")
	}
	close(release)
	e.c.bg.wait()
	if got := background.Load(); got != 1 {
		t.Errorf("background refreshes = %d, want 1", got)
	}
	expect(t, e.get(p, o, "/pets"), "Hit from edge", "v2")
	if got := o.calls.Load(); got != 2 {
		t.Errorf("origin calls = %d, want 2", got)
	}
}

func TestStaleWhileRevalidateFromOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{}
	o.fn = versioned(o, "Cache-Control", "max-age=10, stale-while-revalidate=30")
	p := &Policy{HonorOrigin: true, StaleWhileRevalidate: time.Hour}
	e.get(p, o, "/")
	e.clock.Advance(20 * time.Second)
	expect(t, e.get(p, o, "/"), "Stale from edge", "v1")
	e.c.bg.wait()
	e.clock.Advance(45 * time.Second) // v2 stored at +20s: past 10s + 30s
	expect(t, e.get(p, o, "/"), "Miss from edge", "v3")
}

func TestStaleIfError(t *testing.T) {
	t.Parallel()
	failures := map[string]func(http.ResponseWriter, *http.Request, bool){
		"503": func(w http.ResponseWriter, _ *http.Request, _ bool) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("down"))
		},
		"504": func(w http.ResponseWriter, _ *http.Request, _ bool) { w.WriteHeader(http.StatusGatewayTimeout) },
		"abort": func(http.ResponseWriter, *http.Request, bool) {
			panic(http.ErrAbortHandler)
		},
		"nothing written": func(http.ResponseWriter, *http.Request, bool) {},
	}
	for name, fail := range failures {
		for _, inWindow := range []bool{true, false} {
			t.Run(name+map[bool]string{true: " within", false: " beyond"}[inWindow], func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, "edge")
				o := &origin{}
				o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
					if o.calls.Load() == 1 {
						text("good")(w, r, bg)
						return
					}
					fail(w, r, bg)
				}
				p := &Policy{TTL: 10 * time.Second, StaleIfError: time.Minute}
				e.get(p, o, "/")
				if inWindow {
					e.clock.Advance(30 * time.Second)
				} else {
					e.clock.Advance(2 * time.Minute)
				}
				w := newRecorderPanics(t, e, p, o, name == "abort" && !inWindow)
				if w == nil {
					return // the abort reached the client, as it should
				}
				switch {
				case inWindow:
					expect(t, w, "Stale from edge", "good")
					if w.Code != 200 {
						t.Errorf("status %d, want 200", w.Code)
					}
				case name == "nothing written":
					if w.Header().Get(HeaderXCache) != "Miss from edge" || w.Body.Len() != 0 {
						t.Errorf("got %q %q", w.Header().Get(HeaderXCache), w.Body.String())
					}
				default:
					if w.Code < 500 || w.Header().Get(HeaderXCache) != "Miss from edge" {
						t.Errorf("got %d %q, want the origin's error", w.Code, w.Header().Get(HeaderXCache))
					}
				}
			})
		}
	}
}

// newRecorderPanics serves GET / and, when abort is expected, checks that
// Serve passed http.ErrAbortHandler on.
func newRecorderPanics(t *testing.T, e *env, p *Policy, o *origin, abort bool) (w *httptest.ResponseRecorder) {
	t.Helper()
	defer func() {
		v := recover()
		switch {
		case abort && v != http.ErrAbortHandler:
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		case !abort && v != nil:
			t.Errorf("unexpected panic %v", v)
		}
	}()
	w = e.get(p, o, "/")
	if abort {
		t.Error("Serve returned; want the abort passed on")
	}
	return w
}

func TestRevalidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		p      Policy
		hdr    []string
		wait   time.Duration
		sendIf string // the validator header the origin must see
	}{
		{"etag after expiry", Policy{TTL: 10 * time.Second}, []string{"Etag", `"v1"`}, 11 * time.Second, "If-None-Match"},
		{"last-modified after expiry", Policy{TTL: 10 * time.Second},
			[]string{"Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT"}, 11 * time.Second, "If-Modified-Since"},
		{"no-cache always", Policy{HonorOrigin: true},
			[]string{"Etag", `"v1"`, "Cache-Control", "no-cache, max-age=60"}, 0, "If-None-Match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{}
			o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
				if o.calls.Load() == 1 {
					text("body", tc.hdr...)(w, r, bg)
					return
				}
				if r.Header.Get(tc.sendIf) == "" {
					t.Errorf("revalidation without %s", tc.sendIf)
				}
				w.Header().Set(HeaderXCache, "Hit from regional")
				w.WriteHeader(http.StatusNotModified)
			}
			expect(t, e.get(&tc.p, o, "/"), "Miss from edge", "body")
			e.clock.Advance(tc.wait)
			expect(t, e.get(&tc.p, o, "/"), "RefreshHit from edge, Hit from regional", "body")
			if tc.p.HonorOrigin {
				return // no-cache revalidates every time
			}
			expect(t, e.get(&tc.p, o, "/"), "Hit from edge", "body")
			if got := o.calls.Load(); got != 2 {
				t.Errorf("origin calls = %d, want 2", got)
			}
		})
	}
}

func TestRevalidationNewBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{}
	o.fn = versioned(o, "Etag", `"same"`)
	p := &Policy{TTL: 10 * time.Second}
	e.get(p, o, "/")
	e.clock.Advance(11 * time.Second)
	// The origin ignores the condition and sends a full response.
	expect(t, e.get(p, o, "/"), "Miss from edge", "v2")
	expect(t, e.get(p, o, "/"), "Hit from edge", "v2")
}

// TestBackgroundRefreshTooLarge checks that a background refresh fails the
// origin's writes past MaxEntryBytes, as no client waits for the response,
// and leaves the stale entry in place.
func TestBackgroundRefreshTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	var writeErr atomic.Value
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
		if !bg {
			text("small")(w, r, bg)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, err := w.Write(make([]byte, 2000))
		writeErr.Store(errString(err))
	}}
	p := &Policy{TTL: 10 * time.Second, StaleWhileRevalidate: time.Minute, MaxEntryBytes: 1000}
	expect(t, e.get(p, o, "/"), "Miss from edge", "small")
	e.clock.Advance(11 * time.Second)
	expect(t, e.get(p, o, "/"), "Stale from edge", "small")
	e.c.bg.wait()
	if got := writeErr.Load(); got != errTooLarge.Error() {
		t.Errorf("origin's write error = %v, want %v", got, errTooLarge)
	}
	expect(t, e.get(p, o, "/"), "Stale from edge", "small")
}

// TestCloseWaitsForRefreshes checks Close as documented: it waits for the
// running background refresh and starts no more, and Serve keeps
// answering, collapsing misses as before.
func TestCloseWaitsForRefreshes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	started, release := make(chan struct{}), make(chan struct{})
	var background atomic.Int32
	var refreshed atomic.Bool
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		versioned(o)(w, r, bg)
		if bg && background.Add(1) == 1 {
			close(started)
			within(t, release, "release")
			refreshed.Store(true)
		}
	}
	p := &Policy{TTL: 10 * time.Second, StaleWhileRevalidate: time.Minute}
	expect(t, e.get(p, o, "/"), "Miss from edge", "v1")
	e.clock.Advance(11 * time.Second)
	expect(t, e.get(p, o, "/"), "Stale from edge", "v1")
	within(t, started, "refresh")
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		e.c.Close()
	}()
	eventually(t, e.c.bg.isClosed, "Close to start")
	close(release)
	within(t, closed, "Close")
	if !refreshed.Load() {
		t.Error("Close returned before the running refresh ended")
	}

	e.clock.Advance(11 * time.Second) // v2 is stale now
	expect(t, e.get(p, o, "/"), "Stale from edge", "v2")
	if got := background.Load(); got != 1 {
		t.Errorf("background refreshes = %d, want 1: none after Close", got)
	}
	// Past the window: a miss, which must not wait for a refresh that
	// was never started.
	e.clock.Advance(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := e.do(p, o, newRequest(http.MethodGet, "/").WithContext(ctx))
	expect(t, w, "Miss from edge", "v3")
}
