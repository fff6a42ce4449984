package endpoints

import (
	"net/http"
	"strings"
)

// requestPath returns the path of the raw request target, before any
// decoding Go's URL parser did. Origin-form targets ("/a/b?q") are cut at
// the query; absolute-form targets ("https://host/a/b") use the URL's
// escaped path. Anything else ("*", authority-form) has no path.
func requestPath(r *http.Request) (string, bool) {
	u := r.RequestURI
	if u == "" { // a request built in-process rather than read from the wire
		return r.URL.EscapedPath(), true
	}
	if u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u, true
	}
	if u := r.URL; u != nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Opaque == "" {
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		return p, true
	}
	return "", false
}

// normalizePath checks a raw request path and returns it with every
// segment percent-decoded. It rejects, rather than repairs, anything that
// different parsers could read differently, so a path can only ever reach
// the route it visibly names:
//
//   - empty segments ("//"; a single trailing slash is allowed),
//   - "." and ".." segments,
//   - percent-encoded ".", "/", "\", ";" and control characters
//     (%2e %2f %5c %3b %00 ...), which would become those after decoding,
//   - raw "\", ";", "#", space and control characters,
//   - invalid percent-encoding.
//
// The result starts with "/" and, because "/" cannot be encoded, splits
// into the same segments as the raw path. A path without "%" is returned
// as is, without allocating.
func normalizePath(raw string) (string, bool) {
	if raw == "" || raw[0] != '/' {
		return "", false
	}
	pct := false
	segStart := 1
	for i := 1; i <= len(raw); i++ {
		if i == len(raw) || raw[i] == '/' {
			seg := raw[segStart:i]
			switch {
			case seg == "" && i != len(raw): // "//"; "/a/" ends with an empty segment, which is allowed
				return "", false
			case seg == "." || seg == "..":
				return "", false
			}
			segStart = i + 1
			continue
		}
		switch c := raw[i]; {
		case c < 0x20 || c == 0x7f || c == ' ':
			return "", false
		case c == '\\' || c == ';' || c == '#':
			return "", false
		case c == '%':
			if i+2 >= len(raw) {
				return "", false
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			switch b := hi<<4 | lo; {
			case b == '.' || b == '/' || b == '\\' || b == ';':
				return "", false
			case b < 0x20 || b == 0x7f:
				return "", false
			}
			pct = true
			i += 2
		}
	}
	if !pct {
		return raw, true
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' {
			hi, _ := unhex(raw[i+1])
			lo, _ := unhex(raw[i+2])
			b.WriteByte(hi<<4 | lo)
			i += 2
			continue
		}
		b.WriteByte(raw[i])
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
