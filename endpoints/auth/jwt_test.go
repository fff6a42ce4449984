package auth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testIss = "https://idp.example.test/"
	testAud = "portico-api"
)

func baseClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIss, "sub": "user-1", "aud": testAud,
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(),
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// staticJWT builds a verifier over a static key set of all test keys.
func staticJWT(t *testing.T, clock *testClock, mod func(*JWTConfig)) *JWT {
	t.Helper()
	cfg := JWTConfig{
		Issuer:    testIss,
		Audiences: []string{testAud, "other-aud"},
		JWKS: jwksDoc(jwkOf("rsa", testRSA()), jwkOf("ec", testEC()), jwkOf("ed", testEd()),
			jwkOf("ec384", testEC384())),
		Algorithms: []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"},
		Now:        clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func TestJWTVerify(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	now := clock.Now()
	v := staticJWT(t, clock, nil)
	c := baseClaims(now)

	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&testRSA().PublicKey))})
	rsaPubDER := must(x509.MarshalPKIXPublicKey(&testRSA().PublicKey))

	tests := []struct {
		name  string
		token string
		want  Kind
	}{
		{"RS256", signToken(t, "RS256", "rsa", testRSA(), c), 0},
		{"PS256", signToken(t, "PS256", "rsa", testRSA(), c), 0},
		{"ES256", signToken(t, "ES256", "ec", testEC(), c), 0},
		{"ES384", signToken(t, "ES384", "ec384", testEC384(), c), 0},
		{"EdDSA", signToken(t, "EdDSA", "ed", testEd(), c), 0},
		{"aud array with one match", signToken(t, "RS256", "rsa", testRSA(), with(c, "aud", []string{"x", "other-aud"})), 0},
		{"expired within skew", signToken(t, "RS256", "rsa", testRSA(), with(c, "exp", now.Add(-10*time.Second).Unix())), 0},
		{"nbf within skew", signToken(t, "RS256", "rsa", testRSA(), with(c, "nbf", now.Add(10*time.Second).Unix())), 0},
		{"float exp", signToken(t, "RS256", "rsa", testRSA(), with(c, "exp", float64(now.Add(time.Hour).Unix())+0.5)), 0},

		// Attacks from issue #7.
		{"alg none", signToken(t, "none", "rsa", nil, c) + "", KindUnauthorized},
		{"alg none without signature", strings.TrimSuffix(signToken(t, "none", "rsa", nil, c), "."), KindUnauthorized},
		{"alg None", signToken(t, "None", "rsa", nil, c) + "AA", KindUnauthorized},
		{"HS256 signed with the RSA public key PEM", signToken(t, "HS256", "rsa", rsaPubPEM, c), KindUnauthorized},
		{"HS256 signed with the RSA public key DER", signToken(t, "HS256", "rsa", rsaPubDER, c), KindUnauthorized},
		{"HS256 signed with the RSA modulus", signToken(t, "HS256", "rsa", testRSA().N.Bytes(), c), KindUnauthorized},
		{"expired", signToken(t, "RS256", "rsa", testRSA(), with(c, "exp", now.Add(-time.Minute).Unix())), KindUnauthorized},
		{"exp exactly now minus skew", signToken(t, "RS256", "rsa", testRSA(), with(c, "exp", now.Add(-DefaultClockSkew).Unix())), KindUnauthorized},
		{"not yet valid", signToken(t, "RS256", "rsa", testRSA(), with(c, "nbf", now.Add(time.Minute).Unix())), KindUnauthorized},
		{"wrong audience", signToken(t, "RS256", "rsa", testRSA(), with(c, "aud", "someone-else")), KindUnauthorized},
		{"audience with a space is one value", signToken(t, "RS256", "rsa", testRSA(), with(c, "aud", testAud+" x")), KindUnauthorized},
		{"no audience", signToken(t, "RS256", "rsa", testRSA(), with(c, "aud", nil)), KindUnauthorized},
		{"kid that points nowhere", signToken(t, "RS256", "nowhere", testRSA(), c), KindUnauthorized},

		// More ways to be wrong.
		{"wrong issuer", signToken(t, "RS256", "rsa", testRSA(), with(c, "iss", "https://evil.test/")), KindUnauthorized},
		{"no exp", signToken(t, "RS256", "rsa", testRSA(), with(c, "exp", nil)), KindUnauthorized},
		{"exp as string", signToken(t, "RS256", "rsa", testRSA(), with(c, "exp", "9999999999")), KindUnauthorized},
		{"signed by another RSA key", signToken(t, "RS256", "rsa", testRSA2(), c), KindUnauthorized},
		{"ES256 with the RSA kid", signToken(t, "ES256", "rsa", testEC(), c), KindUnauthorized},
		{"RS256 with the EC kid", signToken(t, "RS256", "ec", testRSA(), c), KindUnauthorized},
		{"ES384 token on the P-256 key", signToken(t, "ES384", "ec", testEC384(), c), KindUnauthorized},
		{"alg not allowed (RS512)", signToken(t, "RS512", "rsa", testRSA(), c), KindUnauthorized},
		{"crit header", signWithHeader(t, map[string]any{"alg": "RS256", "kid": "rsa", "crit": []string{"exp"}}, testRSA(), c), KindUnauthorized},
		{"tampered payload", tamperPayload(t, signToken(t, "RS256", "rsa", testRSA(), c), with(c, "sub", "admin")), KindUnauthorized},
		{"tampered signature", flipLast(signToken(t, "ES256", "ec", testEC(), c)), KindUnauthorized},
		{"five segments (JWE)", "a.b.c.d.e", KindUnauthorized},
		{"two segments", "a.b", KindUnauthorized},
		{"padded base64", strings.Replace(signToken(t, "RS256", "rsa", testRSA(), c), ".", "=.", 1), KindUnauthorized},
		{"empty", "", KindUnauthorized},
		{"too long", strings.Repeat("a", DefaultMaxTokenBytes+1), KindUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), tt.token)
			wantKind(t, err, tt.want)
			if tt.want == 0 && (id.Principal != "user-1" || id.Method != MethodJWT || id.CacheKey != "jwt:"+testIss+" user-1") {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func tamperPayload(t *testing.T, tok string, claims map[string]any) string {
	other := signToken(t, "RS256", "rsa", testRSA2(), claims)
	p := strings.Split(tok, ".")
	q := strings.Split(other, ".")
	return p[0] + "." + q[1] + "." + p[2]
}

func flipLast(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 3
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestJWTHMACConfusion allows HS256 next to RS256 with a real secret: a
// token signed with the RSA public key as the HMAC secret must still fail,
// because HS256 only ever uses the configured secret.
func TestJWTHMACConfusion(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := staticJWT(t, clock, func(c *JWTConfig) {
		c.Algorithms = []string{"RS256", "HS256"}
		c.Secret = secret
	})
	c := baseClaims(clock.Now())
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&testRSA().PublicKey))})
	for name, tc := range map[string]struct {
		tok  string
		want Kind
	}{
		"HS256 with the secret":         {signToken(t, "HS256", "", secret, c), 0},
		"HS256 with the secret and kid": {signToken(t, "HS256", "rsa", secret, c), 0},
		"HS256 with the RSA public key": {signToken(t, "HS256", "rsa", pub, c), KindUnauthorized},
		"HS384 not allowed":             {signToken(t, "HS384", "", append(secret, secret...), c), KindUnauthorized},
		"RS256 still works":             {signToken(t, "RS256", "rsa", testRSA(), c), 0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), tc.tok)
			wantKind(t, err, tc.want)
		})
	}
}

