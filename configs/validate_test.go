package configs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// restYAML is a valid REST API that uses every feature validation checks.
const restYAML = `
name: pets
kind: REST
endpoint_types: [REGIONAL, EDGE]
home_region: eu-west-1
description: The pet store
cors:
  allow_origins: ["https://app.example.com"]
  allow_methods: [GET, POST]
  allow_headers: [Content-Type]
  expose_headers: [X-Request-Id]
  max_age: 10m
  allow_credentials: true
resources:
- path: /
  methods:
    GET:
      integration:
        type: MOCK
        status_code: 200
        headers: {Content-Type: application/json}
        body: '{"ok":true}'
- path: /items/{id}
  methods:
    GET:
      integration: {type: HTTP_PROXY, uri: "https://backend.example.com/items/{id}", timeout: 5s}
    DELETE:
      integration: {type: HTTP_PROXY, uri: "http://${stageVariables.host}/items/{id}", method: POST}
- path: /files/{proxy+}
  methods:
    ANY:
      integration: {type: HTTP_PROXY, uri: "https://files.example.com/{proxy}", timeout: 50ms}
`

// httpYAML is a valid HTTP API.
const httpYAML = `
name: shop
kind: HTTP
endpoint_types: [PRIVATE]
routes:
- key: GET /items/{id}
  integration: {type: HTTP_PROXY, uri: "https://backend.example.com/items/{id}", timeout: 250ms}
- key: ANY /static/{proxy+}
  integration: {type: HTTP_PROXY, uri: "https://${stageVariables.cdn}/{proxy}"}
- key: POST /orders
  integration: {type: HTTP_PROXY, uri: "https://orders.example.com/", method: PUT}
- key: $default
  integration: {type: MOCK, status_code: 404, body: not found}
`

// mustAPI parses a native definition and fills defaults; it fails the test
// on a decoding error but does not validate.
func mustAPI(t testing.TB, doc string) *API {
	t.Helper()
	a, err := ParseAPI([]byte(doc))
	if err != nil {
		t.Fatalf("ParseAPI: %v", err)
	}
	a.ApplyDefaults("us-east-1")
	return a
}

// wantFieldError fails unless err is a *ValidationError holding a problem
// at field whose message contains fragment.
func wantFieldError(t testing.TB, err error, field, fragment string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError; want %s: ...%s...", err, err, field, fragment)
	}
	for _, fe := range ve.Errors {
		if fe.Field == field && strings.Contains(fe.Message, fragment) {
			return
		}
	}
	t.Fatalf("no problem at %q containing %q in:\n  %s", field, fragment, strings.ReplaceAll(ve.Error(), "; ", "\n  "))
}

func TestValidateAcceptsValidAPIs(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{"rest": restYAML, "http": httpYAML} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := mustAPI(t, doc).Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, httpYAML)
	if a.Kind != KindHTTP || a.HomeRegion != "us-east-1" {
		t.Errorf("kind %q home region %q", a.Kind, a.HomeRegion)
	}
	if got := a.Routes[1].Integration.Timeout.D(); got != DefaultIntegrationTimeout {
		t.Errorf("default timeout = %s, want %s", got, DefaultIntegrationTimeout)
	}
	b := mustAPI(t, `{name: x, resources: [{path: /, methods: {GET: {integration: {type: MOCK}}}}]}`)
	if b.Kind != KindREST || len(b.EndpointTypes) != 1 || b.EndpointTypes[0] != EndpointRegional {
		t.Errorf("kind %q endpoint types %v", b.Kind, b.EndpointTypes)
	}
	if got := b.Resources[0].Methods["GET"].Integration.StatusCode; got != 200 {
		t.Errorf("default mock status = %d, want 200", got)
	}
}

