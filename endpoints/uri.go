package endpoints

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// uriTemplate is an integration URI compiled for one stage: stage
// variables are substituted at compile time (they are fixed per stage), so
// only path parameters are filled in per request. A URI without
// parameters is parsed once.
type uriTemplate struct {
	raw     string
	parts   []uriPart
	size    int      // bytes of literal text, to size the builder
	dynamic bool     // has parameter slots
	static  *url.URL // the parsed URI when it has no parameters; nil if invalid
}

// uriPart is literal text (param < 0) or a path parameter slot.
type uriPart struct {
	lit    string
	param  int
	greedy bool
}

const stageVarPrefix = "${stageVariables."

var errInvalidURI = errors.New("not an absolute http or https URL")

// compileURI parses an integration URI. params are the route's parameter
// names in path order; greedy names the greedy one, if any. A missing
// stage variable becomes the empty string, as in API Gateway.
func compileURI(raw string, vars map[string]string, params []string, greedy string) (uriTemplate, error) {
	t := uriTemplate{raw: raw}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, uriPart{lit: lit.String(), param: -1})
			t.size += lit.Len()
			lit.Reset()
		}
	}
	for s := raw; s != ""; {
		if strings.HasPrefix(s, stageVarPrefix) {
			if end := strings.IndexByte(s, '}'); end > 0 {
				lit.WriteString(vars[s[len(stageVarPrefix):end]])
				s = s[end+1:]
				continue
			}
		}
		if s[0] == '{' {
			if end := strings.IndexByte(s, '}'); end > 0 && !strings.ContainsAny(s[1:end], "{$") {
				name := strings.TrimSuffix(s[1:end], "+")
				idx := -1
				for i, p := range params {
					if p == name {
						idx = i
					}
				}
				if idx < 0 {
					return t, fmt.Errorf("uri %q: placeholder {%s} is not a path parameter", raw, name)
				}
				flush()
				t.parts = append(t.parts, uriPart{param: idx, greedy: name == greedy})
				s = s[end+1:]
				continue
			}
		}
		lit.WriteByte(s[0])
		s = s[1:]
	}
	flush()
	for _, p := range t.parts {
		t.dynamic = t.dynamic || p.param >= 0
	}
	if !t.dynamic {
		// Without slots there is at most one literal part.
		s := ""
		if len(t.parts) == 1 {
			s = t.parts[0].lit
		}
		t.static, _ = parseTarget(s)
	}
	return t, nil
}

// build returns the backend URL for the captured parameter values. The
// returned URL must not be modified: without parameters it is shared.
func (t *uriTemplate) build(vals []string) (*url.URL, error) {
	if !t.dynamic {
		if t.static == nil {
			return nil, errInvalidURI
		}
		return t.static, nil
	}
	var b strings.Builder
	b.Grow(t.size + 32)
	for _, p := range t.parts {
		switch {
		case p.param < 0:
			b.WriteString(p.lit)
		case p.param >= len(vals):
			// a parameter the route did not capture; cannot happen for a
			// compiled route, but never index out of range on it
		case p.greedy:
			first := true
			for seg := range strings.SplitSeq(vals[p.param], "/") {
				if !first {
					b.WriteByte('/')
				}
				first = false
				b.WriteString(url.PathEscape(seg))
			}
		default:
			b.WriteString(url.PathEscape(vals[p.param]))
		}
	}
	return parseTarget(b.String())
}

// parseTarget accepts only absolute http(s) URLs with a host and no
// user information.
func parseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, errInvalidURI
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}
