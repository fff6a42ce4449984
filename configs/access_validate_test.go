package configs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/endpoints/validate"
	"github.com/portico-gw/portico/endpoints/waf"
)

// accessBaseYAML is a valid HTTP API with one authorizer of each type and
// a route that validates parameters and a body; the table tests below
// break one rule of it at a time.
const accessBaseYAML = `
name: guarded
kind: HTTP
authorizers:
- {name: jwt, type: JWT, issuer: "https://id.example.com/", audiences: [a], jwks_uri: "https://id.example.com/keys"}
- {name: tok, type: TOKEN, uri: "https://auth.example.com/token"}
- {name: req, type: REQUEST, uri: "https://auth.example.com/request", identity_sources: [header.X-Tenant]}
models:
  Pet: {type: object, properties: {name: {type: string}}}
  Tag: {type: string}
routes:
- key: POST /pets
  integration: {type: HTTP_PROXY, uri: "https://backend.example.com/pets"}
  authorization: JWT
  authorizer: jwt
  authorization_scopes: [pets/write]
  validation:
    parameters: true
    required_query: [q]
    required_headers: [X-Key]
    body: true
    models: {application/json: Pet, $default: Tag}
`

// The route, its validation and the authorizers of accessBaseYAML.
const (
	route0 = "routes[0]"
	val0   = route0 + ".validation"
	jwtAz  = "authorizers[0]"
	tokAz  = "authorizers[1]"
	reqAz  = "authorizers[2]"
)

func accessBase(t testing.TB) *API {
	t.Helper()
	a := mustAPI(t, accessBaseYAML)
	if len(a.Routes) != 1 || a.Routes[0].Access.Validation == nil || len(a.Authorizers) != 3 {
		t.Fatalf("accessBaseYAML parsed as %+v", a)
	}
	return a
}

