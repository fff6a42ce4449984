package configs

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/endpoints/auth"
	"github.com/portico-gw/portico/endpoints/limit"
	"github.com/portico-gw/portico/endpoints/validate"
	"github.com/portico-gw/portico/endpoints/waf"
)

var (
	authorizerNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	modelNameRE      = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
	// jwtAlgorithms a JWT authorizer may allow: asymmetric only, since
	// keys come from a JWKS (an HMAC secret is never published there).
	jwtAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// validateAccess checks authorizers, models, gateway responses and every
// operation's access settings.
func (a *API) validateAccess(p *problems) {
	if len(a.Authorizers) > MaxAuthorizers {
		p.add("authorizers", "at most %d authorizers", MaxAuthorizers)
	}
	seen := map[string]int{}
	for i := range a.Authorizers {
		az := &a.Authorizers[i]
		f := fmt.Sprintf("authorizers[%d]", i)
		if !authorizerNameRE.MatchString(az.Name) {
			p.add(f+".name", "must be 1-128 letters, digits, - or _")
		} else if j, dup := seen[az.Name]; dup {
			p.add(f+".name", "%q duplicates authorizers[%d]", az.Name, j)
		} else {
			seen[az.Name] = i
		}
		az.validate(p, f)
	}
	for _, name := range slices.Sorted(maps.Keys(a.Models)) {
		f := "models." + name
		if !modelNameRE.MatchString(name) {
			p.add(f, "model names are 1-128 letters, digits or _")
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(a.Models[name], &obj); err != nil {
			p.add(f, "must be a JSON Schema object")
			continue
		}
		// Compiled as the gateway will compile it, so a model it could
		// not use never reaches the log.
		if err := validate.CheckSchema(name, a.Models[name]); err != nil {
			p.add(f, "%s", err)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(a.GatewayResponses)) {
		f := "gateway_responses." + string(t)
		if !slices.Contains(ResponseTypes, t) {
			p.add(f, "unknown response type (use one of %s)", joinTypes(ResponseTypes))
			continue
		}
		gr := a.GatewayResponses[t]
		if gr.StatusCode != 0 && (gr.StatusCode < 400 || gr.StatusCode > 599) {
			p.add(f+".status_code", "must be between 400 and 599")
		}
		validateHeaders(p, f+".headers", gr.Headers)
		if len(gr.Body) > 64<<10 {
			p.add(f+".body", "must be at most 64 KiB")
		}
	}
	for _, op := range a.Operations() {
		a.validateOpAccess(p, op)
	}
}

func joinTypes(ts []ResponseType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func validateHeaders(p *problems, f string, h map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if !headerNameRE.MatchString(k) {
			p.add(f+"."+k, "is not a valid header name")
		} else if strings.ContainsAny(h[k], "\r\n\x00") {
			p.add(f+"."+k, "value must not contain line breaks")
		}
	}
}

func (az *Authorizer) validate(p *problems, f string) {
	switch az.Type {
	case AuthorizerJWT:
		if az.Issuer == "" {
			p.add(f+".issuer", "is required for a JWT authorizer")
		}
		if len(az.Audiences) == 0 {
			p.add(f+".audiences", "at least one audience is required for a JWT authorizer")
		}
		validateHTTPURL(p, f+".jwks_uri", az.JWKSURI, "a JWT authorizer")
		for i, alg := range az.Algorithms {
			if !slices.Contains(jwtAlgorithms, alg) {
				p.add(fmt.Sprintf("%s.algorithms[%d]", f, i), "%q is not allowed (use %s; none and HMAC never are)", alg, strings.Join(jwtAlgorithms, ", "))
			}
		}
		validateHeaderTargets(p, f+".claims_to_headers", az.ClaimsToHeaders)
		if az.URI != "" || len(az.IdentitySources) > 0 || az.TTL != nil || az.Timeout != 0 || len(az.ContextToHeaders) > 0 {
			p.add(f, "uri, identity_sources, ttl, timeout and context_to_headers belong to TOKEN and REQUEST authorizers")
		}
	case AuthorizerToken, AuthorizerRequest:
		validateHTTPURL(p, f+".uri", az.URI, "a "+string(az.Type)+" authorizer")
		if az.Type == AuthorizerToken && len(az.IdentitySources) > 1 {
			p.add(f+".identity_sources", "a TOKEN authorizer takes one header")
		}
		if az.Type == AuthorizerRequest && len(az.IdentitySources) == 0 {
			p.add(f+".identity_sources", "a REQUEST authorizer needs at least one identity source")
		}
		// Parsed as the gateway parses them (auth.NewExternal).
		for i, s := range az.IdentitySources {
			fi := fmt.Sprintf("%s.identity_sources[%d]", f, i)
			src, err := auth.ParseIdentitySource(s)
			switch {
			case err != nil:
				p.add(fi, "%s (API Gateway's method.request.header.NAME, method.request.querystring.NAME and $request.… spellings work too)", err)
			case az.Type == AuthorizerToken && !src.Header:
				p.add(fi, "%q: a TOKEN authorizer reads a header", s)
			}
		}
		if az.TTL != nil && (az.TTL.D() < 0 || az.TTL.D() > MaxAuthorizerTTL) {
			p.add(f+".ttl", "must be between 0s and %s", MaxAuthorizerTTL)
		}
		if az.Timeout != 0 && (az.Timeout.D() < MinIntegrationTimeout || az.Timeout.D() > MaxIntegrationTimeout) {
			p.add(f+".timeout", "must be between %s and %s", MinIntegrationTimeout, MaxIntegrationTimeout)
		}
		validateHeaderTargets(p, f+".context_to_headers", az.ContextToHeaders)
		if az.Issuer != "" || len(az.Audiences) > 0 || az.JWKSURI != "" || len(az.Algorithms) > 0 || len(az.ClaimsToHeaders) > 0 {
			p.add(f, "issuer, audiences, jwks_uri, algorithms and claims_to_headers belong to JWT authorizers")
		}
	case "":
		p.add(f+".type", "is required (JWT, TOKEN or REQUEST)")
	default:
		p.add(f+".type", "must be JWT, TOKEN or REQUEST, not %q", az.Type)
	}
}

func validateHeaderTargets(p *problems, f string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" {
			p.add(f, "a name must not be empty")
		}
		if !headerNameRE.MatchString(m[k]) {
			p.add(f+"."+k, "%q is not a valid header name", m[k])
		}
	}
}

func validateHTTPURL(p *problems, f, raw, who string) {
	if raw == "" {
		p.add(f, "is required for %s", who)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		p.add(f, "must be an absolute http or https URL")
	}
}

func (a *API) validateOpAccess(p *problems, op Operation) {
	ac := op.Access
	f := op.Field
	switch ac.Authorization {
	case "", AuthNone, AuthIAM:
		if ac.Authorizer != "" {
			p.add(f+".authorizer", "only JWT and CUSTOM authorization name an authorizer")
		}
	case AuthJWT, AuthCustom:
		az := a.FindAuthorizer(ac.Authorizer)
		switch {
		case ac.Authorizer == "":
			p.add(f+".authorizer", "is required for %s authorization", ac.Authorization)
		case az == nil:
			p.add(f+".authorizer", "no authorizer named %q", ac.Authorizer)
		case ac.Authorization == AuthJWT && az.Type != AuthorizerJWT:
			p.add(f+".authorizer", "%q is a %s authorizer; JWT authorization needs a JWT one", ac.Authorizer, az.Type)
		case ac.Authorization == AuthCustom && az.Type == AuthorizerJWT:
			p.add(f+".authorizer", "%q is a JWT authorizer; CUSTOM authorization needs a TOKEN or REQUEST one", ac.Authorizer)
		}
	default:
		p.add(f+".authorization", "must be NONE, JWT, CUSTOM or AWS_IAM, not %q", ac.Authorization)
	}
	if len(ac.AuthorizationScopes) > 0 && ac.Authorization != AuthJWT {
		p.add(f+".authorization_scopes", "only JWT authorization checks scopes")
	}
	for i, s := range ac.AuthorizationScopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			p.add(fmt.Sprintf("%s.authorization_scopes[%d]", f, i), "must be a scope without spaces")
		}
	}
	v := ac.Validation
	if v == nil {
		return
	}
	vf := f + ".validation"
	named := len(*p)
	for i, q := range v.RequiredQuery {
		if q == "" || len(q) > 128 {
			p.add(fmt.Sprintf("%s.required_query[%d]", vf, i), "must be a query string name of 1-128 characters")
		}
	}
	for i, h := range v.RequiredHeaders {
		if !headerNameRE.MatchString(h) {
			p.add(fmt.Sprintf("%s.required_headers[%d]", vf, i), "%q is not a valid header name", h)
		}
	}
	// The rest of what the gateway's compile refuses (blank or repeated
	// names, malformed, parameterized or repeated content types), by the
	// gateway's own check; the schemas were compiled above, once per
	// model. It reports one problem, so it waits until the names pass
	// the checks above rather than report an empty one twice.
	if len(*p) == named {
		if err := validate.CheckSpec(a.ValidationSpec(v)); err != nil {
			p.add(vf, "%s", err)
		}
	}
	if !v.Parameters && (len(v.RequiredQuery) > 0 || len(v.RequiredHeaders) > 0) {
		p.add(vf+".parameters", "must be true for required_query and required_headers to be checked")
	}
	if v.Body && len(v.Models) == 0 {
		p.add(vf+".models", "body validation needs at least one model")
	}
	for _, ct := range slices.Sorted(maps.Keys(v.Models)) {
		if _, ok := a.Models[v.Models[ct]]; !ok {
			p.add(vf+".models["+strconv.Quote(ct)+"]", "no model named %q in models", v.Models[ct])
		}
	}
}

