package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// The token the JWT route is loaded with, and the authorizer settings
// that accept it. The issuer is only compared as a string; nothing
// resolves it.
const (
	tokenIssuer   = "https://idp.accessbench.invalid/"
	tokenAudience = "portico-accessbench"
	tokenSubject  = "accessbench"
	tokenScope    = "bench.read"
	tokenKID      = "accessbench-1"
	// tokenLifetime puts exp far beyond any run.
	tokenLifetime = 10 * 365 * 24 * time.Hour
	// rsaBits is the usual size of an identity provider's signing key.
	rsaBits = 2048
	// jwksPath is where the provider serves its keys (OpenID Connect
	// Discovery's customary jwks_uri).
	jwksPath = "/.well-known/jwks.json"
)

// b64 is the JWS encoding of every part (RFC 7515 §2: base64url, no padding).
var b64 = base64.RawURLEncoding

// provider is the benchmark's identity provider: one RS256 signing key,
// published as a JWK Set.
type provider struct {
	key *rsa.PrivateKey
	kid string
}

func newProvider() (*provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("generate the RSA signing key: %w", err)
	}
	return &provider{key: key, kid: tokenKID}, nil
}

// jwks is the provider's JWK Set document (RFC 7517 §5) with its one key.
func (p *provider) jwks() []byte {
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": p.kid, "use": "sig", "alg": "RS256",
		"n": b64.EncodeToString(p.key.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(p.key.E)).Bytes()),
	}}})
	return doc // plain strings always marshal
}

// tokenClaims are the claims of the benchmark's token, issued at now.
func tokenClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": tokenIssuer, "aud": tokenAudience, "sub": tokenSubject, "scope": tokenScope,
		"iat": now.Unix(), "exp": now.Add(tokenLifetime).Unix(),
	}
}

// mint signs claims as a compact RS256 JWS (RFC 7515 §7.1, RFC 7518 §3.3).
func (p *provider) mint(claims map[string]any) (string, error) {
	hdr, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": p.kid})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// jwksServer serves a JWK Set on a loopback port inside the driver and
// counts the fetches, which show whether the gateway cached the set.
type jwksServer struct {
	URL     string
	fetches atomic.Int64
	srv     *http.Server
	done    chan error
}

// serveJWKS starts serving doc at jwksPath on a free 127.0.0.1 port. Call
// Close to stop it; it does not block otherwise.
func serveJWKS(doc []byte) (*jwksServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the JWKS: %w", err)
	}
	s := &jwksServer{URL: "http://" + ln.Addr().String() + jwksPath, done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(doc)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Fetches is how many times the JWKS was fetched.
func (s *jwksServer) Fetches() int64 { return s.fetches.Load() }

// Close stops the server and waits for it, at most 2 s for requests in
// flight.
func (s *jwksServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("jwks server: %w", err)
	}
	return nil
}
