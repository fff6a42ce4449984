package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
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
	// draft4 is the JSON Schema draft models are read as without "$schema".
	draft4 = "http://json-schema.org/draft-04/schema"
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

// awsParameter is the part of a parameter object Portico reads.
type awsParameter struct {
	Ref      string `json:"$ref,omitempty"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required,omitempty"`
}

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

// validation maps the operation's request validator, required query and
// header parameters and request body models. Required parameters are kept
// only when the validator checks parameters (Portico has no other use for
// them); body models are kept in any case, as API Gateway keeps a
// method's request models, and checked when the validator says so.
func (im *importer) validation(f, opName string, item, op map[string]any, itemField string) *Validation {
	val := im.access.defaultVal
	if raw, ok := op[extRequestValidator]; ok {
		val = nil
		var name string
		if raw != nil && im.decode(f+"."+extRequestValidator, raw, &name) && name != "" {
			if v, ok := im.access.validators[name]; ok {
				val = &v
			} else {
				im.p.add(f+"."+extRequestValidator, "no validator named %q in %s", name, extRequestValidators)
			}
		}
	}
	v := &Validation{Models: im.requestModels(f, opName, op)}
	if val != nil {
		v.Parameters = val.Params
		v.Body = val.Body && len(v.Models) > 0
		if v.Parameters {
			v.RequiredQuery, v.RequiredHeaders = im.requiredParams(f, item, op, itemField)
		}
	}
	if !v.Parameters && !v.Body && len(v.Models) == 0 {
		return nil
	}
	return v
}

// requiredParams lists the required query and header parameters of the
// path item and the operation (whose own win), in document order.
func (im *importer) requiredParams(f string, item, op map[string]any, itemField string) (query, headers []string) {
	read := func(field string, list any) []awsParameter {
		var raws []any
		if list == nil || !im.decode(field, list, &raws) {
			return nil
		}
		var out []awsParameter
		for i, r := range raws {
			pf := fmt.Sprintf("%s[%d]", field, i)
			var p awsParameter
			if !im.decode(pf, r, &p) {
				continue
			}
			if p.Ref != "" {
				name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
				target, found := rawObject(rawObject(im.raw["components"])["parameters"])[unescapePointer(name)]
				if !ok || !found {
					im.p.add(pf+".$ref", "%q is not a parameter of components.parameters", p.Ref)
					continue
				}
				if !im.decode("components.parameters."+name, target, &p) {
					continue
				}
			}
			out = append(out, p)
		}
		return out
	}
	key := func(p awsParameter) string { return p.In + "\x00" + strings.ToLower(p.Name) }
	own := read(f+".parameters", op["parameters"])
	mine := map[string]bool{}
	for _, p := range own {
		mine[key(p)] = true
	}
	var all []awsParameter
	for _, p := range read(itemField+".parameters", item["parameters"]) {
		if !mine[key(p)] {
			all = append(all, p)
		}
	}
	for _, p := range append(all, own...) {
		switch {
		case !p.Required:
		case p.In == "query":
			query = append(query, p.Name)
		case p.In == "header":
			headers = append(headers, p.Name)
		}
	}
	return query, headers
}

// requestModels maps the request body's schemas to models, by media type.
func (im *importer) requestModels(f, opName string, op map[string]any) map[string]string {
	body := rawObject(op["requestBody"])
	if body == nil {
		return nil
	}
	bf := f + ".requestBody"
	if ref, ok := body["$ref"].(string); ok {
		name, isBody := strings.CutPrefix(ref, "#/components/requestBodies/")
		body = rawObject(rawObject(rawObject(im.raw["components"])["requestBodies"])[unescapePointer(name)])
		if !isBody || body == nil {
			im.p.add(bf+".$ref", "%q is not a request body of components.requestBodies", ref)
			return nil
		}
		bf = "components.requestBodies." + name
	}
	content := rawObject(body["content"])
	var models map[string]string
	for _, mt := range slices.Sorted(maps.Keys(content)) {
		mf := bf + ".content." + mt
		schema, ok := rawObject(content[mt])["schema"]
		if !ok || schema == nil {
			continue
		}
		key := mt
		switch {
		case mt == anyMediaRange:
			key = "$default"
		case strings.Contains(mt, ";"):
			base, _, err := mime.ParseMediaType(mt)
			if err != nil {
				im.p.add(mf, "is not a media type: %s", err)
				continue
			}
			key = base
		}
		name, ok := im.bodyModel(mf+".schema", opName, key, schema)
		if !ok {
			continue
		}
		if models == nil {
			models = map[string]string{}
		}
		models[key] = name
	}
	return models
}

