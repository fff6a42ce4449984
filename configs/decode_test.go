package configs

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeYAMLAndJSONAgree(t *testing.T) {
	t.Parallel()
	yamlDoc := `
name: pets
kind: HTTP
routes:
- key: GET /items/{id}
  integration: {type: HTTP_PROXY, uri: "https://b.example.com/{id}", timeout: 250ms}
`
	jsonDoc := `{
  "name": "pets",
  "kind": "HTTP",
  "routes": [
    {"key": "GET /items/{id}", "integration": {"type": "HTTP_PROXY", "uri": "https://b.example.com/{id}", "timeout": "250ms"}}
  ]
}`
	fromYAML, err := ParseAPI([]byte(yamlDoc))
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	fromJSON, err := ParseAPI([]byte(jsonDoc))
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatalf("yaml and json differ:\n%+v\n%+v", fromYAML, fromJSON)
	}
	if got := fromJSON.Routes[0].Integration.Timeout.D().String(); got != "250ms" {
		t.Errorf("timeout = %s, want 250ms", got)
	}
}

func TestDecodeStrictReportsField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		field    string
		fragment string
	}{
		{"unknown top-level field", "name: x\nnmae: y\n", "nmae", "unknown field"},
		{"field in the wrong case", "Name: x\n", "Name", "unknown field"},
		{"unknown nested field", "name: x\nresources:\n- path: /\n  methods:\n    GET:\n      integraton: {}\n",
			"resources[0].methods.GET.integraton", "unknown field"},
		{"unknown field in json", `{"name": "x", "cors": {"allow_origin": ["*"]}}`, "cors.allow_origin", "unknown field"},
		{"name given a number", "name: 5\n", "name", "must be a string, not number"},
		{"name given a number in json", `{"name": 5}`, "name", "must be a string, not number"},
		{"list given a string", "name: x\nendpoint_types: EDGE\n", "endpoint_types", "must be a list, not string"},
		{"status code given a string", "name: x\nroutes:\n- key: $default\n  integration: {type: MOCK, status_code: ok}\n",
			"routes[0].integration.status_code", "must be a whole number, not string"},
		{"status code given a fraction", `{"routes": [{"integration": {"status_code": 200.5}}]}`,
			"routes[0].integration.status_code", "must be a whole number, not 200.5"},
		{"duration given a number", "name: x\nroutes:\n- key: $default\n  integration: {type: HTTP_PROXY, timeout: 5}\n",
			"routes[0].integration.timeout", `duration must be a string such as "5s"`},
		{"bad duration", `{"cors": {"max_age": "soon"}}`, "cors.max_age", `invalid duration "soon"`},
		{"headers given a list", `{"routes": [{"integration": {"headers": ["a"]}}]}`,
			"routes[0].integration.headers", "must be an object, not array"},
		{"object given a string", `{"cors": "yes"}`, "cors", "must be an object, not string"},
		{"document is a list", "- a\n- b\n", "document", "must be an object, not array"},
		{"document is a string", `"api"`, "document", "must be an object, not string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseAPI([]byte(tt.doc))
			wantFieldError(t, err, tt.field, tt.fragment)
		})
	}
}

func TestDecodeStrictReportsEveryField(t *testing.T) {
	t.Parallel()
	_, err := ParseAPI([]byte("name: 5\nkind: [x]\nextra: 1\n"))
	wantFieldError(t, err, "name", "must be a string")
	wantFieldError(t, err, "kind", "must be a string")
	wantFieldError(t, err, "extra", "unknown field")
}

func TestDecodeStrictRejectsDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		fragment string
	}{
		{"empty", "", "the document is empty"},
		{"blank", " \n\t\n", "the document is empty"},
		{"only a comment", "# nothing here\n", "the document is empty"},
		{"null", "null\n", "the document is empty"},
		{"trailing garbage after json", `{"name": "x"} garbage`, "unexpected data after the document"},
		{"two json values", `{"name": "x"}{"name": "y"}`, "unexpected data after the document"},
		{"second yaml document", "name: x\n---\nname: y\n", "unexpected data after the document"},
		{"key given twice", "name: x\nname: y\n", `key "name" already set`},
		{"not yaml", "name: [x\n", "not valid YAML or JSON"},
		{"unclosed json", `{"name": "x"`, "not valid YAML or JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseAPI([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.fragment) {
				t.Fatalf("ParseAPI(%q) = %v, want an error containing %q", tt.doc, err, tt.fragment)
			}
		})
	}
}

func TestDecodeStrictAcceptsDocumentMarkers(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"---\nname: x\n", "---\nname: x\n...\n", "name: x\n---\n", "\n\n{\"name\": \"x\"}\n\n"} {
		a, err := ParseAPI([]byte(doc))
		if err != nil || a.Name != "x" {
			t.Errorf("ParseAPI(%q) = %+v, %v", doc, a, err)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		want     Format
		fragment string // when an error is expected
	}{
		{"native yaml", "name: pets\nresources: []\n", FormatNative, ""},
		{"native json", `{"name": "pets"}`, FormatNative, ""},
		{"openapi yaml", "openapi: 3.0.1\ninfo: {title: pets, version: '1'}\npaths: {}\n", FormatOpenAPI, ""},
		{"openapi json", `{"openapi": "3.0.3", "info": {"title": "pets"}, "paths": {}}`, FormatOpenAPI, ""},
		{"openapi 3.1 is still openapi", `{"openapi": "3.1.0"}`, FormatOpenAPI, ""},
		{"swagger", "swagger: '2.0'\ninfo: {title: pets}\n", 0, "swagger 2.0 documents are not supported"},
		{"list", "- a\n", 0, "must be an object"},
		{"empty", "", 0, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DetectFormat([]byte(tt.doc))
			if tt.fragment != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fragment) {
					t.Fatalf("DetectFormat = %v, %v; want an error containing %q", got, err, tt.fragment)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DetectFormat = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestLoadAPIReadsBothFormats(t *testing.T) {
	t.Parallel()
	native, f, err := LoadAPI([]byte(restYAML))
	if err != nil || f != FormatNative || native.Name != "pets" {
		t.Fatalf("native: %v %v %v", native, f, err)
	}
	oas, f, err := LoadAPI([]byte(apiGatewayExport))
	if err != nil || f != FormatOpenAPI || oas.Name != "PetStore" {
		t.Fatalf("openapi: %v %v %v", oas, f, err)
	}
}
