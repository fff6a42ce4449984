package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		in   string
		want directives
	}{
		{"", directives{}},
		{"max-age=60", directives{hasMaxAge: true, maxAge: 60 * s}},
		{"MAX-AGE=60", directives{hasMaxAge: true, maxAge: 60 * s}},
		{`max-age="60"`, directives{hasMaxAge: true, maxAge: 60 * s}},
		{" public ,  max-age = 60 ,, ", directives{hasMaxAge: true, maxAge: 60 * s}},
		{"max-age=abc", directives{hasMaxAge: true}}, // malformed: stale
		{"max-age=-1", directives{hasMaxAge: true}},  // malformed: stale
		{"max-age", directives{hasMaxAge: true}},     // no value: stale
		{"max-age=60, max-age=10", directives{hasMaxAge: true, maxAge: 10 * s}},
		{"max-age=99999999999999999999", directives{hasMaxAge: true, maxAge: maxDeltaSeconds * s}},
		{"s-maxage=5, max-age=100", directives{hasMaxAge: true, maxAge: 100 * s, hasSMaxAge: true, sMaxAge: 5 * s}},
		{"no-store", directives{noStore: true}},
		{"No-Cache", directives{noCache: true}},
		{`no-cache="Set-Cookie, X-Foo", max-age=5`, directives{noCache: true, hasMaxAge: true, maxAge: 5 * s}},
		{`private="a,b"`, directives{private: true}},
		{"proxy-revalidate", directives{mustRevalidate: true}},
		{"stale-while-revalidate=30, stale-if-error=600", directives{hasSWR: true, swr: 30 * s, hasSIE: true, sie: 600 * s}},
		{"stale-while-revalidate=x", directives{}},
		{`community="UCI", max-age=3`, directives{hasMaxAge: true, maxAge: 3 * s}},
		{`ext="unterminated, max-age=3`, directives{}},
		{`ext="esc\"aped", max-age=3`, directives{hasMaxAge: true, maxAge: 3 * s}},
	}
	for _, tc := range tests {
		if got := parseDirectives([]string{tc.in}); got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestFreshnessOf(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	tests := []struct {
		name     string
		p        Policy
		hdr      []string
		ok       bool
		lifetime time.Duration
		swr, sie time.Duration
		reval    bool
	}{
		{"ttl", Policy{TTL: time.Minute, StaleIfError: time.Hour}, []string{"Cache-Control", "no-store"}, true, time.Minute, 0, time.Hour, false},
		{"honor expires", Policy{HonorOrigin: true}, []string{"Date", date, "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, time.Hour, 0, 0, false},
		{"honor max-age over expires", Policy{HonorOrigin: true}, []string{"Cache-Control", "max-age=5", "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, 5 * time.Second, 0, 0, false},
		{"honor age", Policy{HonorOrigin: true}, []string{"Cache-Control", "max-age=60", "Age", "20"}, true, 40 * time.Second, 0, 0, false},
		{"honor origin windows win", Policy{HonorOrigin: true, StaleWhileRevalidate: time.Hour, StaleIfError: time.Hour},
			[]string{"Cache-Control", "max-age=1, stale-while-revalidate=2"}, true, time.Second, 2 * time.Second, time.Hour, false},
		{"honor must-revalidate", Policy{HonorOrigin: true, StaleWhileRevalidate: time.Hour, StaleIfError: time.Hour},
			[]string{"Cache-Control", "max-age=1, must-revalidate"}, true, time.Second, 0, 0, false},
		{"honor no-cache", Policy{HonorOrigin: true, TTL: time.Minute}, []string{"Cache-Control", "no-cache"}, true, time.Minute, 0, 0, true},
		{"honor private", Policy{HonorOrigin: true, TTL: time.Minute}, []string{"Cache-Control", "private"}, false, 0, 0, 0, false},
	}
	for _, tc := range tests {
		h := http.Header{}
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			h.Add(tc.hdr[i], tc.hdr[i+1])
		}
		f, ok := freshnessOf(h, &tc.p, now)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if f.lifetime != tc.lifetime || f.swr != tc.swr || f.sie != tc.sie || f.revalidate != tc.reval {
			t.Errorf("%s: got %+v", tc.name, f)
		}
	}
}

func TestPolicyDefaultsKeepKeys(t *testing.T) {
	t.Parallel()
	raw := Policy{TTL: time.Minute, KeyQuery: []string{"b", "a"}, KeyHeaders: []string{"x-tenant", "accept-language"}}
	ready := raw.WithDefaults()
	// An entry stored through the raw policy (Serve prepares it) is found
	// through the prepared one: preparing does not change keys.
	e := newEnv(t, "edge")
	o := &origin{fn: text("v1")}
	hdr := []string{"X-Tenant", "t", "Accept-Language", "en", "Authorization", "x"}
	e.get(&raw, o, "/p?a=1&b=2", hdr...)
	e.get(&ready, o, "/p?a=1&b=2", hdr...)
	if n := o.calls.Load(); n != 1 {
		t.Errorf("WithDefaults changed the key: origin called %d times, want 1", n)
	}
	if ready.KeyHeaders[0] != "Accept-Language" || ready.MaxEntryBytes != DefaultMaxEntryBytes {
		t.Errorf("defaults not applied: %+v", ready)
	}
}

// FuzzParseDirectives checks that any Cache-Control value parses without
// panicking into bounded, non-negative durations.
func FuzzParseDirectives(f *testing.F) {
	for _, seed := range []string{
		"max-age=60",                                     // plain
		"public, s-maxage=10, max-age=0",                 // shared-cache override
		`no-cache="Set-Cookie", private`,                 // qualified forms
		`ext="unterminated`,                              // broken quoting
		"stale-while-revalidate=99999999999999999999999", // overflow
		",,=,=;\"\\",                                     // punctuation only
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseDirectives([]string{s})
		for _, v := range []time.Duration{d.maxAge, d.sMaxAge, d.swr, d.sie} {
			if v < 0 || v > maxLifetime {
				t.Fatalf("%q: duration %v out of range", s, v)
			}
		}
		p := &Policy{TTL: time.Minute, HonorOrigin: true}
		h := http.Header{"Cache-Control": {s}, "Age": {s}, "Expires": {s}}
		if fr, ok := freshnessOf(h, p, time.Unix(0, 0)); ok && fr.lifetime <= 0 {
			t.Fatalf("%q: storable with lifetime %v", s, fr.lifetime)
		}
	})
}
