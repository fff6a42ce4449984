package cache

import (
	"crypto/rand"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestHitMissExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{}
	o.fn = versioned(o)
	p := &Policy{TTL: time.Minute}

	steps := []struct {
		advance time.Duration
		xc      string
		body    string
		calls   int32
	}{
		{0, "Miss from edge", "v1", 1},
		{0, "Hit from edge", "v1", 1},
		{59 * time.Second, "Hit from edge", "v1", 1},
		{2 * time.Second, "Miss from edge", "v2", 2},
		{0, "Hit from edge", "v2", 2},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		w := e.get(p, o, "/pets")
		expect(t, w, st.xc, st.body)
		if got := o.calls.Load(); got != st.calls {
			t.Errorf("step %d: origin calls = %d, want %d", i, got, st.calls)
		}
	}
	want := []Result{Miss, Hit, Hit, Miss, Hit}
	if got := e.obs.all(); !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestHitAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{fn: text("x", "Age", "5")}
	p := &Policy{TTL: time.Minute}
	e.get(p, o, "/")
	e.clock.Advance(10 * time.Second)
	if got := e.get(p, o, "/").Header().Get("Age"); got != "15" {
		t.Errorf("Age = %q, want 15", got)
	}
}

func TestStorable(t *testing.T) {
	t.Parallel()
	big := string(make([]byte, 2000))
	tests := []struct {
		name   string
		p      Policy
		status int
		hdr    []string
		body   string
		stored bool
	}{
		{name: "plain", p: Policy{TTL: time.Minute}, stored: true},
		{name: "ttl zero", p: Policy{}, stored: false},
		{name: "404 stored", p: Policy{TTL: time.Minute}, status: 404, stored: true},
		{name: "500 not stored", p: Policy{TTL: time.Minute}, status: 500},
		{name: "201 not stored", p: Policy{TTL: time.Minute}, status: 201},
		{name: "set-cookie", p: Policy{TTL: time.Minute}, hdr: []string{"Set-Cookie", "a=b"}},
		{name: "stale from the next tier", p: Policy{TTL: time.Minute}, hdr: []string{"X-Cache", "Stale from regional"}},
		{name: "hit from the next tier", p: Policy{TTL: time.Minute}, hdr: []string{"X-Cache", "Hit from regional"}, stored: true},
		{name: "vary star", p: Policy{TTL: time.Minute}, hdr: []string{"Vary", "Accept-Language, *"}},
		{name: "unknown encoding", p: Policy{TTL: time.Minute}, hdr: []string{"Content-Encoding", "br"}},
		{name: "too big", p: Policy{TTL: time.Minute, MaxEntryBytes: 1000}, body: big},
		{name: "origin private ignored", p: Policy{TTL: time.Minute}, hdr: []string{"Cache-Control", "private, no-store"}, stored: true},
		{name: "honor private", p: Policy{TTL: time.Minute, HonorOrigin: true}, hdr: []string{"Cache-Control", "private"}},
		{name: "honor no-store", p: Policy{TTL: time.Minute, HonorOrigin: true}, hdr: []string{"Cache-Control", "public, No-Store"}},
		{name: "honor max-age 0", p: Policy{TTL: time.Minute, HonorOrigin: true}, hdr: []string{"Cache-Control", "max-age=0"}},
		{name: "honor s-maxage over max-age 0", p: Policy{HonorOrigin: true}, hdr: []string{"Cache-Control", "max-age=0, s-maxage=60"}, stored: true},
		{name: "honor falls back to ttl", p: Policy{TTL: time.Minute, HonorOrigin: true}, stored: true},
		{name: "honor expired Expires", p: Policy{TTL: time.Minute, HonorOrigin: true}, hdr: []string{"Expires", "0"}},
		{name: "honor age beyond max-age", p: Policy{HonorOrigin: true}, hdr: []string{"Cache-Control", "max-age=60", "Age", "61"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{fn: func(w http.ResponseWriter, r *http.Request, bg bool) {
				for i := 0; i+1 < len(tc.hdr); i += 2 {
					w.Header().Add(tc.hdr[i], tc.hdr[i+1])
				}
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				_, _ = w.Write([]byte(tc.body))
			}}
			p := tc.p
			e.get(&p, o, "/pets")
			w := e.get(&p, o, "/pets")
			if got := w.Header().Get(HeaderXCache) == "Hit from edge"; got != tc.stored {
				t.Errorf("stored = %v, want %v (X-Cache %q)", got, tc.stored, w.Header().Get(HeaderXCache))
			}
			if w.Body.String() != tc.body {
				t.Errorf("body changed: %d bytes, want %d", w.Body.Len(), len(tc.body))
			}
			if tc.status != 0 && w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
		})
	}
}

func TestOriginLifetimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		p       Policy
		cc      string
		advance time.Duration
		hit     bool
	}{
		{"s-maxage over max-age", Policy{HonorOrigin: true}, "max-age=100, s-maxage=10", 11 * time.Second, false},
		{"s-maxage still fresh", Policy{HonorOrigin: true}, "max-age=1, s-maxage=10", 9 * time.Second, true},
		{"max-age over ttl", Policy{HonorOrigin: true, TTL: 10 * time.Second}, "max-age=100", 50 * time.Second, true},
		{"ttl when not honoured", Policy{TTL: 10 * time.Second}, "max-age=100", 11 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{fn: text("x", "Cache-Control", tc.cc)}
			e.get(&tc.p, o, "/")
			e.clock.Advance(tc.advance)
			got := e.get(&tc.p, o, "/").Header().Get(HeaderXCache) == "Hit from edge"
			if got != tc.hit {
				t.Errorf("hit = %v, want %v", got, tc.hit)
			}
		})
	}
}

func TestByteBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	const capacity = 64 << 10
	s := e.c.Stage("pets", "small", capacity)
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, _ bool) {
		b := make([]byte, 4096)
		_, _ = rand.Read(b)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	}}
	p := &Policy{TTL: time.Hour}
	for i := range 200 {
		r := newRequest(http.MethodGet, "/pets/"+strconv.Itoa(i))
		s.Serve(newRecorderDiscard(), r, p, r.URL.Path, o.serve)
	}
	if w := s.Weight(); w > capacity || w <= 0 {
		t.Errorf("weight = %d, want in (0, %d]", w, capacity)
	}
	if n := s.Len(); n == 0 || n >= 200 {
		t.Errorf("len = %d, want some but not all of 200", n)
	}

	// Shrinking evicts down to the new bound.
	e.c.Stage("pets", "small", 16<<10)
	if w := s.Weight(); w > 16<<10 {
		t.Errorf("weight after shrink = %d, want <= %d", w, 16<<10)
	}
}

func TestHeadServedFromGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	var methods []string
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		methods = append(methods, r.Method)
		text("hello")(w, r, bg)
	}
	p := &Policy{TTL: time.Minute}

	w := e.do(p, o, newRequest(http.MethodHead, "/pets"))
	if got := w.Header().Get(HeaderXCache); got != "Miss from edge" {
		t.Errorf("HEAD miss X-Cache = %q", got)
	}
	e.get(p, o, "/pets")
	w = e.do(p, o, newRequest(http.MethodHead, "/pets"))
	if got := w.Header().Get(HeaderXCache); got != "Hit from edge" {
		t.Errorf("HEAD after GET X-Cache = %q", got)
	}
	if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "5" {
		t.Errorf("HEAD hit: body %q, Content-Length %q", w.Body.String(), w.Header().Get("Content-Length"))
	}
	if !slices.Equal(methods, []string{http.MethodHead, http.MethodGet}) {
		t.Errorf("origin saw %v; want the HEAD miss passed through and one GET", methods)
	}
	if e.s.Len() != 1 {
		t.Errorf("len = %d, want 1", e.s.Len())
	}
}

