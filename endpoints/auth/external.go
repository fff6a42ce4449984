package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// External authorizer defaults and limits, as API Gateway's Lambda
// authorizers have them.
const (
	// DefaultExternalTTL is the result cache TTL the config layer should
	// fill in when none is given.
	DefaultExternalTTL = 300 * time.Second
	// MaxExternalTTL is the longest TTL accepted.
	MaxExternalTTL = time.Hour
	// DefaultExternalTimeout bounds one call to the authorizer.
	DefaultExternalTimeout = 5 * time.Second
	// DefaultExternalCacheEntries bounds the result cache.
	DefaultExternalCacheEntries = 10000
	// maxExternalResponse bounds the authorizer's answer.
	maxExternalResponse = 64 << 10
)

// ExternalType is how the identity is sent to the authorizer.
type ExternalType string

// The types, as API Gateway names them.
const (
	// ExternalToken sends one header value as authorizationToken.
	ExternalToken ExternalType = "TOKEN"
	// ExternalRequest sends the request's headers, query and path.
	ExternalRequest ExternalType = "REQUEST"
)

// ExternalConfig configures an external HTTP authorizer.
type ExternalConfig struct {
	// URL receives a POST with the event as JSON. Required.
	URL string
	// Type is TOKEN or REQUEST; default TOKEN.
	Type ExternalType
	// IdentitySources name the request values that identify the caller:
	// "header.Authorization", "query.token", or API Gateway's spellings
	// "method.request.header.X", "method.request.querystring.X",
	// "$request.header.X", "$request.querystring.X". A request missing any
	// of them is Unauthorized without a call. TOKEN takes exactly one
	// header; default "header.Authorization".
	IdentitySources []string
	// TTL is how long an answer is cached per identity and resource; 0
	// means no caching, at most MaxExternalTTL. The config layer fills in
	// DefaultExternalTTL when the operator gave none.
	TTL time.Duration
	// Timeout bounds one call; default DefaultExternalTimeout.
	Timeout time.Duration
	// MaxCacheEntries bounds the cache; default DefaultExternalCacheEntries.
	MaxCacheEntries int
	// ContextToHeaders maps context keys of the answer to headers for the
	// backend.
	ContextToHeaders map[string]string
	// Header is added to every call (for example a shared secret that
	// lets the authorizer know the caller is Portico).
	Header http.Header
	// Client makes the calls; default a new http.Client.
	Client *http.Client
	// Now is the clock for the cache; default time.Now.
	Now func() time.Time
}

// Target is what is being accessed, for the event and the cache key.
type Target struct {
	// MethodArn names the resource, like API Gateway's
	// "arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}".
	// Answers are cached per MethodArn, so it should contain the request's
	// real path: an authorizer may decide per resource. When it is empty,
	// the method, host and path are used for the cache key instead.
	MethodArn string
	// Resource is the route template, e.g. "/pets/{id}".
	Resource string
	// PathParameters are the values matched by the template.
	PathParameters map[string]string
	// APIID, Stage and RequestID go into the event's requestContext.
	APIID, Stage, RequestID string
	// SourceIP is the client's address; default r.RemoteAddr's host.
	SourceIP string
}

// External calls an HTTP authorizer and caches its answers. It is safe for
// concurrent use and starts no goroutines.
//
// The call is a POST of JSON shaped like API Gateway's Lambda authorizer
// event. TOKEN:
//
//	{"type":"TOKEN","authorizationToken":"...","methodArn":"..."}
//
// REQUEST:
//
//	{"type":"REQUEST","methodArn":"...","resource":"/pets/{id}","path":"/pets/7",
//	 "httpMethod":"GET","headers":{...},"multiValueHeaders":{...},
//	 "queryStringParameters":{...},"multiValueQueryStringParameters":{...},
//	 "pathParameters":{...},"requestContext":{"apiId":"...","stage":"...",
//	 "requestId":"...","httpMethod":"GET","identity":{"sourceIp":"..."}}}
//
// The answer is 200 with one of:
//
//	{"allow": true, "principal": "user-1", "context": {"tenant": "a"}}
//	{"isAuthorized": true, "context": {...}}      (HTTP API simple response)
//	{"principalId": "user-1", "policyDocument": {"Version": "2012-10-17",
//	 "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
//	 "Resource": "arn:...:*"}]}, "context": {...}}  (IAM policy response)
//
// Context values must be strings, numbers or booleans. A 401 answer means
// Unauthorized, a 403 AccessDenied; neither is cached. Allow and deny
// answers are cached for TTL. Any other answer is KindAuthorizerFailure
// (500), and a call that fails or times out is KindAuthorizerUnavailable
// (503); neither is cached.
type External struct {
	url      string
	typ      ExternalType
	sources  []IdentitySource
	ttl      time.Duration
	timeout  time.Duration
	ctxHdr   map[string]string
	hdrNames []string
	header   http.Header
	client   *http.Client
	now      func() time.Time
	cache    *resultCache
}