func TestAccessBaseIsValid(t *testing.T) {
	t.Parallel()
	if err := accessBase(t).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// TestValidateAccessRules breaks each rule of the access settings once.
func TestValidateAccessRules(t *testing.T) {
	t.Parallel()
	val := func(a *API) *Validation { return a.Routes[0].Access.Validation }
	acc := func(a *API) *Access { return &a.Routes[0].Access }
	tests := []struct {
		name     string
		mutate   func(a *API)
		field    string
		fragment string
	}{
		// Authorizers: names.
		{"too many authorizers", func(a *API) {
			for i := range MaxAuthorizers {
				a.Authorizers = append(a.Authorizers, Authorizer{Name: "extra" + string(rune('a'+i)), Type: AuthorizerToken, URI: "https://a.example.com"})
			}
		}, "authorizers", "at most 10 authorizers"},
		{"bad authorizer name", func(a *API) { a.Authorizers[1].Name = "to k"; acc(a).Authorization = AuthJWT },
			tokAz + ".name", "1-128 letters"},
		{"duplicate authorizer name", func(a *API) { a.Authorizers[1].Name = "jwt" }, tokAz + ".name", `"jwt" duplicates authorizers[0]`},
		{"no authorizer type", func(a *API) { a.Authorizers[1].Type = "" }, tokAz + ".type", "is required (JWT, TOKEN or REQUEST)"},
		{"unknown authorizer type", func(a *API) { a.Authorizers[1].Type = "LAMBDA" }, tokAz + ".type", `must be JWT, TOKEN or REQUEST, not "LAMBDA"`},

		// JWT authorizers.
		{"JWT without issuer", func(a *API) { a.Authorizers[0].Issuer = "" }, jwtAz + ".issuer", "is required for a JWT authorizer"},
		{"JWT without audiences", func(a *API) { a.Authorizers[0].Audiences = nil }, jwtAz + ".audiences", "at least one audience"},
		{"JWT without jwks_uri", func(a *API) { a.Authorizers[0].JWKSURI = "" }, jwtAz + ".jwks_uri", "is required for a JWT authorizer"},
		{"JWT jwks_uri not http", func(a *API) { a.Authorizers[0].JWKSURI = "ftp://id.example.com/keys" }, jwtAz + ".jwks_uri", "absolute http or https URL"},
		{"JWT jwks_uri with user", func(a *API) { a.Authorizers[0].JWKSURI = "https://u:p@id.example.com/keys" }, jwtAz + ".jwks_uri", "absolute http or https URL"},
		{"JWT HMAC algorithm", func(a *API) { a.Authorizers[0].Algorithms = []string{"RS256", "HS256"} }, jwtAz + ".algorithms[1]", `"HS256" is not allowed`},
		{"JWT none algorithm", func(a *API) { a.Authorizers[0].Algorithms = []string{"none"} }, jwtAz + ".algorithms[0]", "none and HMAC never are"},
		{"JWT claim to a bad header", func(a *API) { a.Authorizers[0].ClaimsToHeaders = map[string]string{"sub": "X User"} }, jwtAz + ".claims_to_headers.sub", "is not a valid header name"},
		{"JWT claim without a name", func(a *API) { a.Authorizers[0].ClaimsToHeaders = map[string]string{"": "X-User"} }, jwtAz + ".claims_to_headers", "a name must not be empty"},
		{"JWT with a uri", func(a *API) { a.Authorizers[0].URI = "https://auth.example.com" }, jwtAz, "belong to TOKEN and REQUEST authorizers"},
		{"JWT with identity sources", func(a *API) { a.Authorizers[0].IdentitySources = []string{"header.Authorization"} }, jwtAz, "belong to TOKEN and REQUEST authorizers"},

		// TOKEN and REQUEST authorizers.
		{"TOKEN without uri", func(a *API) { a.Authorizers[1].URI = "" }, tokAz + ".uri", "is required for a TOKEN authorizer"},
		{"REQUEST uri relative", func(a *API) { a.Authorizers[2].URI = "/auth" }, reqAz + ".uri", "absolute http or https URL"},
		{"TOKEN with two headers", func(a *API) { a.Authorizers[1].IdentitySources = []string{"header.A", "header.B"} }, tokAz + ".identity_sources", "a TOKEN authorizer takes one header"},
		{"TOKEN reading the query", func(a *API) { a.Authorizers[1].IdentitySources = []string{"query.token"} }, tokAz + ".identity_sources[0]", "a TOKEN authorizer reads a header"},
		{"TOKEN reading the query, API Gateway spelling", func(a *API) { a.Authorizers[1].IdentitySources = []string{"method.request.querystring.token"} }, tokAz + ".identity_sources[0]", "a TOKEN authorizer reads a header"},
		{"REQUEST without identity sources", func(a *API) { a.Authorizers[2].IdentitySources = nil }, reqAz + ".identity_sources", "needs at least one identity source"},
		{"identity source with a bad header name", func(a *API) { a.Authorizers[2].IdentitySources = []string{"header.X Tenant"} }, reqAz + ".identity_sources[0]", "bad header name"},
		{"identity source of a context value", func(a *API) { a.Authorizers[2].IdentitySources = []string{"context.sourceIp"} }, reqAz + ".identity_sources[0]", "not header.NAME or query.NAME"},
		// Spellings the gateway's authorizer does not parse (it compiles
		// identity sources with auth.ParseIdentitySource).
		{"identity source method.request.query", func(a *API) { a.Authorizers[2].IdentitySources = []string{"method.request.query.token"} }, reqAz + ".identity_sources[0]", "not header.NAME or query.NAME"},
		{"identity source querystring", func(a *API) { a.Authorizers[2].IdentitySources = []string{"querystring.token"} }, reqAz + ".identity_sources[0]", "not header.NAME or query.NAME"},
		{"identity source $request.query", func(a *API) { a.Authorizers[2].IdentitySources = []string{"$request.query.token"} }, reqAz + ".identity_sources[0]", "not header.NAME or query.NAME"},
		{"identity source with two prefixes", func(a *API) { a.Authorizers[1].IdentitySources = []string{"method.request.$request.header.X"} }, tokAz + ".identity_sources[0]", "not header.NAME or query.NAME"},
		{"identity source without a name", func(a *API) { a.Authorizers[2].IdentitySources = []string{"header."} }, reqAz + ".identity_sources[0]", "not header.NAME or query.NAME"},
		{"TTL too long", func(a *API) { d := Duration(2 * time.Hour); a.Authorizers[1].TTL = &d }, tokAz + ".ttl", "must be between 0s and 1h0m0s"},
		{"TTL negative", func(a *API) { d := Duration(-time.Second); a.Authorizers[2].TTL = &d }, reqAz + ".ttl", "must be between 0s and"},
		{"timeout too short", func(a *API) { a.Authorizers[1].Timeout = Duration(time.Microsecond) }, tokAz + ".timeout", "must be between"},
		{"timeout too long", func(a *API) { a.Authorizers[2].Timeout = Duration(time.Hour) }, reqAz + ".timeout", "must be between"},
		{"context to a bad header", func(a *API) { a.Authorizers[2].ContextToHeaders = map[string]string{"tenant": "X:Tenant"} }, reqAz + ".context_to_headers.tenant", "is not a valid header name"},
		{"TOKEN with an issuer", func(a *API) { a.Authorizers[1].Issuer = "https://id.example.com/" }, tokAz, "belong to JWT authorizers"},
		{"REQUEST with algorithms", func(a *API) { a.Authorizers[2].Algorithms = []string{"RS256"} }, reqAz, "belong to JWT authorizers"},

		// Models.
		{"bad model name", func(a *API) { a.Models["Pet-2"] = json.RawMessage(`{}`) }, "models.Pet-2", "model names are 1-128 letters, digits or _"},
		{"model not an object", func(a *API) { a.Models["Pet"] = json.RawMessage(`[1]`) }, "models.Pet", "must be a JSON Schema object"},
		{"model against the meta-schema", func(a *API) { a.Models["Pet"] = json.RawMessage(`{"type":"nope"}`) }, "models.Pet", `model "Pet"`},
		{"model with a remote $ref", func(a *API) { a.Models["Pet"] = json.RawMessage(`{"$ref":"https://example.com/pet.json"}`) }, "models.Pet", "references outside the model are not allowed"},

		// Gateway responses.
		{"unknown response type", func(a *API) { a.GatewayResponses = map[ResponseType]GatewayResponse{"TEAPOT": {}} }, "gateway_responses.TEAPOT", "unknown response type"},
		{"response status below 400", func(a *API) {
			a.GatewayResponses = map[ResponseType]GatewayResponse{RespThrottled: {StatusCode: 302}}
		}, "gateway_responses.THROTTLED.status_code", "must be between 400 and 599"},
		{"response header name", func(a *API) {
			a.GatewayResponses = map[ResponseType]GatewayResponse{RespThrottled: {Headers: map[string]string{"Bad Name": "x"}}}
		}, "gateway_responses.THROTTLED.headers.Bad Name", "is not a valid header name"},
		{"response header line break", func(a *API) {
			a.GatewayResponses = map[ResponseType]GatewayResponse{RespDefault4XX: {Headers: map[string]string{"X-A": "a\r\nSet-Cookie: b"}}}
		}, "gateway_responses.DEFAULT_4XX.headers.X-A", "must not contain line breaks"},
		{"response body too large", func(a *API) {
			a.GatewayResponses = map[ResponseType]GatewayResponse{RespDefault5XX: {Body: strings.Repeat("x", 64<<10+1)}}
		}, "gateway_responses.DEFAULT_5XX.body", "must be at most 64 KiB"},

		// An operation's authorization.
		{"authorizer without JWT or CUSTOM", func(a *API) { acc(a).Authorization = AuthIAM; acc(a).AuthorizationScopes = nil },
			route0 + ".authorizer", "only JWT and CUSTOM authorization name an authorizer"},
		{"JWT without authorizer", func(a *API) { acc(a).Authorizer = "" }, route0 + ".authorizer", "is required for JWT authorization"},
		{"unknown authorizer", func(a *API) { acc(a).Authorizer = "nope" }, route0 + ".authorizer", `no authorizer named "nope"`},
		{"JWT authorization, TOKEN authorizer", func(a *API) { acc(a).Authorizer = "tok" }, route0 + ".authorizer", "JWT authorization needs a JWT one"},
		{"CUSTOM authorization, JWT authorizer", func(a *API) { acc(a).Authorization = AuthCustom; acc(a).AuthorizationScopes = nil },
			route0 + ".authorizer", "CUSTOM authorization needs a TOKEN or REQUEST one"},
		{"unknown authorization", func(a *API) { acc(a).Authorization = "COGNITO" }, route0 + ".authorization", `must be NONE, JWT, CUSTOM or AWS_IAM, not "COGNITO"`},
		{"scopes without JWT", func(a *API) { acc(a).Authorization = AuthCustom; acc(a).Authorizer = "req" },
			route0 + ".authorization_scopes", "only JWT authorization checks scopes"},
		{"scope with a space", func(a *API) { acc(a).AuthorizationScopes = []string{"pets/read", "pets write"} }, route0 + ".authorization_scopes[1]", "must be a scope without spaces"},
		{"empty scope", func(a *API) { acc(a).AuthorizationScopes = []string{""} }, route0 + ".authorization_scopes[0]", "must be a scope without spaces"},

		// Request validation: configs' own rules.
		{"empty query name", func(a *API) { val(a).RequiredQuery = []string{""} }, val0 + ".required_query[0]", "1-128 characters"},
		{"long query name", func(a *API) { val(a).RequiredQuery = []string{"q", strings.Repeat("q", 129)} }, val0 + ".required_query[1]", "1-128 characters"},
		{"bad required header", func(a *API) { val(a).RequiredHeaders = []string{"X Key"} }, val0 + ".required_headers[0]", `"X Key" is not a valid header name`},
		{"required names without parameters", func(a *API) { val(a).Parameters = false }, val0 + ".parameters", "must be true for required_query and required_headers"},
		{"body without models", func(a *API) { val(a).Models = nil }, val0 + ".models", "body validation needs at least one model"},
		{"unknown model", func(a *API) { val(a).Models["application/xml"] = "Owner" }, val0 + `.models["application/xml"]`, `no model named "Owner" in models`},

		// Request validation: what the gateway's compile refuses
		// (validate.Compile), reported at the validation.
		{"content type twice", func(a *API) { val(a).Models["Application/JSON"] = "Pet" }, val0, "listed twice"},
		{"content type with two slashes", func(a *API) { val(a).Models = map[string]string{"a/b/c": "Pet"} }, val0, `content type "a/b/c"`},
		{"content type with a bad character", func(a *API) { val(a).Models = map[string]string{"application/json(": "Pet"} }, val0, `content type "application/json("`},
		{"content type without subtype", func(a *API) { val(a).Models = map[string]string{"json": "Pet"} }, val0, `content type "json"`},
		{"content type with parameters", func(a *API) { val(a).Models = map[string]string{"application/json; charset=utf-8": "Pet"} }, val0, "parameters are not allowed"},
		{"header twice in another case", func(a *API) { val(a).RequiredHeaders = []string{"X-Key", "x-key"} }, val0, `required header parameter "x-key": listed twice`},
		{"query name twice", func(a *API) { val(a).RequiredQuery = []string{"q", "q"} }, val0, `required query parameter "q": listed twice`},
		{"blank query name", func(a *API) { val(a).RequiredQuery = []string{" "} }, val0, "required query parameter: empty name"},
		{"content type twice without body validation", func(a *API) {
			val(a).Body = false
			val(a).Models["APPLICATION/json"] = "Tag"
		}, val0, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := accessBase(t)
			tt.mutate(a)
			wantFieldError(t, a.Validate(), tt.field, tt.fragment)
		})
	}
}

