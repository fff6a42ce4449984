package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestIdentity(t *testing.T) {
	t.Parallel()
	// Each step is one request; the origin echoes the identity it saw, so
	// a shared entry would show another caller's body.
	steps := []struct {
		hdr  []string
		xc   string
		body string
	}{
		{[]string{"Authorization", "Bearer alice"}, "Miss from edge", "Bearer alice|"},
		{[]string{"Authorization", "Bearer bob"}, "Miss from edge", "Bearer bob|"},
		{[]string{"Authorization", "Bearer alice"}, "Hit from edge", "Bearer alice|"},
		{[]string{"X-Api-Key", "k1"}, "Miss from edge", "|k1"},
		{[]string{"X-Api-Key", "k2"}, "Miss from edge", "|k2"},
		{[]string{"x-api-key", "k1"}, "Hit from edge", "|k1"},
		{nil, "Miss from edge", "|"},
		{nil, "Hit from edge", "|"},
		{[]string{"Authorization", "Bearer alice", "X-Api-Key", "k1"}, "Miss from edge", "Bearer alice|k1"},
	}
	e := newEnv(t, "edge")
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
		text(r.Header.Get("Authorization")+"|"+r.Header.Get("X-Api-Key"))(w, r, bg)
	}}
	p := &Policy{TTL: time.Minute}
	for i, st := range steps {
		w := e.get(p, o, "/me", st.hdr...)
		if w.Header().Get(HeaderXCache) != st.xc || w.Body.String() != st.body {
			t.Errorf("step %d: %q %q, want %q %q", i, w.Header().Get(HeaderXCache), w.Body.String(), st.xc, st.body)
		}
	}
}

func TestKeyParams(t *testing.T) {
	t.Parallel()
	p := &Policy{TTL: time.Minute, KeyQuery: []string{"page", "size"}, KeyHeaders: []string{"x-tenant"}}
	steps := []struct {
		target string
		hdr    []string
		hit    bool
	}{
		{"/pets?page=1&utm=a", nil, false},
		{"/pets?utm=b&page=1", nil, true},
		{"/pets?page=2", nil, false},
		{"/pets?page=1&size=5", nil, false},
		{"/pets?size=5&page=1", nil, true},
		{"/pets?page=%31", nil, true}, // escaped "1"
		{"/pets?page=1", []string{"X-Tenant", "a"}, false},
		{"/pets?page=1", []string{"X-Tenant", "b"}, false},
		{"/pets?page=1", []string{"X-Tenant", "a", "X-Other", "z"}, true},
		{"/pets?page=1&page=2", nil, false},
		{"/pets?page=2&page=1", nil, false}, // value order matters
		{"/dogs?page=1", nil, false},
	}
	e := newEnv(t, "edge")
	o := &origin{fn: text("x")}
	for i, st := range steps {
		w := e.get(p, o, st.target, st.hdr...)
		if got := w.Header().Get(HeaderXCache) == "Hit from edge"; got != st.hit {
			t.Errorf("step %d %s: hit = %v, want %v", i, st.target, got, st.hit)
		}
	}
}

func TestVary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
		text("lang="+r.Header.Get("Accept-Language"), "Vary", "accept-language, Accept-Encoding")(w, r, bg)
	}}
	p := &Policy{TTL: time.Minute}
	steps := []struct {
		lang string
		xc   string
	}{
		{"en", "Miss from edge"},
		{"fr", "Miss from edge"},
		{"en", "Hit from edge"},
		{"fr", "Hit from edge"},
		{"", "Miss from edge"},
		{"", "Hit from edge"},
	}
	for i, st := range steps {
		var hdr []string
		if st.lang != "" {
			hdr = []string{"Accept-Language", st.lang}
		}
		w := e.get(p, o, "/pets", hdr...)
		expect(t, w, st.xc, "lang="+st.lang)
		if got := w.Header().Get("Vary"); got != "Accept-Language" {
			t.Errorf("step %d: Vary = %q", i, got)
		}
	}
	if o.calls.Load() != 3 {
		t.Errorf("origin calls = %d, want 3", o.calls.Load())
	}
}
