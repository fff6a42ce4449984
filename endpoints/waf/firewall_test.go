package waf

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestIPRules runs requests from IPv4 and IPv6 addresses through allow
// and deny lists, via the default ClientIP (RemoteAddr).
func TestIPRules(t *testing.T) {
	t.Parallel()
	cfg := Config{
		IPAllow: []string{"203.0.113.0/24", "2001:db8::/32"},
		IPDeny:  []string{"203.0.113.66", "2001:db8:bad::/48", "192.0.2.0/24"},
	}
	tests := []struct {
		name   string
		remote string
		want   int
		reason Reason // when blocked
	}{
		{"v4 allowed", "203.0.113.5:4000", http.StatusOK, Reason{}},
		{"v6 allowed", "[2001:db8:1::5]:4000", http.StatusOK, Reason{}},
		{"v4-mapped allowed", "[::ffff:203.0.113.5]:4000", http.StatusOK, Reason{}},
		{"v4 denied, deny wins over allow", "203.0.113.66:4000", http.StatusForbidden, Reason{Kind: KindIPDeny, Index: 0}},
		{"v6 denied, deny wins over allow", "[2001:db8:bad::1]:4000", http.StatusForbidden, Reason{Kind: KindIPDeny, Index: 1}},
		{"v4-mapped denied", "[::ffff:203.0.113.66]:4000", http.StatusForbidden, Reason{Kind: KindIPDeny, Index: 0}},
		{"denied and not allowed reports deny", "192.0.2.1:4000", http.StatusForbidden, Reason{Kind: KindIPDeny, Index: 2}},
		{"v4 not allowed", "198.51.100.1:4000", http.StatusForbidden, Reason{Kind: KindIPAllow, Index: -1}},
		{"v6 not allowed", "[2001:db9::1]:4000", http.StatusForbidden, Reason{Kind: KindIPAllow, Index: -1}},
		{"unparsable address not allowed", "somewhere", http.StatusForbidden, Reason{Kind: KindIPAllow, Index: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []Reason
			f := newFirewall(t, cfg, Options{Block: func(w http.ResponseWriter, r *http.Request, reason Reason) {
				got = append(got, reason)
				w.WriteHeader(http.StatusForbidden)
			}})
			be := &backend{}
			r := httptest.NewRequest("GET", "/items", nil)
			r.RemoteAddr = tt.remote
			w := serve(f.Wrap(be), r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			calls, _, _ := be.last()
			if tt.want == http.StatusOK {
				if calls != 1 || len(got) != 0 {
					t.Errorf("backend calls %d, blocks %v; want 1 call, no block", calls, got)
				}
				return
			}
			if calls != 0 || !reflect.DeepEqual(got, []Reason{tt.reason}) {
				t.Errorf("backend calls %d, blocks %v; want 0 calls, block %v", calls, got, tt.reason)
			}
		})
	}
}

// TestIPDenyOnly checks that an empty allow list allows every address
// not denied, and that Options.ClientIP overrides RemoteAddr.
func TestIPDenyOnly(t *testing.T) {
	t.Parallel()
	f := newFirewall(t, Config{IPDeny: []string{"192.0.2.1", "2001:db8::1"}}, Options{
		ClientIP: func(r *http.Request) netip.Addr {
			a, _ := netip.ParseAddr(r.Header.Get("X-Client"))
			return a
		},
	})
	h := f.Wrap(&backend{})
	for _, tt := range []struct {
		client string
		want   int
	}{
		{"192.0.2.1", http.StatusForbidden},
		{"192.0.2.2", http.StatusOK},
		{"2001:db8::1", http.StatusForbidden},
		{"2001:db8::1%eth0", http.StatusForbidden}, // zones are ignored
		{"2001:db8::2", http.StatusOK},
		{"", http.StatusOK},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.1:1234" // not used: ClientIP is set
		r.Header.Set("X-Client", tt.client)
		if w := serve(h, r); w.Code != tt.want {
			t.Errorf("client %q: status %d, want %d", tt.client, w.Code, tt.want)
		}
	}
}

// TestDefaultBlock checks the default answer: 403 with a JSON body.
func TestDefaultBlock(t *testing.T) {
	t.Parallel()
	f := newFirewall(t, Config{IPDeny: []string{"0.0.0.0/0"}}, Options{})
	w := serve(f.Wrap(&backend{}), fromAddr(httptest.NewRequest("GET", "/", nil), "192.0.2.1:1"))
	if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != `{"message":"Forbidden"}` {
		t.Errorf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
}

// TestRateRules runs a BLOCK rule through Wrap: the (limit+1)th request
// from one address in the window is blocked, another address is not, and
// the first passes again once the window has gone by.
func TestRateRules(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	var ml matchLog
	f := newFirewall(t, Config{RateRules: []RateRule{{Limit: 3, Window: Duration(time.Minute)}}},
		Options{Now: clock.Now, OnMatch: ml.OnMatch})
	h := f.Wrap(&backend{})
	get := func(addr string) int {
		return serve(h, fromAddr(httptest.NewRequest("GET", "/items", nil), addr)).Code
	}
	const a, b = "192.0.2.1:1000", "[2001:db8::1]:1000"
	for i := range 3 {
		if c := get(a); c != http.StatusOK {
			t.Fatalf("request %d from a: %d", i+1, c)
		}
	}
	if c := get(a); c != http.StatusForbidden {
		t.Fatalf("request 4 from a: %d, want 403", c)
	}
	if c := get(b); c != http.StatusOK {
		t.Fatalf("first request from b: %d", c)
	}
	clock.Advance(30 * time.Second)
	if c := get(a); c != http.StatusForbidden {
		t.Fatalf("a within the window: %d, want 403", c)
	}
	clock.Advance(60 * time.Second) // everything up to the block at 30 s has left the window
	if c := get(a); c != http.StatusOK {
		t.Fatalf("a after the window: %d, want 200", c)
	}
	want := []Match{
		{Reason: Reason{Kind: KindRate, Index: 0}, Blocked: true},
		{Reason: Reason{Kind: KindRate, Index: 0}, Blocked: true},
	}
	if got := ml.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("matches %v, want %v", got, want)
	}
}

// TestRateRuleScopeAndCount checks path-prefix scoping, COUNT rules that
// report without blocking, and that rules are checked in order.
func TestRateRuleScopeAndCount(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	var ml matchLog
	log, logs := testLogger(t)
	f := newFirewall(t, Config{RateRules: []RateRule{
		{Limit: 1, Action: ActionCount},            // 0: everything, count only
		{Limit: 2, PathPrefix: "/login"},           // 1: block logins
		{Limit: 100, PathPrefix: "/never-matched"}, // 2
	}}, Options{Now: clock.Now, OnMatch: ml.OnMatch, Logger: log})
	h := f.Wrap(&backend{})
	steps := []struct {
		path string
		want int
	}{
		{"/items", http.StatusOK},         // rule 0: 1
		{"/items", http.StatusOK},         // rule 0: 2, counted
		{"/login", http.StatusOK},         // rule 0 counted; rule 1: 1
		{"/login", http.StatusOK},         // rule 0 counted; rule 1: 2
		{"/login", http.StatusForbidden},  // rule 0 counted; rule 1: 3, blocked
		{"/loginx", http.StatusForbidden}, // plain prefix match, as AWS WAF "starts with"
		{"/items", http.StatusOK},
	}
	for i, s := range steps {
		if c := serve(h, fromAddr(httptest.NewRequest("GET", s.path, nil), "192.0.2.9:1")).Code; c != s.want {
			t.Fatalf("step %d %s: %d, want %d", i, s.path, c, s.want)
		}
	}
	count := Match{Reason: Reason{Kind: KindRate, Index: 0}}
	block := Match{Reason: Reason{Kind: KindRate, Index: 1}, Blocked: true}
	want := []Match{count, count, count, count, block, count, block, count}
	if got := ml.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("matches\n got %v\nwant %v", got, want)
	}
	if !containsAll(logs.String(), "action=COUNT", "reason=rate_rules[0]", "action=BLOCK", "reason=rate_rules[1]", "client=192.0.2.9") {
		t.Errorf("log lacks the matches:\n%s", logs)
	}
}

