package validate

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	model := func(ct, schema string) map[string]Model {
		return map[string]Model{ct: {Name: "Pet", Schema: json.RawMessage(schema)}}
	}
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error, in order
	}{
		{
			name: "remote $ref",
			spec: Spec{Models: model("application/json", `{"properties":{"a":{"$ref":"http://127.0.0.1:1/x"}}}`)},
			want: []string{`model "Pet" for "application/json"`, `"http://127.0.0.1:1/x"`, "references outside the model are not allowed"},
		},
		{
			name: "relative $ref",
			spec: Spec{Models: model("application/json", `{"$ref":"other.json#/a"}`)},
			want: []string{`model "Pet"`, "other.json", "not allowed"},
		},
		{
			name: "file $ref",
			spec: Spec{Models: model("application/json", `{"$ref":"file:///etc/passwd"}`)},
			want: []string{`model "Pet"`, `"file:///etc/passwd"`, "not allowed"},
		},
		{
			name: "$id does not open other sources",
			spec: Spec{Models: model("application/json", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/pet.json","$ref":"owner.json"}`)},
			want: []string{`model "Pet"`, `"https://example.com/owner.json"`, "not allowed"},
		},
		{
			name: "custom meta-schema",
			spec: Spec{Models: model("application/json", `{"$schema":"https://example.com/meta"}`)},
			want: []string{`model "Pet"`, "https://example.com/meta", "not allowed"},
		},
		{
			name: "missing definition",
			spec: Spec{Models: model("application/json", `{"$ref":"#/definitions/nope"}`)},
			want: []string{`model "Pet"`, "/definitions/nope", "not found"},
		},
		{
			name: "not JSON",
			spec: Spec{Models: model("application/json", `{"type":`)},
			want: []string{`model "Pet"`, "parse schema"},
		},
		{
			name: "empty schema",
			spec: Spec{Models: model("application/json", ``)},
			want: []string{`model "Pet"`, "empty schema"},
		},
		{
			name: "invalid against draft-04",
			spec: Spec{Models: model("application/json", `{"type":"nope"}`)},
			want: []string{`model "Pet"`, "not valid against metaschema", "/type"},
		},
		{
			name: "draft-07 rejects the boolean exclusiveMinimum",
			spec: Spec{Models: model("application/json", `{"$schema":"http://json-schema.org/draft-07/schema#","exclusiveMinimum":true}`)},
			want: []string{`model "Pet"`, "/exclusiveMinimum", "got boolean, want number"},
		},
		{
			name: "pattern outside RE2",
			spec: Spec{Models: model("application/json", `{"pattern":"^(?!admin)"}`)},
			want: []string{`model "Pet"`, "/pattern", "not valid regex"},
		},
		{
			name: "content type with parameters",
			spec: Spec{Models: model("application/json; charset=utf-8", `{}`)},
			want: []string{`model "Pet"`, "parameters are not allowed"},
		},
		{
			name: "content type without subtype",
			spec: Spec{Models: model("json", `{}`)},
			want: []string{`model "Pet"`, `content type "json"`},
		},
		{
			name: "content type twice",
			spec: Spec{Models: map[string]Model{
				"application/json": {Name: "A", Schema: json.RawMessage(`{}`)},
				"Application/JSON": {Name: "B", Schema: json.RawMessage(`{}`)},
			}},
			want: []string{"listed twice"},
		},
		{
			name: "empty parameter name",
			spec: Spec{RequiredQuery: []string{"q", " "}},
			want: []string{"required query parameter: empty name"},
		},
		{
			name: "header listed twice in another case",
			spec: Spec{RequiredHeaders: []string{"X-Key", "x-key"}},
			want: []string{`required header parameter "x-key": listed twice`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Compile(tt.spec)
			if err == nil {
				t.Fatalf("Compile = %v, want an error", v)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q: want %q (in order %q)", msg, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
			for _, bad := range []string{"connection refused", "dial", "no such file"} {
				if strings.Contains(msg, bad) {
					t.Errorf("error %q mentions %q: something was opened", msg, bad)
				}
			}
		})
	}
}

// TestCompileRefusesBeforeConnecting points a $ref at a listener this test
// owns and checks that nothing connected: the loader refuses the URL
// without dialling. A connection made during Compile would already sit in
// the accept queue when Compile returns.
func TestCompileRefusesBeforeConnecting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	schema := `{"properties":{"owner":{"$ref":"http://` + ln.Addr().String() + `/owner.json"}}}`
	if _, err := Compile(Spec{Models: map[string]Model{"application/json": {Name: "Pet", Schema: json.RawMessage(schema)}}}); err == nil || !strings.Contains(err.Error(), errRefused.Error()) {
		t.Fatalf("Compile error = %v, want errRefused", err)
	}
	if err := CheckSchema("Pet", json.RawMessage(schema)); err == nil || !strings.Contains(err.Error(), errRefused.Error()) {
		t.Fatalf("CheckSchema error = %v, want errRefused", err)
	}
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("the schema compiler connected to the $ref URL")
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("accept: %v", err)
	}
}

