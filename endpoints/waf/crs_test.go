package waf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCRS sends probes and ordinary requests through a Firewall with the
// default Core Rule Set and through one without it.
func TestCRS(t *testing.T) {
	t.Parallel()
	sharedCRS(t)
	tests := []struct {
		name              string
		method, target    string
		contentType, body string
		blocked           bool
		rule              int    // the deciding rule when blocked
		matchedPrefix     string // some matched rule id starts with this
	}{
		{name: "plain GET", method: "GET", target: "/items?id=42&sort=name"},
		{name: "plain JSON POST", method: "POST", target: "/items", contentType: "application/json", body: `{"name":"O'Brien","tags":["a","b"],"n":3}`},
		{name: "plain form POST", method: "POST", target: "/login", contentType: "application/x-www-form-urlencoded", body: "user=alice&remember=1"},
		{name: "PUT is an allowed method", method: "PUT", target: "/items/1", contentType: "application/json", body: `{"name":"x"}`},
		{name: "PATCH is an allowed method", method: "PATCH", target: "/items/1", contentType: "application/json", body: `{"name":"x"}`},
		{name: "DELETE is an allowed method", method: "DELETE", target: "/items/1"},
		{name: "sqli quote tautology in query", method: "GET", target: "/items?id=1%27%20OR%20%271%27=%271",
			blocked: true, rule: ruleAnomalyPhase2, matchedPrefix: "942"},
		{name: "sqli union select in query", method: "GET", target: "/items?id=1%20UNION%20SELECT%20password%20FROM%20users",
			blocked: true, rule: ruleAnomalyPhase2, matchedPrefix: "942"},
		{name: "xss in query", method: "GET", target: "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
			blocked: true, rule: ruleAnomalyPhase2, matchedPrefix: "941"},
		{name: "sqli in json body", method: "POST", target: "/items", contentType: "application/json", body: `{"id":"1' OR '1'='1"}`,
			blocked: true, rule: ruleAnomalyPhase2, matchedPrefix: "942"},
		{name: "sqli in form body", method: "POST", target: "/login", contentType: "application/x-www-form-urlencoded", body: "user=admin%27--&pw=x",
			blocked: true, rule: ruleAnomalyPhase2, matchedPrefix: "942"},
		{name: "malformed json body", method: "POST", target: "/items", contentType: "application/json", body: `{"id": "1"`,
			blocked: true, rule: ruleBodyError},
		{name: "unknown content type (exclude 920420 to allow)", method: "POST", target: "/upload", contentType: "application/octet-stream", body: "\x00\x01",
			blocked: true, rule: ruleAnomalyPhase1, matchedPrefix: "920420"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ml matchLog
			on := newFirewall(t, Config{CoreRuleSet: &CRS{}}, Options{OnMatch: ml.OnMatch})
			off := newFirewall(t, Config{}, Options{})

			be := &backend{}
			w := serve(off.Wrap(be), newRequest(tt.method, tt.target, tt.contentType, tt.body))
			if calls, body, _ := be.last(); w.Code != http.StatusOK || calls != 1 || string(body) != tt.body {
				t.Fatalf("without CRS: status %d, backend calls %d, body %q", w.Code, calls, body)
			}

			be = &backend{}
			w = serve(on.Wrap(be), newRequest(tt.method, tt.target, tt.contentType, tt.body))
			calls, body, _ := be.last()
			matches := ml.all()
			if !tt.blocked {
				if w.Code != http.StatusOK || calls != 1 || string(body) != tt.body || len(matches) != 0 {
					t.Fatalf("with CRS: status %d, backend calls %d, body %q, matches %v; want it passed untouched", w.Code, calls, body, matches)
				}
				return
			}
			if w.Code != http.StatusForbidden || calls != 0 {
				t.Fatalf("with CRS: status %d, backend calls %d; want blocked", w.Code, calls)
			}
			if len(matches) != 1 || !matches[0].Blocked || matches[0].Reason.Kind != KindCRS || matches[0].Reason.RuleID != tt.rule {
				t.Fatalf("matches %v, want one blocking crs match decided by %d", matches, tt.rule)
			}
			if tt.matchedPrefix != "" && !slices.ContainsFunc(matches[0].Reason.Matched, func(id int) bool {
				return strings.HasPrefix(fmt.Sprint(id), tt.matchedPrefix)
			}) {
				t.Errorf("matched rules %v, want one starting with %s", matches[0].Reason.Matched, tt.matchedPrefix)
			}
		})
	}
}