// pathWriter is a ResponseWriter carrying the path within the API, as
// a gateway's own writer records it before the firewall runs.
type pathWriter struct {
	http.ResponseWriter
	apiPath string
}

// TestRateRulePathHook checks that PathPrefix is matched against what
// Options.Path returns, given the ResponseWriter the firewall was handed:
// a gateway serving the API under a stage passes /login for /prod/login.
// Without a PathPrefix the hook is never called.
func TestRateRulePathHook(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	var calls int
	path := func(w http.ResponseWriter, r *http.Request) string {
		calls++
		pw, ok := w.(*pathWriter)
		if !ok {
			t.Errorf("Path got a %T, not the writer the firewall was handed", w)
			return r.URL.Path
		}
		return pw.apiPath
	}
	f := newFirewall(t, Config{RateRules: []RateRule{{Limit: 1, PathPrefix: "/login"}}}, Options{Now: clock.Now, Path: path})
	h := f.Wrap(&backend{})
	send := func(full, apiPath string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(&pathWriter{ResponseWriter: w, apiPath: apiPath}, fromAddr(httptest.NewRequest("GET", full, nil), "192.0.2.9:1"))
		return w.Code
	}
	steps := []struct {
		full, apiPath string
		want          int
	}{
		{"/prod/login", "/login", http.StatusOK},        // 1: within the limit
		{"/prod/items", "/items", http.StatusOK},        // not scoped
		{"/prod/login", "/login", http.StatusForbidden}, // 2: over
		{"/login/prod", "/prod", http.StatusOK},         // the URL path is not what counts
	}
	for i, s := range steps {
		if c := send(s.full, s.apiPath); c != s.want {
			t.Fatalf("step %d %s (API path %s): %d, want %d", i, s.full, s.apiPath, c, s.want)
		}
	}
	if calls != len(steps) {
		t.Errorf("Path called %d times, want %d", calls, len(steps))
	}

	// The default is the URL path.
	def := newFirewall(t, Config{RateRules: []RateRule{{Limit: 1, PathPrefix: "/login"}}}, Options{Now: clock.Now}).Wrap(&backend{})
	for i, want := range []int{http.StatusOK, http.StatusForbidden} {
		if c := serve(def, fromAddr(httptest.NewRequest("GET", "/login", nil), "192.0.2.9:1")).Code; c != want {
			t.Fatalf("default path, request %d: %d, want %d", i+1, c, want)
		}
	}

	// No rule with a PathPrefix: the hook is not asked.
	calls = 0
	plain := newFirewall(t, Config{RateRules: []RateRule{{Limit: 10}}}, Options{Now: clock.Now, Path: path}).Wrap(&backend{})
	w := httptest.NewRecorder()
	plain.ServeHTTP(&pathWriter{ResponseWriter: w, apiPath: "/login"}, fromAddr(httptest.NewRequest("GET", "/prod/login", nil), "192.0.2.9:1"))
	if w.Code != http.StatusOK || calls != 0 {
		t.Errorf("without a PathPrefix: status %d, Path called %d times; want 200 and no call", w.Code, calls)
	}
}