func TestBypass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    *Policy
		r    *http.Request
	}{
		{"post", &Policy{TTL: time.Minute}, newRequest(http.MethodPost, "/pets")},
		{"method not listed", &Policy{TTL: time.Minute, Methods: []string{"HEAD"}}, newRequest(http.MethodGet, "/pets")},
		{"range", &Policy{TTL: time.Minute}, newRequest(http.MethodGet, "/pets", "Range", "bytes=0-1")},
		{"no-store", &Policy{TTL: time.Minute}, newRequest(http.MethodGet, "/pets", "Cache-Control", "no-store")},
		{"nil policy", nil, newRequest(http.MethodGet, "/pets")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{fn: text("x", HeaderXCache, "Hit from regional")}
			e.get(&Policy{TTL: time.Minute}, o, "/pets") // stored
			w := e.do(tc.p, o, tc.r)
			if got := w.Header().Get(HeaderXCache); got != "Bypass from edge, Hit from regional" {
				t.Errorf("X-Cache = %q", got)
			}
			if o.calls.Load() != 2 {
				t.Errorf("origin calls = %d, want 2", o.calls.Load())
			}
			if got := e.obs.all(); got[len(got)-1] != Bypass {
				t.Errorf("observed %v, want Bypass last", got)
			}
		})
	}
}

func TestDisabledStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	s := e.c.Stage("pets", "off", 0)
	o := &origin{fn: text("x")}
	r := newRequest(http.MethodGet, "/")
	w := newRecorderDiscard()
	s.Serve(w, r, &Policy{TTL: time.Minute}, "/", o.serve)
	if got := w.Header().Get(HeaderXCache); got != "Bypass from edge" {
		t.Errorf("X-Cache = %q", got)
	}
}

// TestStageDisabledInPlace turns caching off for a stage that holds an
// entry, then on again.
func TestStageDisabledInPlace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{}
	o.fn = versioned(o)
	p := &Policy{TTL: time.Minute}
	expect(t, e.get(p, o, "/"), "Miss from edge", "v1")
	if s := e.c.Stage("pets", "prod", 0); s != e.s {
		t.Fatal("disabling replaced the stage")
	}
	if n := e.s.Len(); n != 0 {
		t.Errorf("disabled stage holds %d entries", n)
	}
	expect(t, e.get(p, o, "/"), "Bypass from edge", "v2")
	e.c.Stage("pets", "prod", 1<<20)
	expect(t, e.get(p, o, "/"), "Miss from edge", "v3")
	expect(t, e.get(p, o, "/"), "Hit from edge", "v3")
}

// TestHitHeaderIsolated checks that handlers changing the header values of
// hits change only their own response: every hit of an entry shares its
// values (see shareHeader).
func TestHitHeaderIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{fn: text(jsonBody(2<<10), "Content-Type", "application/json", "Etag", `"e1"`,
		"Cache-Control", "public", "Vary", "Accept-Language", "X-Multi", "a", "X-Multi", "b")}
	p := &Policy{TTL: time.Minute}
	for _, accept := range []string{"gzip", "zstd", "identity"} {
		hdr := []string{"Accept-Encoding", accept, "Accept-Language", "en"}
		e.get(p, o, "/", hdr...)
		want := e.get(p, o, "/", hdr...).Header().Clone()
		var changed []http.Header
		for _, v := range []string{"one", "two"} {
			h := e.get(p, o, "/", hdr...).Header()
			for k, vs := range h {
				h[k] = append(vs, v)
			}
			changed = append(changed, h)
		}
		for i, v := range []string{"one", "two"} {
			for k, vs := range changed[i] {
				if !slices.Equal(vs, append(slices.Clone(want[k]), v)) {
					t.Errorf("%s: hit %d: %s = %q, want %q and %q", accept, i, k, vs, want[k], v)
				}
			}
		}
		h := e.get(p, o, "/", hdr...).Header()
		h.Set("Etag", "set")
		h.Add("Vary", "added")
		if got := e.get(p, o, "/", hdr...).Header(); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: header after changes to earlier hits\n%v\nwant\n%v", accept, got, want)
		}
	}
}

func TestXCacheChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{fn: text("x", HeaderXCache, "Hit from regional")}
	p := &Policy{TTL: time.Minute}
	expect(t, e.get(p, o, "/"), "Miss from edge, Hit from regional", "x")
	expect(t, e.get(p, o, "/"), "Hit from edge", "x")
	en := e.entry(p, "/")
	if en == nil || en.header.Get(HeaderXCache) != "" {
		t.Errorf("stored entry %v keeps the origin's X-Cache", en)
	}
}

func TestOversizedStreamsToLeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	chunk := make([]byte, 700)
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, _ bool) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for range 5 {
			_, _ = w.Write(chunk)
		}
	}}
	p := &Policy{TTL: time.Minute, MaxEntryBytes: 1000}
	for range 2 {
		w := e.get(p, o, "/big")
		if w.Body.Len() != 3500 || w.Header().Get(HeaderXCache) != "Miss from edge" {
			t.Errorf("got %d bytes, X-Cache %q", w.Body.Len(), w.Header().Get(HeaderXCache))
		}
	}
	if o.calls.Load() != 2 || e.s.Len() != 0 {
		t.Errorf("calls %d, len %d: oversized response must not be stored", o.calls.Load(), e.s.Len())
	}
}

func TestClientInvalidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allow   bool
		hdr     []string
		refresh bool
	}{
		{"allowed max-age=0", true, []string{"Cache-Control", "max-age=0"}, true},
		{"allowed no-cache", true, []string{"Cache-Control", "no-cache"}, true},
		{"allowed pragma", true, []string{"Pragma", "no-cache"}, true},
		{"denied max-age=0", false, []string{"Cache-Control", "max-age=0"}, false},
		{"denied no-cache", false, []string{"Cache-Control", "no-cache"}, false},
		{"allowed max-age=5 is not invalidation", true, []string{"Cache-Control", "max-age=5"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{}
			o.fn = versioned(o)
			p := &Policy{TTL: time.Minute, AllowClientInvalidation: tc.allow}
			e.get(p, o, "/")
			w := e.get(p, o, "/", tc.hdr...)
			if tc.refresh {
				expect(t, w, "Miss from edge", "v2")
				expect(t, e.get(p, o, "/"), "Hit from edge", "v2")
			} else {
				expect(t, w, "Hit from edge", "v1")
			}
		})
	}
}

func TestConditionalRequestFromEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	var seen []string
	o := &origin{}
	o.fn = func(w http.ResponseWriter, r *http.Request, bg bool) {
		seen = append(seen, r.Header.Get("If-None-Match")+r.Header.Get("If-Modified-Since"))
		text("x", "Etag", `"abc"`, "Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")(w, r, bg)
	}
	p := &Policy{TTL: time.Minute}
	tests := []struct {
		hdr  []string
		code int
	}{
		{[]string{"If-None-Match", `"zzz"`}, 200}, // the miss: not forwarded
		{[]string{"If-None-Match", `"abc"`}, 304},
		{[]string{"If-None-Match", `"x", W/"abc"`}, 304},
		{[]string{"If-None-Match", `*`}, 304},
		{[]string{"If-None-Match", `"zzz"`}, 200},
		{[]string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, 304},
		{[]string{"If-Modified-Since", "Sun, 01 Jan 2006 15:04:05 GMT"}, 200},
		{[]string{"If-None-Match", `"zzz"`, "If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200},
	}
	for i, tc := range tests {
		if w := e.get(p, o, "/", tc.hdr...); w.Code != tc.code {
			t.Errorf("case %d: status %d, want %d", i, w.Code, tc.code)
		}
	}
	if !slices.Equal(seen, []string{""}) {
		t.Errorf("origin saw conditionals %q, want one unconditional fetch", seen)
	}
}

func TestRetain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{fn: text("x")}
	p := &Policy{TTL: time.Minute}
	e.get(p, o, "/")
	other := e.c.Stage("cats", "prod", 1<<20)
	e.c.Retain(func(api, stage string) bool { return api == "cats" })
	if e.s.Len() != 0 {
		t.Errorf("dropped stage still holds %d entries", e.s.Len())
	}
	if e.c.Stage("cats", "prod", 1<<20) != other {
		t.Error("kept stage was replaced")
	}
	if s := e.c.Stage("pets", "prod", 1<<20); s == e.s {
		t.Error("dropped stage was not replaced")
	}
}

