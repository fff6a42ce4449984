package auth

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkJWTVerifyCached measures one Verify with the key set already
// fetched from a JWKS server and cached: the cost a JWT route adds to
// every request.
func BenchmarkJWTVerifyCached(b *testing.B) {
	clock := newClock(t0)
	for _, bc := range []struct {
		alg, kid string
		key      any
	}{
		{"RS256", "rsa", testRSA()},
		{"ES256", "ec", testEC()},
		{"EdDSA", "ed", testEd()},
	} {
		for _, mode := range []struct {
			name string
			size int
		}{
			{"token-cache", 0},           // the default: a repeated token is checked once
			{"signature-every-time", -1}, // the cost of a token seen for the first time
		} {
			b.Run(bc.alg+"/"+mode.name, func(b *testing.B) {
				srv := newJWKSServer(b, jwksDoc(jwkOf("rsa", testRSA()), jwkOf("ec", testEC()), jwkOf("ed", testEd())))
				v, err := NewJWT(JWTConfig{
					Issuer: testIss, Audiences: []string{testAud}, JWKSURL: srv.URL,
					Algorithms: []string{"RS256", "ES256", "EdDSA"}, Now: clock.Now,
					TokenCacheSize: mode.size,
				})
				if err != nil {
					b.Fatal(err)
				}
				defer v.Close()
				ctx := context.Background()
				if err := v.Refresh(ctx); err != nil {
					b.Fatal(err)
				}
				c := with(baseClaims(clock.Now()), "scope", "read:pets write:pets", "email", "user@example.test")
				tok := signToken(b, bc.alg, bc.kid, bc.key, c)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSigV4Verify measures Verify of a signed POST with a small body,
// replay check included. Requests are signed by the AWS SDK outside the
// timer, each with its own invocation id as SDK clients send.
func BenchmarkSigV4Verify(b *testing.B) {
	clock := newClock(t0)
	v, err := NewSigV4(SigV4Config{Region: testRegion, Credentials: testCreds, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"name":"rex","type":"dog"}`)
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	const batch = 1024
	reqs := make([]*http.Request, batch)
	refill := func(base int) {
		for i := range reqs {
			r, _ := http.NewRequest("POST", "https://api1.eu-west-1.portico.test/prod/pets?limit=10&type=dog", nil)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Amz-Sdk-Invocation-Id", strconv.Itoa(base+i))
			r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
			r.ContentLength = int64(len(body))
			if err := signer.SignHTTP(context.Background(), creds, r, sha256Hex(body), "execute-api", testRegion, clock.Now()); err != nil {
				b.Fatal(err)
			}
			reqs[i] = r
		}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			b.StopTimer()
			refill(i)
			b.StartTimer()
		}
		if _, err := v.Verify(reqs[i%batch], body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAPIKey measures one x-api-key lookup among 10,000 keys.
func BenchmarkAPIKey(b *testing.B) {
	keys := make([]APIKey, 10000)
	var value string
	for i := range keys {
		k, err := GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = APIKey{ID: "k" + strconv.Itoa(i), Hash: HashKey(k), PlanID: "p", Enabled: true}
		value = k
	}
	t, err := NewAPIKeys(keys)
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set(APIKeyHeader, value)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
