package configs

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Access settings in OpenAPI documents, as API Gateway exports them:
//
//   - an API key requirement is a security scheme {type: apiKey, in:
//     header, name: x-api-key} listed in an operation's security;
//   - a named authorizer is a security scheme carrying
//     x-amazon-apigateway-authorizer (type jwt, token or request), and an
//     operation lists it in its security, a JWT one with its scopes;
//   - AWS_IAM is a scheme with x-amazon-apigateway-authtype: awsSigv4
//     (exported as "sigv4"), or x-amazon-apigateway-auth {type: AWS_IAM}
//     on the operation;
//   - request validators are x-amazon-apigateway-request-validators, picked
//     per operation by x-amazon-apigateway-request-validator (a
//     document-level one is the default); required query and header
//     parameters and the request body's schemas are what they check;
//   - models are components.schemas; a model is compiled on its own, so
//     the schemas it refers to are copied into its "definitions".
//
// Portico-only settings travel in x-portico-* extensions on the scheme:
// x-portico-jwks-uri, x-portico-authorizer-url (an HTTP authorizer in
// place of API Gateway's Lambda ARN) and x-portico-authorizer (algorithms,
// claims_to_headers, timeout, context_to_headers). x-portico-models lists
// the models that no operation's request body names, so that an export
// keeps them.

const (
	extAuthorizer        = "x-amazon-apigateway-authorizer"
	extAuthType          = "x-amazon-apigateway-authtype"
	extAuth              = "x-amazon-apigateway-auth"
	extAPIKeySource      = "x-amazon-apigateway-api-key-source"
	extRequestValidators = "x-amazon-apigateway-request-validators"
	extRequestValidator  = "x-amazon-apigateway-request-validator"
	extJWKSURI           = "x-portico-jwks-uri"
	extAuthorizerURL     = "x-portico-authorizer-url"
	extPorticoAuthorizer = "x-portico-authorizer"
	extModels            = "x-portico-models"
)

const (
	// apiKeyHeader is where Portico reads API keys, as API Gateway does
	// with its default key source HEADER.
	apiKeyHeader = "x-api-key"
	// schemaRefPrefix starts a reference to a schema of the document.
	schemaRefPrefix = "#/components/schemas/"
	// anyMediaRange is how an export spells the "$default" model key.
	anyMediaRange = "*/*"
	// jwksPath is appended to a JWT issuer when no JWKS URI is given: the
	// jwks_uri of Amazon Cognito and most OIDC providers (RFC 8414 names
	// no fixed path, so this is a convention, not a rule).
	jwksPath = "/.well-known/jwks.json"
)

// awsSecurityScheme is a components.securitySchemes entry with the
// extensions Portico reads and writes.
type awsSecurityScheme struct {
	Type             string          `json:"type"`
	Description      string          `json:"description,omitempty"`
	Name             string          `json:"name,omitempty"`
	In               string          `json:"in,omitempty"`
	Scheme           string          `json:"scheme,omitempty"`
	Flows            json.RawMessage `json:"flows,omitempty"`
	OpenIDConnectURL string          `json:"openIdConnectUrl,omitempty"`
	AuthType         string          `json:"x-amazon-apigateway-authtype,omitempty"`
	Authorizer       *awsAuthorizer  `json:"x-amazon-apigateway-authorizer,omitempty"`
	JWKSURI          string          `json:"x-portico-jwks-uri,omitempty"`
	AuthorizerURL    string          `json:"x-portico-authorizer-url,omitempty"`
	Portico          json.RawMessage `json:"x-portico-authorizer,omitempty"`
}

// awsAuthorizer is x-amazon-apigateway-authorizer. Fields Portico has no
// use for (authorizerCredentials, identityValidationExpression,
// authorizerPayloadFormatVersion, enableSimpleResponses) are ignored.
type awsAuthorizer struct {
	Type           string         `json:"type"`
	AuthorizerURI  string         `json:"authorizerUri,omitempty"`
	IdentitySource identitySource `json:"identitySource,omitempty"`
	TTL            json.Number    `json:"authorizerResultTtlInSeconds,omitempty"`
	JWT            *awsJWTConfig  `json:"jwtConfiguration,omitempty"`
}

type awsJWTConfig struct {
	Issuer   string   `json:"issuer,omitempty"`
	Audience []string `json:"audience,omitempty"`
}

// identitySource is API Gateway's comma-separated identity source list;
// a JSON list is read too.
type identitySource []string

func (s *identitySource) UnmarshalJSON(b []byte) error {
	var list []string
	if json.Unmarshal(b, &list) == nil {
		*s = list
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return fmt.Errorf("must be a string such as %q", "method.request.header.Authorization")
	}
	*s = nil
	for _, part := range strings.Split(one, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

func (s identitySource) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(s, ", "))
}