// TestCRSBodyPassThrough sends bodies through a real server with the
// Core Rule Set on and checks that the backend reads every byte as sent,
// with declared and with chunked (unknown) length, and which parts of a
// long body are inspected.
func TestCRSBodyPassThrough(t *testing.T) {
	t.Parallel()
	sharedCRS(t)
	f := newFirewall(t, Config{CoreRuleSet: &CRS{}}, Options{})

	// bigJSON is a JSON document of about n bytes, like an upload encoded
	// in base64: {"first": first, "data": "...", "last": last}.
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	bigJSON := func(n int, first, last string) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"first":%q,"data":"`, first)
		for i := 0; b.Len() < n-len(last)-12; i++ {
			b.WriteByte(b64[(i*7+i/64)%64])
		}
		fmt.Fprintf(&b, `","last":%q}`, last)
		return b.Bytes()
	}
	const sqli = "1' OR '1'='1"
	// paddedJSON is exactly n bytes of JSON whose bulk is whitespace, so
	// that it parses whole but costs the CRS little (its cost grows with
	// the bytes of values, not of the body).
	paddedJSON := func(n int, first, last string) []byte {
		head, tail := fmt.Sprintf(`{"first":%q,`, first), fmt.Sprintf(`"last":%q}`, last)
		return []byte(head + strings.Repeat(" ", n-len(head)-len(tail)) + tail)
	}
	tests := []struct {
		name    string
		body    []byte
		chunked bool
		want    int
	}{
		{"small", bigJSON(100, "a", "b"), false, http.StatusOK},
		{"1 MB", bigJSON(1<<20, "a", "b"), false, http.StatusOK},
		{"1 MB chunked", bigJSON(1<<20, "a", "b"), true, http.StatusOK},
		{"exactly the inspection limit", paddedJSON(InspectBodyLimit, "a", "b"), false, http.StatusOK},
		{"sqli at the end of the inspection limit", paddedJSON(InspectBodyLimit, "a", sqli), false, http.StatusForbidden},
		{"sqli in the inspected part of 1 MB", bigJSON(1<<20, sqli, "b"), false, http.StatusForbidden},
		{"sqli in the inspected part of 1 MB, chunked", bigJSON(1<<20, sqli, "b"), true, http.StatusForbidden},
		// Past InspectBodyLimit nothing is inspected (AWS WAF's oversize
		// handling CONTINUE); this case pins that trade-off.
		{"sqli past the inspection limit passes", bigJSON(1<<20, "a", sqli), false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			be := &backend{}
			srv := httptest.NewServer(f.Wrap(be))
			t.Cleanup(srv.Close)
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest("POST", srv.URL+"/items", body)
			if err != nil {
				t.Fatal(err)
			}
			browserish(req).Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			calls, got, err := be.last()
			if tt.want != http.StatusOK {
				if calls != 0 {
					t.Errorf("backend called for a blocked request")
				}
				return
			}
			if err != nil || calls != 1 || !bytes.Equal(got, tt.body) {
				t.Errorf("backend read %d bytes (err %v), want the %d bytes sent", len(got), err, len(tt.body))
			}
		})
	}
}

