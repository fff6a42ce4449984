package auth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// authzServer is an external authorizer that answers per token and counts
// its calls. Tokens name the answer: "allow-*", "deny-*", "policy-allow",
// "policy-deny", "simple-*", "401", "500", "junk", "slow", "badctx".
type authzServer struct {
	*httptest.Server
	calls   atomic.Int64
	mu      sync.Mutex
	events  []map[string]any
	release chan struct{}
	started chan struct{}
}

func newAuthzServer(t *testing.T) *authzServer {
	s := &authzServer{release: make(chan struct{}), started: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		var ev map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &ev); err != nil || r.Method != http.MethodPost || r.Header.Get("X-Portico-Secret") != "s3cret" {
			http.Error(w, "bad call", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
		tok, _ := ev["authorizationToken"].(string)
		if tok == "" { // REQUEST: the token is in the headers
			h, _ := ev["headers"].(map[string]any)
			tok, _ = h["X-Token"].(string)
		}
		arn, _ := ev["methodArn"].(string)
		switch {
		case strings.HasPrefix(tok, "allow-"):
			_, _ = io.WriteString(w, `{"allow":true,"principal":"`+strings.TrimPrefix(tok, "allow-")+`","context":{"tenant":"acme","tier":2,"admin":false,"evil":"a\nb"}}`)
		case strings.HasPrefix(tok, "deny-"):
			_, _ = io.WriteString(w, `{"allow":false}`)
		case strings.HasPrefix(tok, "simple-"):
			_, _ = io.WriteString(w, `{"isAuthorized":true,"context":{"k":"v"}}`)
		case tok == "policy-allow":
			_, _ = io.WriteString(w, `{"principalId":"p1","policyDocument":{"Version":"2012-10-17","Statement":[
				{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:portico:execute-api:eu-west-1:acct:api1/prod/GET/*"}]}}`)
		case tok == "policy-deny":
			_, _ = io.WriteString(w, `{"principalId":"p1","policyDocument":{"Statement":[
				{"Action":["execute-api:*"],"Effect":"Allow","Resource":["*"]},
				{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"`+arn+`"}]}}`)
		case tok == "401":
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		case tok == "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case tok == "junk":
			_, _ = io.WriteString(w, `{"hello":"world"}`)
		case tok == "badctx":
			_, _ = io.WriteString(w, `{"allow":true,"context":{"nested":{"a":1}}}`)
		case tok == "slow":
			s.started <- struct{}{}
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, `{"allow":true,"principal":"slow"}`)
		default:
			http.Error(w, "unknown token", http.StatusBadRequest)
		}
	}))
	t.Cleanup(func() {
		close(s.release)
		s.Close()
	})
	return s
}

func newTestExternal(t *testing.T, srv *authzServer, clock *testClock, mod func(*ExternalConfig)) *External {
	t.Helper()
	cfg := ExternalConfig{
		URL:              srv.URL,
		TTL:              DefaultExternalTTL,
		Header:           http.Header{"X-Portico-Secret": {"s3cret"}},
		ContextToHeaders: map[string]string{"tenant": "x-tenant", "tier": "x-tier", "evil": "x-evil"},
		Client:           srv.Client(),
		Now:              clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewExternal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var petsTarget = Target{MethodArn: "arn:portico:execute-api:eu-west-1:acct:api1/prod/GET/pets", Resource: "/pets", APIID: "api1", Stage: "prod"}

func authzReq(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/prod/pets?x=1", nil)
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	return r
}

func TestExternalAnswers(t *testing.T) {
	t.Parallel()
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, newClock(t0), func(c *ExternalConfig) { c.TTL = 0 })
	tests := []struct {
		token     string
		target    Target
		want      Kind
		principal string
		msg       string
	}{
		{token: "allow-bob", want: 0, principal: "bob"},
		{token: "deny-bob", want: KindAccessDenied},
		{token: "simple-x", want: 0},
		{token: "policy-allow", want: 0, principal: "p1"},
		{token: "policy-allow", target: Target{MethodArn: "arn:portico:execute-api:eu-west-1:acct:api1/prod/POST/pets"}, want: KindAccessDenied},
		{token: "policy-deny", want: KindAccessDenied, msg: "explicit deny"},
		{token: "401", want: KindUnauthorized},
		{token: "500", want: KindAuthorizerFailure},
		{token: "junk", want: KindAuthorizerFailure},
		{token: "badctx", want: KindAuthorizerFailure},
		{token: "", want: KindUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.token+tt.target.MethodArn, func(t *testing.T) {
			t.Parallel()
			target := tt.target
			if target.MethodArn == "" {
				target = petsTarget
			}
			id, err := a.Authorize(context.Background(), authzReq(tt.token), target)
			wantKind(t, err, tt.want)
			if id.Principal != tt.principal {
				t.Errorf("principal = %q, want %q", id.Principal, tt.principal)
			}
			if tt.msg != "" && !strings.Contains(err.(*Error).PublicMessage(), tt.msg) {
				t.Errorf("message = %q", err.(*Error).PublicMessage())
			}
		})
	}
}

func TestExternalContextToHeaders(t *testing.T) {
	t.Parallel()
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, newClock(t0), nil)
	id, err := a.Authorize(context.Background(), authzReq("allow-carol"), petsTarget)
	if err != nil {
		t.Fatal(err)
	}
	if id.Method != MethodExternal || id.CacheKey != "external:carol" {
		t.Errorf("identity = %+v", id)
	}
	if id.Claims["tenant"] != "acme" || id.Claims["tier"] != "2" || id.Claims["admin"] != "false" {
		t.Errorf("claims = %q", id.Claims)
	}
	if len(id.Headers) != 2 || id.Headers["X-Tenant"] != "acme" || id.Headers["X-Tier"] != "2" {
		t.Errorf("headers = %q (a value with a newline must be left out)", id.Headers)
	}
}

