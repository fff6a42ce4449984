package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SigV4 defaults and limits.
const (
	// DefaultSigV4Service is the service name in the credential scope, as
	// API Gateway uses it.
	DefaultSigV4Service = "execute-api"
	// DefaultSigV4Window is how far X-Amz-Date may be from the server's
	// clock either way, as AWS allows.
	DefaultSigV4Window = 5 * time.Minute
	// DefaultReplayCacheSize bounds the remembered signatures (about 70
	// bytes each, so about 70 MB when full).
	DefaultReplayCacheSize = 1 << 20
	// MaxPresignExpires is the longest X-Amz-Expires accepted: 7 days,
	// AWS's limit.
	MaxPresignExpires = 7 * 24 * time.Hour
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// Credentials finds SigV4 secrets. LookupAccessKey must not block: it is
// called on the request path and should read an in-memory snapshot.
type Credentials interface {
	LookupAccessKey(id string) (secret, principal string, ok bool)
}

// SigV4Config configures a SigV4 verifier.
type SigV4Config struct {
	// Region must equal the credential scope's region. Required.
	Region string
	// Service must equal the scope's service; default DefaultSigV4Service.
	Service string
	// Credentials resolves access key ids. Required.
	Credentials Credentials
	// Window is how far X-Amz-Date may be from now; default
	// DefaultSigV4Window.
	Window time.Duration
	// ReplayCacheSize bounds the remembered signatures; default
	// DefaultReplayCacheSize.
	ReplayCacheSize int
	// AllowUnsignedPayload accepts X-Amz-Content-Sha256: UNSIGNED-PAYLOAD,
	// which leaves the body unauthenticated. Off by default.
	AllowUnsignedPayload bool
	// DisablePresigned refuses the query-string (presigned URL) form.
	DisablePresigned bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// SigV4 verifies requests signed with AWS Signature Version 4, so AWS SDK
// clients can call Portico APIs with credentials Portico issued. It is
// safe for concurrent use.
//
// Two forms are accepted. The Authorization header form needs X-Amz-Date
// within Window of now, and each signature is accepted once (per node:
// see replaySet); clients that retry must re-sign, as the AWS SDKs do (each
// attempt carries a new amz-sdk-request header and so a new signature).
// The presigned form (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
// X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature in the query) is a
// bearer URL by design: it may be used repeatedly until X-Amz-Expires
// (at most MaxPresignExpires; Window when absent) and is not
// replay-checked.
//
// The payload hash is always computed from the body. X-Amz-Content-Sha256,
// when present, must equal it (or be UNSIGNED-PAYLOAD with
// AllowUnsignedPayload). Streaming (aws-chunked) payloads and session
// tokens (X-Amz-Security-Token) are not supported: Portico issues
// long-term keys only.
type SigV4 struct {
	region, service string
	creds           Credentials
	window          time.Duration
	allowUnsigned   bool
	presigned       bool
	now             func() time.Time
	replay          *replaySet
	keys            signingKeys
}

// NewSigV4 validates cfg and returns a verifier.
func NewSigV4(cfg SigV4Config) (*SigV4, error) {
	var errs []error
	if cfg.Region == "" || strings.ContainsRune(cfg.Region, '/') {
		errs = append(errs, errors.New("region: required, without '/'"))
	}
	if cfg.Credentials == nil {
		errs = append(errs, errors.New("credentials: required"))
	}
	if strings.ContainsRune(cfg.Service, '/') {
		errs = append(errs, errors.New("service: must not contain '/'"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sigv4 authorizer: %w", err)
	}
	v := &SigV4{
		region:        cfg.Region,
		service:       cfg.Service,
		creds:         cfg.Credentials,
		window:        orDefault(cfg.Window, DefaultSigV4Window),
		allowUnsigned: cfg.AllowUnsignedPayload,
		presigned:     !cfg.DisablePresigned,
		now:           cfg.Now,
	}
	if v.service == "" {
		v.service = DefaultSigV4Service
	}
	if v.now == nil {
		v.now = time.Now
	}
	size := cfg.ReplayCacheSize
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	v.replay = newReplaySet(size)
	v.keys.m = make(map[signingKeyID]*signingKey)
	return v, nil
}

// sigInput is what a request says about its signature.
type sigInput struct {
	akid, scopeDate, region, service string
	signedHeaders                    string
	signature                        [sha256.Size]byte
	date                             time.Time
	amzDate                          string
	presigned                        bool
	expires                          time.Duration
}

// Verify checks r's signature. body must be the complete request body
// (the caller reads it, bounded by the payload limit of 10 MB, and
// forwards the same bytes); Verify does not touch r.Body. The path is
// taken from r.RequestURI as the client sent it (r.URL.EscapedPath() for
// requests built in-process), so verification must happen before any
// rewriting of the path or query, and r.Host must be the Host the client
// sent.
func (v *SigV4) Verify(r *http.Request, body []byte) (Identity, error) {
	now := v.now()
	rawPath, rawQuery := requestTarget(r)
	query := parseQuery(rawQuery)
	in, err := v.input(r, query)
	if err != nil {
		return Identity{}, err
	}
	if err := v.checkScope(&in, now); err != nil {
		return Identity{}, err
	}
	if _, ok := r.Header["X-Amz-Security-Token"]; ok || query.has("X-Amz-Security-Token") {
		return Identity{}, &Error{Kind: KindUnrecognizedClient, Reason: "session tokens are not supported"}
	}
	secret, principal, ok := v.creds.LookupAccessKey(in.akid)
	if !ok {
		return Identity{}, fail(KindUnrecognizedClient, "unknown access key id "+in.akid)
	}
	headers, err := splitSignedHeaders(in.signedHeaders)
	if err != nil {
		return Identity{}, &Error{Kind: KindInvalidSignature, Reason: err.Error()}
	}

	bodySum := sha256.Sum256(body)
	var bodyHash [2 * sha256.Size]byte
	hex.Encode(bodyHash[:], bodySum[:])
	payloadHash := string(bodyHash[:])
	if vs := r.Header.Values("X-Amz-Content-Sha256"); len(vs) > 0 {
		switch {
		case len(vs) != 1:
			return Identity{}, &Error{Kind: KindInvalidSignature, Reason: "several x-amz-content-sha256 headers"}
		case vs[0] == unsignedPayload && v.allowUnsigned:
			payloadHash = unsignedPayload
		case !strings.EqualFold(vs[0], payloadHash):
			return Identity{}, &Error{Kind: KindInvalidSignature, Reason: "x-amz-content-sha256 does not match the body",
				Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
		default:
			payloadHash = vs[0]
		}
	}

	key := v.keys.get(in.akid, secret, in.scopeDate, v.region, v.service)
	canon := canonicalRequest(make([]byte, 0, 512), r, rawPath, query, in.presigned, headers, in.signedHeaders, payloadHash)
	match := in.matches(key, canon)
	if !match && in.presigned && len(body) == 0 && payloadHash != unsignedPayload {
		// A presigned URL is usually signed without knowing the body.
		canon = canonicalRequest(canon[:0], r, rawPath, query, in.presigned, headers, in.signedHeaders, unsignedPayload)
		match = in.matches(key, canon)
	}
	if !match {
		return Identity{}, &Error{Kind: KindInvalidSignature, Reason: "signature mismatch; canonical request:\n" + string(canon)}
	}
	if !in.presigned {
		var k [16]byte
		copy(k[:], in.signature[:])
		if !v.replay.add(k, in.date.Add(v.window), now) {
			return Identity{}, &Error{Kind: KindInvalidSignature, Reason: "replayed signature",
				Message: "Signature has already been used."}
		}
	}
	return Identity{
		Method:    MethodSigV4,
		Principal: principal,
		CacheKey:  "sigv4:" + in.akid,
		KeyID:     in.akid,
	}, nil
}

// matches computes the signature of canon and compares it with the
// request's in constant time.
func (in *sigInput) matches(key []byte, canon []byte) bool {
	sum := sha256.Sum256(canon)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sigV4Algorithm + "\n"))
	m.Write([]byte(in.amzDate))
	m.Write([]byte{'\n'})
	m.Write([]byte(in.scopeDate))
	m.Write([]byte{'/'})
	m.Write([]byte(in.region))
	m.Write([]byte{'/'})
	m.Write([]byte(in.service))
	m.Write([]byte("/" + sigV4Terminator + "\n"))
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	m.Write(h[:])
	var out [sha256.Size]byte
	return hmac.Equal(m.Sum(out[:0]), in.signature[:])
}

func malformed(reason, msg string) *Error {
	return &Error{Kind: KindInvalidSignature, Reason: reason, Message: msg}
}

// input reads the signature parameters from the Authorization header or,
// failing that, the presigned query.
func (v *SigV4) input(r *http.Request, q queryParams) (sigInput, error) {
	var in sigInput
	auths := r.Header.Values("Authorization")
	switch {
	case len(auths) > 1:
		return in, malformed("several authorization headers", "")
	case len(auths) == 1:
		if err := in.parseAuthorization(auths[0]); err != nil {
			return in, err
		}
		dates := r.Header.Values("X-Amz-Date")
		if len(dates) != 1 {
			return in, malformed("no single x-amz-date header", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		in.amzDate = dates[0]
	case v.presigned && q.has("X-Amz-Algorithm"):
		in.presigned = true
		alg, _ := q.single("X-Amz-Algorithm")
		if alg != sigV4Algorithm {
			return in, malformed("presigned algorithm "+alg, "")
		}
		cred, ok1 := q.single("X-Amz-Credential")
		sh, ok2 := q.single("X-Amz-SignedHeaders")
		sig, ok3 := q.single("X-Amz-Signature")
		date, ok4 := q.single("X-Amz-Date")
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return in, malformed("presigned query incomplete", "")
		}
		if err := in.parseCredential(cred); err != nil {
			return in, err
		}
		if err := in.parseSignature(sig); err != nil {
			return in, err
		}
		in.signedHeaders, in.amzDate = sh, date
		if exp, ok := q.single("X-Amz-Expires"); ok {
			n, err := strconv.ParseUint(exp, 10, 32)
			if err != nil || time.Duration(n)*time.Second > MaxPresignExpires {
				return in, malformed("bad x-amz-expires "+exp, "X-Amz-Expires must be a number of seconds up to 604800.")
			}
			in.expires = time.Duration(n) * time.Second
		}
	default:
		return in, fail(KindMissingAuthenticationToken, "no authorization header or presigned query")
	}
	d, err := time.Parse(amzDateFormat, in.amzDate)
	if err != nil {
		return in, malformed("bad x-amz-date "+in.amzDate, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	in.date = d
	return in, nil
}

// parseAuthorization reads
// "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>".
func (in *sigInput) parseAuthorization(h string) error {
	const msg = "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return malformed("authorization is not "+sigV4Algorithm, msg)
	}
	var cred, sig string
	seen := 0
	for part := range strings.SplitSeq(rest, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return malformed("authorization parameter without '='", msg)
		}
		var bit int
		switch name {
		case "Credential":
			cred, bit = val, 1
		case "SignedHeaders":
			in.signedHeaders, bit = val, 2
		case "Signature":
			sig, bit = val, 4
		default:
			return malformed("unknown authorization parameter "+name, msg)
		}
		if seen&bit != 0 {
			return malformed("repeated authorization parameter "+name, msg)
		}
		seen |= bit
	}
	if seen != 7 {
		return malformed("authorization parameters missing", msg)
	}
	if err := in.parseCredential(cred); err != nil {
		return err
	}
	return in.parseSignature(sig)
}

// parseCredential reads "AKID/20150830/us-east-1/execute-api/aws4_request".
func (in *sigInput) parseCredential(c string) error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != sigV4Terminator {
		return malformed("bad credential "+c, "Credential should be scoped to a valid region, service and date, terminated by aws4_request.")
	}
	in.akid, in.scopeDate, in.region, in.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (in *sigInput) parseSignature(s string) error {
	if len(s) != 2*sha256.Size {
		return malformed("signature is not 64 hex digits", "")
	}
	if _, err := hex.Decode(in.signature[:], []byte(s)); err != nil {
		return malformed("signature is not 64 hex digits", "")
	}
	return nil
}

// checkScope checks the credential scope and the time window, with the
// messages AWS answers.
func (v *SigV4) checkScope(in *sigInput, now time.Time) error {
	if in.region != v.region {
		return malformed("scope region "+in.region, "Credential should be scoped to a valid region.")
	}
	if in.service != v.service {
		return malformed("scope service "+in.service, "Credential should be scoped to correct service: '"+v.service+"'.")
	}
	if in.scopeDate != in.amzDate[:8] {
		return malformed("scope date "+in.scopeDate+" is not that of "+in.amzDate,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
	}
	f := func(t time.Time) string { return t.UTC().Format(amzDateFormat) }
	if in.date.After(now.Add(v.window)) {
		return malformed("signed in the future", fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s).",
			in.amzDate, f(now.Add(v.window)), f(now), v.window))
	}
	valid := v.window
	if in.presigned && in.expires > 0 {
		valid = in.expires
	}
	if now.After(in.date.Add(valid)) {
		return malformed("signature expired", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s).",
			in.amzDate, f(now.Add(-valid)), f(now), valid))
	}
	return nil
}

// splitSignedHeaders checks that SignedHeaders is a sorted list of unique
// lowercase names that includes host.
func splitSignedHeaders(s string) ([]string, error) {
	names := strings.Split(s, ";")
	host := false
	for i, n := range names {
		if n == "" || strings.ToLower(n) != n || !validHeaderName(n) {
			return nil, fmt.Errorf("signed header %q is not a lowercase name", n)
		}
		if i > 0 && names[i-1] >= n {
			return nil, errors.New("signed headers are not sorted and unique")
		}
		if n == "host" {
			host = true
		}
	}
	if !host {
		return nil, errors.New("host is not a signed header")
	}
	return names, nil
}

// signingKeys caches derived signing keys per access key and day: four
// HMACs saved on every request.
type signingKeys struct {
	mu sync.Mutex
	m  map[signingKeyID]*signingKey
}

type signingKeyID struct{ akid, date, region, service string }

type signingKey struct {
	secret string
	key    []byte
}

const maxSigningKeys = 4096

func (c *signingKeys) get(akid, secret, date, region, service string) []byte {
	id := signingKeyID{akid, date, region, service}
	c.mu.Lock()
	e := c.m[id]
	c.mu.Unlock()
	if e != nil && e.secret == secret { // both are server-side values; no timing oracle
		return e.key
	}
	k := deriveSigningKey(secret, date, region, service)
	c.mu.Lock()
	if len(c.m) >= maxSigningKeys {
		clear(c.m)
	}
	c.m[id] = &signingKey{secret: secret, key: k}
	c.mu.Unlock()
	return k
}

// deriveSigningKey is HMAC("AWS4"+secret, date) → region → service →
// "aws4_request".
func deriveSigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, sigV4Terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