// TestCRSBodyReadError checks that a body that fails mid-way is handed on
// with the same failure, so the backend (the proxy) sees the client's
// error and never a short body, and that the rest of the request is still
// inspected.
func TestCRSBodyReadError(t *testing.T) {
	t.Parallel()
	sharedCRS(t)
	f := newFirewall(t, Config{CoreRuleSet: &CRS{}}, Options{})
	errGone := errors.New("client went away")
	for _, tt := range []struct {
		name, target, prefix string
		want                 int
	}{
		{"benign prefix", "/items", `{"name":"bo`, http.StatusOK},
		{"sqli in the prefix", "/items", `{"id":"1' OR '1'='1","name":"bo`, http.StatusOK},
		{"sqli in the query", "/items?id=1%27%20OR%20%271%27=%271", `{"name":"bo`, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{}
			r := browserish(httptest.NewRequest("POST", tt.target, io.MultiReader(strings.NewReader(tt.prefix), errReader{errGone})))
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = -1
			if w := serve(f.Wrap(be), r); w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if tt.want != http.StatusOK {
				return
			}
			if _, body, err := be.last(); string(body) != tt.prefix || !errors.Is(err, errGone) {
				t.Errorf("backend read %q, %v; want %q, %v", body, err, tt.prefix, errGone)
			}
		})
	}
}

// TestCRSDetectMode checks that DETECT lets a probe through and reports
// it to OnMatch and the log, and that it shares BLOCK mode's engine.
func TestCRSDetectMode(t *testing.T) {
	t.Parallel()
	shared := sharedCRS(t)
	var ml matchLog
	log, logs := testLogger(t)
	f := newFirewall(t, Config{CoreRuleSet: &CRS{Mode: ModeDetect}}, Options{OnMatch: ml.OnMatch, Logger: log})
	if f.engine() != shared.engine() {
		t.Error("DETECT mode compiled its own engine")
	}
	be := &backend{}
	h := f.Wrap(be)

	w := serve(h, newRequest("GET", "/items?id=1%27%20OR%20%271%27=%271", "", ""))
	if calls, _, _ := be.last(); w.Code != http.StatusOK || calls != 1 {
		t.Fatalf("probe: status %d, backend calls %d; want it passed", w.Code, calls)
	}
	w = serve(h, newRequest("POST", "/items", "application/json", `{"id":"1 UNION SELECT password FROM users"}`))
	if calls, body, _ := be.last(); w.Code != http.StatusOK || calls != 2 || !strings.Contains(string(body), "UNION") {
		t.Fatalf("body probe: status %d, backend calls %d, body %q; want it passed whole", w.Code, calls, body)
	}
	w = serve(h, newRequest("GET", "/items?id=42", "", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("plain request: status %d", w.Code)
	}

	matches := ml.all()
	if len(matches) != 2 {
		t.Fatalf("matches %v, want two (the probes)", matches)
	}
	for _, m := range matches {
		if m.Blocked || m.Reason.Kind != KindCRS || m.Reason.RuleID != ruleAnomalyPhase2 || len(m.Reason.Matched) == 0 {
			t.Errorf("match %+v, want an unblocked crs match with rule ids", m)
		}
	}
	if !containsAll(logs.String(), "level=INFO", `msg="waf match"`, "component=waf", "action=COUNT", "rule=crs", `reason="crs 949110 (942`) {
		t.Errorf("log lacks the detection:\n%s", logs)
	}
}

// TestCRSFailure checks the failure policy: when inspection fails (here a
// request body that panics when read, standing in for any failure inside
// the engine), BLOCK mode blocks (fail closed) and DETECT mode passes the
// request on (fail open), and both report KindError.
func TestCRSFailure(t *testing.T) {
	t.Parallel()
	sharedCRS(t)
	for _, tt := range []struct {
		mode string
		want int
	}{
		{ModeBlock, http.StatusForbidden},
		{ModeDetect, http.StatusOK},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			var ml matchLog
			log, logs := testLogger(t)
			f := newFirewall(t, Config{CoreRuleSet: &CRS{Mode: tt.mode}}, Options{OnMatch: ml.OnMatch, Logger: log})
			ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
			r := newRequest("POST", "/items", "application/json", "")
			r.Body = panicBody{}
			r.ContentLength = 10
			if w := serve(f.Wrap(ok), r); w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			m := ml.all()
			if len(m) != 1 || m[0].Reason.Kind != KindError || m[0].Blocked != (tt.mode == ModeBlock) || m[0].Reason.Err == nil {
				t.Fatalf("matches %+v, want one %s match", m, KindError)
			}
			if !containsAll(logs.String(), "level=ERROR", "rule=crs_error", "panicked") {
				t.Errorf("log lacks the failure:\n%s", logs)
			}
		})
	}
}