// porticoAuthorizer is x-portico-authorizer: an authorizer's settings
// that API Gateway has no field for, in Portico's own names.
type porticoAuthorizer struct {
	Algorithms       []string          `json:"algorithms,omitempty"`
	ClaimsToHeaders  map[string]string `json:"claims_to_headers,omitempty"`
	Timeout          Duration          `json:"timeout,omitempty"`
	ContextToHeaders map[string]string `json:"context_to_headers,omitempty"`
}

// awsValidator is one entry of x-amazon-apigateway-request-validators.
type awsValidator struct {
	Body   bool `json:"validateRequestBody"`
	Params bool `json:"validateRequestParameters"`
}

// Validator names an export uses (those of API Gateway's documentation).
const (
	validatorAll    = "all"
	validatorParams = "params-only"
	validatorBody   = "body-only"
)

// importedScheme is what a security scheme stands for.
type importedScheme struct {
	apiKey     bool
	iam        bool
	authorizer *Authorizer
}

// accessImport is the importer's state for access settings.
type accessImport struct {
	schemes    map[string]importedScheme
	badSchemes map[string]bool       // reported already: references stay quiet
	security   []map[string][]string // the document's default
	validators map[string]awsValidator
	defaultVal *awsValidator
	models     map[string]json.RawMessage
	modelFrom  map[string]string // model name → its source, to catch clashes
	reserved   map[string]bool   // model names of components.schemas
}

// rawObject returns v as an object, or nil.
func rawObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// componentSchemas is the document's components.schemas, raw.
func (im *importer) componentSchemas() map[string]any {
	return rawObject(rawObject(im.raw["components"])["schemas"])
}

// readAccess reads what operations refer to: security schemes (into the
// API's authorizers), the top-level security, the request validators and
// the API key source.
func (im *importer) readAccess(a *API) {
	ai := &accessImport{
		schemes: map[string]importedScheme{}, badSchemes: map[string]bool{},
		validators: map[string]awsValidator{},
		models:     map[string]json.RawMessage{}, modelFrom: map[string]string{}, reserved: map[string]bool{},
	}
	im.access = ai
	schemes := rawObject(rawObject(im.raw["components"])["securitySchemes"])
	for _, name := range ordered(im.order.schemes, slices.Collect(maps.Keys(schemes))) {
		f := "components.securitySchemes." + name
		before := len(*im.p)
		var s awsSecurityScheme
		if im.decode(f, schemes[name], &s) {
			sch := im.scheme(f, name, &s)
			if len(*im.p) == before {
				ai.schemes[name] = sch
				if sch.authorizer != nil {
					a.Authorizers = append(a.Authorizers, *sch.authorizer)
				}
				continue
			}
		}
		ai.badSchemes[name] = true
	}
	if raw, ok := im.raw["security"]; ok && raw != nil {
		im.decode("security", raw, &ai.security)
	}
	var source string
	if im.extension(im.raw, extAPIKeySource, &source) && !strings.EqualFold(source, "HEADER") {
		im.p.add(extAPIKeySource, "%q is not supported: Portico reads API keys from the %s header (HEADER)", source, apiKeyHeader)
	}
	im.extension(im.raw, extRequestValidators, &ai.validators)
	var def string
	if im.extension(im.raw, extRequestValidator, &def) && def != "" {
		if v, ok := ai.validators[def]; ok {
			ai.defaultVal = &v
		} else {
			im.p.add(extRequestValidator, "no validator named %q in %s", def, extRequestValidators)
		}
	}
	for name := range im.componentSchemas() {
		ai.reserved[modelName(name)] = true
	}
}

// scheme maps one security scheme.
func (im *importer) scheme(f, name string, s *awsSecurityScheme) importedScheme {
	if s.Authorizer != nil {
		return importedScheme{authorizer: im.authorizer(f, name, s)}
	}
	if strings.EqualFold(s.AuthType, "awsSigv4") {
		return importedScheme{iam: true}
	}
	switch s.Type {
	case "apiKey":
		if strings.EqualFold(s.In, "header") && strings.EqualFold(s.Name, apiKeyHeader) {
			return importedScheme{apiKey: true}
		}
		im.p.add(f, "an API key in %s %q is not supported: Portico reads API keys from the %s header (a scheme with %s is an authorizer's identity)", s.In, s.Name, apiKeyHeader, extAuthorizer)
	case "http":
		if strings.EqualFold(s.Scheme, "bearer") {
			im.p.add(f, "a bearer scheme needs %s (type jwt, with jwtConfiguration issuer and audience) for Portico to check its tokens", extAuthorizer)
		} else {
			im.p.add(f, "http %q authentication is not supported", s.Scheme)
		}
	case "oauth2", "openIdConnect":
		// An openIdConnect scheme names the issuer's discovery document
		// but no audience, which a JWT authorizer requires: ask for it.
		im.p.add(f, "an %s scheme needs %s (type jwt, with jwtConfiguration issuer and audience) for Portico to check its tokens", s.Type, extAuthorizer)
	case "":
		im.p.add(f+".type", "is required")
	default:
		im.p.add(f+".type", "%q is not supported", s.Type)
	}
	return importedScheme{}
}

