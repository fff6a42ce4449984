package configs

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		want     []Segment
		fragment string // when an error is expected
	}{
		{in: "/", want: nil},
		{in: "/items", want: []Segment{{Literal: "items"}}},
		{in: "/items/{id}", want: []Segment{{Literal: "items"}, {Param: "id"}}},
		{in: "/a/{x}/b/{y_2}", want: []Segment{{Literal: "a"}, {Param: "x"}, {Literal: "b"}, {Param: "y_2"}}},
		{in: "/files/{proxy+}", want: []Segment{{Literal: "files"}, {Param: "proxy", Greedy: true}}},
		{in: "/{proxy+}", want: []Segment{{Param: "proxy", Greedy: true}}},
		{in: "/v1.0/a-b_c~d:e@f", want: []Segment{{Literal: "v1.0"}, {Literal: "a-b_c~d:e@f"}}},
		{in: "", fragment: "must start with /"},
		{in: "items", fragment: "must start with /"},
		{in: "/items/", fragment: "must not end with /"},
		{in: "/a//b", fragment: "empty path segment"},
		{in: "//", fragment: "must not end with /"},
		{in: "/items/{id", fragment: `character '{' is not allowed`},
		{in: "/items/id}", fragment: `character '}' is not allowed`},
		{in: "/items/{}", fragment: "name must be letters"},
		{in: "/items/{+}", fragment: "name must be letters"},
		{in: "/items/{a-b}", fragment: "name must be letters"},
		{in: "/items/{a++}", fragment: "name must be letters"},
		{in: "/items/{" + strings.Repeat("p", 129) + "}", fragment: "name must be letters"},
		{in: "/{proxy+}/x", fragment: "must be the last segment"},
		{in: "/{id}/{id}", fragment: `parameter "id" appears twice`},
		{in: "/{id}/{id+}", fragment: `parameter "id" appears twice`},
		{in: "/a/..", fragment: `segment ".." is not allowed`},
		{in: "/./a", fragment: `segment "." is not allowed`},
		{in: "/a b", fragment: `character ' ' is not allowed`},
		{in: "/a%2Fb", fragment: `character '%' is not allowed`},
		{in: "/a?b=1", fragment: `character '?' is not allowed`},
		{in: "/caf\u00e9", fragment: "is not allowed"},
		{in: "/$default", fragment: `character '$' is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTemplate(tt.in)
			if tt.fragment != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fragment) {
					t.Fatalf("ParseTemplate(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.fragment)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tt.in, err)
			}
			if got.Raw != tt.in || !reflect.DeepEqual(got.Segments, tt.want) {
				t.Fatalf("ParseTemplate(%q) = %+v, want segments %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTemplateShapeParamsGreedy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		shape  string
		params []string
		greedy string
	}{
		{"/", "/", nil, ""},
		{"/items", "/items", nil, ""},
		{"/items/{id}", "/items/{}", []string{"id"}, ""},
		{"/items/{name}", "/items/{}", []string{"name"}, ""},
		{"/a/{x}/b/{y}", "/a/{}/b/{}", []string{"x", "y"}, ""},
		{"/files/{proxy+}", "/files/{+}", []string{"proxy"}, "proxy"},
		{"/{id}/{rest+}", "/{}/{+}", []string{"id", "rest"}, "rest"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			tmpl, err := ParseTemplate(tt.in)
			if err != nil {
				t.Fatalf("ParseTemplate: %v", err)
			}
			if got := tmpl.Shape(); got != tt.shape {
				t.Errorf("Shape = %q, want %q", got, tt.shape)
			}
			if got := tmpl.Params(); !reflect.DeepEqual(got, tt.params) {
				t.Errorf("Params = %q, want %q", got, tt.params)
			}
			if got := tmpl.Greedy(); got != tt.greedy {
				t.Errorf("Greedy = %q, want %q", got, tt.greedy)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	a := mustAPI(t, restYAML)
	var got []string
	for _, op := range a.Operations() {
		got = append(got, op.Field+" "+op.Key())
	}
	want := []string{
		"resources[0].methods.GET GET /",
		"resources[1].methods.DELETE DELETE /items/{id}",
		"resources[1].methods.GET GET /items/{id}",
		"resources[2].methods.ANY ANY /files/{proxy+}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rest operations:\n got %q\nwant %q", got, want)
	}
	h := mustAPI(t, httpYAML)
	ops := h.Operations()
	if len(ops) != 4 || !ops[3].Default || ops[3].Key() != DefaultRouteKey || ops[0].Method != "GET" || ops[0].Path != "/items/{id}" {
		t.Errorf("http operations: %+v", ops)
	}
}

// render joins a template's segments back into a path.
func render(t Template) string {
	if len(t.Segments) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range t.Segments {
		b.WriteByte('/')
		switch {
		case s.Greedy:
			b.WriteString("{" + s.Param + "+}")
		case s.Param != "":
			b.WriteString("{" + s.Param + "}")
		default:
			b.WriteString(s.Literal)
		}
	}
	return b.String()
}

func FuzzParseTemplate(f *testing.F) {
	for _, seed := range []string{
		"/",               // the root
		"/items/{id}",     // a parameter
		"/files/{proxy+}", // greedy, last
		"/{proxy+}/x",     // greedy, not last
		"/a//b",           // empty segment
		"/items/{id",      // unclosed brace
		"/{}",             // empty name
		"/{a}/{a}",        // repeated name
		"/a/..",           // dot segment
		"/v1.0/~user:@x",  // every literal punctuation allowed
		"/caf\u00e9",      // non-ASCII
		"/\xff",           // invalid UTF-8
		"/{{id}}",         // nested braces
		"/{id+}/",         // trailing slash
		"",                // empty
		"/$default",       // an HTTP API route key, not a path
		"/{a}{b}",         // two parameters in one segment
		"/a/{b+}x",        // text after a greedy parameter
		"/{x}/{y}",        // two parameters
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tmpl, err := ParseTemplate(p)
		if err != nil {
			return
		}
		if got := render(tmpl); got != p || tmpl.Raw != p {
			t.Fatalf("ParseTemplate(%q) renders back as %q (Raw %q)", p, got, tmpl.Raw)
		}
		seen := map[string]bool{}
		for i, s := range tmpl.Segments {
			if (s.Literal == "") == (s.Param == "") {
				t.Fatalf("segment %d of %q is neither literal nor parameter: %+v", i, p, s)
			}
			if s.Greedy && i != len(tmpl.Segments)-1 {
				t.Fatalf("greedy segment %d of %q is not last", i, p)
			}
			if s.Param != "" {
				if seen[s.Param] {
					t.Fatalf("parameter %q of %q appears twice", s.Param, p)
				}
				seen[s.Param] = true
			}
		}
		// The shape is itself a path of the same length in segments.
		if got := strings.Count(tmpl.Shape(), "/"); got != max(1, len(tmpl.Segments)) {
			t.Fatalf("Shape(%q) = %q has %d segments, want %d", p, tmpl.Shape(), got, len(tmpl.Segments))
		}
	})
}