// IdentitySource is one parsed identity source: a request header or a
// query string value.
type IdentitySource struct {
	Header bool   // else query
	Name   string // canonical header name, or query key
}

// NewExternal validates cfg and returns an authorizer.
func NewExternal(cfg ExternalConfig) (*External, error) {
	var errs []error
	a := &External{
		url:     cfg.URL,
		typ:     cfg.Type,
		ttl:     cfg.TTL,
		timeout: orDefault(cfg.Timeout, DefaultExternalTimeout),
		header:  cfg.Header.Clone(),
		client:  cfg.Client,
		now:     cfg.Now,
	}
	if a.typ == "" {
		a.typ = ExternalToken
	}
	if a.client == nil {
		a.client = &http.Client{}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if _, err := http.NewRequest(http.MethodPost, cfg.URL, nil); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	srcs := cfg.IdentitySources
	if len(srcs) == 0 && a.typ == ExternalToken {
		srcs = []string{"header.Authorization"}
	}
	for _, s := range srcs {
		src, err := ParseIdentitySource(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("identity_sources: %w", err))
			continue
		}
		a.sources = append(a.sources, src)
	}
	switch a.typ {
	case ExternalToken:
		if len(a.sources) != 1 || !a.sources[0].Header {
			errs = append(errs, errors.New("identity_sources: a TOKEN authorizer takes exactly one header"))
		}
	case ExternalRequest:
		if len(a.sources) == 0 && cfg.TTL > 0 {
			errs = append(errs, errors.New("identity_sources: required when results are cached"))
		}
	default:
		errs = append(errs, fmt.Errorf("type: %q is not TOKEN or REQUEST", cfg.Type))
	}
	if cfg.TTL < 0 || cfg.TTL > MaxExternalTTL {
		errs = append(errs, fmt.Errorf("ttl: %s is not between 0 and %s", cfg.TTL, MaxExternalTTL))
	}
	if len(cfg.ContextToHeaders) > 0 {
		a.ctxHdr = make(map[string]string, len(cfg.ContextToHeaders))
		for k, h := range cfg.ContextToHeaders {
			if k == "" || !validHeaderName(h) {
				errs = append(errs, fmt.Errorf("context_to_headers: %q → %q is not a key and a header name", k, h))
				continue
			}
			a.ctxHdr[k] = http.CanonicalHeaderKey(h)
			a.hdrNames = append(a.hdrNames, http.CanonicalHeaderKey(h))
		}
		slices.Sort(a.hdrNames)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("external authorizer: %w", err)
	}
	if a.ttl > 0 {
		n := cfg.MaxCacheEntries
		if n <= 0 {
			n = DefaultExternalCacheEntries
		}
		a.cache = newResultCache(n, a.now)
	}
	return a, nil
}

// ParseIdentitySource parses one of the identity source spellings
// ExternalConfig.IdentitySources accepts: header.NAME, query.NAME,
// method.request.header.NAME, method.request.querystring.NAME,
// $request.header.NAME or $request.querystring.NAME. A header name must
// be an RFC 9110 token; it is returned canonical. The config layer calls
// it to refuse what NewExternal would.
func ParseIdentitySource(s string) (IdentitySource, error) {
	for _, p := range []struct {
		prefix string
		header bool
	}{
		{"header.", true}, {"method.request.header.", true}, {"$request.header.", true},
		{"query.", false}, {"method.request.querystring.", false}, {"$request.querystring.", false},
	} {
		if name, ok := strings.CutPrefix(s, p.prefix); ok && name != "" {
			if p.header {
				if !validHeaderName(name) {
					return IdentitySource{}, fmt.Errorf("%q: bad header name", s)
				}
				name = http.CanonicalHeaderKey(name)
			}
			return IdentitySource{Header: p.header, Name: name}, nil
		}
	}
	return IdentitySource{}, fmt.Errorf("%q: not header.NAME or query.NAME", s)
}

