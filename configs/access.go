package configs

import (
	"encoding/json"
	"time"

	"github.com/portico-gw/portico/endpoints/validate"
	"github.com/portico-gw/portico/endpoints/waf"
)

// Who may call an operation, and what is checked before its integration.
// The pipeline runs, per request: resource policy → WAF → CORS preflight
// → authorizer (and API key) → throttle and quota → request validation →
// cache → integration.

// AuthorizationType says how an operation authenticates its callers, in
// API Gateway's words.
type AuthorizationType string

const (
	AuthNone   AuthorizationType = "NONE"    // anyone (default)
	AuthJWT    AuthorizationType = "JWT"     // a bearer JWT checked by a JWT authorizer
	AuthCustom AuthorizationType = "CUSTOM"  // an external HTTP authorizer (TOKEN or REQUEST)
	AuthIAM    AuthorizationType = "AWS_IAM" // AWS Signature Version 4 with Portico-issued credentials
)

// Access is embedded in resource methods and HTTP-API routes.
type Access struct {
	// Authorization is NONE (default), JWT, CUSTOM or AWS_IAM.
	Authorization AuthorizationType `json:"authorization,omitempty"`
	// Authorizer names an entry of the API's authorizers (JWT and CUSTOM).
	Authorizer string `json:"authorizer,omitempty"`
	// AuthorizationScopes: a JWT must carry at least one of them.
	AuthorizationScopes []string `json:"authorization_scopes,omitempty"`
	// APIKeyRequired: the caller must send a valid, enabled key in
	// x-api-key whose usage plan covers the stage. Usage plan throttles
	// and quotas then apply.
	APIKeyRequired bool `json:"api_key_required,omitempty"`
	// Validation checks parameters and the body before the integration.
	Validation *Validation `json:"validation,omitempty"`
}

// Validation is a method's request validator: required parameters and a
// JSON Schema model per content type. Failures answer 400 naming the rule.
type Validation struct {
	// Parameters turns on the required parameter checks.
	Parameters      bool     `json:"parameters,omitempty"`
	RequiredQuery   []string `json:"required_query,omitempty"`
	RequiredHeaders []string `json:"required_headers,omitempty"`
	// Body turns on body validation against Models.
	Body bool `json:"body,omitempty"`
	// Models maps a media type ("application/json", or "$default" for
	// every other) to a model name of the API's models.
	Models map[string]string `json:"models,omitempty"`
}

// ValidationSpec is v as the gateway compiles it (validate.Compile): each
// content type's model name resolved to its schema in the API's models
// (nil for a name that is not there, which Validate refuses). A nil v
// validates nothing.
func (a *API) ValidationSpec(v *Validation) validate.Spec {
	if v == nil {
		return validate.Spec{}
	}
	spec := validate.Spec{
		RequiredQuery: v.RequiredQuery, RequiredHeaders: v.RequiredHeaders,
		ValidateParams: v.Parameters, ValidateBody: v.Body,
		Models: make(map[string]validate.Model, len(v.Models)),
	}
	for ct, name := range v.Models {
		spec.Models[ct] = validate.Model{Name: name, Schema: a.Models[name]}
	}
	return spec
}

// AuthorizerType is the kind of a named authorizer.
type AuthorizerType string

const (
	AuthorizerJWT     AuthorizerType = "JWT"     // issuer, audiences, JWKS
	AuthorizerToken   AuthorizerType = "TOKEN"   // external: one header value
	AuthorizerRequest AuthorizerType = "REQUEST" // external: headers, query, path
)

// External authorizer answer cache, like API Gateway's
// authorizerResultTtlInSeconds.
const (
	DefaultAuthorizerTTL = 300 * time.Second
	MaxAuthorizerTTL     = 3600 * time.Second
	// DefaultAuthorizerTimeout bounds one call to an external authorizer.
	DefaultAuthorizerTimeout = 10 * time.Second
	MaxAuthorizers           = 10
)