func TestValidateReportsField(t *testing.T) {
	t.Parallel()
	httpProxy := func(uri string) Method {
		return Method{Integration: Integration{Type: IntegrationHTTPProxy, URI: uri, Timeout: Duration(time.Second)}}
	}
	oneResource := func(path string, methods map[string]Method) func(a *API) {
		return func(a *API) { a.Resources = []Resource{{Path: path, Methods: methods}} }
	}
	mockOK := Integration{Type: IntegrationMock, StatusCode: 200}
	get := func(uri string) map[string]Method { return map[string]Method{"GET": httpProxy(uri)} }
	integration := func(i, m string, edit func(in *Integration)) func(a *API) {
		return func(a *API) {
			for ri, r := range a.Resources {
				if r.Path == i {
					meth := a.Resources[ri].Methods[m]
					edit(&meth.Integration)
					a.Resources[ri].Methods[m] = meth
				}
			}
		}
	}
	tests := []struct {
		name     string
		base     string // restYAML or httpYAML
		edit     func(a *API)
		field    string
		fragment string
	}{
		{"unclosed parameter", restYAML, oneResource("/items/{id", get("https://b.example.com/")),
			"resources[0].path", `character '{' is not allowed`},
		{"empty segment", restYAML, oneResource("/a//b", get("https://b.example.com/")),
			"resources[0].path", "empty path segment"},
		{"greedy not last", restYAML, oneResource("/{proxy+}/x", get("https://b.example.com/")),
			"resources[0].path", "must be the last segment"},
		{"dot dot", restYAML, oneResource("/a/..", get("https://b.example.com/")),
			"resources[0].path", `segment ".." is not allowed`},
		{"no leading slash", restYAML, oneResource("items", get("https://b.example.com/")),
			"resources[0].path", "must start with /"},
		{"parameter twice", restYAML, oneResource("/a/{id}/{id}", get("https://b.example.com/{id}")),
			"resources[0].path", "appears twice"},
		{"duplicate resource shape", restYAML, func(a *API) {
			a.Resources = []Resource{
				{Path: "/items/{id}", Methods: get("https://b.example.com/{id}")},
				{Path: "/items/{name}", Methods: get("https://b.example.com/{name}")},
			}
		}, "resources[1].path", `duplicates resources[0] ("/items/{id}")`},
		{"resource without methods", restYAML, oneResource("/a", nil),
			"resources[0].methods", "at least one method"},
		{"duplicate route shape", httpYAML, func(a *API) {
			a.Routes = []Route{
				{Key: "GET /a/{x}", Integration: httpProxy("https://b.example.com/{x}").Integration},
				{Key: "GET /a/{y}", Integration: httpProxy("https://b.example.com/{y}").Integration},
			}
		}, "routes[1].key", `route "GET /a/{y}" duplicates routes[0]`},
		{"two default routes", httpYAML, func(a *API) { a.Routes = append(a.Routes, a.Routes[3]) },
			"routes[4].key", "duplicates routes[3]"},
		{"route key without path", httpYAML, func(a *API) { a.Routes[0].Key = "GET" },
			"routes[0].key", `must be "METHOD /path" or "$default"`},
		{"route with bad path", httpYAML, func(a *API) { a.Routes[0].Key = "GET /a//b" },
			"routes[0].key", "empty path segment"},
		{"relative uri", restYAML, oneResource("/items", get("/items")),
			"resources[0].methods.GET.integration.uri", "must be an absolute http or https URL"},
		{"ftp uri", restYAML, oneResource("/items", get("ftp://b.example.com/items")),
			"resources[0].methods.GET.integration.uri", "must be an absolute http or https URL"},
		{"missing uri", restYAML, oneResource("/items", get("")),
			"resources[0].methods.GET.integration.uri", "is required for HTTP_PROXY"},
		{"timeout too short", restYAML, integration("/items/{id}", "GET", func(in *Integration) { in.Timeout = Duration(10 * time.Millisecond) }),
			"resources[1].methods.GET.integration.timeout", "must be between 50ms and 29s, not 10ms"},
		{"timeout too long", restYAML, integration("/items/{id}", "GET", func(in *Integration) { in.Timeout = Duration(30 * time.Second) }),
			"resources[1].methods.GET.integration.timeout", "must be between 50ms and 29s, not 30s"},
		{"unsupported method", restYAML, oneResource("/items", map[string]Method{"FETCH": httpProxy("https://b.example.com/")}),
			"resources[0].methods.FETCH", `unsupported method "FETCH"`},
		{"unsupported route method", httpYAML, func(a *API) { a.Routes[2].Key = "FETCH /orders" },
			"routes[2].key", `unsupported method "FETCH"`},
		{"backend method ANY", restYAML, integration("/items/{id}", "GET", func(in *Integration) { in.Method = "ANY" }),
			"resources[1].methods.GET.integration.method", `unsupported method "ANY"`},
		{"placeholder not in path", restYAML, oneResource("/items/{id}", get("https://b.example.com/{nope}")),
			"resources[0].methods.GET.integration.uri", "placeholder {nope} is not a parameter of the path"},
		{"bad stage variable name", restYAML, oneResource("/items", get("https://${stageVariables.a-b}/")),
			"resources[0].methods.GET.integration.uri", `stage variable "a-b"`},
		{"REST with routes", restYAML, func(a *API) { a.Routes = []Route{{Key: DefaultRouteKey, Integration: mockOK}} },
			"routes", "a REST API uses resources, not routes"},
		{"REST without resources", restYAML, func(a *API) { a.Resources = nil },
			"resources", "at least one resource"},
		{"HTTP with resources", httpYAML, func(a *API) { a.Resources = []Resource{{Path: "/", Methods: get("https://b.example.com/")}} },
			"resources", "an HTTP API uses routes, not resources"},
		{"HTTP without routes", httpYAML, func(a *API) { a.Routes = nil },
			"routes", "at least one route"},
		{"bad kind", restYAML, func(a *API) { a.Kind = "SOAP" },
			"kind", `must be REST or HTTP, not "SOAP"`},
		{"bad endpoint type", restYAML, func(a *API) { a.EndpointTypes = []EndpointType{"GLOBAL"} },
			"endpoint_types[0]", `must be EDGE, REGIONAL or PRIVATE, not "GLOBAL"`},
		{"endpoint type twice", restYAML, func(a *API) { a.EndpointTypes = []EndpointType{EndpointEdge, EndpointEdge} },
			"endpoint_types[1]", "EDGE is listed twice"},
		{"cors star with credentials", restYAML, func(a *API) { a.CORS.AllowOrigins = []string{"*"} },
			"cors.allow_origins[0]", `"*" cannot be combined with allow_credentials`},
		{"cors origin with path", restYAML, func(a *API) { a.CORS.AllowOrigins = []string{"https://a.example.com/x"} },
			"cors.allow_origins[0]", "must be \"*\" or an origin"},
		{"cors bad expose header", restYAML, func(a *API) { a.CORS.ExposeHeaders = []string{"X Bad"} },
			"cors.expose_headers[0]", "is not a valid header name"},
		{"mock status 700", restYAML, integration("/", "GET", func(in *Integration) { in.StatusCode = 700 }),
			"resources[0].methods.GET.integration.status_code", "must be between 100 and 599"},
		{"mock bad header", restYAML, integration("/", "GET", func(in *Integration) { in.Headers = map[string]string{"X-A": "a\r\nb"} }),
			"resources[0].methods.GET.integration.headers.X-A", "line breaks"},
		{"mock with uri", restYAML, integration("/", "GET", func(in *Integration) { in.URI = "https://b.example.com/" }),
			"resources[0].methods.GET.integration.uri", "a MOCK integration has no uri"},
		{"mock with timeout", restYAML, integration("/", "GET", func(in *Integration) { in.Timeout = Duration(time.Second) }),
			"resources[0].methods.GET.integration", "method and timeout belong to HTTP_PROXY"},
		{"proxy with body", restYAML, integration("/items/{id}", "GET", func(in *Integration) { in.Body = "x" }),
			"resources[1].methods.GET.integration", "belong to MOCK integrations"},
		{"missing integration type", restYAML, integration("/items/{id}", "GET", func(in *Integration) { in.Type = "" }),
			"resources[1].methods.GET.integration.type", "is required"},
		{"lambda integration", restYAML, integration("/items/{id}", "GET", func(in *Integration) { in.Type = "AWS_PROXY" }),
			"resources[1].methods.GET.integration.type", `must be HTTP_PROXY or MOCK, not "AWS_PROXY"`},
		{"missing name", restYAML, func(a *API) { a.Name = "  " }, "name", "is required"},
		{"long name", restYAML, func(a *API) { a.Name = strings.Repeat("n", MaxNameLength+1) }, "name", "at most 128"},
		{"bad id", restYAML, func(a *API) { a.ID = "ABC" }, "id", "10 lowercase letters or digits"},
		{"bad home region", restYAML, func(a *API) { a.HomeRegion = "EU West" }, "home_region", "region name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := mustAPI(t, tt.base)
			tt.edit(a)
			wantFieldError(t, a.Validate(), tt.field, tt.fragment)
		})
	}
}

