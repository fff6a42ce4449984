package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestCheckBody(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, bodySpec())
	tests := []struct {
		name    string
		body    string
		rule    string // "" for success
		message string // full message, or a prefix when it ends in "..."
	}{
		{name: "minimal", body: `{"name":"book","price":0}`},
		{name: "everything", body: `{"name":"b","price":12.5,"stock":3,"kind":"music","tags":["a","b-2"],"size":{"width":0.1}}`},
		{name: "whitespace around", body: " \r\n\t{\"name\":\"b\",\"price\":1}\n"},
		{
			name: "type", body: `{"name":7,"price":1}`,
			rule: "body:/name:type", message: "Invalid request body: /name: type: got number, want string",
		},
		{
			name: "required", body: `{}`,
			rule: "body:(root):required", message: "Invalid request body: (root): required: missing properties 'name', 'price'",
		},
		{
			name: "minimum", body: `{"name":"b","price":-1}`,
			rule: "body:/price:minimum", message: "Invalid request body: /price: minimum: got -1, want 0",
		},
		{
			name: "integer", body: `{"name":"b","price":1,"stock":1.5}`,
			rule: "body:/stock:type", message: "Invalid request body: /stock: type: got number, want integer",
		},
		{
			name: "enum", body: `{"name":"b","price":1,"kind":"film"}`,
			rule: "body:/kind:enum", message: "Invalid request body: /kind: enum: value must be one of 'book', 'music'",
		},
		{
			name: "pattern through $ref to definitions", body: `{"name":"b","price":1,"tags":["ok","Bad"]}`,
			rule: "body:/tags/1:pattern", message: "Invalid request body: /tags/1: pattern: 'Bad' does not match pattern '^[a-z][a-z0-9-]*$'",
		},
		{
			name: "uniqueItems", body: `{"name":"b","price":1,"tags":["a","a"]}`,
			rule: "body:/tags:uniqueItems", message: "Invalid request body: /tags: uniqueItems: items at 0 and 1 are equal",
		},
		{
			name: "nested $ref required", body: `{"name":"b","price":1,"size":{}}`,
			rule: "body:/size:required", message: "Invalid request body: /size: required: missing property 'width'",
		},
		{
			name: "additionalProperties false, names sorted", body: `{"name":"b","price":1,"zeta":1,"alpha":2}`,
			rule:    "body:(root):additionalProperties",
			message: "Invalid request body: (root): additionalProperties: additional properties 'alpha', 'zeta' not allowed",
		},
		{
			name: "several causes ordered by location", body: `{"price":-1,"tags":[1],"kind":"x","size":{"width":0}}`,
			rule: "body:(root):required",
			message: "Invalid request body: (root): required: missing property 'name'; /kind: enum: value must be one of 'book', 'music'; " +
				"/price: minimum: got -1, want 0; /size/width: exclusiveMinimum: got 0, want 0; /tags/0: type: got number, want string",
		},
		{
			name: "more causes than listed", body: `{"name":"b","price":1,"tags":[1,2,3,4,5,6,7,8,9,10,11]}`,
			rule: "body:/tags/0:type",
			message: "Invalid request body: /tags/0: type: got number, want string; /tags/1: type: got number, want string; " +
				"/tags/2: type: got number, want string; /tags/3: type: got number, want string; /tags/4: type: got number, want string (and 6 more)",
		},
		{
			name: "empty body is null", body: ``,
			rule: "body:(root):type", message: "Invalid request body: (root): type: got null, want object",
		},
		{
			name: "whitespace body is null", body: " \n",
			rule: "body:(root):type", message: "Invalid request body: (root): type: got null, want object",
		},
		{
			name: "syntax error with offset", body: `{"name":}`,
			rule: "body:json", message: "Invalid request body: invalid JSON at offset 8: invalid character '}' looking for beginning of value",
		},
		{
			name: "truncated", body: `{"name":"b"`,
			rule: "body:json", message: "Invalid request body: invalid JSON at offset 11: unexpected end of JSON input",
		},
		{
			name: "trailing data", body: `{"name":"b","price":1} {}`,
			rule: "body:json", message: "Invalid request body: invalid JSON at offset 23: invalid character '{' after top-level value",
		},
		{
			name: "trailing non-ASCII", body: `{"name":"b","price":1}é`,
			rule: "body:json", message: "Invalid request body: invalid JSON at offset 22: invalid character 'é' after top-level value",
		},
		{
			name: "not JSON at all", body: `name=b&price=1`,
			rule: "body:json", message: "Invalid request body: invalid JSON at offset 1: invalid character 'a' in literal null (expecting 'u')",
		},
		{
			name: "long client string is cut", body: `{"name":"b","price":1,"tags":["` + strings.Repeat("X", 5000) + `"]}`,
			rule: "body:/tags/0:maxLength", message: "Invalid request body: /tags/0: maxLength: got 5000, want 32; /tags/0: pattern: 'XXXX...",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRequest("/", "application/json", tt.body)
			body, f := v.Check(r, nil)
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if tt.rule == "" {
				if f != nil {
					t.Fatalf("Check = %s, want success", failureString(f))
				}
				return
			}
			if f == nil {
				t.Fatalf("Check succeeded, want %q", tt.message)
			}
			if f.Kind != KindBadRequestBody || f.Rule != tt.rule || f.Err != nil {
				t.Errorf("Check = %s (err %v), want kind %s rule %s", failureString(f), f.Err, KindBadRequestBody, tt.rule)
			}
			if prefix, cut := strings.CutSuffix(tt.message, "..."); cut {
				if !strings.HasPrefix(f.Message, prefix) || len(f.Message) > 2*maxCauseLen+len(invalidBody) {
					t.Errorf("message = %q (%d bytes), want a cut message starting %q", f.Message, len(f.Message), prefix)
				}
			} else if f.Message != tt.message {
				t.Errorf("message:\n got %q\nwant %q", f.Message, tt.message)
			}
		})
	}
}

