package configs

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// roundTripHTTPYAML adds to httpYAML what only an export can lose: routes of
// one path that are not next to each other, a timeout and a CORS max age
// that are not whole milliseconds and seconds, and a mock with headers.
const roundTripHTTPYAML = `
name: shop
kind: HTTP
endpoint_types: [EDGE, PRIVATE]
home_region: ap-south-1
description: Orders and static files
cors:
  allow_origins: ["*"]
  allow_methods: ["*"]
  max_age: 1500ms
routes:
- key: GET /items/{id}
  integration: {type: HTTP_PROXY, uri: "https://backend.example.com/items/{id}?v=${stageVariables.version}", timeout: 250ms}
- key: POST /orders
  integration: {type: HTTP_PROXY, uri: "https://orders.example.com/", method: PUT, timeout: 1500500us}
- key: DELETE /items/{id}
  integration: {type: HTTP_PROXY, uri: "https://backend.example.com/items/{id}", method: DELETE}
- key: ANY /static/{proxy+}
  integration: {type: HTTP_PROXY, uri: "https://${stageVariables.cdn}/{proxy}"}
- key: GET /
  integration: {type: MOCK, status_code: 301, headers: {Location: "https://www.example.com/"}}
- key: $default
  integration: {type: MOCK, status_code: 404, headers: {Content-Type: text/plain}, body: not found}
`

func TestOpenAPIRoundTrip(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{"rest": restYAML, "http": roundTripHTTPYAML} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := mustAPI(t, doc)
			a.ID = "a1b2c3d4e5"
			if err := a.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			d := &Deployment{ID: "dep123", APIID: a.ID, API: *a}
			out, err := ExportOpenAPI(d, &Stage{APIID: a.ID, Name: "prod"}, "https://a1b2c3d4e5.eu-west-1.portico.localhost:8443")
			if err != nil {
				t.Fatalf("ExportOpenAPI: %v", err)
			}
			b, err := ImportOpenAPI(out)
			if err != nil {
				t.Fatalf("ImportOpenAPI: %v\n%s", err, out)
			}
			b.ApplyDefaults("somewhere-else-1")
			b.ID = a.ID
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("round trip differs\nbefore: %s\n after: %s\ndocument:\n%s", mustJSON(t, a), mustJSON(t, b), out)
			}
			// The export is a document other OpenAPI tools accept.
			loaded, err := openapi3.NewLoader().LoadFromData(out)
			if err != nil {
				t.Fatalf("kin loader: %v", err)
			}
			if err := kinValidate(loaded); err != nil {
				t.Fatalf("kin validation: %v", err)
			}
		})
	}
}

// kinValidate validates with kin-openapi, leaving out its complaint that a
// greedy {proxy+} is declared as parameter "proxy": API Gateway declares
// it that way and kin only knows the {name*} spelling.
func kinValidate(doc *openapi3.T) error {
	err := doc.Validate(context.Background(), openapi3.EnableMultiError())
	var all openapi3.MultiError
	if !errors.As(err, &all) {
		return err
	}
	var rest openapi3.MultiError
	for _, e := range all {
		var pe *openapi3.PathParametersError
		if errors.As(e, &pe) && strings.Contains(pe.Path, "+}") {
			continue
		}
		rest = append(rest, e)
	}
	if len(rest) == 0 {
		return nil
	}
	return rest
}

func TestExportDocumentShape(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, restYAML)
	out, err := ExportOpenAPI(&Deployment{ID: "dep123", API: *a}, &Stage{Name: "beta"}, "https://pets.example.com/")
	if err != nil {
		t.Fatalf("ExportOpenAPI: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	checks := []struct {
		path string
		want any
	}{
		{"openapi", "3.0.1"},
		{"info.title", "pets"},
		{"info.description", "The pet store"},
		{"info.version", "dep123"},
		{"servers.0.url", "https://pets.example.com/{basePath}"},
		{"servers.0.variables.basePath.default", "beta"},
		{"x-portico-kind", "REST"},
		{"x-portico-endpoint-types", []any{"REGIONAL", "EDGE"}},
		{"x-portico-home-region", "eu-west-1"},
		{"x-amazon-apigateway-cors.maxAge", 600.0},
		{"x-amazon-apigateway-cors.allowCredentials", true},
		{"paths./.get.responses.200.description", "OK"},
		{"paths./.get.x-amazon-apigateway-integration.type", "mock"},
		{"paths./.get.x-amazon-apigateway-integration.responses.default.statusCode", "200"},
		{"paths./.get.x-amazon-apigateway-integration.responses.default.responseTemplates.application/json", `{"ok":true}`},
		{"paths./.get.x-amazon-apigateway-integration.x-portico-mock.headers.Content-Type", "application/json"},
		{"paths./.get.x-amazon-apigateway-integration.x-portico-mock.body", `{"ok":true}`},
		{"paths./items/{id}.get.x-amazon-apigateway-integration.type", "http_proxy"},
		{"paths./items/{id}.get.x-amazon-apigateway-integration.uri", "https://backend.example.com/items/{id}"},
		{"paths./items/{id}.get.x-amazon-apigateway-integration.httpMethod", "ANY"},
		{"paths./items/{id}.get.x-amazon-apigateway-integration.timeoutInMillis", 5000.0},
		{"paths./items/{id}.get.x-amazon-apigateway-integration.passthroughBehavior", "when_no_match"},
		{"paths./items/{id}.get.parameters.0", map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}},
		{"paths./items/{id}.delete.x-amazon-apigateway-integration.httpMethod", "POST"},
		{"paths./items/{id}.delete.x-amazon-apigateway-integration.uri", "http://${stageVariables.host}/items/{id}"},
		{"paths./files/{proxy+}.x-amazon-apigateway-any-method.parameters.0.name", "proxy"},
		{"paths./files/{proxy+}.x-amazon-apigateway-any-method.x-amazon-apigateway-integration.timeoutInMillis", 50.0},
	}
	for _, c := range checks {
		if got := lookup(doc, c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.path, got, c.want)
		}
	}
	// Paths keep the order of the resources.
	s := string(out)
	if !(strings.Index(s, `"/"`) < strings.Index(s, `"/items/{id}"`) && strings.Index(s, `"/items/{id}"`) < strings.Index(s, `"/files/{proxy+}"`)) {
		t.Errorf("paths are not in resource order:\n%s", s)
	}
}