// TestExternalCaching: answers are cached per identity and resource until
// the TTL passes; denials are cached too; errors and 401s are not.
func TestExternalCaching(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, clock, func(c *ExternalConfig) { c.TTL = time.Minute })
	ctx := context.Background()
	call := func(tok string, target Target, want Kind) {
		t.Helper()
		_, err := a.Authorize(ctx, authzReq(tok), target)
		wantKind(t, err, want)
	}
	calls := func(want int64) {
		t.Helper()
		if n := srv.calls.Load(); n != want {
			t.Fatalf("authorizer calls = %d, want %d", n, want)
		}
	}
	call("allow-a", petsTarget, 0)
	call("allow-a", petsTarget, 0)
	calls(1)
	call("allow-b", petsTarget, 0) // another identity
	calls(2)
	other := petsTarget
	other.MethodArn += "/1"
	call("allow-a", other, 0) // another resource
	calls(3)
	call("deny-a", petsTarget, KindAccessDenied)
	call("deny-a", petsTarget, KindAccessDenied)
	calls(4)
	call("500", petsTarget, KindAuthorizerFailure)
	call("500", petsTarget, KindAuthorizerFailure)
	calls(6)
	call("401", petsTarget, KindUnauthorized)
	call("401", petsTarget, KindUnauthorized)
	calls(8)

	clock.Advance(59 * time.Second)
	call("allow-a", petsTarget, 0)
	calls(8)
	clock.Advance(time.Second) // the TTL has passed
	call("allow-a", petsTarget, 0)
	calls(9)
	call("deny-a", petsTarget, KindAccessDenied)
	calls(10)
}

func TestExternalNoCache(t *testing.T) {
	t.Parallel()
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, newClock(t0), func(c *ExternalConfig) { c.TTL = 0 })
	for range 3 {
		if _, err := a.Authorize(context.Background(), authzReq("allow-a"), petsTarget); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.calls.Load(); n != 3 {
		t.Fatalf("calls = %d, want 3", n)
	}
}

// TestExternalSingleFlight: concurrent requests for one identity make one
// call.
func TestExternalSingleFlight(t *testing.T) {
	t.Parallel()
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, newClock(t0), nil)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := a.Authorize(context.Background(), authzReq("slow"), petsTarget)
			errs <- err
		}()
	}
	<-srv.started
	eventually(t, "all requests to wait on the call", func() bool { return a.cache.len() == 1 })
	srv.release <- struct{}{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := srv.calls.Load(); c != 1 {
		t.Fatalf("calls = %d, want 1", c)
	}
}

func TestExternalTimeout(t *testing.T) {
	t.Parallel()
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, newClock(t0), func(c *ExternalConfig) { c.Timeout = 50 * time.Millisecond })
	_, err := a.Authorize(context.Background(), authzReq("slow"), petsTarget)
	wantKind(t, err, KindAuthorizerUnavailable)
	if !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if a.cache.len() != 0 {
		t.Fatal("a timeout was cached")
	}
	// A waiter whose own request ends stops waiting; the call goes on for
	// the request that started it.
	srv2 := newAuthzServer(t)
	a2 := newTestExternal(t, srv2, newClock(t0), nil)
	first := make(chan error, 1)
	go func() {
		_, err := a2.Authorize(context.Background(), authzReq("slow"), petsTarget)
		first <- err
	}()
	<-srv2.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = a2.Authorize(ctx, authzReq("slow"), petsTarget)
	wantKind(t, err, KindAuthorizerUnavailable)
	srv2.release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatalf("the request that started the call: %v", err)
	}
}