// discardWriter is a minimal ResponseWriter for tests and benchmarks that
// do not look at the body.
type discardWriter struct {
	h    http.Header
	code int
}

func newRecorderDiscard() *discardWriter { return &discardWriter{h: http.Header{}} }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func TestDefaultClock(t *testing.T) {
	t.Parallel()
	c := New(Options{Tier: "edge"})
	defer c.Close()
	s := c.Stage("pets", "prod", 1<<20)
	o := &origin{fn: text("x")}
	p := &Policy{TTL: time.Hour}
	for _, want := range []string{"Miss from edge", "Hit from edge"} {
		r := newRequest(http.MethodGet, "/")
		w := newRecorderDiscard()
		s.Serve(w, r, p, "/", o.serve)
		if got := w.h.Get(HeaderXCache); got != want {
			t.Errorf("X-Cache %q, want %q", got, want)
		}
	}
}

func TestOriginFlushes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "edge")
	o := &origin{fn: func(w http.ResponseWriter, r *http.Request, _ bool) {
		_, _ = w.Write([]byte("part1,"))
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		_, _ = w.Write([]byte("part2"))
	}}
	p := &Policy{TTL: time.Minute}
	// A cacheable miss: the flush is a no-op and the response is stored.
	expect(t, e.get(p, o, "/"), "Miss from edge", "part1,part2")
	expect(t, e.get(p, o, "/"), "Hit from edge", "part1,part2")
	// A bypass: the flush reaches the client.
	w := e.do(p, o, newRequest(http.MethodPost, "/"))
	if !w.Flushed || w.Body.String() != "part1,part2" {
		t.Errorf("bypass: flushed %v, body %q", w.Flushed, w.Body.String())
	}
}

func TestRecorderStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		origin func(http.ResponseWriter, *http.Request, bool)
		stored bool
	}{
		{"early hints ignored", func(w http.ResponseWriter, r *http.Request, bg bool) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusOK)
			w.WriteHeader(http.StatusTeapot) // superfluous: ignored
			_, _ = w.Write([]byte("x"))
		}, true},
		{"declared too long", func(w http.ResponseWriter, r *http.Request, bg bool) {
			w.Header().Set("Content-Length", "5000")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 5000))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "edge")
			o := &origin{fn: tc.origin}
			p := &Policy{TTL: time.Minute, MaxEntryBytes: 1000}
			if w := e.get(p, o, "/"); w.Code != http.StatusOK {
				t.Errorf("status %d", w.Code)
			}
			if got := e.get(p, o, "/").Header().Get(HeaderXCache) == "Hit from edge"; got != tc.stored {
				t.Errorf("stored = %v, want %v", got, tc.stored)
			}
		})
	}
}

func TestDecodedFromGzipOnly(t *testing.T) {
	t.Parallel()
	body := jsonBody(2000)
	e := &entry{gzip: gzipped(t, body), rawLen: len(body)}
	got, err := e.decoded()
	if err != nil || string(got) != body {
		t.Errorf("decoded: %v, %d bytes", err, len(got))
	}
}
