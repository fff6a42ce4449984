package waf

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkWrap measures one benign request through Wrap, to a handler
// that only reads the body, with the Core Rule Set off and on.
// "unwrapped" is the cost of building the request and recorder alone:
//
//	go test -run '^$' -bench Wrap ./endpoints/waf/
func BenchmarkWrap(b *testing.B) {
	quiet := Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 }}
	ipAndRate := Config{
		IPAllow:   []string{"192.0.2.0/24", "2001:db8::/32"},
		IPDeny:    []string{"192.0.2.66", "198.51.100.0/24"},
		RateRules: []RateRule{{Limit: 1 << 30}},
	}
	crs := Config{CoreRuleSet: &CRS{}}
	all := ipAndRate
	all.CoreRuleSet = crs.CoreRuleSet

	var record strings.Builder
	record.WriteString(`[`)
	for i := range 10 {
		if i > 0 {
			record.WriteByte(',')
		}
		fmt.Fprintf(&record, `{"id":%d,"name":"Customer %d","email":"c%d@example.com"}`, i, i, i)
	}
	record.WriteString(`]`)

	type req struct{ method, target, body string }
	get := req{"GET", "/prod/items?id=42&sort=name", ""}
	small := req{"POST", "/prod/items", `{"name":"Widget","price":9.99,"tags":["red","blue"]}`}
	thirty := req{"POST", "/prod/items", record.String()}
	for _, bc := range []struct {
		name string
		cfg  Config
		req  req
	}{
		{"GET/unwrapped", Config{}, get},
		{"GET/off", Config{}, get},
		{"GET/ip+rate", ipAndRate, get},
		{"GET/crs", crs, get},
		{"GET/ip+rate+crs", all, get},
		{"POST_json_5_values/off", Config{}, small},
		{"POST_json_5_values/crs", crs, small},
		{"POST_json_30_values/crs", crs, thirty},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := New(bc.cfg, quiet)
			if err != nil {
				b.Fatal(err)
			}
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			})
			if !strings.HasSuffix(bc.name, "/unwrapped") {
				h = f.Wrap(h) // the baseline measures building the request
			}
			b.ReportAllocs()
			for b.Loop() {
				r := newRequest(bc.req.method, bc.req.target, "", bc.req.body)
				if bc.req.body != "" {
					r.Header.Set("Content-Type", "application/json")
				}
				r.Header.Set("Accept-Encoding", "gzip, deflate, br")
				r.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