// TestCheckBodyPassThrough: after validation, successful or not, r.Body
// yields exactly the bytes sent and the returned slice holds them too.
func TestCheckBodyPassThrough(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, bodySpec())
	for _, sent := range []string{
		`{"name":"b","price":1}`,
		"{\"name\":\"caf\u00e9 \\u00e9 \\\"q\\\"\",  \"price\" : 1e2 }\n",
		`{"price":-1}`,
		`{broken`,
	} {
		r := newRequest("/", "application/json", sent)
		body, _ := v.Check(r, nil)
		if string(body) != sent {
			t.Errorf("returned body = %q, want %q", body, sent)
		}
		if got := readAll(t, r); got != sent {
			t.Errorf("r.Body = %q, want %q", got, sent)
		}
		if err := r.Body.Close(); err != nil {
			t.Errorf("close replaced body: %v", err)
		}
	}
}

// closeTracker records whether Check closed the original body.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestCheckBodyClosesOriginal(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, bodySpec())
	orig := &closeTracker{Reader: strings.NewReader(`{"name":"b","price":1}`)}
	r := newRequest("/", "application/json", "")
	r.Body = orig
	if _, f := v.Check(r, nil); f != nil {
		t.Fatalf("Check = %s", failureString(f))
	}
	if !orig.closed {
		t.Error("original body not closed")
	}
}

// TestCheckBodyReadError: a body over the caller's cap fails as
// BAD_REQUEST_BODY with the *http.MaxBytesError kept in Err.
func TestCheckBodyReadError(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, bodySpec())
	r := newRequest("/", "application/json", `{"name":"`+strings.Repeat("a", 100)+`","price":1}`)
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 16)
	body, f := v.Check(r, nil)
	if f == nil || f.Kind != KindBadRequestBody || f.Rule != "body:read" || f.Message != "Invalid request body" {
		t.Fatalf("Check = %s, want a body:read failure", failureString(f))
	}
	var mbe *http.MaxBytesError
	if !errors.As(f.Err, &mbe) || mbe.Limit != 16 {
		t.Errorf("Err = %v, want a *http.MaxBytesError with limit 16", f.Err)
	}
	if len(body) != 16 {
		t.Errorf("body = %q, want the 16 bytes read", body)
	}
}