// bodyModel returns the model for a request body schema: the components
// schema it refers to, or a model of its own named after the operation.
func (im *importer) bodyModel(f, opName, mediaType string, schema any) (string, bool) {
	if m := rawObject(schema); len(m) == 1 {
		if ref, ok := m["$ref"].(string); ok {
			if name, ok := strings.CutPrefix(ref, schemaRefPrefix); ok && !strings.Contains(name, "/") {
				return im.componentModel(f, unescapePointer(name))
			}
		}
	}
	if rawObject(schema) == nil {
		im.p.add(f, "must be an object")
		return "", false
	}
	ai := im.access
	base := opName + "Body"
	if mediaType != "application/json" {
		base += "_" + mediaType
	}
	base = modelName(base)
	name := base
	for i := 2; ai.reserved[name] || ai.modelFrom[name] != ""; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	doc, ok := im.modelSchema(f, schema, "")
	if !ok {
		return "", false
	}
	ai.models[name], ai.modelFrom[name] = doc, f
	return name, true
}

// componentModel returns the model made of components.schemas.<comp>.
func (im *importer) componentModel(f, comp string) (string, bool) {
	ai := im.access
	name, src := modelName(comp), schemaRefPrefix+comp
	if prev, ok := ai.modelFrom[name]; ok {
		if prev != src {
			im.p.add(f, "schema %q would be model %q, which %s is already", comp, name, prev)
			return "", false
		}
		return name, true
	}
	raw, ok := im.componentSchemas()[comp]
	if !ok {
		im.p.add(f, "no schema %q in components.schemas", comp)
		return "", false
	}
	doc, ok := im.modelSchema("components.schemas."+comp, raw, comp)
	if !ok {
		return "", false
	}
	ai.models[name], ai.modelFrom[name] = doc, src
	return name, true
}

// modelSchema makes a self-contained model of schema, which is
// components.schemas.<root> or, with root "", an inline schema. Every
// schema it refers to, directly or not, is copied into its "definitions"
// and references are rewritten: #/components/schemas/X… becomes
// #/definitions/X…, and # for the root itself.
func (im *importer) modelSchema(f string, schema any, root string) (json.RawMessage, bool) {
	schemas := im.componentSchemas()
	before := len(*im.p)
	seen := map[string]bool{}
	var queue []string
	ref := func(s string) string {
		rest, ok := strings.CutPrefix(s, schemaRefPrefix)
		if !ok {
			im.p.add(f, "reference %q: a model can only refer to %s…", s, schemaRefPrefix)
			return s
		}
		seg, tail, _ := strings.Cut(rest, "/")
		if tail != "" {
			tail = "/" + tail
		}
		name := unescapePointer(seg)
		if name == root {
			return "#" + tail
		}
		if _, ok := schemas[name]; !ok {
			im.p.add(f, "reference %q: no schema %q in components.schemas", s, name)
			return s
		}
		if !seen[name] {
			seen[name] = true
			queue = append(queue, name)
		}
		return "#/definitions/" + escapePointer(name) + tail
	}
	out := withoutDraft4(rewriteRefs(schema, ref))
	defs := map[string]any{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		defs[name] = withoutDraft4(rewriteRefs(schemas[name], ref))
	}
	if len(defs) > 0 {
		m := rawObject(out)
		own, isObj := m["definitions"].(map[string]any)
		switch {
		case m == nil:
			im.p.add(f, "must be an object")
		case m["definitions"] != nil && !isObj:
			im.p.add(f+".definitions", "must be an object")
		default:
			merged := maps.Clone(own)
			if merged == nil {
				merged = map[string]any{}
			}
			for _, name := range slices.Sorted(maps.Keys(defs)) {
				if _, dup := merged[name]; dup {
					im.p.add(f+".definitions."+name, "clashes with the referenced schema %q: rename one", name)
				}
				merged[name] = defs[name]
			}
			m["definitions"] = merged
		}
	}
	if len(*im.p) > before {
		return nil, false
	}
	b, err := json.Marshal(out)
	if err != nil {
		im.p.add(f, "%s", err)
		return nil, false
	}
	return b, true
}

