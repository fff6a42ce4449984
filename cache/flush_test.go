package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestFlushMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, path string
		want         bool
	}{
		{"", "/anything", true},
		{"/", "/anything", true},
		{"/pets", "/pets", true},
		{"/pets", "/pets/", true},
		{"/pets", "/pets/1", true},
		{"/pets", "/petshop", false},
		{"/pets/", "/pets/1", true},
		{"/pets/", "/pets", false},
		{"/pets/1", "/pets/10", false},
		{"/pets/1", "/pets", false},
		{"/owners", "/pets", false},
	}
	for _, tc := range tests {
		if got := (Flush{Seq: 1, Prefix: tc.prefix}).matches(tc.path); got != tc.want {
			t.Errorf("prefix %q path %q: %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

// fill stores one entry per path and returns the origin.
func fill(e *env, p *Policy, paths ...string) *origin {
	o := &origin{}
	o.fn = versioned(o)
	for _, path := range paths {
		e.get(p, o, path)
	}
	return o
}

func hit(e *env, p *Policy, o *origin, path string, hdr ...string) bool {
	return e.get(p, o, path, hdr...).Header().Get(HeaderXCache) == "Hit from "+e.c.tier
}

func TestFlushEager(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	p := &Policy{TTL: time.Hour}
	o := fill(e, p, "/pets/1", "/pets/2", "/pets", "/petshop", "/owners/1")
	if e.s.Len() != 5 {
		t.Fatalf("len = %d, want 5", e.s.Len())
	}
	e.c.Flush("pets", "prod", Flush{Seq: 1, Prefix: "/pets"})
	if got := e.s.Len(); got != 2 {
		t.Errorf("len after flush = %d, want 2 (deleted eagerly)", got)
	}
	if e.s.Epoch() != 1 {
		t.Errorf("epoch = %d, want 1", e.s.Epoch())
	}
	e.c.Flush("pets", "prod", Flush{Seq: 1, Prefix: "/pets"}) // idempotent
	for path, want := range map[string]bool{"/pets/1": false, "/pets": false, "/petshop": true, "/owners/1": true} {
		if got := hit(e, p, o, path); got != want {
			t.Errorf("%s: hit = %v, want %v", path, got, want)
		}
	}
	e.c.Flush("other", "stage", Flush{Seq: 9}) // unknown stage: ignored
}

func TestSetFlushesLazy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	p := &Policy{TTL: time.Hour}
	o := fill(e, p, "/pets/1", "/owners/1")
	e.s.SetFlushes(0, []Flush{{Seq: 5, Prefix: "/pets"}})
	if e.s.Len() != 2 {
		t.Errorf("len = %d: SetFlushes must not delete eagerly", e.s.Len())
	}
	if e.s.Epoch() != 5 {
		t.Errorf("epoch = %d, want 5", e.s.Epoch())
	}
	if hit(e, p, o, "/pets/1") {
		t.Error("flushed entry served")
	}
	if !hit(e, p, o, "/pets/1") {
		t.Error("entry fetched after the flush not served")
	}
	if !hit(e, p, o, "/owners/1") {
		t.Error("entry outside the prefix not served")
	}
}

func TestFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	p := &Policy{TTL: time.Hour}
	o := fill(e, p, "/a", "/b")
	e.c.Flush("pets", "prod", Flush{Seq: 7, Prefix: "/zzz"}) // known from gossip
	e.s.SetFlushes(3, nil)                                   // everything up to 3 forgotten
	if e.s.Epoch() != 7 {
		t.Errorf("epoch = %d, want 7 (gossip flush kept)", e.s.Epoch())
	}
	if hit(e, p, o, "/a") {
		t.Error("entry below the floor served")
	}
	if !hit(e, p, o, "/a") {
		t.Error("entry fetched at the floor not served")
	}
	e.s.SetFlushes(1, nil) // a lower floor changes nothing
	if !hit(e, p, o, "/a") || e.s.Epoch() != 7 {
		t.Error("lower floor took effect")
	}
}

func TestEpochHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "regional")
	p := &Policy{TTL: time.Hour}
	o := fill(e, p, "/a") // v1, epoch 0
	e.s.SetFlushes(0, []Flush{{Seq: 2, Prefix: "/other"}})
	steps := []struct {
		epoch string
		xc    string
		body  string
	}{
		{"2", "Hit from regional", "v1"},  // the caller knows no more than us
		{"3", "Miss from regional", "v2"}, // the caller knows a flush we do not
		{"", "Hit from regional", "v2"},   // stored with our epoch
		{"junk", "Hit from regional", "v2"},
	}
	for i, st := range steps {
		var hdr []string
		if st.epoch != "" {
			hdr = []string{HeaderEpoch, st.epoch}
		}
		w := e.get(p, o, "/a", hdr...)
		if w.Header().Get(HeaderXCache) != st.xc || w.Body.String() != st.body {
			t.Errorf("step %d: %q %q, want %q %q", i, w.Header().Get(HeaderXCache), w.Body.String(), st.xc, st.body)
		}
	}
}

func TestFetchStartedBeforeFlush(t *testing.T) {
	t.Parallel()
	for _, gossip := range []bool{true, false} {
		e := newEnv(t, "edge")
		started, release := make(chan struct{}), make(chan struct{})
		o := &origin{}
		o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
			if o.calls.Load() == 1 {
				close(started)
				within(t, release, "release")
			}
			versioned(o)(w, r, bg)
		}
		p := &Policy{TTL: time.Hour}
		done := make(chan struct{})
		go func() {
			defer close(done)
			expect(t, e.get(p, o, "/pets/1"), "Miss from edge", "v1")
		}()
		within(t, started, "fetch")
		if gossip {
			e.c.Flush("pets", "prod", Flush{Seq: 1, Prefix: "/pets"})
		} else {
			e.s.SetFlushes(1, nil)
		}
		close(release)
		<-done
		// The entry was stored after the flush, but fetched before it.
		expect(t, e.get(p, o, "/pets/1"), "Miss from edge", "v2")
		expect(t, e.get(p, o, "/pets/1"), "Hit from edge", "v2")
	}
}