// Validate checks a throttle; f is its field path.
func (t *Throttle) validate(p *problems, f string) {
	if t == nil {
		return
	}
	if t.RateLimit < 0 || t.RateLimit > MaxRateLimit {
		p.add(f+".rate_limit", "must be between 0 and %d requests per second", int(MaxRateLimit))
	}
	if t.BurstLimit < 0 || t.BurstLimit > MaxBurstLimit {
		p.add(f+".burst_limit", "must be between 0 and %d", int(MaxBurstLimit))
	}
	if t.RateLimit > 0 && t.BurstLimit == 0 {
		p.add(f+".burst_limit", "must be at least 1 when rate_limit is set (a bucket of 0 admits nothing)")
	}
}

// ValidateStageAccess checks a stage's throttles and WAF; routes are the
// route keys of its deployment (nil skips the check of route keys).
func ValidateStageAccess(s *Stage, routes []string) error {
	var p problems
	s.Throttle.validate(&p, "throttle")
	for _, k := range slices.Sorted(maps.Keys(s.RouteThrottles)) {
		f := "route_throttles[" + strconv.Quote(k) + "]"
		if routes != nil && !slices.Contains(routes, k) {
			p.add(f, "no route %q in the deployment", k)
		}
		t := s.RouteThrottles[k]
		t.validate(&p, f)
	}
	if s.WAF != nil {
		var ve *waf.ValidationError // the same type as configs' own
		if err := s.WAF.Validate("waf"); errors.As(err, &ve) {
			p = append(p, ve.Errors...)
		} else if err != nil {
			p.add("waf", "%s", err)
		}
	}
	return p.err()
}