// TestDrafts: without "$schema" a model is draft-04 (boolean
// exclusiveMinimum, as API Gateway models are written); "$schema" picks
// draft-07 or 2020-12 and their numeric exclusiveMinimum.
func TestDrafts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		value  string
		ok     bool
	}{
		{"draft-04 by default, boundary", `{"minimum":0,"exclusiveMinimum":true}`, `0`, false},
		{"draft-04 by default, above", `{"minimum":0,"exclusiveMinimum":true}`, `0.001`, true},
		{"draft-04 by default, inclusive", `{"minimum":0,"exclusiveMinimum":false}`, `0`, true},
		{"draft-04 named", `{"$schema":"http://json-schema.org/draft-04/schema#","minimum":5,"exclusiveMinimum":true}`, `5`, false},
		{"draft-04 ignores 2020 keywords", `{"prefixItems":[{"type":"string"}]}`, `[1]`, true},
		{"draft-07 numeric", `{"$schema":"http://json-schema.org/draft-07/schema#","exclusiveMinimum":5}`, `5`, false},
		{"draft-07 const", `{"$schema":"http://json-schema.org/draft-07/schema#","const":"x"}`, `"y"`, false},
		{"2020-12 prefixItems", `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}]}`, `[1]`, false},
		{"2020-12 $defs", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"n":{"type":"number"}},"$ref":"#/$defs/n"}`, `"x"`, false},
		{"draft-04 format asserted", `{"format":"email"}`, `"not-an-email"`, false},
		{"2020-12 format annotation only", `{"$schema":"https://json-schema.org/draft/2020-12/schema","format":"email"}`, `"not-an-email"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := CheckSchema("M", json.RawMessage(tt.schema)); err != nil {
				t.Fatalf("CheckSchema: %v", err)
			}
			v := mustCompile(t, Spec{ValidateBody: true, Models: map[string]Model{"$default": {Name: "M", Schema: json.RawMessage(tt.schema)}}})
			_, f := v.Check(newRequest("/", "application/json", tt.value), nil)
			if (f == nil) != tt.ok {
				t.Fatalf("Check(%s) = %s, want ok %v", tt.value, failureString(f), tt.ok)
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	t.Parallel()
	if err := CheckSchema("Product", json.RawMessage(productSchema)); err != nil {
		t.Fatalf("CheckSchema(product) = %v", err)
	}
	err := CheckSchema("Broken", json.RawMessage(`{"required":"name"}`))
	if err == nil || !strings.HasPrefix(err.Error(), `model "Broken": compile schema: `) {
		t.Fatalf("CheckSchema(broken) = %v, want a compile error naming the model", err)
	}
}

// TestCompileKeepsNoReferences: a Validator does not share memory with
// the Spec it came from.
func TestCompileKeepsNoReferences(t *testing.T) {
	t.Parallel()
	spec := Spec{RequiredQuery: []string{"q"}, ValidateParams: true}
	v := mustCompile(t, spec)
	spec.RequiredQuery[0] = "changed"
	_, f := v.Check(newRequest("/?q=1", "", ""), nil)
	if f != nil {
		t.Fatalf("Check = %s after the Spec changed", failureString(f))
	}
}