// readModelList adds the models x-portico-models names.
func (im *importer) readModelList() {
	var names []string
	if !im.extension(im.raw, extModels, &names) {
		return
	}
	for i, name := range names {
		im.componentModel(fmt.Sprintf("%s[%d]", extModels, i), name)
	}
}

// schemaData are schema keywords whose values are data, not schemas.
var schemaData = map[string]bool{"enum": true, "const": true, "default": true, "example": true, "examples": true}

// schemaMaps are schema keywords whose values map names to schemas.
var schemaMaps = map[string]bool{"properties": true, "patternProperties": true, "definitions": true, "$defs": true, "dependentSchemas": true}

// rewriteRefs copies a schema, passing every "$ref" through ref. Values
// of data keywords and extensions are kept as they are.
func rewriteRefs(v any, ref func(string) string) any {
	return rewriteSchema(v, false, ref)
}

func rewriteSchema(v any, nameMap bool, ref func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, isString := e.(string)
			switch {
			case nameMap:
				out[k] = rewriteSchema(e, false, ref)
			case k == "$ref" && isString:
				out[k] = ref(s)
			case schemaData[k] || strings.HasPrefix(k, "x-"):
				out[k] = e
			default:
				out[k] = rewriteSchema(e, schemaMaps[k], ref)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rewriteSchema(e, false, ref)
		}
		return out
	}
	return v
}

// withoutDraft4 drops a "$schema" naming draft-04: models are read as
// draft-04 without one, and OpenAPI 3.0 has no "$schema".
func withoutDraft4(v any) any {
	if m := rawObject(v); m != nil {
		if s, ok := m["$schema"].(string); ok && strings.TrimSuffix(s, "#") == draft4 {
			delete(m, "$schema")
		}
	}
	return v
}

// modelName turns a name into a model name: letters, digits and _.
func modelName(s string) string {
	var b strings.Builder
	gap := false
	for _, r := range s {
		if r < 128 && (r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			gap = false
		} else {
			gap = true
		}
	}
	out := b.String()
	if out == "" {
		out = "Model"
	}
	if len(out) > 120 { // room for a counter below the 128 limit
		out = out[:120]
	}
	return out
}

// JSON Pointer escaping (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// accessExport collects, while operations are exported, what the
// document's components and extensions then hold.
type accessExport struct {
	kind         Kind
	apiKeyScheme string // scheme names free of the authorizers' names
	iamScheme    string
	usedAPIKey   bool
	usedIAM      bool
	validators   map[string]awsValidator
	opModels     map[string]bool // models some request body names
}

func newAccessExport(a *API) *accessExport {
	taken := map[string]bool{}
	for _, az := range a.Authorizers {
		taken[az.Name] = true
	}
	return &accessExport{
		kind:         a.Kind,
		apiKeyScheme: freeName("api_key", taken),
		iamScheme:    freeName("sigv4", taken),
		validators:   map[string]awsValidator{},
		opModels:     map[string]bool{},
	}
}

