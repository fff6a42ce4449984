package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// JWT defaults.
const (
	// DefaultClockSkew is the leeway on exp and nbf. 30 s covers clocks
	// kept by NTP with room to spare, while an expired token stays usable
	// for at most that long.
	DefaultClockSkew = 30 * time.Second
	// MaxClockSkew is the largest leeway NewJWT accepts.
	MaxClockSkew = 60 * time.Second
	// DefaultJWKSTimeout bounds one JWKS fetch.
	DefaultJWKSTimeout = 5 * time.Second
	// DefaultJWKSMaxAge is how long a key set is used before it is
	// refreshed in the background.
	DefaultJWKSMaxAge = time.Hour
	// DefaultJWKSMinInterval is the least time between two JWKS fetches
	// (the unknown-kid refetch rate limit).
	DefaultJWKSMinInterval = 30 * time.Second
	// DefaultMaxTokenBytes bounds a token before it is parsed; API
	// Gateway's whole header budget is 10,240 bytes.
	DefaultMaxTokenBytes = 8192
)

// DefaultAlgorithms is the allow-list when JWTConfig.Algorithms is empty.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// JWTConfig configures a JWT verifier. Zero durations take the defaults
// above.
type JWTConfig struct {
	// Issuer must equal the token's "iss". Required.
	Issuer string
	// Audiences: the token's "aud" must contain at least one. Required.
	Audiences []string
	// JWKSURL is where the verification keys are fetched from.
	JWKSURL string
	// JWKS is a static JWK Set document, used instead of JWKSURL.
	JWKS []byte
	// Secret is the shared secret for HS256/384/512. HMAC algorithms are
	// only allowed with a secret, and they only ever use it: a key from the
	// JWKS is never an HMAC key. It must be at least as long as the hash
	// output (RFC 7518 §3.2).
	Secret []byte
	// Algorithms is the allow-list of "alg" values; default
	// DefaultAlgorithms. Allowed: RS256/384/512, PS256/384/512,
	// ES256/384/512, EdDSA, and HS256/384/512 with a Secret. "none" never.
	Algorithms []string
	// ClockSkew is the leeway on exp and nbf; default DefaultClockSkew, at
	// most MaxClockSkew. A negative value means no leeway.
	ClockSkew time.Duration
	// ClaimsToHeaders maps claim names to the header each is passed to
	// the backend in.
	ClaimsToHeaders map[string]string
	// MaxTokenBytes bounds the token; default DefaultMaxTokenBytes.
	MaxTokenBytes int
	// JWKS fetching: timeout, age after which the set is refreshed, and
	// least time between fetches.
	JWKSTimeout     time.Duration
	JWKSMaxAge      time.Duration
	JWKSMinInterval time.Duration
	// TokenCacheSize is how many verified tokens are remembered (see
	// tokenCache); default DefaultTokenCacheSize, negative for none.
	TokenCacheSize int
	// Client fetches the JWKS; default a new http.Client.
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives JWKS fetch problems; default slog.Default().
	Logger *slog.Logger
}

// JWT verifies bearer tokens. It is safe for concurrent use. Close it to
// stop JWKS fetches in flight.
type JWT struct {
	issuer     string
	audiences  []string
	allowed    [algCount]bool
	secret     *verifyKey
	keys       *jwksSource
	skew       float64 // seconds
	claimsHdr  map[string]string
	hdrNames   []string
	maxToken   int
	now        func() time.Time
	needClaims bool
	cache      *tokenCache // nil when disabled
}