type panicBody struct{}

func (panicBody) Read([]byte) (int, error) { panic("boom") }
func (panicBody) Close() error             { return nil }

// TestCRSSharedEngine checks that Firewalls with the same Core Rule Set
// settings share one compiled engine (exclusions in any order, either
// mode), that different settings do not, and that concurrent News of a
// new setting compile it once.
func TestCRSSharedEngine(t *testing.T) {
	t.Parallel()
	shared := sharedCRS(t)
	a := newFirewall(t, Config{CoreRuleSet: &CRS{}}, Options{})
	b := newFirewall(t, Config{CoreRuleSet: &CRS{ParanoiaLevel: 1, AnomalyThreshold: 5, Mode: ModeBlock}}, Options{})
	if a.engine() != shared.engine() || b.engine() != shared.engine() {
		t.Fatal("same settings, different engines")
	}

	// A new setting, asked for by many stages at once.
	cfg := CRS{ParanoiaLevel: 2, ExcludeRules: []int{942100, 920420, 942100}}
	const n = 8
	got := make([]*Firewall, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := cfg
			c.ExcludeRules = slices.Clone(cfg.ExcludeRules)
			if i%2 == 1 {
				slices.Reverse(c.ExcludeRules)
				c.Mode = ModeDetect
			}
			f, err := New(Config{CoreRuleSet: &c}, Options{})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = f
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, f := range got {
		if f.engine() != got[0].engine() {
			t.Errorf("firewall %d has its own engine", i)
		}
	}
	if got[0].engine() == shared.engine() {
		t.Error("paranoia level 2 shares the level 1 engine")
	}
	if k := got[0].engine().key; k != (engineKey{paranoia: 2, threshold: 5, exclude: "920420,942100"}) {
		t.Errorf("key %+v", k)
	}

	// The exclusions are in force: 920420 (content type not allowed)
	// blocks an octet-stream upload at the default settings only.
	upload := func() *http.Request {
		return newRequest("POST", "/upload", "application/octet-stream", "binary")
	}
	if w := serve(shared.Wrap(&backend{}), upload()); w.Code != http.StatusForbidden {
		t.Errorf("default settings: upload got %d, want 403", w.Code)
	}
	if w := serve(got[0].Wrap(&backend{}), upload()); w.Code != http.StatusOK {
		t.Errorf("920420 excluded: upload got %d, want 200", w.Code)
	}
}

// TestCRSExcludeUnknownRule checks that excluding a rule id the CRS does
// not have is not an error (ids come and go between CRS versions).
func TestCRSExcludeUnknownRule(t *testing.T) {
	t.Parallel()
	if _, err := sharedEngine(engineKey{paranoia: 1, threshold: 5, exclude: "1234567"}); err != nil {
		t.Fatal(err)
	}
}

// TestCRSEngineReleased checks that the cache does not keep an engine
// alive: once no Firewall uses it, it is collected and forgotten.
func TestCRSEngineReleased(t *testing.T) {
	t.Parallel()
	key := keyOf(CRS{ParanoiaLevel: 3, AnomalyThreshold: 9})
	f := newFirewall(t, Config{CoreRuleSet: &CRS{ParanoiaLevel: 3, AnomalyThreshold: 9}}, Options{})
	if !cached(key) {
		t.Fatal("engine not in the cache")
	}
	runtime.KeepAlive(f)
	eventually(t, "the unused engine to leave the cache", func() bool {
		runtime.GC()
		return !cached(key)
	})
}

func cached(k engineKey) bool {
	engines.mu.Lock()
	defer engines.mu.Unlock()
	_, ok := engines.m[k]
	return ok
}

// eventually waits for cond to hold, failing the test after a generous
// bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
