package configs

import (
	"fmt"
	"sort"
	"strings"
)

// Segment is one part of a path template: a literal, a {param}, or the
// greedy {name+} that must come last.
type Segment struct {
	Literal string
	Param   string
	Greedy  bool
}

// Template is a parsed path template such as "/items/{id}".
type Template struct {
	Raw      string
	Segments []Segment
}

// ParseTemplate parses a resource path or the path part of a route key.
// "/" is the root. Literal segments may use letters, digits and -._~:@;
// parameters are {name} with a name of letters, digits and underscores;
// {name+} is greedy and only allowed as the last segment.
func ParseTemplate(p string) (Template, error) {
	t := Template{Raw: p}
	if p == "" || p[0] != '/' {
		return t, fmt.Errorf("must start with /")
	}
	if p == "/" {
		return t, nil
	}
	if strings.HasSuffix(p, "/") {
		return t, fmt.Errorf("must not end with /")
	}
	seen := map[string]bool{}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		switch {
		case part == "":
			return t, fmt.Errorf("empty path segment")
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			greedy := strings.HasSuffix(name, "+")
			name = strings.TrimSuffix(name, "+")
			if !isParamName(name) {
				return t, fmt.Errorf("parameter %q: name must be letters, digits or _", part)
			}
			if greedy && i != len(parts)-1 {
				return t, fmt.Errorf("greedy parameter %q must be the last segment", part)
			}
			if seen[name] {
				return t, fmt.Errorf("parameter %q appears twice", name)
			}
			seen[name] = true
			t.Segments = append(t.Segments, Segment{Param: name, Greedy: greedy})
		default:
			if part == "." || part == ".." {
				return t, fmt.Errorf("segment %q is not allowed", part)
			}
			for _, r := range part {
				if !isLiteralRune(r) {
					return t, fmt.Errorf("segment %q: character %q is not allowed", part, r)
				}
			}
			t.Segments = append(t.Segments, Segment{Literal: part})
		}
	}
	return t, nil
}

// Shape is the template with parameter names erased, so "/a/{x}" and
// "/a/{y}" have the same shape and would match the same requests.
func (t Template) Shape() string {
	var b strings.Builder
	for _, s := range t.Segments {
		b.WriteByte('/')
		switch {
		case s.Greedy:
			b.WriteString("{+}")
		case s.Param != "":
			b.WriteString("{}")
		default:
			b.WriteString(s.Literal)
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// Params lists the template's parameter names.
func (t Template) Params() []string {
	var ps []string
	for _, s := range t.Segments {
		if s.Param != "" {
			ps = append(ps, s.Param)
		}
	}
	return ps
}

// Greedy returns the name of the greedy parameter, if any.
func (t Template) Greedy() string {
	if n := len(t.Segments); n > 0 && t.Segments[n-1].Greedy {
		return t.Segments[n-1].Param
	}
	return ""
}

func isParamName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func isLiteralRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-._~:@", r)
}

// Operation is one (method, path) pair of an API and the integration that
// answers it, whatever the API's kind. The router, validation and OpenAPI
// export all work on operations.
type Operation struct {
	// Method is an HTTP method or ANY. Empty for the $default route.
	Method string
	// Path is the path template; empty for the $default route.
	Path        string
	Default     bool
	Integration Integration
	Access      Access
	// Field is where the operation lives in the definition, for errors.
	Field string
}

// Key renders the operation as an HTTP-API route key.
func (o Operation) Key() string {
	if o.Default {
		return DefaultRouteKey
	}
	return o.Method + " " + o.Path
}

// Operations flattens resources or routes into operations, in a stable
// order (resources in order, methods sorted).
func (a *API) Operations() []Operation {
	var ops []Operation
	for i, r := range a.Resources {
		methods := make([]string, 0, len(r.Methods))
		for m := range r.Methods {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			ops = append(ops, Operation{
				Method: m, Path: r.Path, Integration: r.Methods[m].Integration, Access: r.Methods[m].Access,
				Field: fmt.Sprintf("resources[%d].methods.%s", i, m),
			})
		}
	}
	for i, r := range a.Routes {
		op := Operation{Integration: r.Integration, Access: r.Access, Field: fmt.Sprintf("routes[%d]", i)}
		if r.Key == DefaultRouteKey {
			op.Default = true
		} else if m, p, ok := strings.Cut(r.Key, " "); ok {
			op.Method, op.Path = m, p
		} else {
			op.Method = r.Key // reported by validation
		}
		ops = append(ops, op)
	}
	return ops
}
