package endpoints

import (
	"reflect"
	"testing"
)

func TestURITemplateBuild(t *testing.T) {
	t.Parallel()
	params := []string{"id", "path"}
	tests := []struct {
		raw     string
		vals    []string
		want    string // URL.String(); "" for an error
		perPath bool   // only the path is built per request
	}{
		{"http://b:8080/v1/items/{id}?src=gw", []string{"42"}, "http://b:8080/v1/items/42?src=gw", true},
		{"http://b/v1/items/{id}", []string{"a b"}, "http://b/v1/items/a%20b", true},
		{"http://b/v1/items/{id}", []string{"?x=1#f"}, "http://b/v1/items/%3Fx=1%23f", true},
		{"http://b/v1/items/{id}", []string{"caf\u00e9"}, "http://b/v1/items/caf%C3%A9", true},
		{"http://b/store/{path+}", []string{"", "a/b c/d.txt"}, "http://b/store/a/b%20c/d.txt", true},
		{"http://b/store/{path+}/", []string{"", "dir"}, "http://b/store/dir/", true},
		{"https://b/{id}/x/{path}#frag", []string{"1", "2"}, "https://b/1/x/2", true},
		{"http://b/x/{id}?", []string{"1"}, "http://b/x/1?", true},
		{"http://b/x/{id}%2Fy", []string{"1"}, "http://b/x/1%2Fy", true},
		// Not a path slot: the whole URI is built and parsed.
		{"http://b/x?id={id}", []string{"1"}, "http://b/x?id=1", false},
		{"http://{id}/x", []string{"b"}, "http://b/x", false},
		{"http://b{id}", []string{"1"}, "http://b1", false},
		// Invalid either way.
		{"http://b/x/{id}%zz", []string{"1"}, "", true},
		{"ftp://b/x/{id}", []string{"1"}, "", false},
		{"http://u:p@b/x/{id}", []string{"1"}, "", false},
		{"http://b/x\x01/{id}", []string{"1"}, "", false},
	}
	for _, tc := range tests {
		tmpl, err := compileURI(tc.raw, nil, params, "path")
		if err != nil {
			t.Fatalf("compileURI(%q): %v", tc.raw, err)
		}
		if got := tmpl.base != nil; got != tc.perPath {
			t.Errorf("%q: path built per request = %v, want %v", tc.raw, got, tc.perPath)
		}
		u, err := tmpl.build(tc.vals)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q with %q = %s, want an error", tc.raw, tc.vals, u)
		case tc.want != "" && err != nil:
			t.Errorf("%q with %q: %v", tc.raw, tc.vals, err)
		case err == nil && u.String() != tc.want:
			t.Errorf("%q with %q = %s, want %s", tc.raw, tc.vals, u, tc.want)
		}
	}
}

// FuzzURITemplateBuild checks that building only the path of a URI gives
// exactly what building the whole URI and parsing it gives.
func FuzzURITemplateBuild(f *testing.F) {
	for _, s := range [][3]string{
		{"http://b:8080/v1/items/{id}?src=gw", "42", ""}, // the usual shape
		{"http://b/store/{path+}", "", "a/b c/../d"},     // greedy
		{"http://b/{id}/{path}", "a%2Fb", "%zz"},         // escapes in values
		{"http://b/x{id}y%41/{path}?q#f", "é", "\x00"},   // literal escape, query, fragment
		{"http://b/x?id={id}", "1", ""},                  // slot in the query
		{"http://b/%{id}", "41", ""},                     // escape split by a slot
		{"http://b/#/{id}", "1", ""},                     // fragment before the slot
		{"http:x://b/{id}", "1", ""},                     // opaque
		{"http://[::1]:80/{id}", "1", ""},                // IPv6 host
		{"http://b/ {id}\"<>", "1", ""},                  // characters the encoder escapes
		{"HTTP://B/{id}", "*", ""},                       // case
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, raw, id, path string) {
		tmpl, err := compileURI(raw, nil, []string{"id", "path"}, "path")
		if err != nil || tmpl.base == nil {
			return
		}
		vals := []string{id, path}
		got, gotErr := tmpl.build(vals)
		whole := tmpl
		whole.base = nil
		want, wantErr := whole.build(vals)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q with %q: error %v, whole-URI parse: %v", raw, vals, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(*got, *want) {
			t.Fatalf("%q with %q:\n got %#v\nwant %#v", raw, vals, *got, *want)
		}
	})
}