func TestValidateUnknownFieldNamesPath(t *testing.T) {
	t.Parallel()
	_, err := ParseAPI([]byte(strings.Replace(restYAML, "integration: {type: HTTP_PROXY, uri: \"https://backend", "integraton: {type: HTTP_PROXY, uri: \"https://backend", 1)))
	wantFieldError(t, err, "resources[1].methods.GET.integraton", "unknown field")
	_, err = ParseAPI([]byte(`{"name": "x", "resources": [{"path": "/", "methods": {"GET": {"integraton": {}}}}]}`))
	wantFieldError(t, err, "resources[0].methods.GET.integraton", "unknown field")
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, restYAML)
	a.Name = ""
	a.Kind = "SOAP"
	a.Resources[1].Path = "/items/{id"
	err := a.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) < 3 {
		t.Fatalf("want at least 3 problems, got %v", err)
	}
	wantFieldError(t, err, "name", "is required")
	wantFieldError(t, err, "kind", "must be REST or HTTP")
	wantFieldError(t, err, "resources[1].path", "is not allowed")
	// A bad resource path is reported once, not once per method.
	n := 0
	for _, fe := range ve.Errors {
		if fe.Field == "resources[1].path" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("resources[1].path reported %d times, want 1:\n%v", n, err)
	}
}

