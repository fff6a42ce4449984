package cache

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestObserverIsAskedPerStage: the observer resolves each stage once, by
// API and stage name.
func TestObserverIsAskedPerStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	e.c.Stage("pets", "prod", 1<<20) // the same stage again
	e.c.Stage("pets", "beta", 1<<20)
	e.obs.mu.Lock()
	defer e.obs.mu.Unlock()
	if want := [][2]string{{"pets", "prod"}, {"pets", "beta"}}; !slices.Equal(e.obs.stages, want) {
		t.Fatalf("Observer.Stage calls = %v, want %v", e.obs.stages, want)
	}
}

// TestDropHeadersAreNotStored: a header named in DropHeaders never comes
// from an entry: not on the Miss that filled it, not on hits, not after a
// 304 revalidation that sent a new value. Nor does an origin's Alt-Svc,
// on hits.
func TestDropHeadersAreNotStored(t *testing.T) {
	t.Parallel()
	clock := newClock()
	c := New(Options{Tier: "edge", Now: clock.Now, DropHeaders: []string{"x-request-id"}})
	t.Cleanup(c.Close)
	e := &env{t: t, clock: clock, c: c, s: c.Stage("pets", "prod", 1<<20)}
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		w.Header().Set("X-Request-Id", "origin-"+strconv.Itoa(int(o.calls.Load())))
		if o.calls.Load() > 1 {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		text("body", "Etag", `"v1"`, "X-Kept", "yes", "Alt-Svc", `h3=":1"`)(w, r, bg)
	}
	p := &Policy{TTL: 10 * time.Second}
	get := func(xc string) {
		t.Helper()
		w := e.get(p, o, "/")
		expect(t, w, xc, "body")
		if v, ok := w.Header()["X-Request-Id"]; ok {
			t.Errorf("%s: X-Request-Id = %q came from the entry", xc, v)
		}
		// Never stored (dropHeader): the origin's own alternatives.
		if v, ok := w.Header()["Alt-Svc"]; ok && xc != "Miss from edge" {
			t.Errorf("%s: Alt-Svc = %q came from the entry", xc, v)
		}
		if w.Header().Get("X-Kept") != "yes" {
			t.Errorf("%s: X-Kept = %q, want the stored value", xc, w.Header().Get("X-Kept"))
		}
	}
	get("Miss from edge")
	get("Hit from edge")
	clock.Advance(11 * time.Second)
	get("RefreshHit from edge")
	get("Hit from edge")
	if n := o.calls.Load(); n != 2 {
		t.Fatalf("origin calls = %d, want 2", n)
	}
}

// TestDefaultClockExpires exercises the default (coarse) clock: an entry
// is fresh within its TTL and expires after it.
func TestDefaultClockExpires(t *testing.T) {
	t.Parallel()
	c := New(Options{Tier: "edge"})
	t.Cleanup(c.Close)
	e := &env{t: t, c: c, s: c.Stage("pets", "prod", 1<<20)}
	o := &origin{}
	o.fn = versioned(o)
	p := &Policy{TTL: 100 * time.Millisecond}
	expect(t, e.get(p, o, "/"), "Miss from edge", "v1")
	expect(t, e.get(p, o, "/"), "Hit from edge", "v1")
	time.Sleep(300 * time.Millisecond) // well past the TTL plus the clock's 5 ms lag
	expect(t, e.get(p, o, "/"), "Miss from edge", "v2")
}