// TestExternalRequestType checks the REQUEST event and query identity
// sources, and that a missing source costs no call.
func TestExternalRequestType(t *testing.T) {
	t.Parallel()
	srv := newAuthzServer(t)
	a := newTestExternal(t, srv, newClock(t0), func(c *ExternalConfig) {
		c.Type = ExternalRequest
		c.IdentitySources = []string{"method.request.header.X-Token", "query.key"}
	})
	r := httptest.NewRequest(http.MethodGet, "/prod/pets/7?key=k1&key=k2&other=o", nil)
	r.Header.Set("X-Token", "allow-dave")
	target := Target{MethodArn: "arn:x/prod/GET/pets/7", Resource: "/pets/{id}", PathParameters: map[string]string{"id": "7"},
		APIID: "api1", Stage: "prod", RequestID: "req-1"}
	id, err := a.Authorize(context.Background(), r, target)
	if err != nil || id.Principal != "dave" {
		t.Fatalf("id = %+v, err = %v", id, err)
	}
	srv.mu.Lock()
	ev := srv.events[0]
	srv.mu.Unlock()
	rc, _ := ev["requestContext"].(map[string]any)
	qs, _ := ev["queryStringParameters"].(map[string]any)
	pp, _ := ev["pathParameters"].(map[string]any)
	if ev["type"] != "REQUEST" || ev["resource"] != "/pets/{id}" || ev["path"] != "/prod/pets/7" || ev["httpMethod"] != "GET" ||
		qs["key"] != "k1" || pp["id"] != "7" || rc["requestId"] != "req-1" || rc["stage"] != "prod" {
		t.Fatalf("event = %v", ev)
	}

	missing := httptest.NewRequest(http.MethodGet, "/prod/pets/7", nil)
	missing.Header.Set("X-Token", "allow-dave")
	_, err = a.Authorize(context.Background(), missing, target)
	wantKind(t, err, KindUnauthorized)
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("calls = %d: a request with a missing identity source reached the authorizer", n)
	}
}

func TestNewExternalValidates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  ExternalConfig
		want string
	}{
		{ExternalConfig{}, "url: required"},
		{ExternalConfig{URL: "http://127.0.0.1:1", TTL: 2 * time.Hour}, "ttl"},
		{ExternalConfig{URL: "http://127.0.0.1:1", TTL: -time.Second}, "ttl"},
		{ExternalConfig{URL: "http://127.0.0.1:1", Type: "LAMBDA"}, "type"},
		{ExternalConfig{URL: "http://127.0.0.1:1", IdentitySources: []string{"query.token"}}, "exactly one header"},
		{ExternalConfig{URL: "http://127.0.0.1:1", IdentitySources: []string{"cookie.x"}}, "not header.NAME"},
		{ExternalConfig{URL: "http://127.0.0.1:1", Type: ExternalRequest, TTL: time.Minute}, "required when results are cached"},
	} {
		if _, err := NewExternal(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewExternal(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	a, err := NewExternal(ExternalConfig{URL: "http://127.0.0.1:1"})
	if err != nil || a.typ != ExternalToken || a.sources[0].Name != "Authorization" || a.timeout != DefaultExternalTimeout || a.cache != nil {
		t.Fatalf("defaults: %v %+v", err, a)
	}
}

func TestParseIdentitySource(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want IdentitySource
		ok   bool
	}{
		{"header.x-token", IdentitySource{Header: true, Name: "X-Token"}, true},
		{"method.request.header.Authorization", IdentitySource{Header: true, Name: "Authorization"}, true},
		{"$request.header.Cookie", IdentitySource{Header: true, Name: "Cookie"}, true},
		{"query.token", IdentitySource{Name: "token"}, true},
		{"method.request.querystring.token", IdentitySource{Name: "token"}, true},
		{"$request.querystring.token", IdentitySource{Name: "token"}, true},
		// Mixed spellings the gateway does not read.
		{"method.request.query.token", IdentitySource{}, false},
		{"querystring.token", IdentitySource{}, false},
		{"$request.query.token", IdentitySource{}, false},
		{"method.request.$request.header.X", IdentitySource{}, false},
		{"header.", IdentitySource{}, false},
		{"header.X Token", IdentitySource{}, false},
		{"context.sourceIp", IdentitySource{}, false},
	} {
		got, err := ParseIdentitySource(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseIdentitySource(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "anything", true},
		{"arn:*/prod/GET/*", "arn:x/prod/GET/pets/1", true},
		{"arn:*/prod/GET/*", "arn:x/prod/POST/pets", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"", "", true},
		{"abc", "abcd", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 100), false},
	} {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestResultCacheBounded(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	c := newResultCache(32, clock.Now)
	for i := range 200 {
		k := cacheKey("arn", []string{strconv.Itoa(i)})
		c.get(context.Background(), k, time.Minute, func() (result, bool) { return result{}, true })
	}
	if n := c.len(); n > 32 {
		t.Fatalf("len = %d, want at most 32", n)
	}
}
