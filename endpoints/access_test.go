package endpoints

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
	"github.com/portico-gw/portico/endpoints/waf"
)

// The access steps of the pipeline (authorizer → API key → throttles and
// quota → validation, behind the stage's WAF), exercised through a
// regional Gateway listening on loopback, with real backends, a real
// JWKS server, a real external authorizer and the AWS SDK's signer.

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const jwtIssuer = "https://idp.example.test/"

func jwtAPI(jwksURL string) string {
	return `
name: jwt
authorizers:
  - name: idp
    type: JWT
    issuer: "` + jwtIssuer + `"
    audiences: [portico-api]
    jwks_uri: "` + jwksURL + `"
    claims_to_headers: {sub: X-Jwt-Sub, tenant: X-Jwt-Tenant}
resources:
  - path: /items
    methods:
      GET:
        authorization: JWT
        authorizer: idp
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}
  - path: /admin
    methods:
      GET:
        authorization: JWT
        authorizer: idp
        authorization_scopes: [admin]
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/admin"}
`
}

// TestJWTAuthorizer: RS256 tokens checked against a JWKS served over
// HTTP; claims reach the backend in the configured headers and only
// there; the classic forgeries (alg none, HS256 keyed with the public
// key) and bad claims are 401; a missing scope is 403 ACCESS_DENIED; an
// unknown kid does not make the gateway hammer the JWKS.
func TestJWTAuthorizer(t *testing.T) {
	t.Parallel()
	key := accessRSA()
	jwks := newJWKSServer(t, "k1", key)
	b := newBackend(t)
	lg := startRegional(t, buildState(t, apiDef{id: "jwtapi0001", def: jwtAPI(jwks.url), stages: prod(map[string]string{"backend": b.Listener.Addr().String()})}), nil)

	now := time.Now()
	claims := func(mod func(c map[string]any)) map[string]any {
		c := map[string]any{"iss": jwtIssuer, "aud": "portico-api", "sub": "alice", "tenant": "acme",
			"scope": "read write", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	rs256 := func(kid string, c map[string]any) string {
		return mintJWT(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, c, signRS256(key))
	}
	bearer := func(tok string, more ...string) http.Header {
		return hdr(append([]string{"Authorization", "Bearer " + tok}, more...)...)
	}
	const unauthorized, denied = "Unauthorized", "User is not authorized to access this resource"

	tests := []struct {
		name    string
		target  string
		h       http.Header
		status  int
		msg     string // error message (status ≠ 200)
		errType string // X-Amzn-ErrorType (status ≠ 200)
		sub     []string
		tenant  []string
	}{
		{name: "valid token", target: "/prod/items", h: bearer(rs256("k1", claims(nil))), status: 200,
			sub: []string{"alice"}, tenant: []string{"acme"}},
		{name: "token without Bearer prefix", target: "/prod/items", h: hdr("Authorization", rs256("k1", claims(nil))), status: 200,
			sub: []string{"alice"}, tenant: []string{"acme"}},
		{name: "client's claim header is replaced", target: "/prod/items",
			h: bearer(rs256("k1", claims(nil)), "X-Jwt-Sub", "mallory", "X-Jwt-Sub", "root"), status: 200,
			sub: []string{"alice"}, tenant: []string{"acme"}},
		{name: "client's claim header is removed when the claim is absent", target: "/prod/items",
			h: bearer(rs256("k1", claims(func(c map[string]any) { delete(c, "tenant") })), "X-Jwt-Tenant", "evil-corp"), status: 200,
			sub: []string{"alice"}},
		{name: "no token", target: "/prod/items", h: hdr("X-Jwt-Sub", "alice"), status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "alg none", target: "/prod/items",
			h:      bearer(mintJWT(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "k1"}, claims(nil), signNone)),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "HS256 keyed with the RSA public key", target: "/prod/items",
			h:      bearer(mintJWT(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims(nil), signHS256(publicKeyPEM(t, key)))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "HS256 keyed with the RSA modulus", target: "/prod/items",
			h:      bearer(mintJWT(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims(nil), signHS256(key.N.Bytes()))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "RS256 signature of other claims", target: "/prod/items",
			h: bearer(func() string {
				good := strings.Split(rs256("k1", claims(nil)), ".")
				forged := strings.Split(rs256("k1", claims(func(c map[string]any) { c["sub"] = "admin" })), ".")
				return forged[0] + "." + forged[1] + "." + good[2]
			}()),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "expired", target: "/prod/items",
			h: bearer(rs256("k1", claims(func(c map[string]any) {
				c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
			}))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "not valid yet", target: "/prod/items",
			h:      bearer(rs256("k1", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "wrong audience", target: "/prod/items",
			h:      bearer(rs256("k1", claims(func(c map[string]any) { c["aud"] = []string{"someone-else"} }))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "wrong issuer", target: "/prod/items",
			h:      bearer(rs256("k1", claims(func(c map[string]any) { c["iss"] = "https://evil.example.test/" }))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "unknown kid", target: "/prod/items", h: bearer(rs256("k2", claims(nil))),
			status: 401, msg: unauthorized, errType: "UnauthorizedException"},
		{name: "missing scope", target: "/prod/admin", h: bearer(rs256("k1", claims(nil))),
			status: 403, msg: denied, errType: "AccessDeniedException"},
		{name: "scope present", target: "/prod/admin", h: bearer(rs256("k1", claims(func(c map[string]any) { c["scp"] = []string{"admin"} }))),
			status: 200, sub: []string{"alice"}, tenant: []string{"acme"}},
	}
	// Sequential: the JWKS fetch count below depends on all of them.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.hits.Load()
			a := lg.do(t, "GET", "jwtapi0001", tc.target, tc.h, nil)
			if tc.status != 200 {
				if msg := a.gatewayError(t, tc.status); msg != tc.msg {
					t.Errorf("message %q, want %q", msg, tc.msg)
				}
				if et := a.header.Get("X-Amzn-ErrorType"); et != tc.errType {
					t.Errorf("X-Amzn-ErrorType %q, want %q", et, tc.errType)
				}
				if n := b.hits.Load() - before; n != 0 {
					t.Errorf("backend called %d times for a refused request", n)
				}
				return
			}
			s := a.backendSaw(t)
			if got := s.Header["X-Jwt-Sub"]; !slices.Equal(got, tc.sub) {
				t.Errorf("backend X-Jwt-Sub %q, want %q", got, tc.sub)
			}
			if got := s.Header["X-Jwt-Tenant"]; !slices.Equal(got, tc.tenant) {
				t.Errorf("backend X-Jwt-Tenant %q, want %q", got, tc.tenant)
			}
		})
	}

	// Tokens with made-up kids cost at most one JWKS fetch per 30 s
	// (auth.DefaultJWKSMinInterval), however many arrive.
	for i := range 5 {
		a := lg.do(t, "GET", "jwtapi0001", "/prod/items", bearer(rs256("random-"+strconv.Itoa(i), claims(nil))), nil)
		a.gatewayError(t, 401)
	}
	if n := jwks.hits.Load(); n < 1 || n > 2 {
		t.Errorf("JWKS fetched %d times, want 1 (2 on a machine slower than %s)", n, auth.DefaultJWKSMinInterval)
	}
}

// TestJWTAuthorizerStillWorksAfterAnUnrelatedChange: a stage keeps
// serving with the authorizer it was compiled with when some other part
// of the state changes; that rebuild reuses the stage as it is, so its
// authorizer is still in use and must keep working (fetch its JWKS).
func TestJWTAuthorizerStillWorksAfterAnUnrelatedChange(t *testing.T) {
	t.Parallel()
	key := accessRSA()
	jwks := newJWKSServer(t, "k1", key)
	b := newBackend(t)
	acc := NewAccess(testLogger(t))
	st := buildState(t, apiDef{id: "jwtapi0002", def: jwtAPI(jwks.url), stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	src := newSource(st)
	lg := startSource(t, src, acc)

	next := st.WithKey(st.Index+1, &configs.APIKey{ID: "unrelated", Name: "unrelated", Hash: auth.HashKey("an-unrelated-key-0123456789abcdefghijkl"), Enabled: true})
	src.Set(next)
	eventually(t, "the gateway to serve the new state", func() bool { return lg.g.ServingIndex() == next.Index })

	now := time.Now()
	tok := mintJWT(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"},
		map[string]any{"iss": jwtIssuer, "aud": "portico-api", "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()},
		signRS256(key))
	a := lg.do(t, "GET", "jwtapi0002", "/prod/items", hdr("Authorization", "Bearer "+tok), nil)
	if a.status != 200 {
		t.Fatalf("valid token after the rebuild: %d %q (X-Amzn-ErrorType %q), want 200; JWKS fetched %d times",
			a.status, a.body, a.header.Get("X-Amzn-ErrorType"), jwks.hits.Load())
	}
	if got := a.backendSaw(t).Header["X-Jwt-Sub"]; !slices.Equal(got, []string{"alice"}) {
		t.Errorf("backend X-Jwt-Sub %q, want [alice]", got)
	}
}

const keyAPI = `
name: keyed
resources:
  - path: /items
    methods:
      GET: {api_key_required: true, integration: {type: MOCK, body: "items"}}
  - path: /open
    methods:
      GET: {integration: {type: MOCK, body: "open"}}
`

// The API key values of the tests; the state stores only their hashes.
const (
	goldKey   = "gold-key-0123456789abcdefghijklmnopqrstu"
	offKey    = "off-key-0123456789abcdefghijklmnopqrstuv"
	betaKey   = "beta-key-0123456789abcdefghijklmnopqrstu"
	orphanKey = "orphan-key-0123456789abcdefghijklmnopqrs"
)

// withKeys adds usage plans and keys to st: "gold" covers apiID's prod
// stage, "beta-only" its beta stage.
func withKeys(st *configs.State, apiID string, gold *configs.UsagePlan) *configs.State {
	if gold == nil {
		gold = &configs.UsagePlan{}
	}
	gold.ID, gold.Name, gold.Stages = "gold", "Gold", []configs.PlanStage{{APIID: apiID, Stage: "prod"}}
	st = st.WithPlan(st.Index+1, gold)
	st = st.WithPlan(st.Index+1, &configs.UsagePlan{ID: "beta-only", Name: "Beta", Stages: []configs.PlanStage{{APIID: apiID, Stage: "beta"}}})
	for _, k := range []configs.APIKey{
		{ID: "key-gold", Name: "gold", Hash: auth.HashKey(goldKey), PlanID: "gold", Enabled: true},
		{ID: "key-off", Name: "off", Hash: auth.HashKey(offKey), PlanID: "gold", Enabled: false},
		{ID: "key-beta", Name: "beta", Hash: auth.HashKey(betaKey), PlanID: "beta-only", Enabled: true},
		{ID: "key-orphan", Name: "orphan", Hash: auth.HashKey(orphanKey), Enabled: true},
	} {
		st = st.WithKey(st.Index+1, &k)
	}
	return st
}

// TestAPIKeyRequired: a route that requires a key admits only a known,
// enabled key whose usage plan covers the stage; everything else is API
// Gateway's INVALID_API_KEY answer, 403 Forbidden.
func TestAPIKeyRequired(t *testing.T) {
	t.Parallel()
	st := withKeys(buildState(t, apiDef{id: "keyapi0001", def: keyAPI, stages: map[string]map[string]string{"prod": nil, "beta": nil}}), "keyapi0001", nil)
	lg := startRegional(t, st, nil)
	tests := []struct {
		name   string
		target string
		h      http.Header
		status int
		body   string // 200 only
	}{
		{"valid key", "/prod/items", hdr("X-Api-Key", goldKey), 200, "items"},
		{"valid key of the other stage's plan", "/beta/items", hdr("X-Api-Key", betaKey), 200, "items"},
		{"no key", "/prod/items", nil, 403, ""},
		{"empty key", "/prod/items", hdr("X-Api-Key", ""), 403, ""},
		{"unknown key", "/prod/items", hdr("X-Api-Key", "not-a-key-0123456789abcdefghijklmnopqrs"), 403, ""},
		{"disabled key", "/prod/items", hdr("X-Api-Key", offKey), 403, ""},
		{"plan does not cover the stage", "/prod/items", hdr("X-Api-Key", betaKey), 403, ""},
		{"key without a plan", "/prod/items", hdr("X-Api-Key", orphanKey), 403, ""},
		{"two keys", "/prod/items", hdr("X-Api-Key", goldKey, "X-Api-Key", goldKey), 403, ""},
		{"route without a key requirement", "/prod/open", nil, 200, "open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := lg.do(t, "GET", "keyapi0001", tc.target, tc.h, nil)
			if tc.status == 200 {
				if a.status != 200 || string(a.body) != tc.body {
					t.Fatalf("status %d body %q, want 200 %q", a.status, a.body, tc.body)
				}
				return
			}
			if msg := a.gatewayError(t, tc.status); msg != "Forbidden" {
				t.Errorf("message %q, want Forbidden", msg)
			}
			if et := a.header.Get("X-Amzn-ErrorType"); et != "ForbiddenException" {
				t.Errorf("X-Amzn-ErrorType %q, want ForbiddenException", et)
			}
		})
	}
}

const sigAPI = `
name: signed
resources:
  - path: /items
    methods:
      GET: {authorization: AWS_IAM, integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}}
      POST: {authorization: AWS_IAM, integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}}
`

const (
	sigAKID     = "PKIAACCESSTEST000001"
	sigSecret   = "pOrTiCo/SeCrEt/0123456789abcdefghijklmno"
	sigOffAKID  = "PKIADISABLED00000001"
	sigOffSecrt = "pOrTiCo/DiSaBlEd/0123456789abcdefghijklm"
)

// signV4 signs req (whose body is body) with the AWS SDK's signer.
func signV4(t *testing.T, req *http.Request, body []byte, akid, secret, service, region string) {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestSigV4Authorization: AWS_IAM routes take requests signed by the AWS
// SDK with a credential of the state, scoped to execute-api in the
// gateway's region, each signature once; the body the signature covers
// is the body the backend gets.
func TestSigV4Authorization(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	st := buildState(t, apiDef{id: "sigapi0001", def: sigAPI, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	st = st.WithCredential(st.Index+1, &configs.Credential{ID: sigAKID, Name: "ci", Secret: sigSecret, Enabled: true})
	st = st.WithCredential(st.Index+1, &configs.Credential{ID: sigOffAKID, Name: "old", Secret: sigOffSecrt, Enabled: false})
	lg := startRegional(t, st, nil)

	const badSig = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	body := []byte(`{"name":"widget","qty":1}`)
	signed := func(t *testing.T, method, target string, body []byte, akid, secret, service, region string) *http.Request {
		// SigV4 dates have a resolution of one second: two identical
		// requests signed in the same second carry the same signature,
		// and the second is a replay. The AWS SDKs make every attempt
		// unique with amz-sdk-invocation-id; so does this header.
		req := newRequest(t, method, "sigapi0001", target, hdr("Content-Type", "application/json", "X-Test-Case", t.Name()), body)
		signV4(t, req, body, akid, secret, service, region)
		return req
	}
	tests := []struct {
		name    string
		req     func(t *testing.T) *http.Request
		status  int
		msg     string // status ≠ 200: the message, "" for any
		errType string
	}{
		{name: "signed POST", status: 200, req: func(t *testing.T) *http.Request {
			return signed(t, "POST", "/prod/items", body, sigAKID, sigSecret, "execute-api", testRegion)
		}},
		{name: "signed GET with a query", status: 200, req: func(t *testing.T) *http.Request {
			return signed(t, "GET", "/prod/items?b=2&a=1&q=hello%20world", nil, sigAKID, sigSecret, "execute-api", testRegion)
		}},
		{name: "unsigned", status: 403, msg: "Missing Authentication Token", errType: "MissingAuthenticationTokenException",
			req: func(t *testing.T) *http.Request { return newRequest(t, "POST", "sigapi0001", "/prod/items", nil, body) }},
		{name: "tampered body of the same length", status: 403, errType: "InvalidSignatureException", req: func(t *testing.T) *http.Request {
			req := signed(t, "POST", "/prod/items", body, sigAKID, sigSecret, "execute-api", testRegion)
			other := bytes.Replace(body, []byte(`"qty":1`), []byte(`"qty":9`), 1)
			req.Body, req.GetBody = io.NopCloser(bytes.NewReader(other)), nil
			return req
		}},
		{name: "tampered query", status: 403, msg: badSig, errType: "InvalidSignatureException", req: func(t *testing.T) *http.Request {
			req := signed(t, "GET", "/prod/items?id=1", nil, sigAKID, sigSecret, "execute-api", testRegion)
			req.URL.RawQuery = "id=2"
			return req
		}},
		{name: "wrong region", status: 403, msg: "Credential should be scoped to a valid region.", errType: "InvalidSignatureException",
			req: func(t *testing.T) *http.Request {
				return signed(t, "POST", "/prod/items", body, sigAKID, sigSecret, "execute-api", "eu-west-1")
			}},
		{name: "wrong service", status: 403, msg: "Credential should be scoped to correct service: 'execute-api'.", errType: "InvalidSignatureException",
			req: func(t *testing.T) *http.Request {
				return signed(t, "POST", "/prod/items", body, sigAKID, sigSecret, "lambda", testRegion)
			}},
		{name: "wrong secret", status: 403, msg: badSig, errType: "InvalidSignatureException", req: func(t *testing.T) *http.Request {
			return signed(t, "POST", "/prod/items", body, sigAKID, sigOffSecrt, "execute-api", testRegion)
		}},
		{name: "disabled credential", status: 403, msg: "The security token included in the request is invalid.", errType: "UnrecognizedClientException",
			req: func(t *testing.T) *http.Request {
				return signed(t, "POST", "/prod/items", body, sigOffAKID, sigOffSecrt, "execute-api", testRegion)
			}},
		{name: "unknown credential", status: 403, msg: "The security token included in the request is invalid.", errType: "UnrecognizedClientException",
			req: func(t *testing.T) *http.Request {
				return signed(t, "POST", "/prod/items", body, "PKIANOSUCHKEY0000001", sigSecret, "execute-api", testRegion)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := tc.req(t)
			a := lg.send(t, req)
			if tc.status != 200 {
				msg := a.gatewayError(t, tc.status)
				if tc.msg != "" && msg != tc.msg {
					t.Errorf("message %q, want %q", msg, tc.msg)
				}
				if et := a.header.Get("X-Amzn-ErrorType"); et != tc.errType {
					t.Errorf("X-Amzn-ErrorType %q, want %q", et, tc.errType)
				}
				return
			}
			s := a.backendSaw(t)
			if s.Method != req.Method || s.RequestURI != "/items"+strings.TrimPrefix(req.URL.RequestURI(), "/prod/items") {
				t.Errorf("backend got %s %s for %s %s", s.Method, s.RequestURI, req.Method, req.URL.RequestURI())
			}
			want := ""
			if req.Method == "POST" {
				want = string(body)
			}
			if s.Body != want || s.BodyLen != len(want) {
				t.Errorf("backend body %q (%d bytes), want %q", s.Body, s.BodyLen, want)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		t.Parallel()
		req := signed(t, "POST", "/prod/items", body, sigAKID, sigSecret, "execute-api", testRegion)
		again := req.Clone(context.Background())
		again.Body, _ = req.GetBody()
		if s := lg.send(t, req).backendSaw(t); s.Body != string(body) {
			t.Fatalf("first use: backend body %q, want %q", s.Body, body)
		}
		// The gateway's own 403, not the backend's echo.
		a := lg.send(t, again)
		if msg := a.gatewayError(t, 403); msg != "Signature has already been used." {
			t.Errorf("replay: message %q", msg)
		}
		if et := a.header.Get("X-Amzn-ErrorType"); et != "InvalidSignatureException" {
			t.Errorf("replay: X-Amzn-ErrorType %q", et)
		}
	})
}

func extAPI(url string) string {
	return `
name: ext
authorizers:
  - name: gate
    type: TOKEN
    uri: "` + url + `"
    identity_sources: [header.Authorization]
    ttl: 5m
    context_to_headers: {tenant: X-Tenant, tier: X-Tier}
resources:
  - path: /items
    methods:
      GET: {authorization: CUSTOM, authorizer: gate, integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}}
`
}

// TestExternalTokenAuthorizer: a TOKEN authorizer's allow passes its
// context to the backend (replacing what the client sent), its deny is
// 403, and both answers are cached for the TTL.
func TestExternalTokenAuthorizer(t *testing.T) {
	t.Parallel()
	az := newTokenAuthorizer(t)
	b := newBackend(t)
	lg := startRegional(t, buildState(t, apiDef{id: "extapi0001", def: extAPI(az.url), stages: prod(map[string]string{"backend": b.Listener.Addr().String()})}), nil)

	tests := []struct {
		name    string
		token   string
		extra   http.Header
		repeat  int
		status  int
		msg     string
		errType string
		calls   int // authorizer calls for the token after all repeats
	}{
		{name: "allow", token: "allow-1", repeat: 1, status: 200, calls: 1},
		{name: "allow replaces the client's context headers", token: "allow-2", extra: hdr("X-Tenant", "evil", "X-Tier", "99"), repeat: 1, status: 200, calls: 1},
		{name: "allow is cached", token: "allow-3", repeat: 4, status: 200, calls: 1},
		{name: "deny", token: "deny-1", repeat: 1, status: 403, msg: "User is not authorized to access this resource", errType: "AccessDeniedException", calls: 1},
		{name: "deny is cached", token: "deny-2", repeat: 3, status: 403, msg: "User is not authorized to access this resource", errType: "AccessDeniedException", calls: 1},
		{name: "no token", token: "", repeat: 2, status: 401, msg: "Unauthorized", errType: "UnauthorizedException", calls: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range tc.repeat {
				h := tc.extra.Clone()
				if h == nil {
					h = http.Header{}
				}
				if tc.token != "" {
					h.Set("Authorization", tc.token)
				}
				a := lg.do(t, "GET", "extapi0001", "/prod/items", h, nil)
				if tc.status != 200 {
					if msg := a.gatewayError(t, tc.status); msg != tc.msg {
						t.Errorf("message %q, want %q", msg, tc.msg)
					}
					if et := a.header.Get("X-Amzn-ErrorType"); et != tc.errType {
						t.Errorf("X-Amzn-ErrorType %q, want %q", et, tc.errType)
					}
					continue
				}
				s := a.backendSaw(t)
				if got := s.Header["X-Tenant"]; !slices.Equal(got, []string{"acme"}) {
					t.Errorf("backend X-Tenant %q, want [acme]", got)
				}
				if got := s.Header["X-Tier"]; !slices.Equal(got, []string{"3"}) {
					t.Errorf("backend X-Tier %q, want [3]", got)
				}
			}
			if n := az.callsFor(tc.token); n != tc.calls {
				t.Errorf("authorizer called %d times for %d requests, want %d", n, tc.repeat, tc.calls)
			}
		})
	}
}

const limitAPI = `
name: limited
resources:
  - path: /items
    methods:
      GET: {api_key_required: true, integration: {type: MOCK, body: "items"}}
  - path: /open
    methods:
      GET: {integration: {type: MOCK, body: "open"}}
`

// limitState is limitAPI with a stage throttle, a route throttle and a
// key plan with a throttle and a quota.
func limitState(t *testing.T, apiID string) *configs.State {
	st := buildState(t, apiDef{id: apiID, def: limitAPI, stages: prod(nil)})
	st = withStage(t, st, apiID, "prod", func(s *configs.Stage) {
		s.Throttle = &configs.Throttle{RateLimit: 100, BurstLimit: 50}
		s.RouteThrottles = map[string]configs.Throttle{"GET /items": {RateLimit: 10, BurstLimit: 5}}
	})
	return withKeys(st, apiID, &configs.UsagePlan{
		Throttle: &configs.Throttle{RateLimit: 2, BurstLimit: 1},
		Quota:    &configs.Quota{Limit: 1000, Period: configs.QuotaDay},
	})
}

// TestThrottlesAndQuota: the gateway asks its Limiter level by level in
// the documented order, stops at the first refusal with 429 and a
// Retry-After of at least a second, counts the quota only for requests
// every throttle admitted, and tells a used-up quota apart from a
// throttle.
func TestThrottlesAndQuota(t *testing.T) {
	t.Parallel()
	const api = "limapi0001"
	st := limitState(t, api)
	lim := &fakeLimiter{}
	acc := NewAccess(testLogger(t))
	acc.Limiter = lim
	lg := startRegional(t, st, acc)

	var (
		dflt  = "throttle default 10000/5000"
		stage = "throttle stage:" + api + "/prod 100/50"
		route = "throttle stage:" + api + "/prod/GET /items 10/5"
		plan  = "throttle key:gold/key-gold 2/1"
		quota = "quota gold/key-gold 1000/DAY"
	)
	key := hdr("X-Api-Key", goldKey)
	tests := []struct {
		name       string
		target     string
		h          http.Header
		refuse     []string
		retry      time.Duration
		reset      time.Duration // from now
		status     int
		msg        string
		retryAfter [2]int // bounds of Retry-After (429 only)
		asked      []string
	}{
		{name: "every level, in order", target: "/prod/items", h: key, status: 200,
			asked: []string{dflt, stage, route, plan, quota}},
		{name: "route without key or route throttle", target: "/prod/open", status: 200,
			asked: []string{dflt, stage}},
		{name: "invalid key is refused before any throttle", target: "/prod/items", h: hdr("X-Api-Key", offKey), status: 403, msg: "Forbidden"},
		{name: "node default refuses", target: "/prod/open", refuse: []string{"throttle default"}, retry: 200 * time.Millisecond,
			status: 429, msg: "Too Many Requests", retryAfter: [2]int{1, 1}, asked: []string{dflt}},
		{name: "stage refuses", target: "/prod/items", h: key, refuse: []string{"throttle stage:" + api + "/prod"}, retry: 1500 * time.Millisecond,
			status: 429, msg: "Too Many Requests", retryAfter: [2]int{2, 2}, asked: []string{dflt, stage}},
		{name: "refusal without a wait still says a second", target: "/prod/items", h: key, refuse: []string{"throttle stage:" + api + "/prod"},
			status: 429, msg: "Too Many Requests", retryAfter: [2]int{1, 1}, asked: []string{dflt, stage}},
		{name: "route refuses", target: "/prod/items", h: key, refuse: []string{"throttle stage:" + api + "/prod/GET /items"}, retry: 3 * time.Second,
			status: 429, msg: "Too Many Requests", retryAfter: [2]int{3, 3}, asked: []string{dflt, stage, route}},
		{name: "key plan throttle refuses; quota not counted", target: "/prod/items", h: key, refuse: []string{"throttle key:gold/key-gold"}, retry: time.Second,
			status: 429, msg: "Too Many Requests", retryAfter: [2]int{1, 1}, asked: []string{dflt, stage, route, plan}},
		{name: "quota used up", target: "/prod/items", h: key, refuse: []string{"quota gold/key-gold"}, reset: 90 * time.Second,
			status: 429, msg: "Limit Exceeded", retryAfter: [2]int{1, 90}, asked: []string{dflt, stage, route, plan, quota}},
	}
	// Sequential: they share the limiter.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim.set(tc.retry, time.Now().Add(tc.reset), tc.refuse...)
			a := lg.do(t, "GET", api, tc.target, tc.h, nil)
			if tc.status == 200 {
				if a.status != 200 {
					t.Fatalf("status %d, want 200; body %q", a.status, a.body)
				}
			} else if msg := a.gatewayError(t, tc.status); msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			if tc.status == 429 {
				ra, err := strconv.Atoi(a.header.Get("Retry-After"))
				if err != nil || ra < tc.retryAfter[0] || ra > tc.retryAfter[1] {
					t.Errorf("Retry-After %q, want %d to %d seconds", a.header.Get("Retry-After"), tc.retryAfter[0], tc.retryAfter[1])
				}
			} else if ra := a.header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q on a %d", ra, a.status)
			}
			if got := lim.asked(); !slices.Equal(got, tc.asked) {
				t.Errorf("limiter asked\n  %q\nwant\n  %q", got, tc.asked)
			}
		})
	}

	// Without a Limiter nothing is throttled, whatever the stage says.
	t.Run("no limiter", func(t *testing.T) {
		st := withStage(t, limitState(t, api), api, "prod", func(s *configs.Stage) {
			s.Throttle = &configs.Throttle{RateLimit: 1, BurstLimit: 1}
		})
		lg := startRegional(t, st, nil)
		for i := range 5 {
			if a := lg.do(t, "GET", api, "/prod/items", key, nil); a.status != 200 {
				t.Fatalf("request %d: status %d, body %q", i, a.status, a.body)
			}
		}
	})
}

const validAPI = `
name: validated
models:
  Item:
    $schema: "http://json-schema.org/draft-04/schema#"
    type: object
    required: [name]
    properties:
      name: {type: string}
      price: {type: number, minimum: 0, exclusiveMinimum: true}
      qty: {type: integer, minimum: 1}
resources:
  - path: /search
    methods:
      GET:
        validation: {parameters: true, required_query: [q]}
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/search"}
  - path: /items
    methods:
      POST:
        validation: {body: true, models: {application/json: Item}}
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}
`

// TestRequestValidation: required parameters and a draft-04 model are
// checked before the backend; a valid body reaches it byte for byte.
func TestRequestValidation(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	lg := startRegional(t, buildState(t, apiDef{id: "valapi0001", def: validAPI, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})}), nil)
	jsonCT := hdr("Content-Type", "application/json")
	tests := []struct {
		name      string
		method    string
		target    string
		body      string
		status    int
		msgPrefix string // 400 only
	}{
		{"required query missing", "GET", "/prod/search", "", 400, "Missing required request parameters: [q]"},
		{"required query blank", "GET", "/prod/search?q=%20", "", 400, "Missing required request parameters: [q]"},
		{"required query present", "GET", "/prod/search?q=lamp", "", 200, ""},
		{"below minimum", "POST", "/prod/items", `{"name":"lamp","qty":0}`, 400, "Invalid request body"},
		{"below an exclusive minimum", "POST", "/prod/items", `{"name":"lamp","price":-1}`, 400, "Invalid request body"},
		// draft-04: exclusiveMinimum is a boolean that makes minimum strict.
		{"at an exclusive minimum", "POST", "/prod/items", `{"name":"lamp","price":0}`, 400, "Invalid request body"},
		{"required property missing", "POST", "/prod/items", `{"price":3}`, 400, "Invalid request body"},
		{"not JSON", "POST", "/prod/items", `{"name":`, 400, "Invalid request body"},
		{"valid body", "POST", "/prod/items", "{\"name\": \"lamp\",\n \"price\": 12.50, \"note\": \"caf\u00e9\"}", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var body []byte
			if tc.method == "POST" {
				body = []byte(tc.body)
			}
			a := lg.do(t, tc.method, "valapi0001", tc.target, jsonCT, body)
			if tc.status != 200 {
				if msg := a.gatewayError(t, tc.status); !strings.HasPrefix(msg, tc.msgPrefix) {
					t.Errorf("message %q, want it to start with %q", msg, tc.msgPrefix)
				}
				return
			}
			s := a.backendSaw(t)
			if s.Body != tc.body || s.BodyLen != len(tc.body) {
				t.Errorf("backend body %q (%d bytes), want %q", s.Body, s.BodyLen, tc.body)
			}
		})
	}
	// The exact text of one schema failure, as API Gateway clients read it.
	a := lg.do(t, "POST", "valapi0001", "/prod/items", jsonCT, []byte(`{"name":"lamp","qty":0}`))
	if msg := a.gatewayError(t, 400); msg != "Invalid request body: /qty: minimum: got 0, want 1" {
		t.Errorf("message %q", msg)
	}
	// A body of unknown length over 10 MB is 413 (REQUEST_TOO_LARGE)
	// when validation reads it, as anywhere else.
	req := newRequest(t, "POST", "valapi0001", "/prod/items", jsonCT, nil)
	req.Body = io.NopCloser(io.LimitReader(strings.NewReader(strings.Repeat(" ", 11<<20)), 11<<20))
	if a := lg.send(t, req); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("an 11 MB body of unknown length: %d %q, want 413", a.status, a.body)
	}
	// A valid body of unknown length, read once by validation, reaches
	// the backend with its length known: a Content-Length, not chunked.
	const valid = `{"name":"lamp","qty":2}`
	req = newRequest(t, "POST", "valapi0001", "/prod/items", jsonCT, nil)
	req.Body = io.NopCloser(strings.NewReader(valid))
	req.ContentLength = -1
	s := lg.send(t, req).backendSaw(t)
	if s.Body != valid || s.BodyLen != len(valid) {
		t.Errorf("body of unknown length: backend body %q (%d bytes), want %q", s.Body, s.BodyLen, valid)
	}
	if got := s.Header["Content-Length"]; !slices.Equal(got, []string{strconv.Itoa(len(valid))}) || len(s.TransferEncoding) > 0 || s.Header["Transfer-Encoding"] != nil {
		t.Errorf("body of unknown length: backend saw Content-Length %q, Transfer-Encoding %q; want %d, none", got, s.TransferEncoding, len(valid))
	}
}

const respAPI = `
name: responses
gateway_responses:
  THROTTLED:
    headers: {X-Throttled-By: portico}
    body: '{"error":"$context.error.message","request":"$context.requestId","type":"$context.error.responseType"}'
  DEFAULT_4XX:
    headers: {Content-Type: application/problem+json}
    body: '{"title":$context.error.messageString,"type":"$context.error.responseType"}'
resources:
  - path: /limited
    methods:
      GET: {integration: {type: MOCK, body: "limited"}}
  - path: /broken
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/broken"}}
`

// TestGatewayResponses: an API's customized gateway responses replace
// the default body, headers and content type of their type (or of every
// 4XX through DEFAULT_4XX); other types, and other APIs, keep the
// default JSON.
func TestGatewayResponses(t *testing.T) {
	t.Parallel()
	vars := prod(map[string]string{"backend": closedAddr(t)})
	st := buildState(t,
		apiDef{id: "resapi0001", def: respAPI, stages: vars},
		apiDef{id: "plainapi01", def: helloAPI, stages: prod(nil)},
	)
	st = withStage(t, st, "resapi0001", "prod", func(s *configs.Stage) {
		s.RouteThrottles = map[string]configs.Throttle{"GET /limited": {RateLimit: 1, BurstLimit: 1}}
	})
	lim := &fakeLimiter{}
	lim.set(3*time.Second, time.Time{}, "throttle stage:resapi0001/prod/GET /limited")
	acc := NewAccess(testLogger(t))
	acc.Limiter = lim
	lg := startRegional(t, st, acc)

	t.Run("THROTTLED is customized", func(t *testing.T) {
		t.Parallel()
		a := lg.do(t, "GET", "resapi0001", "/prod/limited", nil, nil)
		if a.status != 429 {
			t.Fatalf("status %d, want 429; body %q", a.status, a.body)
		}
		if got := a.header.Get("X-Throttled-By"); got != "portico" {
			t.Errorf("X-Throttled-By %q, want portico", got)
		}
		if got := a.header.Get("Retry-After"); got != "3" {
			t.Errorf("Retry-After %q, want 3", got)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		var got map[string]string
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatalf("body %q: %v", a.body, err)
		}
		want := map[string]string{"error": "Too Many Requests", "request": a.header.Get(headerRequestID), "type": "THROTTLED"}
		if want["request"] == "" || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("body %q, want %v", a.body, want)
		}
	})
	tests := []struct {
		name   string
		method string
		api    string
		target string
		status int
		body   string // custom body; "" expects the default JSON with msg
		msg    string
		allow  string
	}{
		{name: "route not found through DEFAULT_4XX", method: "GET", api: "resapi0001", target: "/prod/nothing", status: 404,
			body: `{"title":"no route matches the request","type":"RESOURCE_NOT_FOUND"}`},
		{name: "method not allowed through DEFAULT_4XX", method: "DELETE", api: "resapi0001", target: "/prod/limited", status: 405,
			body: `{"title":"method not allowed on this resource","type":"DEFAULT_4XX"}`, allow: "GET"},
		{name: "5XX without customization keeps the default", method: "GET", api: "resapi0001", target: "/prod/broken", status: 502,
			msg: "integration request failed"},
		{name: "another API keeps the default", method: "GET", api: "plainapi01", target: "/prod/nothing", status: 404,
			msg: "no route matches the request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := lg.do(t, tc.method, tc.api, tc.target, nil, nil)
			if tc.body == "" {
				if msg := a.gatewayError(t, tc.status); msg != tc.msg {
					t.Errorf("message %q, want %q", msg, tc.msg)
				}
				return
			}
			if a.status != tc.status || string(a.body) != tc.body {
				t.Errorf("got %d %q, want %d %q", a.status, a.body, tc.status, tc.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			if got := a.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

const wafAPI = `
name: firewalled
cors:
  allow_origins: ["https://app.example.com"]
  allow_methods: [GET, POST]
resources:
  - path: /items
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}}
`

// TestStageWAFRunsBeforeRoutingAndPreflight: a stage's WAF runs before
// routing and before CORS preflight: the Core Rule Set blocks an SQL
// injection that the same deployment without a WAF serves, and a denied
// network gets 403 for everything, preflights included. One Gateway (so
// one compiled Core Rule Set) serves every case.
func TestStageWAFRunsBeforeRoutingAndPreflight(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	vars := map[string]string{"backend": b.Listener.Addr().String()}
	st := buildState(t, apiDef{id: "wafapi0001", def: wafAPI, stages: map[string]map[string]string{"prod": vars, "open": vars, "locked": vars}})
	st = withStage(t, st, "wafapi0001", "prod", func(s *configs.Stage) { s.WAF = &configs.WAF{CoreRuleSet: &waf.CRS{}} })
	st = withStage(t, st, "wafapi0001", "locked", func(s *configs.Stage) { s.WAF = &configs.WAF{IPDeny: []string{"127.0.0.0/8"}} })
	lg := startRegional(t, st, nil)

	const sqli = "?id=1%27%20OR%20%271%27%3D%271" // id=1' OR '1'='1
	preflight := hdr("Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
	tests := []struct {
		name    string
		method  string
		target  string
		h       http.Header
		status  int
		reached bool // the backend saw the request
	}{
		{"SQL injection on the WAF stage", "GET", "/prod/items" + sqli, nil, 403, false},
		{"benign request on the WAF stage", "GET", "/prod/items?id=1", nil, 200, true},
		{"SQL injection on the stage without WAF", "GET", "/open/items" + sqli, nil, 200, true},
		{"denied network", "GET", "/locked/items?id=1", nil, 403, false},
		{"denied network, no such route", "GET", "/locked/nothing", nil, 403, false},
		{"denied network, CORS preflight", "OPTIONS", "/locked/items", preflight, 403, false},
		{"CORS preflight without WAF", "OPTIONS", "/open/items", preflight, 204, false},
	}
	// Sequential: they count the backend's requests.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.hits.Load()
			a := lg.do(t, tc.method, "wafapi0001", tc.target, tc.h, nil)
			switch tc.status {
			case 403:
				if msg := a.gatewayError(t, 403); msg != "Forbidden" {
					t.Errorf("message %q, want Forbidden", msg)
				}
				if got := a.header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("a blocked preflight got Access-Control-Allow-Origin %q", got)
				}
			default:
				if a.status != tc.status {
					t.Fatalf("status %d, want %d; body %q", a.status, tc.status, a.body)
				}
			}
			if reached := b.hits.Load() > before; reached != tc.reached {
				t.Errorf("backend reached: %v, want %v", reached, tc.reached)
			}
		})
	}
}

// TestStageWAFRateRuleMatchesPathWithinAPI: a rate rule's path_prefix is
// the path within the API, as routes are written: {path_prefix: /items}
// limits /prod/items (the stage's path) and leaves /prod/other alone.
func TestStageWAFRateRuleMatchesPathWithinAPI(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	def := `
name: waf-rate
resources:
  - path: /items
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}}
  - path: /other
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/other"}}
`
	st := buildState(t, apiDef{id: "wafrate001", def: def, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	st = withStage(t, st, "wafrate001", "prod", func(s *configs.Stage) {
		s.WAF = &configs.WAF{RateRules: []waf.RateRule{{Limit: 2, Window: waf.Duration(time.Hour), PathPrefix: "/items"}}}
	})
	lg := startRegional(t, st, nil)
	for i, step := range []struct {
		target string
		status int
	}{
		{"/prod/items", 200},
		{"/prod/other", 200},
		{"/prod/items", 200},
		{"/prod/items", 403}, // the third within the window
		{"/prod/other", 200}, // not scoped by the rule
		{"/prod/other", 200},
		{"/prod/items?id=1", 403},
	} {
		a := lg.do(t, "GET", "wafrate001", step.target, nil, nil)
		if step.status == 403 {
			if msg := a.gatewayError(t, 403); msg != "Forbidden" {
				t.Errorf("step %d %s: message %q, want Forbidden", i, step.target, msg)
			}
			continue
		}
		if a.status != step.status {
			t.Fatalf("step %d %s: status %d, want %d; body %q", i, step.target, a.status, step.status, a.body)
		}
	}
	if n := b.hits.Load(); n != 5 {
		t.Errorf("backend hits %d, want 5 (the blocked requests never reach it)", n)
	}
}

// originAPI has one route per access step; none may run on an origin.
const originAPI = `
name: guarded
authorizers:
  - {name: idp, type: JWT, issuer: "https://idp.example.test/", audiences: [portico-api], jwks_uri: "http://127.0.0.1:9/jwks"}
resources:
  - path: /keyed
    methods:
      GET: {api_key_required: true, integration: {type: MOCK, body: keyed}}
  - path: /signed
    methods:
      GET: {authorization: AWS_IAM, integration: {type: MOCK, body: signed}}
  - path: /token
    methods:
      GET: {authorization: JWT, authorizer: idp, integration: {type: MOCK, body: token}}
  - path: /search
    methods:
      GET: {validation: {parameters: true, required_query: [q]}, integration: {type: MOCK, body: search}}
`

// TestOriginSkipsAccessSteps: the edge that forwarded a request already
// ran the access steps, so an origin serves the same routes without
// credentials and never asks its Limiter, while a regional endpoint
// enforces every step of the same definition.
func TestOriginSkipsAccessSteps(t *testing.T) {
	t.Parallel()
	st := buildState(t,
		apiDef{id: "edgeapi001", def: originAPI + "endpoint_types: [EDGE]\n", stages: prod(nil)},
		apiDef{id: "regapi0001", def: originAPI, stages: prod(nil)},
	)
	st = withStage(t, st, "edgeapi001", "prod", func(s *configs.Stage) { s.Throttle = &configs.Throttle{RateLimit: 1, BurstLimit: 1} })
	lim := &fakeLimiter{}
	lim.set(time.Second, time.Time{}, "throttle default", "throttle stage:edgeapi001/prod")
	acc := NewAccess(testLogger(t))
	acc.Limiter = lim
	origin, err := New(Config{Kind: KindOrigin, Region: testRegion, Zone: testZone, TLS: testMTLS(t).Server.Clone(),
		Source: newSource(st), Access: acc, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	regional := startRegional(t, st, nil)

	tests := []struct {
		target   string
		body     string
		regional int // the regional endpoint's answer
	}{
		{"/prod/keyed", "keyed", 403},
		{"/prod/signed", "signed", 403},
		{"/prod/token", "token", 401},
		{"/prod/search", "search", 400},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			t.Parallel()
			r := httptestRequest("GET", tc.target)
			r.Host = "edgeapi001.edge." + testZone
			w := serve(origin.Handler(), r)
			if w.Code != 200 || w.Body.String() != tc.body {
				t.Errorf("origin: %d %q, want 200 %q", w.Code, w.Body.String(), tc.body)
			}
			if a := regional.do(t, "GET", "regapi0001", tc.target, nil, nil); a.status != tc.regional {
				t.Errorf("regional: %d %q, want %d", a.status, a.body, tc.regional)
			}
		})
	}
	t.Cleanup(func() {
		if got := lim.asked(); len(got) != 0 {
			t.Errorf("the origin asked its limiter %q", got)
		}
	})
}

// TestCacheKeysOnAuthorizerIdentity: on a cached route behind a TOKEN
// authorizer that reads X-Token (not Authorization or X-Api-Key, which
// the cache always keys on), an answer cached for one caller is never
// served to another, and each caller's repeat is a hit.
func TestCacheKeysOnAuthorizerIdentity(t *testing.T) {
	t.Parallel()
	az := newTokenAuthorizer(t)
	b := newBackend(t)
	def := strings.Replace(extAPI(az.url), "identity_sources: [header.Authorization]", "identity_sources: [header.X-Token]", 1)
	st := buildState(t, apiDef{id: "extcache01", def: def, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	st = withStage(t, st, "extcache01", "prod", func(s *configs.Stage) { s.Cache = &configs.StageCache{Enabled: true} })
	lg := startRegional(t, st, nil)

	call := func(token string) (seen, string) {
		a := lg.do(t, "GET", "extcache01", "/prod/items", hdr("X-Token", token), nil)
		return a.backendSaw(t), a.header.Get("X-Cache")
	}
	for _, token := range []string{"allow-a", "allow-b"} {
		s, xc := call(token)
		if got := s.Header.Get("X-Token"); got != token {
			t.Fatalf("caller %s got the answer made for X-Token %q (X-Cache %q)", token, got, xc)
		}
	}
	for _, token := range []string{"allow-a", "allow-b"} {
		s, xc := call(token)
		if got := s.Header.Get("X-Token"); got != token || !strings.HasPrefix(xc, "Hit") {
			t.Errorf("repeat of %s: answer for %q, X-Cache %q; want its own answer from the cache", token, got, xc)
		}
	}
}

// TestSharedAuthorizerSurvivesAnotherEndpointsRebuild: an endpoint that
// has just asked for a verifier keeps it when another endpoint of the node
// (which does not serve the API) rebuilds before the first one's table is
// published; it is dropped once no endpoint's table uses it.
func TestSharedAuthorizerSurvivesAnotherEndpointsRebuild(t *testing.T) {
	t.Parallel()
	acc := NewAccess(nil)
	regional, origin := &Gateway{}, &Gateway{}
	az := &configs.Authorizer{Name: "users", Type: configs.AuthorizerJWT, Issuer: "https://id.example", Audiences: []string{"a"}, JWKSURI: "http://127.0.0.1:1/jwks"}
	var uses []string
	first, err := acc.jwt(regional, "api0000001", az, &uses)
	if err != nil {
		t.Fatal(err)
	}
	acc.retain(origin, map[string]bool{}) // the other endpoint rebuilds meanwhile
	again, _ := acc.jwt(regional, "api0000001", az, &uses)
	if again != first {
		t.Fatal("the verifier was dropped while an endpoint was building a table with it")
	}
	acc.retain(regional, map[string]bool{uses[0]: true})
	acc.retain(origin, map[string]bool{})
	if again, _ = acc.jwt(regional, "api0000001", az, &uses); again != first {
		t.Fatal("the verifier was dropped while a published table uses it")
	}
	acc.retain(regional, map[string]bool{})
	if again, _ = acc.jwt(regional, "api0000001", az, &uses); again == first {
		t.Fatal("a verifier no table uses was kept")
	}
}

// sigCaller is a SigV4 credential.
type sigCaller struct{ akid, secret string }

// sigCacheGateway starts a regional endpoint serving sigAPI as apiID with
// the stage cache on and two enabled SigV4 callers.
func sigCacheGateway(t *testing.T, apiID string) (*backend, *liveGateway, []sigCaller) {
	t.Helper()
	b := newBackend(t)
	st := buildState(t, apiDef{id: apiID, def: sigAPI, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	st = withStage(t, st, apiID, "prod", func(s *configs.Stage) { s.Cache = &configs.StageCache{Enabled: true} })
	callers := []sigCaller{{sigAKID, sigSecret}, {"PKIAOTHERCALLER00001", "another/SeCrEt/0123456789abcdefghijklmnop"}}
	for i, c := range callers {
		st = st.WithCredential(st.Index+1, &configs.Credential{ID: c.akid, Name: string(rune('a' + i)), Secret: c.secret, Enabled: true})
	}
	return b, startRegional(t, st, nil), callers
}

// TestCacheKeysOnSigV4Caller: presigned SigV4 requests carry their
// credential in the query, which the cache does not key on by default;
// on a cached AWS_IAM route each caller still gets only answers made for
// it, and its repeat is a hit.
func TestCacheKeysOnSigV4Caller(t *testing.T) {
	t.Parallel()
	_, lg, callers := sigCacheGateway(t, "sigcache01")

	empty := sha256.Sum256(nil)
	presigned := func(akid, secret string) (seen, string) {
		req := newRequest(t, "GET", "sigcache01", "/prod/items", nil, nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
			req, hex.EncodeToString(empty[:]), "execute-api", testRegion, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pre, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := lg.send(t, pre)
		return a.backendSaw(t), a.header.Get("X-Cache")
	}
	for round := range 2 {
		for _, c := range callers {
			s, xc := presigned(c.akid, c.secret)
			if !strings.Contains(s.RequestURI, c.akid) {
				t.Fatalf("round %d: caller %s got the answer made for %s (X-Cache %q)", round, c.akid, s.RequestURI, xc)
			}
			if round == 1 && !strings.HasPrefix(xc, "Hit") {
				t.Errorf("caller %s's repeat: X-Cache %q, want a hit", c.akid, xc)
			}
		}
	}
}

// TestCacheHitsForHeaderSignedSigV4Caller: a SigV4 signature in the
// Authorization header is made anew for every request, so the cache of
// an AWS_IAM route keys on the verified caller, not on that header: a
// caller's second, separately signed request is a hit, and another
// caller still gets only its own answers.
func TestCacheHitsForHeaderSignedSigV4Caller(t *testing.T) {
	t.Parallel()
	b, lg, callers := sigCacheGateway(t, "sigcache02")

	attempt := 0
	signed := func(akid, secret string) (seen, string) {
		// Each request is signed on its own; X-Attempt makes every
		// signature unique even within one second (no replay).
		attempt++
		req := newRequest(t, "GET", "sigcache02", "/prod/items", hdr("X-Attempt", strconv.Itoa(attempt)), nil)
		signV4(t, req, nil, akid, secret, "execute-api", testRegion)
		a := lg.send(t, req)
		return a.backendSaw(t), a.header.Get("X-Cache")
	}
	for round := range 2 {
		for _, c := range callers {
			s, xc := signed(c.akid, c.secret)
			if !strings.Contains(s.Header.Get("Authorization"), "Credential="+c.akid+"/") {
				t.Fatalf("round %d: caller %s got the answer made for %q (X-Cache %q)", round, c.akid, s.Header.Get("Authorization"), xc)
			}
			if hit := strings.HasPrefix(xc, "Hit"); hit != (round == 1) {
				t.Errorf("round %d, caller %s: X-Cache %q; want a miss first and a hit on the second signed request", round, c.akid, xc)
			}
		}
	}
	if n := b.hits.Load(); n != 2 {
		t.Errorf("backend hits %d, want 2 (one per caller)", n)
	}
}

// TestSignedAndValidatedBody: on a route that both verifies a SigV4
// signature and validates the body, the steps share one read of the
// body: a valid signed body reaches the backend intact, an invalid one
// is refused by validation after the signature passed.
func TestSignedAndValidatedBody(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	def := `
name: signed-validated
models:
  Item: {type: object, required: [name], properties: {qty: {type: integer, minimum: 1}}}
resources:
  - path: /items
    methods:
      POST:
        authorization: AWS_IAM
        validation: {body: true, models: {application/json: Item}}
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items"}
`
	st := buildState(t, apiDef{id: "sigval0001", def: def, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	st = st.WithCredential(st.Index+1, &configs.Credential{ID: sigAKID, Name: "ci", Secret: sigSecret, Enabled: true})
	lg := startRegional(t, st, nil)
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"name":"lamp","qty":2}`, 200},
		{`{"name":"lamp","qty":0}`, 400},
	} {
		req := newRequest(t, "POST", "sigval0001", "/prod/items", hdr("Content-Type", "application/json", "X-Test-Case", tc.body), []byte(tc.body))
		signV4(t, req, []byte(tc.body), sigAKID, sigSecret, "execute-api", testRegion)
		a := lg.send(t, req)
		if tc.status != 200 {
			if msg := a.gatewayError(t, tc.status); !strings.HasPrefix(msg, "Invalid request body") {
				t.Errorf("%s: message %q, want a validation failure", tc.body, msg)
			}
			continue
		}
		if s := a.backendSaw(t); s.Body != tc.body || s.BodyLen != len(tc.body) {
			t.Errorf("backend body %q (%d bytes), want %q", s.Body, s.BodyLen, tc.body)
		}
	}
}

// TestParseTemplate: a gateway response body template renders as a
// replacement of its variables would, the longer name winning where one
// starts another, unknown $context names kept as they are.
func TestParseTemplate(t *testing.T) {
	t.Parallel()
	e := &gatewayError{status: 403, message: `no "entry"`}
	for tmpl, want := range map[string]string{
		"":                                "",
		"plain":                           "plain",
		"$context.error.message":          `no "entry"`,
		"$context.error.messageString!":   `"no \"entry\""!`,
		"[$context.requestId|$context.x]": "[req-1|$context.x]",
		"$context.$context.requestId$":    "$context.req-1$",
		"a$context.error.responseTypeb":   "a" + string(e.responseType()) + "b",
		"$context.error.message$context.error.message": `no "entry"no "entry"`,
	} {
		gr := &gatewayResponse{body: parseTemplate(tmpl)}
		w := httptest.NewRecorder()
		gr.write(w, "req-1", e)
		if got := w.Body.String(); got != want {
			t.Errorf("template %q rendered %q, want %q", tmpl, got, want)
		}
	}
}