// Authorizer is a named authorizer of an API, referenced by operations.
type Authorizer struct {
	Name string         `json:"name"`
	Type AuthorizerType `json:"type"`

	// JWT: the token's iss must equal Issuer and its aud contain one of
	// Audiences; keys come from JWKSURI (fetched with a timeout, cached,
	// refetched on an unknown kid). Algorithms is the allow-list
	// (default RS256, ES256; never none, no HMAC).
	Issuer    string   `json:"issuer,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	JWKSURI   string   `json:"jwks_uri,omitempty"`
	// Algorithms allowed in the token header.
	Algorithms []string `json:"algorithms,omitempty"`
	// ClaimsToHeaders passes chosen claims to the backend: claim → header.
	ClaimsToHeaders map[string]string `json:"claims_to_headers,omitempty"`

	// TOKEN and REQUEST: the authorizer's URL receives a POST shaped like
	// API Gateway's Lambda authorizer event.
	URI string `json:"uri,omitempty"`
	// IdentitySources name the values that identify the caller, such as
	// "header.Authorization" or "query.token" (API Gateway's
	// "method.request.header.X" spellings work too).
	IdentitySources []string `json:"identity_sources,omitempty"`
	// TTL caches answers per identity; default 300s, at most 3600s, "0s"
	// turns caching off.
	TTL *Duration `json:"ttl,omitempty"`
	// Timeout bounds one call; default 10s.
	Timeout Duration `json:"timeout,omitempty"`
	// ContextToHeaders passes values of the answer's context to the
	// backend: context key → header.
	ContextToHeaders map[string]string `json:"context_to_headers,omitempty"`
}

// AuthorizerTTL is the effective answer cache TTL.
func (a *Authorizer) AuthorizerTTL() time.Duration {
	if a.TTL == nil {
		return DefaultAuthorizerTTL
	}
	return a.TTL.D()
}

// AuthorizerTimeout is the effective call timeout.
func (a *Authorizer) AuthorizerTimeout() time.Duration {
	if a.Timeout == 0 {
		return DefaultAuthorizerTimeout
	}
	return a.Timeout.D()
}

// FindAuthorizer returns the API's authorizer by name, or nil.
func (a *API) FindAuthorizer(name string) *Authorizer {
	for i := range a.Authorizers {
		if a.Authorizers[i].Name == name {
			return &a.Authorizers[i]
		}
	}
	return nil
}

// ResponseType names a gateway response, as API Gateway does.
type ResponseType string

// The gateway responses an API can customize. DEFAULT_4XX and DEFAULT_5XX
// apply to every type of their class without its own entry.
const (
	RespAccessDenied          ResponseType = "ACCESS_DENIED"
	RespUnauthorized          ResponseType = "UNAUTHORIZED"
	RespMissingAuthToken      ResponseType = "MISSING_AUTHENTICATION_TOKEN"
	RespInvalidAPIKey         ResponseType = "INVALID_API_KEY"
	RespInvalidSignature      ResponseType = "INVALID_SIGNATURE"
	RespAuthorizerFailure     ResponseType = "AUTHORIZER_FAILURE"
	RespAuthorizerConfigError ResponseType = "AUTHORIZER_CONFIGURATION_ERROR"
	RespThrottled             ResponseType = "THROTTLED"
	RespQuotaExceeded         ResponseType = "QUOTA_EXCEEDED"
	RespBadRequestBody        ResponseType = "BAD_REQUEST_BODY"
	RespBadRequestParameters  ResponseType = "BAD_REQUEST_PARAMETERS"
	RespWAFFiltered           ResponseType = "WAF_FILTERED"
	RespResourceNotFound      ResponseType = "RESOURCE_NOT_FOUND"
	RespRequestTooLarge       ResponseType = "REQUEST_TOO_LARGE"
	RespIntegrationTimeout    ResponseType = "INTEGRATION_TIMEOUT"
	RespIntegrationFailure    ResponseType = "INTEGRATION_FAILURE"
	RespDefault4XX            ResponseType = "DEFAULT_4XX"
	RespDefault5XX            ResponseType = "DEFAULT_5XX"
)

// ResponseTypes lists every customizable type.
var ResponseTypes = []ResponseType{
	RespAccessDenied, RespUnauthorized, RespMissingAuthToken, RespInvalidAPIKey,
	RespInvalidSignature, RespAuthorizerFailure, RespAuthorizerConfigError,
	RespThrottled, RespQuotaExceeded, RespBadRequestBody, RespBadRequestParameters,
	RespWAFFiltered, RespResourceNotFound, RespRequestTooLarge, RespIntegrationTimeout,
	RespIntegrationFailure, RespDefault4XX, RespDefault5XX,
}

// GatewayResponse replaces the gateway's own answer of one type. Unset
// fields keep the default. Body is a template: $context.error.message,
// $context.error.messageString (the message as a quoted JSON string),
// $context.error.responseType and $context.requestId are replaced.
type GatewayResponse struct {
	StatusCode int               `json:"status_code,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body,omitempty"`
}

// Throttle is a token bucket: RateLimit requests per second on average,
// BurstLimit at once. It holds for the whole cluster together.
type Throttle struct {
	RateLimit  float64 `json:"rate_limit"`
	BurstLimit int     `json:"burst_limit"`
}

// The node-group default, API Gateway's account-level limit.
const (
	DefaultRateLimit  = 10000
	DefaultBurstLimit = 5000
	MaxRateLimit      = 1e7
	MaxBurstLimit     = 1e7
)

// WAF is a stage's web application firewall: IP allow and deny sets,
// rate-based rules per client address and the OWASP Core Rule Set. The
// firewall package owns its shape and checks (see endpoints/waf).
type WAF = waf.Config

// QuotaPeriod is the window a usage plan's quota counts over.
type QuotaPeriod string

const (
	QuotaDay   QuotaPeriod = "DAY"
	QuotaWeek  QuotaPeriod = "WEEK"
	QuotaMonth QuotaPeriod = "MONTH"
)

// Quota limits the requests of one API key per period. Offset moves the
// start of the period: WEEK 0–6 is the weekday it starts (0 = Sunday),
// MONTH 0–27 the days after the first of the month; DAY takes 0. Periods
// are counted in UTC.
type Quota struct {
	Limit  int64       `json:"limit"`
	Period QuotaPeriod `json:"period"`
	Offset int         `json:"offset,omitempty"`
}

// UsagePlan is API Gateway's usage plan: who (the keys attached to it)
// may call which stages, how fast and how much.
type UsagePlan struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Throttle    *Throttle   `json:"throttle,omitempty"`
	Quota       *Quota      `json:"quota,omitempty"`
	Stages      []PlanStage `json:"stages,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
}

