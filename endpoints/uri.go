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
// parameters is parsed once; one whose parameters all sit in its path
// has everything but the path parsed once.
type uriTemplate struct {
	raw     string
	parts   []uriPart
	size    int      // bytes of literal text, to size the builder
	dynamic bool     // has parameter slots
	static  *url.URL // the parsed URI when it has no parameters; nil if invalid

	// base is the URI without its path when every slot is in the path:
	// scheme, host, query. The path is then built from pathParts per
	// request and set on a copy of base. nil when the whole URI must be
	// built and parsed per request.
	base      *url.URL
	pathParts []uriPart
	pathSize  int
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
		return t, nil
	}
	t.splitPath()
	return t, nil
}

// splitPath sets base and pathParts when every slot of t lies in the
// path: after the authority and before any "?" or "#". Slot values are
// path-escaped, so they never contain "?" or "#" and cannot move where
// the path ends; the literal text decides it, as it would for url.Parse
// on the whole URI. Anything else (a slot in the host or the query, text
// url.Parse rejects outright) keeps the whole-URI parse.
func (t *uriTemplate) splitPath() {
	if len(t.parts) == 0 || t.parts[0].param >= 0 {
		return // a slot in the scheme or host
	}
	for _, p := range t.parts {
		if p.param < 0 && strings.ContainsFunc(p.lit, isCTL) {
			return
		}
	}
	head := t.parts[0].lit
	i := strings.Index(head, "://")
	if i < 0 || strings.ContainsAny(head, "?#") {
		return
	}
	j := strings.IndexByte(head[i+3:], '/')
	if j < 0 {
		return // the first slot is still in the authority
	}
	authority := head[:i+3+j]
	path := []uriPart{{lit: head[i+3+j:], param: -1}}
	suffix := ""
	last := len(t.parts) - 1
	for k, p := range t.parts[1:] {
		if p.param >= 0 {
			path = append(path, p)
			continue
		}
		cut := strings.IndexAny(p.lit, "?#")
		switch {
		case cut < 0:
			path = append(path, p)
		case k+1 != last:
			return // a slot in the query or the fragment
		default:
			if cut > 0 {
				path = append(path, uriPart{lit: p.lit[:cut], param: -1})
			}
			suffix = p.lit[cut:]
		}
	}
	base, err := parseTarget(authority + suffix)
	if err != nil || base.Path != "" || base.RawPath != "" {
		return
	}
	t.base, t.pathParts = base, path
	for _, p := range path {
		t.pathSize += len(p.lit)
	}
}

// isCTL reports an ASCII control character, which url.Parse refuses.
func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

// build returns the backend URL for the captured parameter values.
// Without parameters it is the template's shared URL, which must not be
// modified; with parameters each call returns a new URL.
func (t *uriTemplate) build(vals []string) (*url.URL, error) {
	switch {
	case !t.dynamic:
		if t.static == nil {
			return nil, errInvalidURI
		}
		return t.static, nil
	case t.base != nil:
		// What url.Parse does with the path part of a URI.
		escaped := expand(t.pathParts, t.pathSize, vals)
		path, err := url.PathUnescape(escaped)
		if err != nil {
			return nil, err
		}
		dst := new(url.URL)
		*dst = *t.base
		dst.Path = path
		if dst.EscapedPath() != escaped {
			dst.RawPath = escaped
		}
		return dst, nil
	default:
		return parseTarget(expand(t.parts, t.size, vals))
	}
}

// expand writes the parts out with the parameter values path-escaped; a
// greedy value keeps its slashes.
func expand(parts []uriPart, size int, vals []string) string {
	var b strings.Builder
	b.Grow(size + 32)
	for _, p := range parts {
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
	return b.String()
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