// authorizer maps a scheme carrying x-amazon-apigateway-authorizer.
func (im *importer) authorizer(f, name string, s *awsSecurityScheme) *Authorizer {
	x := s.Authorizer
	af := f + "." + extAuthorizer
	az := &Authorizer{Name: name}
	if len(s.Portico) > 0 && string(s.Portico) != "null" {
		pf := f + "." + extPorticoAuthorizer
		before := len(*im.p)
		checkFields(im.p, pf, s.Portico, reflect.TypeFor[porticoAuthorizer](), true)
		var pa porticoAuthorizer
		if len(*im.p) == before && json.Unmarshal(s.Portico, &pa) == nil {
			az.Algorithms, az.ClaimsToHeaders = pa.Algorithms, pa.ClaimsToHeaders
			az.Timeout, az.ContextToHeaders = pa.Timeout, pa.ContextToHeaders
		}
	}
	switch strings.ToLower(x.Type) {
	case "jwt":
		az.Type = AuthorizerJWT
		if x.JWT == nil {
			im.p.add(af+".jwtConfiguration", "is required for a jwt authorizer (issuer and audience)")
		} else {
			az.Issuer, az.Audiences = x.JWT.Issuer, x.JWT.Audience
		}
		for _, src := range x.IdentitySource {
			if c, _ := canonicalIdentity(src); !strings.EqualFold(c, "header.Authorization") {
				im.p.add(af+".identitySource", "%q: Portico's JWT authorizers read the token from the Authorization header", src)
			}
		}
		// API Gateway finds the keys through the issuer's OIDC discovery
		// document; Portico reads no discovery document and takes the
		// JWKS URI as configured: x-portico-jwks-uri, or else the
		// issuer's /.well-known/jwks.json, which is where Amazon Cognito
		// and many other providers publish it (Okta, for one, does not:
		// set x-portico-jwks-uri for those).
		az.JWKSURI = s.JWKSURI
		if az.JWKSURI == "" && az.Issuer != "" {
			az.JWKSURI = strings.TrimSuffix(az.Issuer, "/") + jwksPath
		}
	case "token", "request":
		az.Type = AuthorizerType(strings.ToUpper(x.Type))
		az.URI = im.authorizerURL(af, s)
		for _, src := range x.IdentitySource {
			c, ok := canonicalIdentity(src)
			if !ok {
				im.p.add(af+".identitySource", "%q is not a header or query string value (method.request.header.NAME, method.request.querystring.NAME or $request.header.NAME)", src)
				continue
			}
			az.IdentitySources = append(az.IdentitySources, c)
		}
		// A token authorizer reads the scheme's header, by default
		// Authorization (Portico's default too).
		if az.Type == AuthorizerToken && len(x.IdentitySource) == 0 && strings.EqualFold(s.In, "header") &&
			s.Name != "" && !strings.EqualFold(s.Name, "Authorization") {
			az.IdentitySources = []string{"header." + s.Name}
		}
		if x.TTL != "" {
			d, err := numberDuration(x.TTL, time.Second)
			if err != nil {
				im.p.add(af+".authorizerResultTtlInSeconds", "%s", err)
			}
			az.TTL = &d
		}
	case "cognito_user_pools":
		im.p.add(af+".type", "cognito_user_pools is not supported: use type jwt with the user pool as issuer (https://cognito-idp.REGION.amazonaws.com/POOL_ID) and its app client ids as audience")
	case "":
		im.p.add(af+".type", "is required (jwt, token or request)")
	default:
		im.p.add(af+".type", "must be jwt, token or request, not %q", x.Type)
	}
	return az
}

// authorizerURL is the URL Portico calls for a token or request
// authorizer: x-portico-authorizer-url, else authorizerUri when it is an
// http(s) URL (API Gateway has a Lambda ARN there).
func (im *importer) authorizerURL(af string, s *awsSecurityScheme) string {
	if s.AuthorizerURL != "" {
		return s.AuthorizerURL
	}
	uri := s.Authorizer.AuthorizerURI
	if u, err := url.Parse(uri); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return uri
	}
	if uri == "" {
		im.p.add(af+".authorizerUri", "is required: Portico calls the authorizer over HTTP (set it or %s to the authorizer's URL)", extAuthorizerURL)
	} else {
		im.p.add(af+".authorizerUri", "%q is not an http(s) URL: Portico calls the authorizer over HTTP; set %s on the scheme to its URL", uri, extAuthorizerURL)
	}
	return ""
}