// HeaderNames lists the headers ContextToHeaders sets, sorted.
func (a *External) HeaderNames() []string { return a.hdrNames }

// Authorize asks the authorizer (or its cache) about r. It blocks for at
// most the call timeout.
func (a *External) Authorize(ctx context.Context, r *http.Request, t Target) (Identity, error) {
	var query map[string][]string
	values := make([]string, len(a.sources))
	for i, s := range a.sources {
		var v string
		if s.Header {
			v = r.Header.Get(s.Name)
		} else {
			if query == nil {
				query = r.URL.Query()
			}
			if vs := query[s.Name]; len(vs) > 0 {
				v = vs[0]
			}
		}
		if v == "" {
			kind := "query"
			if s.Header {
				kind = "header"
			}
			return Identity{}, fail(KindUnauthorized, "identity source "+kind+" "+s.Name+" is missing")
		}
		values[i] = v
	}
	if a.cache == nil {
		res, _ := a.call(ctx, r, t, values)
		return res.identity()
	}
	resource := t.MethodArn
	if resource == "" { // never share answers across resources
		resource = r.Method + " " + r.Host + r.URL.EscapedPath()
	}
	res := a.cache.get(ctx, cacheKey(resource, values), a.ttl, func() (result, bool) {
		// Other requests may wait for this call: it must not end with the
		// request that happened to start it. The timeout still bounds it.
		return a.call(context.WithoutCancel(ctx), r, t, values)
	})
	return res.identity()
}

// cacheKey hashes the resource and the identity values, each length
// prefixed so that no two lists hash alike by concatenation.
func cacheKey(arn string, values []string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, v := range append([]string{arn}, values...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// result is one answer: an identity or an error.
type result struct {
	id  Identity
	err *Error
}

func (r result) identity() (Identity, error) {
	if r.err != nil {
		return Identity{}, r.err
	}
	return r.id, nil
}

// call asks the authorizer, bounded by the timeout, and reports whether
// the answer may be cached.
func (a *External) call(ctx context.Context, r *http.Request, t Target, values []string) (result, bool) {
	body, err := json.Marshal(a.event(r, t, values))
	if err != nil {
		return result{err: failErr(KindAuthorizerFailure, "encode event", err)}, false
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return result{err: failErr(KindAuthorizerFailure, "build request", err)}, false
	}
	for k, vs := range a.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return result{err: failErr(KindAuthorizerUnavailable, "call "+a.url, err)}, false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxExternalResponse+1))
	if err != nil {
		return result{err: failErr(KindAuthorizerUnavailable, "read answer", err)}, false
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return result{err: fail(KindUnauthorized, "authorizer answered 401")}, false
	case http.StatusForbidden:
		return result{err: fail(KindAccessDenied, "authorizer answered 403")}, false
	default:
		return result{err: fail(KindAuthorizerFailure, fmt.Sprintf("authorizer answered %d", resp.StatusCode))}, false
	}
	if len(raw) > maxExternalResponse {
		return result{err: fail(KindAuthorizerFailure, "answer too large")}, false
	}
	return a.decide(raw, t.MethodArn)
}

type externalAnswer struct {
	Allow          *bool                      `json:"allow"`
	IsAuthorized   *bool                      `json:"isAuthorized"`
	Principal      string                     `json:"principal"`
	PrincipalID    string                     `json:"principalId"`
	PolicyDocument *policyDocument            `json:"policyDocument"`
	Context        map[string]json.RawMessage `json:"context"`
}

