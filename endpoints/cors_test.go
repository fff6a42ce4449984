package endpoints

import (
	"net/http"
	"testing"
)

const corsAPI = `
name: cors
cors:
  allow_origins: ["https://app.example.com"]
  allow_methods: [PUT, DELETE]
  allow_headers: [Content-Type, X-Trace]
  expose_headers: [X-Request-Id]
  max_age: 10m
  allow_credentials: true
resources:
  - path: /items
    methods:
      GET: {integration: {type: MOCK, body: "items", headers: {Access-Control-Allow-Origin: "*"}}}
      OPTIONS: {integration: {type: MOCK, status_code: 200, body: "the OPTIONS route"}}
`

func TestCORS(t *testing.T) {
	t.Parallel()
	h := newRegional(t, newSource(buildState(t,
		apiDef{id: "corsapi001", def: corsAPI, stages: prod(nil)},
		apiDef{id: "anyorigin1", def: "name: any\ncors: {allow_origins: ['*'], allow_methods: ['*'], allow_headers: ['*']}\nresources: [{path: /x, methods: {GET: {integration: {type: MOCK, body: x}}}}]\n", stages: prod(nil)},
	))).Handler()
	req := func(api, method, path string, hdr map[string]string) *http.Request {
		r := httptestRequest(method, path)
		r.Host = host(api)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	tests := []struct {
		name   string
		r      *http.Request
		status int
		want   map[string]string // header → value ("" = absent)
	}{
		{"preflight allowed", req("corsapi001", "OPTIONS", "/prod/items", map[string]string{hOrigin: "https://app.example.com", hReqMethod: "PUT", hReqHeaders: "content-type, x-trace"}), 204,
			map[string]string{hAllowOrigin: "https://app.example.com", hAllowMethods: "PUT, DELETE", hAllowHeaders: "Content-Type, X-Trace", hAllowCreds: "true", hMaxAge: "600", "Vary": "Origin"}},
		{"preflight for a safelisted method", req("corsapi001", "OPTIONS", "/prod/items", map[string]string{hOrigin: "https://APP.example.com", hReqMethod: "GET"}), 204,
			map[string]string{hAllowOrigin: "https://APP.example.com"}},
		{"preflight, other origin", req("corsapi001", "OPTIONS", "/prod/items", map[string]string{hOrigin: "https://evil.example.net", hReqMethod: "PUT"}), 403,
			map[string]string{hAllowOrigin: ""}},
		{"preflight, method not allowed", req("corsapi001", "OPTIONS", "/prod/items", map[string]string{hOrigin: "https://app.example.com", hReqMethod: "PATCH"}), 403, nil},
		{"preflight, header not allowed", req("corsapi001", "OPTIONS", "/prod/items", map[string]string{hOrigin: "https://app.example.com", hReqMethod: "PUT", hReqHeaders: "X-Secret"}), 403, nil},
		{"plain OPTIONS reaches the route", req("corsapi001", "OPTIONS", "/prod/items", nil), 200, map[string]string{hAllowOrigin: ""}},
		{"actual request, allowed origin", req("corsapi001", "GET", "/prod/items", map[string]string{hOrigin: "https://app.example.com"}), 200,
			map[string]string{hAllowOrigin: "https://app.example.com", hAllowCreds: "true", hExposeHeaders: "X-Request-Id", "Vary": "Origin"}},
		// The backend's own "*" never reaches a caller the API does not allow.
		{"actual request, other origin", req("corsapi001", "GET", "/prod/items", map[string]string{hOrigin: "https://evil.example.net"}), 200,
			map[string]string{hAllowOrigin: "", hAllowCreds: "", "Vary": "Origin"}},
		{"actual request, no origin", req("corsapi001", "GET", "/prod/items", nil), 200, map[string]string{hAllowOrigin: ""}},
		{"errors carry CORS headers too", req("corsapi001", "GET", "/prod/nothing", map[string]string{hOrigin: "https://app.example.com"}), 404,
			map[string]string{hAllowOrigin: "https://app.example.com"}},
		{"wildcards", req("anyorigin1", "OPTIONS", "/prod/x", map[string]string{hOrigin: "https://a.test", hReqMethod: "PATCH", hReqHeaders: "X-Any"}), 204,
			map[string]string{hAllowOrigin: "*", hAllowMethods: "PATCH", hAllowHeaders: "X-Any", hAllowCreds: ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := serve(h, tc.r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			for k, v := range tc.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
