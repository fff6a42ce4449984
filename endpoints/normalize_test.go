package endpoints

import (
	"net/http"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want string // "" = rejected
	}{
		{"/", "/"},
		{"/prod", "/prod"},
		{"/prod/", "/prod/"},
		{"/prod/items/42", "/prod/items/42"},
		{"/prod/a%20b", "/prod/a b"},
		{"/prod/%7Bx%7D", "/prod/{x}"},
		{"/prod/caf%C3%A9", "/prod/café"},
		{"/prod/100%25", "/prod/100%"},
		{"/prod/a.b/..c/.d", "/prod/a.b/..c/.d"}, // dots inside a segment are fine
		{"", ""},
		{"prod", ""},
		{"//admin", ""},
		{"/prod//admin", ""},
		{"/prod/x/../admin", ""},
		{"/prod/./admin", ""},
		{"/prod/..", ""},
		{"/prod/.", ""},
		{"/prod/%2e%2e/admin", ""},
		{"/prod/%2E%2E/admin", ""},
		{"/prod/.%2e/admin", ""},
		{"/prod/a%2eb", ""},
		{"/prod/a%2fb", ""},
		{"/prod/a%2Fb", ""},
		{"/prod/a%5cb", ""},
		{"/prod/a%5Cb", ""},
		{"/prod/a%3bb", ""},
		{"/prod/a%3Bb", ""},
		{"/prod/a%00b", ""},
		{"/prod/a%0ab", ""},
		{"/prod/a%7fb", ""},
		{"/prod/a\\b", ""},
		{"/prod/..\\admin", ""},
		{"/prod/admin;x=1", ""},
		{"/prod/admin;", ""},
		{"/prod/a\x00b", ""},
		{"/prod/a\tb", ""},
		{"/prod/a b", ""},
		{"/prod/a#b", ""},
		{"/prod/%", ""},
		{"/prod/%4", ""},
		{"/prod/%zz", ""},
		{"/prod/%%32e", ""},
		{"/prod/%252e", "/prod/%2e"}, // decoded once: a literal "%2e" segment, never ".."
	}
	for _, tc := range tests {
		got, ok := normalizePath(tc.raw)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("normalizePath(%q) = %q, %v; want %q", tc.raw, got, ok, tc.want)
		}
	}
}

func TestRequestPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		requestURI string
		want       string
		ok         bool
	}{
		{"/prod/a?x=/../b", "/prod/a", true},
		{"https://h.example/prod/%2e%2e/admin?q", "/prod/%2e%2e/admin", true},
		{"https://h.example", "/", true},
		{"*", "", false},
		{"h.example:443", "", false},
	}
	for _, tc := range tests {
		r, err := http.ReadRequest(bufioReader("GET " + tc.requestURI + " HTTP/1.1\r\nHost: h.example\r\n\r\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.requestURI, err)
		}
		got, ok := requestPath(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("requestPath(%q) = %q, %v; want %q, %v", tc.requestURI, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzNormalizePath checks that the normalizer never panics and that
// whatever it accepts has no empty, "." or ".." segments and no
// characters that mean something to a backend's path parser.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/",                      // root
		"/prod/items/42",         // plain
		"/prod/a%20b/",           // encoded space, trailing slash
		"/prod/x/../admin",       // traversal
		"//admin",                // empty segment
		"/prod/%2e%2e/admin",     // encoded traversal
		"/prod/%2E%2e/admin",     // mixed case
		"/prod/a%2fb",            // encoded slash
		"/prod/a%5cb",            // encoded backslash
		"/prod/admin;jsessionid", // matrix parameter
		"/prod/%252e%252e",       // double encoding
		"/prod/%",                // truncated escape
		"/prod/caf%C3%A9",        // UTF-8
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := normalizePath(raw)
		if !ok {
			return
		}
		if got == "" || got[0] != '/' {
			t.Fatalf("normalizePath(%q) = %q: no leading slash", raw, got)
		}
		segs := strings.Split(got[1:], "/")
		for i, s := range segs {
			if s == "" && i != len(segs)-1 {
				t.Fatalf("normalizePath(%q) = %q: empty segment", raw, got)
			}
			if s == "." || s == ".." {
				t.Fatalf("normalizePath(%q) = %q: dot segment", raw, got)
			}
		}
		if strings.ContainsAny(got, "\\;\x00") {
			t.Fatalf("normalizePath(%q) = %q: forbidden character", raw, got)
		}
		// Decoding is per segment: the raw path has as many segments.
		if n := strings.Count(raw, "/"); n != len(segs) {
			t.Fatalf("normalizePath(%q) = %q: %d segments from %d", raw, got, len(segs), n)
		}
	})
}