// Quota limits.
const MaxQuotaLimit = 1 << 40

// Validate checks a usage plan as it will be stored (stage references are
// checked against the state by the caller).
func (pl *UsagePlan) Validate() error {
	var p problems
	p.name(pl.Name)
	if len(pl.Description) > MaxDescriptionLength {
		p.add("description", "must be at most %d characters", MaxDescriptionLength)
	}
	pl.Throttle.validate(&p, "throttle")
	if q := pl.Quota; q != nil {
		if q.Limit <= 0 || q.Limit > MaxQuotaLimit {
			p.add("quota.limit", "must be between 1 and %d", int64(MaxQuotaLimit))
		}
		// The period and offset by the limiter's own rules. Its limit
		// rule is stood in for by 1: the limit, an int64 here, is
		// checked above. Offset 0 suits every period, so the first
		// call faults only the period.
		period := limit.Period(q.Period)
		if err := limit.ValidateQuota(1, period, 0); err != nil {
			p.add("quota.period", "%s", err)
		} else if err := limit.ValidateQuota(1, period, q.Offset); err != nil {
			p.add("quota.offset", "%s", err)
		}
	}
	for i, s := range pl.Stages {
		if s.APIID == "" || s.Stage == "" {
			p.add(fmt.Sprintf("stages[%d]", i), "needs api_id and stage")
		}
	}
	return p.err()
}

// ValidateName checks the name of a key or credential.
func ValidateName(name string) error {
	var p problems
	p.name(name)
	return p.err()
}

// name checks the name field of a named object: required, at most
// MaxNameLength bytes.
func (p *problems) name(name string) {
	switch {
	case strings.TrimSpace(name) == "":
		p.add("name", "is required")
	case len(name) > MaxNameLength:
		p.add("name", "must be at most %d characters", MaxNameLength)
	}
}
