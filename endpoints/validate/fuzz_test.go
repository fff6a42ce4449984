package validate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheck sends arbitrary bodies and content types through a Validator
// with a typical model and a recursive catch-all. Check must not panic;
// it must hand back exactly the bytes sent, in the return value and in
// r.Body; it may only accept JSON (or an empty body); and every failure
// is a BAD_REQUEST_BODY with a bounded message.
func FuzzCheck(f *testing.F) {
	seeds := []struct{ contentType, body string }{
		{"application/json", `{"name":"b","price":1,"tags":["a"],"size":{"width":1}}`}, // valid
		{"application/json", `{"name":"b","price":-1,"zz":1}`},                         // schema failures
		{"application/json", ``},                                                            // empty: null
		{"application/json", `{"name":`},                                                    // truncated
		{"application/json", `{"name":"b"} trailing`},                                       // data after the value
		{"application/json", `{"a":"\ud800"}`},                                              // lone surrogate escape
		{"application/json", "{\"a\":\"\xff\xfe\"}"},                                        // invalid UTF-8 in a string
		{"application/json", "\x00"},                                                        // NUL
		{"application/json", strings.Repeat("[", 600)},                                      // deep, unclosed
		{"application/json", strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)}, // deep, valid
		{"application/json", `[1e999999, -1E-999999]`},                                      // huge exponents
		{"application/json", "[" + strings.Repeat("9", 300) + "]"},                          // long number
		{"application/json", `{"stock":18446744073709551617}`},                              // beyond uint64
		{"application/json", `{"price":-0.0e-0}`},                                           // odd zero
		{"application/json", `["\"[[[[", "\\", "1e9999"]`},                                  // brackets and numbers in strings
		{"application/json", `{"tags":["` + strings.Repeat("é", 300) + `"]}`},               // long multi-byte string in a message
		{"text/plain", `[1,2,3]`},                                                           // the catch-all model
		{"application/JSON; charset=utf-8", `{}`},                                           // parameters and case
		{"", `{"name":"b","price":1}`},                                                      // no Content-Type
		{";;=", `1`},                                                                        // malformed Content-Type
	}
	for _, s := range seeds {
		f.Add(s.contentType, []byte(s.body))
	}
	v, err := Compile(Spec{ValidateBody: true, Models: map[string]Model{
		"application/json": {Name: "Product", Schema: json.RawMessage(productSchema)},
		"$default":         {Name: "Any", Schema: json.RawMessage(`{"items":{"$ref":"#"},"additionalProperties":{"$ref":"#"},"uniqueItems":true,"enum":[[],{},1,"a",null,true]}`)},
	}})
	if err != nil {
		f.Fatal(err)
	}
	maxMessage := len(invalidBody) + 2 + MaxCauses*(maxCauseLen+2) + 32
	f.Fuzz(func(t *testing.T, contentType string, sent []byte) {
		r := newRequest("/", "", string(sent))
		r.Header.Set("Content-Type", contentType)
		body, fail := v.Check(r, nil)
		if !bytes.Equal(body, sent) && !(len(sent) == 0 && body == nil) {
			t.Fatalf("body = %q, want %q", body, sent)
		}
		if rest := readAll(t, r); rest != string(sent) {
			t.Fatalf("r.Body = %q, want %q", rest, sent)
		}
		if fail == nil {
			if len(bytes.TrimLeft(sent, " \t\r\n")) > 0 && !json.Valid(sent) {
				t.Fatalf("accepted invalid JSON %q", sent)
			}
			return
		}
		if fail.Kind != KindBadRequestBody || !strings.HasPrefix(fail.Message, invalidBody) || fail.Rule == "" {
			t.Fatalf("failure %s", failureString(fail))
		}
		if len(fail.Message) > maxMessage || !utf8.ValidString(fail.Message) && utf8.Valid(sent) {
			t.Fatalf("message of %d bytes (valid UTF-8: %v): %q", len(fail.Message), utf8.ValidString(fail.Message), fail.Message)
		}
	})
}