// NewJWT validates cfg, fills in defaults and returns a verifier. It does
// not fetch the JWKS; call Refresh to load it before serving.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	var errs []error
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("issuer: required"))
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		errs = append(errs, errors.New("audiences: at least one non-empty audience is required"))
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	v := &JWT{
		issuer:    cfg.Issuer,
		audiences: slices.Clone(cfg.Audiences),
		now:       cfg.Now,
		maxToken:  cfg.MaxTokenBytes,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxToken <= 0 {
		v.maxToken = DefaultMaxTokenBytes
	}
	asym, hmacs := false, false
	for _, name := range algs {
		a := parseAlg(name)
		if a == algInvalid {
			errs = append(errs, fmt.Errorf("algorithms: %q is not supported", name))
			continue
		}
		v.allowed[a] = true
		if a.isHMAC() {
			hmacs = true
			if len(cfg.Secret) < a.hash().Size() {
				errs = append(errs, fmt.Errorf("algorithms: %s needs a secret of at least %d bytes", name, a.hash().Size()))
			}
		} else {
			asym = true
		}
	}
	if len(cfg.Secret) > 0 {
		if !hmacs {
			errs = append(errs, errors.New("secret: set, but no HS algorithm is allowed"))
		}
		v.secret = &verifyKey{fam: famHMAC, secret: bytes.Clone(cfg.Secret)}
	}
	switch {
	case cfg.JWKSURL != "" && cfg.JWKS != nil:
		errs = append(errs, errors.New("jwks_url and jwks: set only one"))
	case asym && cfg.JWKSURL == "" && cfg.JWKS == nil:
		errs = append(errs, errors.New("jwks_url: required for asymmetric algorithms"))
	}
	switch {
	case cfg.ClockSkew < 0:
		v.skew = 0
	case cfg.ClockSkew == 0:
		v.skew = DefaultClockSkew.Seconds()
	case cfg.ClockSkew > MaxClockSkew:
		errs = append(errs, fmt.Errorf("clock_skew: %s is more than %s", cfg.ClockSkew, MaxClockSkew))
	default:
		v.skew = cfg.ClockSkew.Seconds()
	}
	if len(cfg.ClaimsToHeaders) > 0 {
		v.claimsHdr = make(map[string]string, len(cfg.ClaimsToHeaders))
		for claim, hdr := range cfg.ClaimsToHeaders {
			if claim == "" || !validHeaderName(hdr) {
				errs = append(errs, fmt.Errorf("claims_to_headers: %q → %q is not a claim and a header name", claim, hdr))
				continue
			}
			v.claimsHdr[claim] = http.CanonicalHeaderKey(hdr)
			v.hdrNames = append(v.hdrNames, http.CanonicalHeaderKey(hdr))
		}
		slices.Sort(v.hdrNames)
		v.needClaims = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("jwt authorizer: %w", err)
	}
	switch n := cfg.TokenCacheSize; {
	case n == 0:
		v.cache = newTokenCache(DefaultTokenCacheSize)
	case n > 0:
		v.cache = newTokenCache(n)
	}
	if asym {
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		client := cfg.Client
		if client == nil {
			client = &http.Client{}
		}
		v.keys = newJWKSSource(cfg.JWKSURL, client,
			orDefault(cfg.JWKSTimeout, DefaultJWKSTimeout),
			orDefault(cfg.JWKSMaxAge, DefaultJWKSMaxAge),
			orDefault(cfg.JWKSMinInterval, DefaultJWKSMinInterval),
			v.now, log.With("component", "auth", "authorizer", "jwt"))
		if cfg.JWKS != nil {
			s, skipped, err := parseJWKS(cfg.JWKS, v.now())
			if err != nil {
				return nil, fmt.Errorf("jwt authorizer: jwks: %w", errors.Join(append(skipped, err)...))
			}
			v.keys.set.Store(s)
		}
	}
	return v, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Refresh loads the JWKS now (or waits for the fetch in flight). It blocks
// for at most the JWKS timeout or until ctx ends. With static keys or only
// HMAC it does nothing.
func (v *JWT) Refresh(ctx context.Context) error {
	if v.keys == nil || v.keys.url == "" {
		return nil
	}
	return v.keys.refresh(ctx)
}

// Close stops JWKS fetches in flight and waits for them. Verify keeps
// working with the last key set but never fetches again.
func (v *JWT) Close() error {
	if v.keys != nil {
		v.keys.close()
	}
	return nil
}

// HeaderNames lists the headers ClaimsToHeaders sets, sorted.
func (v *JWT) HeaderNames() []string { return v.hdrNames }

// TokenFromRequest returns the token in the Authorization header, with or
// without a "Bearer " prefix (as API Gateway's JWT authorizers accept it).
func TokenFromRequest(r *http.Request) (string, bool) {
	vs := r.Header.Values("Authorization")
	if len(vs) != 1 {
		return "", false
	}
	t := strings.TrimSpace(vs[0])
	if len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
		t = strings.TrimLeft(t[7:], " ")
	}
	return t, t != ""
}

