// Package auth holds Portico's authorizers: API keys, JWT bearer tokens,
// AWS Signature Version 4 and an external HTTP authorizer (issue #7). It
// exists so that each way of proving who a caller is can be built, tested
// and fuzzed on its own, with plain config types and no dependency on
// configs/ or cluster/: the request pipeline maps the committed
// configuration onto these types, calls one authorizer per route, and
// renders the error it gets back.
//
// # Results
//
// Every authorizer returns an Identity (who the caller is, a CacheKey for
// per-caller throttling and cache keys, and headers for the backend) or an
// *Error. An Error's Kind picks the response, as Amazon API Gateway
// answers it; Reason and Err are for logs only and never reach the client:
//
//	Kind                           status  message                                        x-amzn-ErrorType
//	KindUnauthorized               401     Unauthorized                                   UnauthorizedException
//	KindMissingAuthenticationToken 403     Missing Authentication Token                   MissingAuthenticationTokenException
//	KindAccessDenied               403     User is not authorized to access this resource AccessDeniedException
//	KindInvalidAPIKey              403     Forbidden                                      ForbiddenException
//	KindInvalidSignature           403     The request signature we calculated ...       InvalidSignatureException
//	KindUnrecognizedClient         403     The security token included ... is invalid.    UnrecognizedClientException
//	KindAuthorizerFailure          500     Internal server error                          AuthorizerConfigurationException
//	KindAuthorizerUnavailable      503     Service Unavailable                            AuthorizerFailureException
//
// Use Error.PublicMessage for the body: SigV4 errors carry the more
// specific texts AWS sends ("Signature expired: ...", "Credential should
// be scoped to a valid region."). API Gateway answers 500 when a Lambda
// authorizer times out; Portico answers 503 (KindAuthorizerUnavailable)
// so clients know a retry may succeed, and the cause unwraps to
// context.DeadlineExceeded.
//
// # API keys
//
// APIKeys looks keys up by SHA-256 (HashKey), which is what the cluster
// stores; keys are 40 random letters and digits (GenerateKey), so a fast
// hash is right. Lookup hashes the presented value, finds the digest in a
// map and compares it in constant time.
//
// # JWT
//
// JWT verifies compact JWS tokens against a JWKS URL (or a static set, or
// a shared secret for HS256/384/512). The "alg" is checked against the
// allow-list before anything else; "none" cannot even be named. Each
// algorithm is bound to one key family (RS*/PS* to RSA keys of 2048-8192
// bits, ES256/384/512 to P-256/384/521, EdDSA to Ed25519, HS* to the
// configured secret only), so an RSA public key can never be used as an
// HMAC secret. exp is required, exp and nbf get DefaultClockSkew (30 s,
// at most 60 s) of leeway, iss must match and aud must contain a
// configured audience. Tokens without a kid match only when exactly one
// key fits their alg. Header fields that point at keys (jku, x5u, jwk,
// x5c) are ignored, and crit is refused.
//
// The JWKS is fetched with a timeout (5 s), single-flight, and kept until
// it is an hour old, then refreshed in the background while the old set
// keeps serving; a failed fetch keeps the last good set. A kid the set does
// not have triggers a refetch at most once per 30 s, so tokens with
// random kids cannot make Portico hammer the identity provider. With no
// set loaded at all, verification fails with KindAuthorizerUnavailable.
//
// Verified tokens are remembered (DefaultTokenCacheSize) for as long as
// the key set that verified them is current; exp and nbf are checked on
// every use. A client that repeats its token pays for the signature once
// (about 50 ns and no allocation per request instead of 47 µs for RS256
// or 99 µs for ES256 on the 2-core CI machine).
//
// Why no JOSE library: the compact JWS format is small, and the parts that
// matter here are the ones libraries leave to the caller or do
// differently. github.com/golang-jwt/jwt/v5 (v5.3.1) has no JWKS support
// (it needs a key function and a separate fetcher such as keyfunc, with
// its own refresh goroutine and policy); github.com/go-jose/go-jose/v4
// (v4.1.8) parses JWKS but does not fetch them; github.com/lestrrat-go/jwx
// fetches and caches JWKS but is a large library (JWE, many key formats)
// most of which Portico must refuse, and was not measured. Measured on the
// same machine, with the same claims, a cached key and no token cache:
//
//	                     RS256                  ES256
//	this package         47.1 µs  39 allocs     98.6 µs  51 allocs
//	golang-jwt/jwt v5    47.4 µs  68 allocs     99.5 µs  80 allocs
//	go-jose v4           51.2 µs 108 allocs     -
//
// The signature check dominates either way; the gain is in allocations,
// in keeping alg-to-key binding and JWKS policy in one small place that
// the fuzz target (FuzzParseJWT) covers, and in the verified-token cache.
// Verification itself is crypto/rsa, crypto/ecdsa (points checked with
// ecdsa.ParseUncompressedPublicKey), crypto/ed25519 and crypto/hmac.
//
// # SigV4
//
// SigV4 lets AWS SDK clients call Portico APIs with access keys Portico
// issued, signing for the service "execute-api" (configurable) and the
// node's region. The canonical request follows AWS's rules for services
// other than S3 (the path escaped a second time, query pairs sorted by
// key then value, header values trimmed and collapsed), and the tests
// check it against the aws-sdk-go-v2 signer. Verify takes the body as
// bytes: the caller reads it within the 10 MB payload limit (the
// pipeline's errBodyTooLarge) before calling, and forwards the same
// bytes. Header-signed requests must fall within ±5 minutes of the
// node's clock and each signature is accepted once; that replay check is
// per node (a bounded, expiring set), and across nodes the window is the
// bound. Presigned URLs are supported and, being bearer URLs by design,
// are reusable until X-Amz-Expires.
//
// # External authorizer
//
// External POSTs an event shaped like API Gateway's Lambda TOKEN or
// REQUEST authorizer event to a URL and reads allow or deny plus context
// (three answer shapes, see External). Answers are cached per identity
// source values and MethodArn for the TTL (API Gateway's default 300 s,
// at most 3,600 s, 0 for none), single-flight, bounded.
//
// # Concurrency
//
// Every type here is safe for concurrent use. Only JWT starts goroutines
// (JWKS fetches); its Close cancels them and waits. Clocks (Now) and HTTP
// clients are injected.
package auth