func freeName(base string, taken map[string]bool) string {
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

// operation writes an operation's access settings into o.
func (x *accessExport) operation(o *openapi3.Operation, ac Access) {
	req := openapi3.SecurityRequirement{}
	if ac.APIKeyRequired {
		req[x.apiKeyScheme] = []string{}
		x.usedAPIKey = true
	}
	switch ac.Authorization {
	case AuthJWT, AuthCustom:
		scopes := ac.AuthorizationScopes
		if scopes == nil {
			scopes = []string{}
		}
		req[ac.Authorizer] = scopes
	case AuthIAM:
		req[x.iamScheme] = []string{}
		x.usedIAM = true
	}
	if len(req) > 0 {
		o.Security = &openapi3.SecurityRequirements{req}
	}
	v := ac.Validation
	if v == nil {
		return
	}
	name := ""
	switch {
	case v.Parameters && v.Body:
		name = validatorAll
	case v.Parameters:
		name = validatorParams
	case v.Body:
		name = validatorBody
	}
	if name != "" {
		o.Extensions[extRequestValidator] = name
		x.validators[name] = awsValidator{Body: v.Body, Params: v.Parameters}
	}
	for _, q := range v.RequiredQuery {
		o.AddParameter(openapi3.NewQueryParameter(q).WithRequired(true).WithSchema(openapi3.NewStringSchema()))
	}
	for _, h := range v.RequiredHeaders {
		o.AddParameter(openapi3.NewHeaderParameter(h).WithRequired(true).WithSchema(openapi3.NewStringSchema()))
	}
	if len(v.Models) > 0 {
		content := openapi3.Content{}
		for mt, model := range v.Models {
			if mt == "$default" {
				mt = anyMediaRange
			}
			content[mt] = &openapi3.MediaType{Schema: &openapi3.SchemaRef{Ref: schemaRefPrefix + escapePointer(model)}}
			x.opModels[model] = true
		}
		o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithContent(content)}
	}
}

// finish returns the document's components (nil when there are none)
// and adds the access extensions to ext.
func (x *accessExport) finish(a *API, ext map[string]any) (json.RawMessage, error) {
	var schemes objectWriter
	add := func(name string, s awsSecurityScheme) error {
		b, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("security scheme %s: %w", name, err)
		}
		schemes.add(name, b)
		return nil
	}
	for i := range a.Authorizers {
		s, err := exportAuthorizer(x.kind, &a.Authorizers[i])
		if err == nil {
			err = add(a.Authorizers[i].Name, s)
		}
		if err != nil {
			return nil, err
		}
	}
	if x.usedAPIKey {
		if err := add(x.apiKeyScheme, awsSecurityScheme{Type: "apiKey", Name: apiKeyHeader, In: "header"}); err != nil {
			return nil, err
		}
	}
	if x.usedIAM {
		if err := add(x.iamScheme, awsSecurityScheme{Type: "apiKey", Name: "Authorization", In: "header", AuthType: "awsSigv4"}); err != nil {
			return nil, err
		}
	}
	if len(x.validators) > 0 {
		ext[extRequestValidators] = x.validators
	}
	var unused []string
	for name := range a.Models {
		if !x.opModels[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		ext[extModels] = unused
	}
	schemas, err := exportModels(a.Models)
	if err != nil {
		return nil, err
	}
	var comp objectWriter
	if len(schemas) > 0 {
		b, err := json.Marshal(schemas)
		if err != nil {
			return nil, fmt.Errorf("models: %w", err)
		}
		comp.add("schemas", b)
	}
	if schemes.buf.Len() > 0 {
		comp.add("securitySchemes", schemes.bytes())
	}
	if comp.buf.Len() == 0 {
		return nil, nil
	}
	return comp.bytes(), nil
}

// exportAuthorizer writes an authorizer as API Gateway exports it: a JWT
// one as an oauth2 scheme (an HTTP API's export), TOKEN and REQUEST ones
// as apiKey schemes of authtype custom (a REST API's export).
func exportAuthorizer(kind Kind, az *Authorizer) (awsSecurityScheme, error) {
	var s awsSecurityScheme
	var pa porticoAuthorizer
	switch az.Type {
	case AuthorizerJWT:
		s = awsSecurityScheme{Type: "oauth2", Flows: json.RawMessage("{}"), JWKSURI: az.JWKSURI,
			Authorizer: &awsAuthorizer{Type: "jwt", IdentitySource: identitySource{"$request.header.Authorization"},
				JWT: &awsJWTConfig{Issuer: az.Issuer, Audience: az.Audiences}}}
		pa = porticoAuthorizer{Algorithms: az.Algorithms, ClaimsToHeaders: az.ClaimsToHeaders}
	case AuthorizerToken, AuthorizerRequest:
		x := &awsAuthorizer{Type: strings.ToLower(string(az.Type)), AuthorizerURI: az.URI}
		for _, src := range az.IdentitySources {
			x.IdentitySource = append(x.IdentitySource, awsIdentity(src, kind))
		}
		if az.TTL != nil {
			x.TTL = durationNumber(*az.TTL, time.Second)
		}
		// API Gateway names a request authorizer's scheme "Unused"; a
		// token authorizer's is the header it reads.
		s = awsSecurityScheme{Type: "apiKey", Name: "Unused", In: "header", AuthType: "custom", Authorizer: x}
		if az.Type == AuthorizerToken {
			s.Name = "Authorization"
			if len(az.IdentitySources) == 1 {
				if c, ok := canonicalIdentity(az.IdentitySources[0]); ok && strings.HasPrefix(c, "header.") {
					s.Name = strings.TrimPrefix(c, "header.")
				}
			}
		}
		pa = porticoAuthorizer{Timeout: az.Timeout, ContextToHeaders: az.ContextToHeaders}
	default:
		return s, fmt.Errorf("authorizer %s: unsupported type %q", az.Name, az.Type)
	}
	b, err := json.Marshal(pa)
	if err != nil {
		return s, fmt.Errorf("authorizer %s: %w", az.Name, err)
	}
	if string(b) != "{}" {
		s.Portico = b
	}
	return s, nil
}

