package endpoints

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// The helpers of access_test.go: a regional Gateway listening on loopback
// with an HTTPS client, token minting, a JWKS server, an external
// authorizer and a fake Limiter.

// liveGateway is a regional Gateway running on loopback and a client
// that reaches it under any invoke host.
type liveGateway struct {
	g *Gateway
	c *http.Client
}

// startRegional runs a regional endpoint over st; acc may be nil (the
// Gateway then makes its own Access, without a Limiter).
func startRegional(t *testing.T, st *configs.State, acc *Access) *liveGateway {
	t.Helper()
	return startSource(t, newSource(st), acc)
}

// startSource is startRegional over a source the test changes.
func startSource(t *testing.T, src configs.Source, acc *Access) *liveGateway {
	t.Helper()
	g := newRegional(t, src, func(c *Config) { c.Access = acc })
	run(t, g)
	return &liveGateway{g: g, c: client(t, g.Addr().String(), false)}
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// newRequest builds a request to an API's invoke host; target is the
// path and query as sent.
func newRequest(t *testing.T, method, apiID, target string, hdr http.Header, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+host(apiID)+target, rd)
	if err != nil {
		t.Fatalf("request %s %s: %v", method, target, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return req
}

// do sends one request and reads the answer.
func (lg *liveGateway) do(t *testing.T, method, apiID, target string, hdr http.Header, body []byte) answer {
	t.Helper()
	return lg.send(t, newRequest(t, method, apiID, target, hdr, body))
}

func (lg *liveGateway) send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := lg.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// gatewayError checks that a is the gateway's default JSON error with the
// given status and returns its message.
func (a answer) gatewayError(t *testing.T, status int) string {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %q", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json; body %q", ct, a.body)
	}
	var e errorBody
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("error body %q: %v", a.body, err)
	}
	if e.RequestID == "" || e.RequestID != a.header.Get(headerRequestID) {
		t.Fatalf("request_id %q does not match header %q", e.RequestID, a.header.Get(headerRequestID))
	}
	return e.Message
}

// backendSaw checks that a is the echo backend's 200 and decodes it.
func (a answer) backendSaw(t *testing.T) seen {
	t.Helper()
	if a.status != http.StatusOK || a.header.Get("X-Backend") != "echo" {
		t.Fatalf("status %d (X-Backend %q), want the backend's 200; body %q", a.status, a.header.Get("X-Backend"), a.body)
	}
	var s seen
	if err := json.Unmarshal(a.body, &s); err != nil {
		t.Fatalf("backend answer %q: %v", a.body, err)
	}
	return s
}

// withStage returns st with one stage changed by mod, checked as the
// admin API checks stage access settings.
func withStage(t *testing.T, st *configs.State, apiID, name string, mod func(*configs.Stage)) *configs.State {
	t.Helper()
	s := *st.Stage(apiID, name)
	mod(&s)
	if err := configs.ValidateStageAccess(&s, nil); err != nil {
		t.Fatalf("stage %s/%s: %v", apiID, name, err)
	}
	return st.WithStage(st.Index+1, &s)
}

// --- JWTs ---

// accessRSA is the identity provider's signing key, made once per test
// binary (RSA generation is slow under -race).
var accessRSA = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var b64url = base64.RawURLEncoding

// mintJWT makes a compact JWS with the given header and claims; sign
// returns the signature of the signing input (nil for none).
func mintJWT(t *testing.T, hdr, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64url.EncodeToString(h) + "." + b64url.EncodeToString(c)
	return input + "." + b64url.EncodeToString(sign([]byte(input)))
}

func signRS256(key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func signHS256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func signNone([]byte) []byte { return nil }

// publicKeyPEM is the RSA public key as an identity provider publishes
// it: the bytes an algorithm-confusion attack uses as an HMAC secret.
func publicKeyPEM(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwksServer publishes one RSA key under a kid and counts fetches.
type jwksServer struct {
	url  string
	hits atomic.Int64
}

func newJWKSServer(t *testing.T, kid string, k *rsa.PrivateKey) *jwksServer {
	t.Helper()
	doc, err := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64url.EncodeToString(k.N.Bytes()),
		"e": b64url.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &jwksServer{}
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	s.url = srv.URL + "/.well-known/jwks.json"
	return s
}

// --- external authorizer ---

// tokenAuthorizer is an external TOKEN authorizer: "allow-*" tokens are
// allowed with a tenant in the context, every other token denied. It
// counts calls per token.
type tokenAuthorizer struct {
	url   string
	mu    sync.Mutex
	calls map[string]int
}

func newTokenAuthorizer(t *testing.T) *tokenAuthorizer {
	a := &tokenAuthorizer{calls: map[string]int{}}
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type               string `json:"type"`
			AuthorizationToken string `json:"authorizationToken"`
			MethodArn          string `json:"methodArn"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&ev) != nil || ev.Type != "TOKEN" || ev.MethodArn == "" {
			http.Error(w, "not a TOKEN event", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.calls[ev.AuthorizationToken]++
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if len(ev.AuthorizationToken) > 6 && ev.AuthorizationToken[:6] == "allow-" {
			_, _ = io.WriteString(w, `{"allow":true,"principal":"user-7","context":{"tenant":"acme","tier":3}}`)
			return
		}
		_, _ = io.WriteString(w, `{"allow":false}`)
	}))
	a.url = srv.URL + "/authorize"
	return a
}

func (a *tokenAuthorizer) callsFor(token string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[token]
}

// --- limiter ---

// limitCall is one question the gateway asked its Limiter.
type limitCall struct {
	what     string // "throttle" or "quota"
	key      string
	throttle configs.Throttle
	quota    configs.Quota
}

func (c limitCall) String() string {
	if c.what == "quota" {
		return "quota " + c.key + " " + strconv.FormatInt(c.quota.Limit, 10) + "/" + string(c.quota.Period)
	}
	return "throttle " + c.key + " " + strconv.FormatFloat(c.throttle.RateLimit, 'g', -1, 64) + "/" + strconv.Itoa(c.throttle.BurstLimit)
}

// fakeLimiter is a Limiter that records what it is asked and refuses
// the keys it is told to ("throttle KEY" or "quota KEY").
type fakeLimiter struct {
	mu     sync.Mutex
	calls  []limitCall
	refuse map[string]bool
	retry  time.Duration // for refused throttles
	reset  time.Time     // for refused quotas
}

func (f *fakeLimiter) Throttle(key string, t configs.Throttle) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, limitCall{what: "throttle", key: key, throttle: t})
	if f.refuse["throttle "+key] {
		return false, f.retry
	}
	return true, 0
}

func (f *fakeLimiter) Quota(_ context.Context, key string, q configs.Quota) (bool, bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, limitCall{what: "quota", key: key, quota: q})
	if f.refuse["quota "+key] {
		return false, true, time.Until(f.reset)
	}
	return true, false, 0
}

// set replaces what is refused and forgets the calls so far.
func (f *fakeLimiter) set(retry time.Duration, reset time.Time, refuse ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.retry, f.reset = nil, retry, reset
	f.refuse = map[string]bool{}
	for _, k := range refuse {
		f.refuse[k] = true
	}
}

func (f *fakeLimiter) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.String()
	}
	return out
}