// decide turns a 200 answer into a result; allow and deny are cacheable.
func (a *External) decide(raw []byte, arn string) (result, bool) {
	var ans externalAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return result{err: failErr(KindAuthorizerFailure, "decode answer", err)}, false
	}
	var allow, explicitDeny bool
	switch {
	case ans.Allow != nil:
		allow = *ans.Allow
	case ans.IsAuthorized != nil:
		allow = *ans.IsAuthorized
	case ans.PolicyDocument != nil:
		allow, explicitDeny = ans.PolicyDocument.evaluate(arn)
	default:
		return result{err: fail(KindAuthorizerFailure, "answer has no allow, isAuthorized or policyDocument")}, false
	}
	if !allow {
		e := fail(KindAccessDenied, "authorizer denied "+arn)
		if explicitDeny {
			e.Message = "User is not authorized to access this resource with an explicit deny"
		}
		return result{err: e}, true
	}
	principal := ans.Principal
	if principal == "" {
		principal = ans.PrincipalID
	}
	id := Identity{Method: MethodExternal, Principal: principal}
	if principal != "" {
		id.CacheKey = "external:" + principal
	} else {
		id.CacheKey = "external:#anonymous"
	}
	for k, v := range ans.Context {
		s, ok := contextString(v)
		if !ok {
			return result{err: fail(KindAuthorizerFailure, "context value "+k+" is not a string, number or boolean")}, false
		}
		if id.Claims == nil {
			id.Claims = make(map[string]string, len(ans.Context))
		}
		id.Claims[k] = s
		if h, ok := a.ctxHdr[k]; ok && validHeaderValue(s) {
			if id.Headers == nil {
				id.Headers = make(map[string]string, len(a.ctxHdr))
			}
			id.Headers[h] = s
		}
	}
	return result{id: id}, true
}

func contextString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		return s, json.Unmarshal(raw, &s) == nil
	case '{', '[', 'n':
		return "", false
	}
	return string(raw), true // a number or a boolean, as JSON wrote it
}

// event builds the JSON the authorizer receives.
func (a *External) event(r *http.Request, t Target, values []string) any {
	if a.typ == ExternalToken {
		return struct {
			Type               string `json:"type"`
			AuthorizationToken string `json:"authorizationToken"`
			MethodArn          string `json:"methodArn"`
		}{"TOKEN", values[0], t.MethodArn}
	}
	single := func(m map[string][]string) map[string]string {
		out := make(map[string]string, len(m))
		for k, vs := range m {
			if len(vs) > 0 {
				out[k] = vs[0]
			}
		}
		return out
	}
	sourceIP := t.SourceIP
	if sourceIP == "" {
		sourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	query := r.URL.Query()
	type identity struct {
		SourceIP string `json:"sourceIp"`
	}
	type requestContext struct {
		APIID      string   `json:"apiId,omitempty"`
		Stage      string   `json:"stage,omitempty"`
		RequestID  string   `json:"requestId,omitempty"`
		HTTPMethod string   `json:"httpMethod"`
		Identity   identity `json:"identity"`
	}
	return struct {
		Type                            string              `json:"type"`
		MethodArn                       string              `json:"methodArn"`
		Resource                        string              `json:"resource"`
		Path                            string              `json:"path"`
		HTTPMethod                      string              `json:"httpMethod"`
		Headers                         map[string]string   `json:"headers"`
		MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
		QueryStringParameters           map[string]string   `json:"queryStringParameters"`
		MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
		PathParameters                  map[string]string   `json:"pathParameters"`
		RequestContext                  requestContext      `json:"requestContext"`
	}{
		Type: "REQUEST", MethodArn: t.MethodArn, Resource: t.Resource,
		Path: r.URL.Path, HTTPMethod: r.Method,
		Headers: single(r.Header), MultiValueHeaders: r.Header,
		QueryStringParameters: single(query), MultiValueQueryStringParameters: query,
		PathParameters: t.PathParameters,
		RequestContext: requestContext{
			APIID: t.APIID, Stage: t.Stage, RequestID: t.RequestID, HTTPMethod: r.Method,
			Identity: identity{SourceIP: sourceIP},
		},
	}
}

// SplitIdentitySources returns the header names (canonical) and query
// names that identity sources read; malformed sources are skipped (the
// config layer refuses them). The response cache keys on them, so two
// callers an authorizer tells apart never share a cached answer.
func SplitIdentitySources(sources []string) (headers, query []string) {
	for _, s := range sources {
		src, err := ParseIdentitySource(s)
		switch {
		case err != nil:
		case src.Header:
			headers = append(headers, src.Name)
		default:
			query = append(query, src.Name)
		}
	}
	return headers, query
}