// TestCheckBodyContentType: the model is chosen by media type,
// case-insensitively and ignoring parameters; "$default" covers the rest;
// without a Content-Type the request counts as application/json; a type
// with no model is not validated and its body is not read.
func TestCheckBodyContentType(t *testing.T) {
	t.Parallel()
	objectOnly := json.RawMessage(`{"type":"object"}`)
	arrayOnly := json.RawMessage(`{"type":"array"}`)
	withDefault := mustCompile(t, Spec{ValidateBody: true, Models: map[string]Model{
		"application/json":   {Name: "Obj", Schema: objectOnly},
		"$default":           {Name: "Arr", Schema: arrayOnly},
		"Application/X-Test": {Name: "Obj2", Schema: objectOnly},
	}})
	jsonOnly := mustCompile(t, Spec{ValidateBody: true, Models: map[string]Model{
		"application/json": {Name: "Obj", Schema: objectOnly},
	}})
	tests := []struct {
		name        string
		v           *Validator
		contentType string
		body        string
		wantFail    bool
		wantRead    bool
	}{
		{name: "exact type", v: withDefault, contentType: "application/json", body: `{}`, wantRead: true},
		{name: "exact type rejects", v: withDefault, contentType: "application/json", body: `[]`, wantFail: true, wantRead: true},
		{name: "parameters and case ignored", v: withDefault, contentType: "Application/JSON; charset=utf-8", body: `[]`, wantFail: true, wantRead: true},
		{name: "mixed-case key", v: withDefault, contentType: "application/x-test", body: `[]`, wantFail: true, wantRead: true},
		{name: "no Content-Type means application/json", v: withDefault, contentType: "", body: `[]`, wantFail: true, wantRead: true},
		{name: "default model for other types", v: withDefault, contentType: "text/plain", body: `{}`, wantFail: true, wantRead: true},
		{name: "default model accepts", v: withDefault, contentType: "text/plain", body: `[1]`, wantRead: true},
		{name: "malformed Content-Type falls to default", v: withDefault, contentType: ";;;", body: `{}`, wantFail: true, wantRead: true},
		{name: "no model for type passes unread", v: jsonOnly, contentType: "text/plain", body: `not json`},
		{name: "no model for prefix match", v: jsonOnly, contentType: "application/json-patch+json", body: `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRequest("/", tt.contentType, tt.body)
			body, f := tt.v.Check(r, nil)
			if (f != nil) != tt.wantFail {
				t.Errorf("Check = %s, want failure %v", failureString(f), tt.wantFail)
			}
			if (body != nil) != tt.wantRead {
				t.Errorf("body = %q, want read %v", body, tt.wantRead)
			}
			if got := readAll(t, r); got != tt.body {
				t.Errorf("r.Body = %q, want %q", got, tt.body)
			}
		})
	}
}

// TestCheckBodyLimits: the pre-decode scan stops deep nesting and
// expensive numbers, and lets through what stays inside the limits.
func TestCheckBodyLimits(t *testing.T) {
	t.Parallel()
	// The recursive schema makes the validator follow the nesting.
	v := mustCompile(t, Spec{ValidateBody: true, Models: map[string]Model{
		"$default": {Name: "Tree", Schema: json.RawMessage(`{"type":["array","number","string"],"items":{"$ref":"#"},"maximum":1.8e308}`)},
	}})
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name    string
		body    string
		rule    string
		message string
	}{
		{name: "depth at the limit", body: nest(MaxDepth)},
		{
			name: "depth over the limit", body: nest(MaxDepth + 1),
			rule: "body:depth", message: "Invalid request body: nesting depth exceeds 512 at offset 512",
		},
		{
			name: "10 MB of open brackets", body: strings.Repeat("[", 10<<20),
			rule: "body:depth", message: "Invalid request body: nesting depth exceeds 512 at offset 512",
		},
		{
			name: "brackets inside strings do not count", body: `["` + strings.Repeat("[", 2000) + `\"` + strings.Repeat("{", 2000) + `"]`,
		},
		{
			name: "objects count too", body: strings.Repeat(`{"a":`, MaxDepth+1),
			rule: "body:depth", message: "Invalid request body: nesting depth exceeds 512 at offset 2560",
		},
		{name: "float64 extremes", body: `[1.7976931348623157e308, -4.9e-324, 1E+300, 0.000001]`},
		{
			name: "huge exponent", body: `[1, 1e999999]`,
			rule: "body:number", message: "Invalid request body: number at offset 4 has an exponent beyond ±400",
		},
		{
			name: "huge negative exponent with leading zeros", body: `[1E-0000000401]`,
			rule: "body:number", message: "Invalid request body: number at offset 1 has an exponent beyond ±400",
		},
		{name: "exponent with leading zeros inside the limit", body: `[1e-00000000000400]`},
		{
			name: "long number", body: "[" + strings.Repeat("9", MaxNumberLen+1) + "]",
			rule: "body:number", message: "Invalid request body: number at offset 1 exceeds 256 bytes",
		},
		{name: "long number at the limit", body: "[0." + strings.Repeat("1", MaxNumberLen-2) + "]"},
		{name: "number-like text in strings is ignored", body: `["1e999999", "` + strings.Repeat("9", 1000) + `"]`},
		{
			name: "maximum compared exactly", body: `[1.8000000000000000000000001e308]`,
			rule: "body:/0:maximum", message: "Invalid request body: /0: maximum: got 1.8000000000000000000000001e308, want 1.8e308",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, f := v.Check(newRequest("/", "application/json", tt.body), nil)
			switch {
			case tt.rule == "" && f != nil:
				t.Fatalf("Check = %s, want success", failureString(f))
			case tt.rule == "":
			case f == nil:
				t.Fatalf("Check succeeded, want %q", tt.message)
			case f.Rule != tt.rule || f.Message != tt.message:
				t.Errorf("Check = %s\nwant %s | %s", failureString(f), tt.rule, tt.message)
			}
		})
	}
}

// TestCheckBodyLargeIntegers: numbers are compared as decimals, not
// float64, so 2^53+1 is above a maximum of 2^53 and 2^64 is an integer.
func TestCheckBodyLargeIntegers(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, bodySpec())
	tests := []struct {
		stock string
		ok    bool
	}{
		{"9007199254740992", true},
		{"9007199254740993", false}, // equal to 2^53 as a float64
		{"9007199254740992.0000000001", false},
		{"-18446744073709551616", true},
		{"1e2", true}, // draft-04 integer check is on the value
	}
	for _, tt := range tests {
		_, f := v.Check(newRequest("/", "application/json", `{"name":"b","price":1,"stock":`+tt.stock+`}`), nil)
		if (f == nil) != tt.ok {
			t.Errorf("stock %s: Check = %s, want ok %v", tt.stock, failureString(f), tt.ok)
		}
	}
	_, f := v.Check(newRequest("/", "application/json", `{"name":"b","price":1,"stock":9007199254740993}`), nil)
	if want := "Invalid request body: /stock: maximum: got 9007199254740993, want 9007199254740992"; f == nil || f.Message != want {
		t.Errorf("Check = %s, want message %q", failureString(f), want)
	}
}

// TestCheckConcurrent shares one Validator between goroutines; run with
// -race it proves Check keeps no per-call state in the Validator.
func TestCheckConcurrent(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, bodySpec())
	bodies := []string{`{"name":"b","price":1}`, `{"price":-1,"zz":1,"yy":2}`, `[`}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				sent := bodies[(g+i)%len(bodies)]
				r := newRequest("/", "application/json", sent)
				body, _ := v.Check(r, nil)
				if !bytes.Equal(body, []byte(sent)) {
					t.Errorf("body = %q, want %q", body, sent)
					return
				}
			}
		})
	}
	wg.Wait()
}
