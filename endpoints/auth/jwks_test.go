package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func remoteJWT(t *testing.T, url string, clock *testClock, mod func(*JWTConfig)) *JWT {
	t.Helper()
	cfg := JWTConfig{
		Issuer: testIss, Audiences: []string{testAud}, JWKSURL: url,
		JWKSTimeout: 5 * time.Second, JWKSMaxAge: time.Hour, JWKSMinInterval: 30 * time.Second,
		Now: clock.Now, Logger: testLogger(t),
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

// TestJWKSRotation: the identity provider adds a key and retires the old
// one; a token with the new kid verifies after a refetch, and while the
// provider is down the cached set keeps serving.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", testRSA())))
	v := remoteJWT(t, srv.URL, clock, nil)
	ctx := context.Background()
	c := baseClaims(clock.Now())
	c["exp"] = clock.Now().Add(24 * time.Hour).Unix()
	old := signToken(t, "RS256", "k1", testRSA(), c)
	fresh := signToken(t, "ES256", "k2", testEC(), c)

	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("jwks hits = %d after the first verify, want 1", n)
	}

	// The provider publishes k2. Within the refetch interval the new kid
	// is not fetched again...
	srv.set(jwksDoc(jwkOf("k1", testRSA()), jwkOf("k2", testEC())), false)
	clock.Advance(10 * time.Second)
	_, err := v.Verify(ctx, fresh)
	wantKind(t, err, KindUnauthorized)
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("jwks hits = %d inside the refetch interval, want 1", n)
	}
	// ...after it, the unknown kid triggers one refetch and verifies.
	clock.Advance(30 * time.Second)
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("token with the new kid after refetch: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("jwks hits = %d, want 2", n)
	}

	// The provider goes down and the set grows stale: Verify keeps using
	// the cached set and refreshes in the background, which fails.
	srv.set(nil, true)
	clock.Advance(2 * time.Hour)
	for _, tok := range []string{old, fresh} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("cached set while the provider is down: %v", err)
		}
	}
	eventually(t, "background refresh attempt", func() bool { return v.keys.fetches.Load() == 3 })
	eventually(t, "background refresh to finish", func() bool { return v.keys.refresh(ctx) == nil })
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}

	// The provider comes back without k1: once refreshed, k1 is gone.
	srv.set(jwksDoc(jwkOf("k2", testEC())), false)
	clock.Advance(time.Minute)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, old)
	wantKind(t, err, KindUnauthorized)
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSUnknownKidRateLimit: tokens with random kids cause at most one
// fetch per interval, however many arrive.
func TestJWKSUnknownKidRateLimit(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", testEC())))
	v := remoteJWT(t, srv.URL, clock, nil)
	ctx := context.Background()
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c := baseClaims(clock.Now())
	for i := range 200 {
		tok := signToken(t, "ES256", fmt.Sprintf("random-%d", i), testEC(), c)
		_, err := v.Verify(ctx, tok)
		wantKind(t, err, KindUnauthorized)
		if i%50 == 49 {
			clock.Advance(10 * time.Second)
		}
	}
	// 200 bad kids over 40 s: the initial load, then one refetch once the
	// 30 s interval had passed.
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("jwks hits = %d, want 2", n)
	}
}

// TestJWKSUnavailable: with no set ever loaded, a token cannot be checked:
// that is the gateway's problem (503), not the client's (401). Failed
// fetches are retried after failureBackoff, not on every request.
func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	srv := newJWKSServer(t, nil)
	srv.set(nil, true)
	v := remoteJWT(t, srv.URL, clock, nil)
	ctx := context.Background()
	tok := signToken(t, "ES256", "k1", testEC(), baseClaims(clock.Now()))
	for range 5 {
		_, err := v.Verify(ctx, tok)
		wantKind(t, err, KindAuthorizerUnavailable)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("jwks hits = %d, want 1", n)
	}
	srv.set(jwksDoc(jwkOf("k1", testEC())), false)
	clock.Advance(failureBackoff)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the provider recovered: %v", err)
	}
}

// TestJWKSTimeout: a provider that never answers costs one timeout, and
// concurrent requests share the one fetch.
func TestJWKSTimeout(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	srv := newJWKSServer(t, nil)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	srv.mu.Lock()
	srv.stall = stall
	srv.mu.Unlock()
	v := remoteJWT(t, srv.URL, clock, func(c *JWTConfig) { c.JWKSTimeout = 100 * time.Millisecond })
	tok := signToken(t, "ES256", "k1", testEC(), baseClaims(clock.Now()))
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	for range 4 {
		err := <-errs
		wantKind(t, err, KindAuthorizerUnavailable)
		if !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "rate-limited") {
			t.Errorf("err = %v, want a timeout (or rate limit for a late caller)", err)
		}
	}
	if n := v.keys.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

// TestJWTCloseStopsFetch: Close cancels a fetch in flight and returns
// only when it has ended.
func TestJWTCloseStopsFetch(t *testing.T) {
	t.Parallel()
	clock := newClock(t0)
	srv := newJWKSServer(t, nil)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	srv.mu.Lock()
	srv.stall = stall
	srv.mu.Unlock()
	v := remoteJWT(t, srv.URL, clock, func(c *JWTConfig) { c.JWKSTimeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- v.Refresh(ctx) }()
	eventually(t, "fetch to reach the server", func() bool { return srv.hits.Load() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Refresh returned nil after its context was cancelled")
	}
	_ = v.Close() // must not hang on the stalled server
	if err := v.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh after Close fetched")
	}
}

func TestParseJWKSSkipsBadKeys(t *testing.T) {
	t.Parallel()
	small := mustRSASmall()
	doc := jwksDoc(
		map[string]any{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		jwkOf("small", small),
		map[string]any{"kty": "EC", "kid": "offcurve", "crv": "P-256", "x": enc.EncodeToString(make([]byte, 32)), "y": enc.EncodeToString(make([]byte, 32))},
		with(jwkOf("enc", testEC()), "use", "enc"),
		with(jwkOf("wrongalg", testEC()), "alg", "RS256"),
		with(jwkOf("noverify", testEC()), "key_ops", []string{"encrypt"}),
		with(jwkOf("good", testEC()), "alg", "ES256"),
	)
	s, skipped, err := parseJWKS(doc, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.keys) != 1 || s.keys[0].kid != "good" || len(skipped) != 6 {
		t.Fatalf("keys = %d (%v), skipped = %v", len(s.keys), s.keys, skipped)
	}
	if s.find("good", algES384) != nil || s.find("good", algES256) == nil || s.find("", algES256) == nil {
		t.Fatal("find does not bind the key to its alg")
	}
}