// TestValidateAccessAccepts: the spellings and boundaries the rules allow.
func TestValidateAccessAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(a *API)
	}{
		{"TOKEN header, API Gateway REST spelling", func(a *API) { a.Authorizers[1].IdentitySources = []string{"method.request.header.X-Token"} }},
		{"TOKEN header, HTTP API spelling", func(a *API) { a.Authorizers[1].IdentitySources = []string{"$request.header.X-Token"} }},
		{"TOKEN default header", func(a *API) { a.Authorizers[1].IdentitySources = nil }},
		{"REQUEST query spellings", func(a *API) {
			a.Authorizers[2].IdentitySources = []string{"query.a", "method.request.querystring.b", "$request.querystring.c", "header.X-Tenant"}
		}},
		{"TTL 0 and 1h", func(a *API) {
			zero, hour := Duration(0), Duration(time.Hour)
			a.Authorizers[1].TTL, a.Authorizers[2].TTL = &zero, &hour
		}},
		{"content types in other cases", func(a *API) {
			a.Routes[0].Access.Validation.Models = map[string]string{"Application/JSON": "Pet", "text/plain": "Tag"}
		}},
		{"query names differing in case", func(a *API) { a.Routes[0].Access.Validation.RequiredQuery = []string{"q", "Q"} }},
		{"validation off", func(a *API) { a.Routes[0].Access.Validation = &Validation{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := accessBase(t)
			tt.mutate(a)
			if err := a.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestValidateAgreesWithCompile is the property problem 1 was about:
// whatever API.Validate accepts, the gateway compiles. Each validation
// below, good or bad, must be accepted by both or refused by both (the
// schemas are all valid, so the shape decides).
func TestValidateAgreesWithCompile(t *testing.T) {
	t.Parallel()
	var variants []*Validation
	for _, models := range []map[string]string{
		nil,
		{"application/json": "Pet"},
		{"$default": "Tag"},
		{"application/json": "Pet", "$default": "Tag"},
		{"application/json": "Pet", "Application/JSON": "Tag"},
		{"application/json": "Pet", "application/JSON": "Pet"},
		{"application/vnd.api+json": "Pet", "text/plain": "Tag"},
		{"a/b/c": "Pet"},
		{"application/json(": "Pet"},
		{"application/json ": "Pet"},
		{"application/json;": "Pet"},
		{"application/json; charset=utf-8": "Pet"},
		{"json": "Pet"},
		{"*/*": "Pet"},
		{"$DEFAULT": "Pet"},
		{"": "Pet"},
	} {
		for _, names := range []struct{ query, headers []string }{
			{nil, nil},
			{[]string{"q"}, []string{"X-Key"}},
			{[]string{"q", "Q"}, []string{"X-Key", "X-Other"}},
			{[]string{"q", "q"}, nil},
			{[]string{" "}, nil},
			{[]string{"a b"}, nil},
			{nil, []string{"X-Key", "x-key"}},
			{nil, []string{"x-key", "X-KEY"}},
		} {
			for _, body := range []bool{false, true} {
				variants = append(variants, &Validation{
					Parameters: true, RequiredQuery: names.query, RequiredHeaders: names.headers,
					Body: body && len(models) > 0, Models: models,
				})
			}
		}
	}
	accepted := 0
	for _, v := range variants {
		a := accessBase(t)
		a.Routes[0].Access.Validation = v
		verr := a.Validate()
		_, cerr := validate.Compile(a.ValidationSpec(v))
		if verr == nil && cerr != nil {
			t.Errorf("Validate accepts %+v but Compile refuses it: %v", *v, cerr)
		}
		if verr == nil {
			accepted++
		}
		if cerr != nil {
			wantFieldError(t, verr, val0, "")
		}
	}
	if accepted == 0 || accepted == len(variants) {
		t.Fatalf("%d of %d variants accepted: the test tells nothing apart", accepted, len(variants))
	}
}

// TestValidOperationsCompile: for valid definitions, every operation's
// request validation compiles as the gateway compiles it.
func TestValidOperationsCompile(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"base": accessBaseYAML, "rest access": accessRESTYAML, "http access": accessHTTPYAML,
		"rest": restYAML, "http": httpYAML,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := mustAPI(t, doc)
			if err := a.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for _, op := range a.Operations() {
				spec := a.ValidationSpec(op.Access.Validation)
				if _, err := validate.Compile(spec); err != nil {
					t.Errorf("%s: validate.Compile: %v", op.Field, err)
				}
				if v := op.Access.Validation; v != nil && len(spec.Models) != len(v.Models) {
					t.Errorf("%s: spec has %d models, validation %d", op.Field, len(spec.Models), len(v.Models))
				}
			}
		})
	}
}

func TestValidationSpec(t *testing.T) {
	t.Parallel()
	a := accessBase(t)
	v := a.Routes[0].Access.Validation
	spec := a.ValidationSpec(v)
	if !spec.ValidateParams || !spec.ValidateBody || len(spec.RequiredQuery) != 1 || spec.RequiredQuery[0] != "q" ||
		len(spec.RequiredHeaders) != 1 || spec.RequiredHeaders[0] != "X-Key" {
		t.Fatalf("spec = %+v", spec)
	}
	if m := spec.Models["application/json"]; m.Name != "Pet" || string(m.Schema) != string(a.Models["Pet"]) {
		t.Errorf("application/json model = %+v", m)
	}
	if m := spec.Models[validate.DefaultModel]; m.Name != "Tag" || string(m.Schema) != string(a.Models["Tag"]) {
		t.Errorf("$default model = %+v", m)
	}
	if s := a.ValidationSpec(nil); s.ValidateParams || s.ValidateBody || len(s.Models) != 0 {
		t.Errorf("ValidationSpec(nil) = %+v", s)
	}
}

func TestValidateStageAccessRules(t *testing.T) {
	t.Parallel()
	routes := []string{"GET /pets", "$default"}
	tests := []struct {
		name     string
		stage    Stage
		field    string
		fragment string
	}{
		{"negative rate", Stage{Throttle: &Throttle{RateLimit: -1, BurstLimit: 1}}, "throttle.rate_limit", "must be between 0 and"},
		{"rate too high", Stage{Throttle: &Throttle{RateLimit: MaxRateLimit + 1, BurstLimit: 1}}, "throttle.rate_limit", "must be between 0 and"},
		{"burst too high", Stage{Throttle: &Throttle{RateLimit: 1, BurstLimit: MaxBurstLimit + 1}}, "throttle.burst_limit", "must be between 0 and"},
		{"rate without burst", Stage{Throttle: &Throttle{RateLimit: 5}}, "throttle.burst_limit", "must be at least 1 when rate_limit is set"},
		{"route not deployed", Stage{RouteThrottles: map[string]Throttle{"POST /pets": {RateLimit: 1, BurstLimit: 1}}},
			`route_throttles["POST /pets"]`, `no route "POST /pets" in the deployment`},
		{"route burst negative", Stage{RouteThrottles: map[string]Throttle{"$default": {BurstLimit: -1}}},
			`route_throttles["$default"].burst_limit`, "must be between 0 and"},
		{"waf rate rule", Stage{WAF: &WAF{RateRules: []waf.RateRule{{Limit: 0}}}}, "waf.rate_rules[0].limit", "must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantFieldError(t, ValidateStageAccess(&tt.stage, routes), tt.field, tt.fragment)
		})
	}
	ok := Stage{Throttle: &Throttle{RateLimit: 0, BurstLimit: 0}, RouteThrottles: map[string]Throttle{"POST /x": {RateLimit: 1, BurstLimit: 1}}}
	if err := ValidateStageAccess(&ok, nil); err != nil {
		t.Errorf("ValidateStageAccess without routes: %v", err)
	}
}

