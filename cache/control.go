package cache

import (
	"net/http"
	"strings"
	"time"
)

// maxDeltaSeconds caps delta-seconds values: RFC 9111 §1.2.2 has caches
// treat anything larger as 2^31.
const maxDeltaSeconds = 1 << 31

// directives holds the Cache-Control directives (RFC 9111 §5.2) this
// package acts on, from a request or a response.
type directives struct {
	noStore        bool
	noCache        bool // also no-cache="field": treated as plain no-cache
	private        bool // also private="field": treated as plain private
	mustRevalidate bool // must-revalidate or proxy-revalidate

	hasMaxAge, hasSMaxAge, hasSWR, hasSIE bool

	maxAge  time.Duration
	sMaxAge time.Duration
	swr     time.Duration // stale-while-revalidate, RFC 5861 §3
	sie     time.Duration // stale-if-error, RFC 5861 §4
}

// parseDirectives parses Cache-Control field values. It never fails:
// names are case-insensitive, whitespace and empty list members are
// skipped, values may be quoted. A malformed max-age or s-maxage counts as
// 0 (stale), the conservative reading of RFC 9111 §4.2.1; malformed
// stale-* values are ignored. Repeated directives keep the smallest value.
func parseDirectives(values []string) directives {
	var d directives
	for _, v := range values {
		d.parse(v)
	}
	return d
}

func (d *directives) parse(s string) {
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return
		}
		var name, val string
		hasVal := false
		end := strings.IndexAny(s, "=,")
		switch {
		case end < 0:
			name, s = s, ""
		case s[end] == ',':
			name, s = s[:end], s[end+1:]
		default:
			name, s, hasVal = s[:end], strings.TrimLeft(s[end+1:], " \t"), true
			if strings.HasPrefix(s, `"`) {
				val, s = unquote(s[1:])
				if i := strings.IndexByte(s, ','); i >= 0 {
					s = s[i+1:]
				} else {
					s = ""
				}
			} else if i := strings.IndexByte(s, ','); i >= 0 {
				val, s = s[:i], s[i+1:]
			} else {
				val, s = s, ""
			}
		}
		d.apply(strings.TrimSpace(name), strings.TrimSpace(val), hasVal)
	}
}

// unquote returns the content of a quoted string whose opening quote is
// already consumed, and what follows the closing quote. An unterminated
// string runs to the end.
func unquote(s string) (val, rest string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func (d *directives) apply(name, val string, hasVal bool) {
	switch {
	case strings.EqualFold(name, "no-store"):
		d.noStore = true
	case strings.EqualFold(name, "no-cache"):
		d.noCache = true
	case strings.EqualFold(name, "private"):
		d.private = true
	case strings.EqualFold(name, "must-revalidate"), strings.EqualFold(name, "proxy-revalidate"):
		d.mustRevalidate = true
	case strings.EqualFold(name, "max-age"):
		v, _ := deltaSeconds(val, hasVal)
		d.maxAge, d.hasMaxAge = keepMin(d.maxAge, d.hasMaxAge, v), true
	case strings.EqualFold(name, "s-maxage"):
		v, _ := deltaSeconds(val, hasVal)
		d.sMaxAge, d.hasSMaxAge = keepMin(d.sMaxAge, d.hasSMaxAge, v), true
	case strings.EqualFold(name, "stale-while-revalidate"):
		if v, ok := deltaSeconds(val, hasVal); ok {
			d.swr, d.hasSWR = keepMin(d.swr, d.hasSWR, v), true
		}
	case strings.EqualFold(name, "stale-if-error"):
		if v, ok := deltaSeconds(val, hasVal); ok {
			d.sie, d.hasSIE = keepMin(d.sie, d.hasSIE, v), true
		}
	}
}

func keepMin(old time.Duration, had bool, v time.Duration) time.Duration {
	if had && old < v {
		return old
	}
	return v
}

// deltaSeconds parses a delta-seconds value (RFC 9111 §1.2.2). It returns
// 0 and false for anything but a non-empty run of digits.
func deltaSeconds(v string, present bool) (time.Duration, bool) {
	if !present || v == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDeltaSeconds {
			n = n*10 + int(c-'0')
		}
	}
	n = min(n, maxDeltaSeconds)
	return time.Duration(n) * time.Second, true
}

// requestDirectives returns the directives of a request, reading the
// deprecated Pragma: no-cache when there is no Cache-Control (RFC 9111
// §5.4).
func requestDirectives(h http.Header) directives {
	if cc := h["Cache-Control"]; len(cc) > 0 {
		return parseDirectives(cc)
	}
	var d directives
	for _, v := range h["Pragma"] {
		if strings.Contains(strings.ToLower(v), "no-cache") {
			d.noCache = true
		}
	}
	return d
}

// freshness is how long a response may be served, from the moment it was
// received.
type freshness struct {
	lifetime   time.Duration // remaining freshness when received
	age        time.Duration // the origin's Age
	swr, sie   time.Duration
	revalidate bool // no-cache: validate before every use
}

// freshnessOf computes the freshness of a response with header h under p.
// It returns false when the response must not be stored.
func freshnessOf(h http.Header, p *Policy, now time.Time) (freshness, bool) {
	f := freshness{lifetime: p.TTL, swr: p.StaleWhileRevalidate, sie: p.StaleIfError}
	if a, ok := deltaSeconds(strings.TrimSpace(h.Get("Age")), true); ok {
		f.age = a
	}
	if !p.HonorOrigin {
		return f, f.lifetime > 0
	}
	d := parseDirectives(h["Cache-Control"])
	if d.noStore || d.private {
		return f, false
	}
	switch {
	case d.hasSMaxAge:
		f.lifetime = d.sMaxAge
	case d.hasMaxAge:
		f.lifetime = d.maxAge
	case len(h["Expires"]) > 0:
		// An invalid Expires means "already expired" (RFC 9111 §5.3).
		f.lifetime = 0
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			date := now
			if t, err := http.ParseTime(h.Get("Date")); err == nil {
				date = t
			}
			f.lifetime = exp.Sub(date)
		}
	}
	f.lifetime -= f.age
	if d.hasSWR {
		f.swr = d.swr
	}
	if d.hasSIE {
		f.sie = d.sie
	}
	if d.mustRevalidate {
		f.swr, f.sie = 0, 0
	}
	f.revalidate = d.noCache
	return f, f.lifetime > 0
}