func TestValidateStageVariables(t *testing.T) {
	t.Parallel()
	vars := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("v%d", i)] = "x"
		}
		return m
	}
	long := strings.Repeat("k", MaxStageVariableKey+1)
	tests := []struct {
		name     string
		vars     map[string]string
		field    string // empty: valid
		fragment string
	}{
		{"none", nil, "", ""},
		{"100 variables", vars(100), "", ""},
		{"url value", map[string]string{"backend": "https://b.example.com:8443/v1?a=b&c=d#x,y"}, "", ""},
		{"empty value", map[string]string{"flag": ""}, "", ""},
		{"512 characters", map[string]string{"KEY": strings.Repeat("a", 512)}, "", ""},
		{"101 variables", vars(101), "variables", "at most 100 stage variables"},
		{"513 characters", map[string]string{"KEY": strings.Repeat("a", 513)}, "variables.KEY", "at most 512 characters, got 513"},
		{"65 character key", map[string]string{long: "x"}, "variables." + long, "at most 64 characters"},
		{"dash in key", map[string]string{"a-b": "x"}, "variables.a-b", "letters, digits or _"},
		{"space in value", map[string]string{"KEY": "a b"}, "variables.KEY", "may only use"},
		{"dollar in value", map[string]string{"KEY": "$x"}, "variables.KEY", "may only use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateStageVariables(tt.vars)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateStageVariables: %v", err)
				}
				return
			}
			wantFieldError(t, err, tt.field, tt.fragment)
		})
	}
}

func TestValidateStageName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"prod", true},
		{"v1_beta-2", true},
		{strings.Repeat("s", 128), true},
		{"", false},
		{strings.Repeat("s", 129), false},
		{"a b", false},
		{"x/y", false},
		{"$default", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateStageName(tt.name)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateStageName(%q): %v", tt.name, err)
				}
				return
			}
			wantFieldError(t, err, "stage", "1-128 letters")
		})
	}
}

// A path that does not parse must not hide its integration's problems.
func TestValidateReportsIntegrationBehindBadPath(t *testing.T) {
	t.Parallel()
	a := &API{Name: "x", Resources: []Resource{{Path: "/a/{id", Methods: map[string]Method{
		"GET": {Integration: Integration{Type: IntegrationHTTPProxy, URI: "/relative/{id}", Timeout: Duration(time.Millisecond)}},
	}}}}
	a.ApplyDefaults("us-east-1")
	var ve *ValidationError
	if !errors.As(a.Validate(), &ve) {
		t.Fatal("want a validation error")
	}
	want := map[string]bool{"resources[0].path": false, "resources[0].methods.GET.integration.uri": false, "resources[0].methods.GET.integration.timeout": false}
	for _, fe := range ve.Errors {
		if _, ok := want[fe.Field]; ok {
			want[fe.Field] = true
		}
	}
	for f, seen := range want {
		if !seen {
			t.Errorf("no error for %s in %v", f, ve)
		}
	}
}
