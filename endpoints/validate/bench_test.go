package validate

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkCheckBody validates a small product against the typical
// productSchema: the cost the gateway adds to a validated POST.
func BenchmarkCheckBody(b *testing.B) {
	v := mustCompile(b, bodySpec())
	payload := []byte(`{"name":"The Go Programming Language","price":34.99,"stock":120,"kind":"book","tags":["go","programming"],"size":{"width":18.5}}`)
	r := newRequest("/products", "application/json; charset=utf-8", "")
	src := bytes.NewReader(payload)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(payload)
		r.Body = io.NopCloser(src)
		if _, f := v.Check(r, nil); f != nil {
			b.Fatal(failureString(f))
		}
	}
}

// BenchmarkCheckBodyInvalid is the failure path: three leaf causes
// rendered into a message.
func BenchmarkCheckBodyInvalid(b *testing.B) {
	v := mustCompile(b, bodySpec())
	payload := []byte(`{"name":"","price":-1,"kind":"film","tags":["Go"]}`)
	r := newRequest("/products", "application/json", "")
	src := bytes.NewReader(payload)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(payload)
		r.Body = io.NopCloser(src)
		if _, f := v.Check(r, nil); f == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkCheckParams checks one path, two query and two header
// parameters, all present.
func BenchmarkCheckParams(b *testing.B) {
	v := mustCompile(b, Spec{
		RequiredPath:    []string{"id"},
		RequiredQuery:   []string{"q", "page"},
		RequiredHeaders: []string{"x-api-version", "x-tenant"},
		ValidateParams:  true,
	})
	r := newRequest("/items/42?q=go&page=2", "", "", "x-api-version", "2", "x-tenant", "acme")
	path := pathParams(map[string]string{"id": "42"})
	b.ReportAllocs()
	for b.Loop() {
		if _, f := v.Check(r, path); f != nil {
			b.Fatal(failureString(f))
		}
	}
}
