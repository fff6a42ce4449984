package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Keys are made once per test binary: RSA generation is slow under -race.
var (
	testRSA   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	testRSA2  = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	testEC    = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
	testEC384 = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P384()) })
	testEd    = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

var enc = base64.RawURLEncoding

// testClock is a settable clock safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// signToken makes a compact JWS. key is a *rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey or []byte (HMAC); alg is written to the header as is,
// so tests can lie about it.
func signToken(t testing.TB, alg, kid string, key any, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	return signWithHeader(t, hdr, key, claims)
}

func signWithHeader(t testing.TB, hdr map[string]any, key any, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	alg, _ := hdr["alg"].(string)
	sig, err := rawSign(alg, key, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

func rawSign(alg string, key any, input []byte) ([]byte, error) {
	var h crypto.Hash
	switch alg[len(alg)-3:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	}
	digest := func() []byte {
		w := h.New()
		w.Write(input)
		return w.Sum(nil)
	}
	switch k := key.(type) {
	case nil:
		return nil, nil
	case []byte:
		m := hmac.New(h.New, k)
		m.Write(input)
		return m.Sum(nil), nil
	case *rsa.PrivateKey:
		if alg[0] == 'P' {
			return rsa.SignPSS(rand.Reader, k, h, digest(), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand.Reader, k, h, digest())
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest())
		if err != nil {
			return nil, err
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	}
	return nil, fmt.Errorf("unknown key %T", key)
}

// jwkOf returns the public JWK of a private key.
func jwkOf(kid string, key any) map[string]any {
	b := func(x *big.Int, n int) string {
		out := make([]byte, n)
		x.FillBytes(out)
		return enc.EncodeToString(out)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig",
			"n": enc.EncodeToString(k.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		return map[string]any{"kty": "EC", "kid": kid, "crv": k.Curve.Params().Name,
			"x": b(k.X, n), "y": b(k.Y, n)}
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519",
			"x": enc.EncodeToString(k.Public().(ed25519.PublicKey))}
	}
	panic(fmt.Sprintf("jwkOf %T", key))
}

func jwksDoc(keys ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// jwksServer serves a key set that tests can swap, fail or stall, and
// counts requests.
type jwksServer struct {
	*httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	doc   []byte
	fail  bool
	stall chan struct{} // when non-nil, requests wait for it to close
}

func newJWKSServer(t testing.TB, doc []byte) *jwksServer {
	s := &jwksServer{doc: doc}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		doc, fail, stall := s.doc, s.fail, s.stall
		s.mu.Unlock()
		if stall != nil {
			select {
			case <-stall:
			case <-r.Context().Done():
			}
			return
		}
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte, fail bool) {
	s.mu.Lock()
	s.doc, s.fail = doc, fail
	s.mu.Unlock()
}

// eventually retries cond until it holds or a generous deadline passes.
// It waits by polling, for state that other goroutines change.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// wantKind fails unless err is an *Error of kind k (k 0: err is nil).
func wantKind(t *testing.T, err error, k Kind) {
	t.Helper()
	if k == 0 {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *Error of kind %s", err, k)
	}
	if e.Kind != k {
		t.Fatalf("kind = %s (%v), want %s", e.Kind, err, k)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s)
}

func mustRSASmall() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return k
}

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