func TestNewJWTValidates(t *testing.T) {
	t.Parallel()
	ok := JWTConfig{Issuer: testIss, Audiences: []string{testAud}, JWKSURL: "http://127.0.0.1:1/jwks"}
	tests := []struct {
		name string
		mod  func(*JWTConfig)
		want string
	}{
		{"ok", func(*JWTConfig) {}, ""},
		{"no issuer", func(c *JWTConfig) { c.Issuer = "" }, "issuer"},
		{"no audience", func(c *JWTConfig) { c.Audiences = nil }, "audiences"},
		{"none", func(c *JWTConfig) { c.Algorithms = []string{"none"} }, `"none" is not supported`},
		{"HS256 without secret", func(c *JWTConfig) { c.Algorithms = []string{"HS256"} }, "needs a secret"},
		{"short secret", func(c *JWTConfig) { c.Algorithms = []string{"HS512"}; c.Secret = make([]byte, 32) }, "at least 64"},
		{"secret without HS", func(c *JWTConfig) { c.Secret = make([]byte, 32) }, "no HS algorithm"},
		{"no keys", func(c *JWTConfig) { c.JWKSURL = "" }, "jwks_url: required"},
		{"skew too large", func(c *JWTConfig) { c.ClockSkew = 2 * time.Minute }, "clock_skew"},
		{"bad header", func(c *JWTConfig) { c.ClaimsToHeaders = map[string]string{"sub": "bad header"} }, "claims_to_headers"},
		{"static and url", func(c *JWTConfig) { c.JWKS = jwksDoc(jwkOf("ec", testEC())) }, "set only one"},
		{"static with no usable key", func(c *JWTConfig) {
			c.JWKSURL = ""
			c.JWKS = []byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`)
		}, "no usable signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tt.mod(&cfg)
			v, err := NewJWT(cfg)
			if v != nil {
				defer v.Close()
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestJWTClaimsAndScopes(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	v := staticJWT(t, clock, func(c *JWTConfig) {
		c.ClaimsToHeaders = map[string]string{
			"sub": "x-user", "tenant": "X-Tenant", "level": "x-level", "groups": "x-groups", "evil": "x-evil", "absent": "x-absent",
		}
	})
	tok := signToken(t, "ES256", "ec", testEC(), with(baseClaims(clock.Now()),
		"tenant", "acme", "level", 3, "groups", []string{"a", "b"}, "evil", "x\r\nInjected: 1",
		"scope", "read:pets write:pets", "scp", []string{"admin"}))
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := map[string]string{"X-User": "user-1", "X-Tenant": "acme", "X-Level": "3", "X-Groups": `["a","b"]`}
	if len(id.Headers) != len(wantHeaders) {
		t.Fatalf("headers = %q, want %q", id.Headers, wantHeaders)
	}
	for h, want := range wantHeaders {
		if id.Headers[h] != want {
			t.Errorf("header %s = %q, want %q", h, id.Headers[h], want)
		}
	}
	if id.Claims["evil"] != "x\r\nInjected: 1" {
		t.Errorf("claims = %q: the raw claim should be kept, only the header dropped", id.Claims)
	}
	if want := []string{"X-Absent", "X-Evil", "X-Groups", "X-Level", "X-Tenant", "X-User"}; !slices.Equal(v.HeaderNames(), want) {
		t.Errorf("HeaderNames = %q, want %q", v.HeaderNames(), want)
	}

	h := http.Header{"X-Tenant": {"forged"}, "X-Absent": {"forged"}}
	id.SetHeaders(h, v.HeaderNames())
	if h.Get("X-Tenant") != "acme" || h.Get("X-Absent") != "" {
		t.Errorf("SetHeaders left %q", h)
	}

	for _, tt := range []struct {
		route []string
		want  Kind
	}{
		{nil, 0},
		{[]string{"read:pets"}, 0},
		{[]string{"delete:pets", "admin"}, 0},
		{[]string{"delete:pets"}, KindAccessDenied},
	} {
		wantKind(t, v.CheckScopes(id, tt.route), tt.want)
	}
}

func TestJWTVerifyRequest(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	v := staticJWT(t, clock, nil)
	tok := signToken(t, "RS256", "rsa", testRSA(), baseClaims(clock.Now()))
	for _, tt := range []struct {
		auth []string
		want Kind
	}{
		{[]string{"Bearer " + tok}, 0},
		{[]string{"bearer " + tok}, 0},
		{[]string{tok}, 0},
		{nil, KindUnauthorized},
		{[]string{"Bearer "}, KindUnauthorized},
		{[]string{"Bearer " + tok, "Bearer " + tok}, KindUnauthorized},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = tt.auth
		_, err := v.VerifyRequest(r)
		wantKind(t, err, tt.want)
	}
}

// TestJWTTokenCache: a remembered token is still checked for exp and nbf
// on every use, the cache is bounded, and it can be turned off.
func TestJWTTokenCache(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	v := staticJWT(t, clock, func(c *JWTConfig) { c.TokenCacheSize = 32 })
	ctx := context.Background()
	c := with(baseClaims(clock.Now()), "exp", clock.Now().Add(time.Minute).Unix(), "nbf", clock.Now().Add(20*time.Second).Unix())
	tok := signToken(t, "ES256", "ec", testEC(), c)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if v.cache.get(tok) == nil {
		t.Fatal("verified token not remembered")
	}
	clock.Advance(-time.Minute) // the clock steps back: nbf applies to a cached token too
	_, err := v.Verify(ctx, tok)
	wantKind(t, err, KindUnauthorized)
	clock.Advance(time.Minute + 90*time.Second) // past exp + skew
	_, err = v.Verify(ctx, tok)
	wantKind(t, err, KindUnauthorized)
	if v.cache.get(tok) != nil {
		t.Fatal("expired token still remembered")
	}

	for i := range 200 {
		tok := signToken(t, "ES256", "ec", testEC(), with(baseClaims(clock.Now()), "sub", strconv.Itoa(i)))
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 32 {
		t.Fatalf("cache holds %d tokens, want at most 32", n)
	}

	off := staticJWT(t, clock, func(c *JWTConfig) { c.TokenCacheSize = -1 })
	if off.cache != nil {
		t.Fatal("negative TokenCacheSize did not disable the cache")
	}
}
