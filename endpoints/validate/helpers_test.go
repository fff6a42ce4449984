package validate

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// productSchema is a typical draft-04 API Gateway model: required fields,
// bounds, an enum, a pattern, a closed object and a local reference.
const productSchema = `{
  "title": "Product",
  "type": "object",
  "required": ["name", "price"],
  "additionalProperties": false,
  "definitions": {
    "tag": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "maxLength": 32},
    "dimensions": {
      "type": "object",
      "required": ["width"],
      "properties": {"width": {"type": "number", "minimum": 0, "exclusiveMinimum": true}}
    }
  },
  "properties": {
    "name":  {"type": "string", "minLength": 1},
    "price": {"type": "number", "minimum": 0},
    "stock": {"type": "integer", "maximum": 9007199254740992},
    "kind":  {"enum": ["book", "music"]},
    "tags":  {"type": "array", "items": {"$ref": "#/definitions/tag"}, "uniqueItems": true},
    "size":  {"$ref": "#/definitions/dimensions"}
  }
}`

// bodySpec validates application/json bodies against productSchema.
func bodySpec() Spec {
	return Spec{
		ValidateBody: true,
		Models:       map[string]Model{"application/json": {Name: "Product", Schema: json.RawMessage(productSchema)}},
	}
}

// mustCompile compiles spec or fails the test.
func mustCompile(t testing.TB, spec Spec) *Validator {
	t.Helper()
	v, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return v
}

// newRequest builds a POST to target with body and headers given as
// name, value pairs. contentType "" sends no Content-Type header.
func newRequest(target, contentType, body string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// pathParams serves path parameters from a map.
func pathParams(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// readAll reads what is left in r.Body.
func readAll(t testing.TB, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// failureString renders a Failure for comparisons in test output.
func failureString(f *Failure) string {
	if f == nil {
		return "<nil>"
	}
	return f.Kind + " | " + f.Rule + " | " + f.Message
}
