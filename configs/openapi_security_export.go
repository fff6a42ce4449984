package configs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

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
