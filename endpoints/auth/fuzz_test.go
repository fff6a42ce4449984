package auth

import (
	"context"
	"testing"
	"time"
)

// FuzzParseJWT feeds arbitrary strings to the token parser and to the
// whole verifier. Neither may panic, and nothing but a correctly signed
// token may verify: the fuzzer cannot sign, so any success is a bug.
func FuzzParseJWT(f *testing.F) {
	clock := newClock(t0)
	good := signToken(f, "ES256", "ec", testEC(), baseClaims(clock.Now()))
	seeds := []string{
		good, // a valid ES256 token: mutations explore near it
		"",
		".",
		"..",
		"a.b.c",
		"a.b.c.d.e",                            // JWE shape
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", // {"alg":"none"}, no signature
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.AAAA",            // {"alg":"none"} with junk
		"eyJhbGciOiJIUzI1NiJ9.e30.AAAA",                       // {"alg":"HS256"}, {} claims
		"eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.AAAA",   // crit header
		"eyJhbGciOiJFUzI1NiIsImtpZCI6IlwidTAwMDAifQ.e30.AAAA", // escaped kid
		"W10.e30.AAAA",    // header is an array
		"bnVsbA.e30.AAAA", // header is null
		"eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjFlMzA4fQ.AAAA",      // exp out of float range
		"eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOltbXV19.AAAA",        // aud nested array
		"eyJhbGciOiJFUzI1NiJ9.eyJzY29wZSI6eyJhIjoxfX0.AAAA", // scope is an object
		"eyJhbGciOiJFUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AAAA",   // duplicate alg: none last
		"eyJhbGciOiJFUzI1NiJ9=.e30.AAAA",                    // padding
		"eyJhbGciOiJFUzI1NiJ9.e30.AAA",                      // non-canonical base64 tail
	}
	for _, s := range seeds {
		f.Add(s)
	}
	v, err := NewJWT(JWTConfig{
		Issuer: testIss, Audiences: []string{testAud},
		JWKS:            jwksDoc(jwkOf("ec", testEC()), jwkOf("ed", testEd())),
		Algorithms:      []string{"ES256", "EdDSA"},
		ClaimsToHeaders: map[string]string{"sub": "x-sub", "scope": "x-scope"},
		Now:             clock.Now,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseToken(raw)
		if err == nil && (tok.alg == algInvalid || tok.signingInput == "" || len(tok.signingInput) >= len(raw)) {
			t.Fatalf("parseToken(%q) = %+v without error", raw, tok)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := v.Verify(ctx, raw); err == nil && raw != good {
			// Only re-encodings of the good token can verify, and the
			// strict base64 rules out those.
			t.Fatalf("Verify(%q) succeeded", raw)
		}
	})
}