// exportModels returns components.schemas for the API's models. A model's
// "definitions" are lifted out beside it (OpenAPI has no such keyword and
// refers to schemas by #/components/schemas/), which the import undoes. A
// definition keeps its name unless a different schema has it; then all
// definitions of that model are named MODEL_NAME.
func exportModels(models map[string]json.RawMessage) (map[string]any, error) {
	type split struct {
		root  any
		defs  map[string]any
		names map[string]string // definition → schema name in the document
	}
	plans := map[string]*split{}
	for name, raw := range models {
		v, err := decodeNumbers(raw)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		s := &split{root: withoutDraft4(v), names: map[string]string{}}
		if m := rawObject(v); m != nil {
			if defs, ok := m["definitions"].(map[string]any); ok {
				root := maps.Clone(m)
				delete(root, "definitions")
				s.root, s.defs = root, defs
				for d := range defs {
					s.names[d] = d
				}
			}
		}
		plans[name] = s
	}
	forms := func(model string, s *split) (any, map[string]any) {
		ref := func(r string) string {
			if r != "#" && !strings.HasPrefix(r, "#/") {
				return r
			}
			p := r[1:]
			if rest, ok := strings.CutPrefix(p, "/definitions/"); ok {
				seg, tail, _ := strings.Cut(rest, "/")
				if tail != "" {
					tail = "/" + tail
				}
				if n, ok := s.names[unescapePointer(seg)]; ok {
					return schemaRefPrefix + escapePointer(n) + tail
				}
			}
			return schemaRefPrefix + escapePointer(model) + p
		}
		defs := map[string]any{}
		for d, v := range s.defs {
			defs[s.names[d]] = withoutDraft4(rewriteRefs(v, ref))
		}
		return rewriteRefs(s.root, ref), defs
	}
	out := map[string]any{}
	fits := func(defs map[string]any) bool {
		for n, v := range defs {
			if have, ok := out[n]; ok && !reflect.DeepEqual(have, v) {
				return false
			}
		}
		return true
	}
	names := slices.Sorted(maps.Keys(plans))
	for _, m := range names {
		out[m], _ = forms(m, plans[m])
	}
	for _, m := range names {
		s := plans[m]
		_, defs := forms(m, s)
		if !fits(defs) {
			taken := map[string]bool{}
			for n := range out {
				taken[n] = true
			}
			for _, d := range slices.Sorted(maps.Keys(s.defs)) {
				s.names[d] = freeName(m+"_"+d, taken)
				taken[s.names[d]] = true
			}
			out[m], defs = forms(m, s)
		}
		for n, v := range defs {
			if _, ok := out[n]; !ok {
				out[n] = v
			}
		}
	}
	// A model renamed late may no longer match a schema another model
	// shared: check every model against what was written.
	for _, m := range names {
		root, defs := forms(m, plans[m])
		if !reflect.DeepEqual(out[m], root) {
			return nil, fmt.Errorf("model %s: another model defines %q differently", m, m)
		}
		for _, n := range slices.Sorted(maps.Keys(defs)) {
			if !reflect.DeepEqual(out[n], defs[n]) {
				return nil, fmt.Errorf("model %s: definition %q clashes with another schema of that name", m, n)
			}
		}
	}
	return out, nil
}

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