// PlanStage is a stage a usage plan covers.
type PlanStage struct {
	APIID string `json:"api_id"`
	Stage string `json:"stage"`
}

// Covers reports whether the plan covers the stage.
func (p *UsagePlan) Covers(apiID, stage string) bool {
	for _, s := range p.Stages {
		if s.APIID == apiID && s.Stage == stage {
			return true
		}
	}
	return false
}

// APIKey is an API key as stored: the SHA-256 of its value, never the
// value itself, which is shown once when the key is created.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the value.
	Hash string `json:"hash"`
	// Hint is the value's first characters, to tell keys apart.
	Hint      string    `json:"hint,omitempty"`
	PlanID    string    `json:"plan_id,omitempty"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
}

// Credential is a SigV4 access key Portico issued. SigV4 verification
// needs the secret itself, so it is stored (as AWS stores it) and shown
// once at creation; reads through the admin API leave it out.
type Credential struct {
	ID        string    `json:"id"` // the access key id, "PKIA…"
	Name      string    `json:"name"`
	Secret    string    `json:"secret,omitempty"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
}

// Redacted returns the credential without its secret.
func (c *Credential) Redacted() *Credential {
	r := *c
	r.Secret = ""
	return &r
}

// modelsRaw is the type of API.Models.
type modelsRaw = map[string]json.RawMessage