// VerifyRequest verifies the token in r's Authorization header.
func (v *JWT) VerifyRequest(r *http.Request) (Identity, error) {
	t, ok := TokenFromRequest(r)
	if !ok {
		return Identity{}, fail(KindUnauthorized, "no bearer token")
	}
	return v.Verify(r.Context(), t)
}

// Verify checks a compact JWS: its alg against the allow-list first, then
// the signature with the key its kid names, then iss, aud, exp and nbf.
// It may block on a JWKS fetch (bounded by the JWKS timeout and ctx).
func (v *JWT) Verify(ctx context.Context, raw string) (Identity, error) {
	if len(raw) > v.maxToken {
		return Identity{}, fail(KindUnauthorized, fmt.Sprintf("token of %d bytes is too long", len(raw)))
	}
	if v.cache != nil {
		if e := v.cache.get(raw); e != nil && (e.set == nil || e.set == v.keys.current()) {
			if err := v.checkTime(e.exp, e.nbf); err != nil {
				v.cache.remove(raw)
				return Identity{}, err
			}
			return e.id, nil
		}
	}
	t, err := parseToken(raw)
	if err != nil {
		return Identity{}, failErr(KindUnauthorized, "parse token", err)
	}
	if !v.allowed[t.alg] {
		return Identity{}, fail(KindUnauthorized, "alg "+t.alg.String()+" is not allowed")
	}
	var k *verifyKey
	var set *keySet
	if t.alg.isHMAC() {
		k = v.secret // never nil: an allowed HS alg requires a secret
	} else {
		if k, set, err = v.keys.key(ctx, t.kid, t.alg); err != nil {
			return Identity{}, err
		}
	}
	if err := t.verify(k); err != nil {
		return Identity{}, failErr(KindUnauthorized, "kid "+t.kid, err)
	}
	payload, err := b64.DecodeString(t.payload)
	if err != nil {
		return Identity{}, failErr(KindUnauthorized, "payload", errEncoding)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Identity{}, failErr(KindUnauthorized, "claims", err)
	}
	if err := v.checkClaims(&c); err != nil {
		return Identity{}, err
	}
	id := Identity{
		Method:    MethodJWT,
		Principal: c.Sub,
		CacheKey:  "jwt:" + c.Iss + " " + c.Sub,
		Scopes:    c.scopes(),
	}
	if v.needClaims {
		if err := v.chosenClaims(payload, &id); err != nil {
			return Identity{}, err
		}
	}
	if v.cache != nil {
		nbf := negInf
		if c.Nbf != nil {
			nbf = *c.Nbf
		}
		v.cache.put(raw, &cachedToken{id: id, exp: *c.Exp, nbf: nbf, set: set}, v.nowSeconds())
	}
	return id, nil
}

func (v *JWT) checkClaims(c *claims) error {
	if c.Iss != v.issuer {
		return fail(KindUnauthorized, fmt.Sprintf("iss %q is not %q", c.Iss, v.issuer))
	}
	if !c.Aud.containsAny(v.audiences) {
		return fail(KindUnauthorized, fmt.Sprintf("aud %q has none of %q", []string(c.Aud), v.audiences))
	}
	if c.Exp == nil {
		return fail(KindUnauthorized, "no exp")
	}
	nbf := negInf
	if c.Nbf != nil {
		nbf = *c.Nbf
	}
	return v.checkTime(*c.Exp, nbf)
}