func TestExportHTTPDefaultRoute(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, httpYAML)
	out, err := ExportOpenAPI(&Deployment{ID: "dep1", API: *a}, nil, "https://shop.example.com")
	if err != nil {
		t.Fatalf("ExportOpenAPI: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	checks := []struct {
		path string
		want any
	}{
		{"servers.0.url", "https://shop.example.com"},
		{"x-portico-kind", "HTTP"},
		{"paths./$default.x-amazon-apigateway-any-method.x-amazon-apigateway-integration.type", "mock"},
		{"paths./$default.x-amazon-apigateway-any-method.x-amazon-apigateway-integration.responses.default.statusCode", "404"},
		{"paths./static/{proxy+}.x-amazon-apigateway-any-method.x-amazon-apigateway-integration.payloadFormatVersion", "1.0"},
		{"paths./orders.post.x-amazon-apigateway-integration.httpMethod", "PUT"},
		// Routes of one path are together: no order extension is needed.
		{"x-portico-route-order", nil},
	}
	for _, c := range checks {
		if got := lookup(doc, c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.path, got, c.want)
		}
	}
}

func TestExportRejectsBrokenSnapshot(t *testing.T) {
	t.Parallel()
	if _, err := ExportOpenAPI(nil, nil, ""); err == nil {
		t.Error("nil deployment: want an error")
	}
	a := mustAPI(t, restYAML)
	a.Resources[0].Methods["FETCH"] = a.Resources[0].Methods["GET"]
	if _, err := ExportOpenAPI(&Deployment{ID: "d", API: *a}, nil, ""); err == nil || !strings.Contains(err.Error(), `unsupported method "FETCH"`) {
		t.Errorf("unsupported method: got %v", err)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// lookup follows a dotted path through decoded JSON; a segment that is a
// number indexes a list. Path keys of an OpenAPI document hold dots and
// slashes, so a segment is matched greedily against the object's keys.
func lookup(v any, path string) any {
	for path != "" {
		switch x := v.(type) {
		case map[string]any:
			key := ""
			for k := range x {
				if (path == k || strings.HasPrefix(path, k+".")) && len(k) > len(key) {
					key = k
				}
			}
			if key == "" {
				return nil
			}
			v, path = x[key], strings.TrimPrefix(strings.TrimPrefix(path, key), ".")
		case []any:
			seg, rest, _ := strings.Cut(path, ".")
			i := 0
			for _, c := range seg {
				if c < '0' || c > '9' {
					return nil
				}
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v, path = x[i], rest
		default:
			return nil
		}
	}
	return v
}

func FuzzImportOpenAPI(f *testing.F) {
	for _, seed := range []string{
		apiGatewayExport,     // an API Gateway REST export
		httpAPIGatewayExport, // an API Gateway HTTP API export
		restAPISecureExport,  // a REST export with authorizers, validators and models
		httpAPIJWTExport,     // an HTTP API export with a JWT authorizer and IAM
		"openapi: 3.0.3\ninfo: {title: t}\nx-portico-kind: HTTP\npaths: {/a: {get: {x-amazon-apigateway-integration: {type: mock}}}}\n", // minimal HTTP API
		"openapi: 3.0.3\ninfo: {title: t}\npaths: {/a: {get: fetch}}\n",                                                                 // operation of the wrong type
		"openapi: 3.0.3\ninfo: {title: t}\npaths: {/x: {x-amazon-apigateway-any-method: null}}\n",                                       // null any-method
		"openapi: 3.0.3\ninfo: {title: t}\npaths: {/x: null}\n",                                                                         // null path item
		"swagger: '2.0'\n", // swagger
		"[]",               // not an object
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		a, err := ImportOpenAPI([]byte(doc))
		if err != nil {
			return
		}
		a.ApplyDefaults("us-east-1")
		if a.Validate() != nil {
			return
		}
		// Whatever imports as a valid API survives an export and import.
		out, err := ExportOpenAPI(&Deployment{ID: "d", API: *a}, nil, "https://x.example.com")
		if err != nil {
			t.Fatalf("ExportOpenAPI of a valid API: %v", err)
		}
		b, err := ImportOpenAPI(out)
		if err != nil {
			t.Fatalf("re-import: %v\n%s", err, out)
		}
		b.ApplyDefaults("us-east-1")
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip differs\nbefore: %s\n after: %s", mustJSON(t, a), mustJSON(t, b))
		}
	})
}