func TestUsagePlanValidateRules(t *testing.T) {
	t.Parallel()
	valid := func() UsagePlan {
		return UsagePlan{
			Name: "gold", Throttle: &Throttle{RateLimit: 10, BurstLimit: 20},
			Quota:  &Quota{Limit: 1000, Period: QuotaWeek, Offset: 1},
			Stages: []PlanStage{{APIID: "abcdefghij", Stage: "prod"}},
		}
	}
	if pl := valid(); pl.Validate() != nil {
		t.Fatalf("Validate: %v", pl.Validate())
	}
	tests := []struct {
		name     string
		mutate   func(pl *UsagePlan)
		field    string
		fragment string
	}{
		{"no name", func(pl *UsagePlan) { pl.Name = " " }, "name", "is required"},
		{"long name", func(pl *UsagePlan) { pl.Name = strings.Repeat("n", MaxNameLength+1) }, "name", "must be at most"},
		{"long description", func(pl *UsagePlan) { pl.Description = strings.Repeat("d", MaxDescriptionLength+1) }, "description", "must be at most"},
		{"throttle without burst", func(pl *UsagePlan) { pl.Throttle.BurstLimit = 0 }, "throttle.burst_limit", "must be at least 1"},
		{"quota limit 0", func(pl *UsagePlan) { pl.Quota.Limit = 0 }, "quota.limit", "must be between 1 and"},
		{"quota limit too high", func(pl *UsagePlan) { pl.Quota.Limit = MaxQuotaLimit + 1 }, "quota.limit", "must be between 1 and"},
		{"quota period unknown", func(pl *UsagePlan) { pl.Quota.Period = "YEAR" }, "quota.period", "DAY, WEEK or MONTH"},
		{"quota period empty", func(pl *UsagePlan) { pl.Quota.Period = "" }, "quota.period", "DAY, WEEK or MONTH"},
		{"quota period lowercase", func(pl *UsagePlan) { pl.Quota.Period = "week" }, "quota.period", "DAY, WEEK or MONTH"},
		{"DAY offset", func(pl *UsagePlan) { pl.Quota.Period, pl.Quota.Offset = QuotaDay, 1 }, "quota.offset", "must be 0 for period DAY"},
		{"WEEK offset 7", func(pl *UsagePlan) { pl.Quota.Offset = 7 }, "quota.offset", "between 0 and 6"},
		{"WEEK offset negative", func(pl *UsagePlan) { pl.Quota.Offset = -1 }, "quota.offset", "between 0 and 6"},
		{"MONTH offset 28", func(pl *UsagePlan) { pl.Quota.Period, pl.Quota.Offset = QuotaMonth, 28 }, "quota.offset", "between 0 and 27"},
		{"stage without api", func(pl *UsagePlan) { pl.Stages = append(pl.Stages, PlanStage{Stage: "prod"}) }, "stages[1]", "needs api_id and stage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pl := valid()
			tt.mutate(&pl)
			wantFieldError(t, pl.Validate(), tt.field, tt.fragment)
		})
	}
	for _, q := range []Quota{{1, QuotaDay, 0}, {1, QuotaWeek, 0}, {1, QuotaWeek, 6}, {MaxQuotaLimit, QuotaMonth, 27}} {
		pl := valid()
		pl.Quota = &q
		if err := pl.Validate(); err != nil {
			t.Errorf("quota %+v: %v", q, err)
		}
	}
}

func TestNodeDefaultThrottleRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		t        Throttle
		field    string
		fragment string
	}{
		// Rate 0 turns the level off, but the burst is still checked.
		{"negative burst, rate 0", Throttle{RateLimit: 0, BurstLimit: -5}, "default_throttle.burst_limit", "must be between 0 and"},
		{"burst too high, rate 0", Throttle{BurstLimit: MaxBurstLimit + 1}, "default_throttle.burst_limit", "must be between 0 and"},
		{"negative rate", Throttle{RateLimit: -1, BurstLimit: 5}, "default_throttle.rate_limit", "must be between 0 and"},
		{"rate without burst", Throttle{RateLimit: 100}, "default_throttle.burst_limit", "must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := DefaultNode()
			n.DefaultThrottle = &tt.t
			wantFieldError(t, n.Validate(), tt.field, tt.fragment)
		})
	}
	for _, th := range []*Throttle{nil, {}, {RateLimit: 0, BurstLimit: 5000}, {RateLimit: 1, BurstLimit: 1}} {
		n := DefaultNode()
		n.DefaultThrottle = th
		if err := n.Validate(); err != nil {
			t.Errorf("default_throttle %+v: %v", th, err)
		}
	}
	_, err := LoadNode([]byte("default_throttle: {rate_limit: 0, burst_limit: -5}\n"))
	wantFieldError(t, err, "default_throttle.burst_limit", "must be between 0 and")
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	wantFieldError(t, ValidateName(""), "name", "is required")
	wantFieldError(t, ValidateName(strings.Repeat("k", MaxNameLength+1)), "name", "must be at most")
	if err := ValidateName("ci key"); err != nil {
		t.Errorf("ValidateName: %v", err)
	}
}