// canonicalIdentity turns an identity source in any of API Gateway's
// spellings into Portico's: header.NAME or query.NAME.
func canonicalIdentity(src string) (string, bool) {
	s := strings.TrimSpace(src)
	for _, pre := range []string{"method.request.", "$request."} {
		if rest, ok := strings.CutPrefix(s, pre); ok {
			s = rest
			break
		}
	}
	kind, name, ok := strings.Cut(s, ".")
	if !ok || name == "" {
		return s, false
	}
	switch kind {
	case "header":
		return "header." + name, true
	case "query", "querystring":
		return "query." + name, true
	}
	return s, false
}

// awsIdentity writes an identity source the way API Gateway exports it:
// method.request.… for REST APIs, $request.… for HTTP APIs.
func awsIdentity(src string, kind Kind) string {
	c, ok := canonicalIdentity(src)
	if !ok {
		return src
	}
	part, name, _ := strings.Cut(c, ".")
	if part == "query" {
		part = "querystring"
	}
	if kind == KindHTTP {
		return "$request." + part + "." + name
	}
	return "method.request." + part + "." + name
}

// operationAccess maps an operation's security, IAM flag, validator,
// required parameters and request body.
func (im *importer) operationAccess(path string, op importedOp) Access {
	item := rawObject(rawObject(im.raw["paths"])[path])
	raw := rawObject(item[op.key])
	if raw == nil {
		// Only a path item the loader resolved from a $ref gets here;
		// its security cannot be read, so it is refused, not ignored.
		im.p.add("paths."+path, "a path item $ref is not supported")
		return Access{}
	}
	ac := im.authorization(op.field, raw)
	name, _ := raw["operationId"].(string)
	if name == "" {
		name = op.method + " " + path + " " // the space keeps "Body" apart
	}
	ac.Validation = im.validation(op.field, name, item, raw, "paths."+path)
	return ac
}

// authorization maps the security requirement that applies to the
// operation. Portico applies one requirement: several alternatives, or
// two authorizers in one, cannot be kept and are errors.
func (im *importer) authorization(f string, op map[string]any) Access {
	ai := im.access
	var ac Access
	sf, reqs := "security", ai.security
	if raw, ok := op["security"]; ok {
		sf, reqs = f+".security", nil
		if raw != nil && !im.decode(sf, raw, &reqs) {
			return ac
		}
	}
	if len(reqs) > 1 {
		im.p.add(sf, "lists %d alternatives: Portico applies one security requirement (all of its schemes)", len(reqs))
		return ac
	}
	authBy := ""
	for _, req := range reqs {
		for _, name := range slices.Sorted(maps.Keys(req)) {
			rf := sf + "[0]." + name
			if ai.badSchemes[name] {
				continue
			}
			s, ok := ai.schemes[name]
			if !ok {
				im.p.add(rf, "no security scheme named %q in components.securitySchemes", name)
				continue
			}
			scopes := req[name]
			if s.apiKey {
				ac.APIKeyRequired = true
			} else if authBy != "" {
				im.p.add(rf, "%q and %q both authenticate the caller: Portico applies one authorizer per operation", authBy, name)
				continue
			} else {
				authBy = name
				switch {
				case s.iam:
					ac.Authorization = AuthIAM
				case s.authorizer != nil && s.authorizer.Type == AuthorizerJWT:
					ac.Authorization, ac.Authorizer = AuthJWT, name
					if len(scopes) > 0 {
						ac.AuthorizationScopes = scopes
					}
				default:
					ac.Authorization, ac.Authorizer = AuthCustom, name
				}
			}
			switch {
			case len(scopes) == 0:
			case s.apiKey:
				im.p.add(rf, "an API key scheme takes no scopes")
			case ac.Authorization != AuthJWT:
				im.p.add(rf, "only JWT authorizers check scopes")
			}
		}
	}
	var xa struct {
		Type string `json:"type"`
	}
	if raw, ok := op[extAuth]; ok && raw != nil && im.decode(f+"."+extAuth, raw, &xa) {
		switch strings.ToUpper(xa.Type) {
		case "AWS_IAM":
			if ac.Authorization != "" && ac.Authorization != AuthIAM {
				im.p.add(f+"."+extAuth, "AWS_IAM conflicts with the %s authorizer %q of the operation's security", ac.Authorization, ac.Authorizer)
			}
			ac.Authorization, ac.Authorizer = AuthIAM, ""
		case "NONE", "":
		default:
			im.p.add(f+"."+extAuth+".type", "must be AWS_IAM or NONE, not %q", xa.Type)
		}
	}
	return ac
}