func (v *JWT) nowSeconds() float64 { return float64(v.now().UnixNano()) / 1e9 }

// checkTime applies exp and nbf (seconds since the epoch) with the skew.
func (v *JWT) checkTime(exp, nbf float64) error {
	now := v.nowSeconds()
	if now >= exp+v.skew { // RFC 7519 §4.1.4: not accepted on or after exp
		return fail(KindUnauthorized, fmt.Sprintf("expired at %.0f, now %.0f", exp, now))
	}
	if now < nbf-v.skew {
		return fail(KindUnauthorized, fmt.Sprintf("not valid before %.0f, now %.0f", nbf, now))
	}
	return nil
}

// chosenClaims fills id.Claims and id.Headers from ClaimsToHeaders.
// Strings pass as they are, numbers and booleans as their JSON text,
// arrays and objects as compact JSON; null and absent claims are left out.
func (v *JWT) chosenClaims(payload []byte, id *Identity) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(payload, &all); err != nil {
		return failErr(KindUnauthorized, "claims", err)
	}
	for claim, hdr := range v.claimsHdr {
		raw, ok := all[claim]
		if !ok {
			continue
		}
		val, ok := claimString(raw)
		if !ok {
			continue
		}
		if id.Claims == nil {
			id.Claims = make(map[string]string, len(v.claimsHdr))
			id.Headers = make(map[string]string, len(v.claimsHdr))
		}
		id.Claims[claim] = val
		if validHeaderValue(val) {
			id.Headers[hdr] = val
		}
	}
	return nil
}

func claimString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "", false
	}
	return b.String(), true
}

// CheckScopes reports whether id may use a route that requires scopes: with
// no scopes any valid token may; otherwise the token must carry at least
// one of them, as API Gateway's JWT and Cognito authorizers decide. A
// missing scope is KindAccessDenied.
func (v *JWT) CheckScopes(id Identity, scopes []string) error {
	if len(scopes) == 0 {
		return nil
	}
	for _, s := range id.Scopes {
		if slices.Contains(scopes, s) {
			return nil
		}
	}
	return fail(KindAccessDenied, fmt.Sprintf("token scopes %q have none of %q", id.Scopes, scopes))
}

// claims are the registered claims Portico checks, plus the scopes.
type claims struct {
	Iss   string     `json:"iss"`
	Sub   string     `json:"sub"`
	Aud   stringList `json:"aud"`
	Exp   *float64   `json:"exp"`
	Nbf   *float64   `json:"nbf"`
	Scope scopeList  `json:"scope"`
	Scp   scopeList  `json:"scp"`
}

func (c *claims) scopes() []string {
	if len(c.Scope) == 0 {
		return c.Scp
	}
	if len(c.Scp) == 0 {
		return c.Scope
	}
	return append(slices.Clip(c.Scope), c.Scp...)
}

// stringList is a claim that is a string or an array of strings ("aud",
// RFC 7519 §4.1.3). A single string is one value, spaces and all.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	return stringOrArray(b, (*[]string)(l), func(s string) []string { return []string{s} })
}

// scopeList is "scope" (a space-separated string, RFC 8693 §4.2) or "scp"
// (an array, or a string as some providers send it).
type scopeList []string

func (l *scopeList) UnmarshalJSON(b []byte) error {
	return stringOrArray(b, (*[]string)(l), strings.Fields)
}

// stringOrArray decodes a JSON array of strings into dst, or a string,
// which split turns into the values.
func stringOrArray(b []byte, dst *[]string, split func(string) []string) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*dst = split(s)
		return nil
	}
	return json.Unmarshal(b, dst)
}

func (l stringList) containsAny(want []string) bool {
	for _, s := range l {
		if slices.Contains(want, s) {
			return true
		}
	}
	return false
}
