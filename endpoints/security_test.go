package endpoints

import (
	"net/http"
	"strings"
	"testing"
)

// guardedAPI has an /admin route and a public catch-all next to it, each
// on its own backend, so a test can tell which one a request reached.
func guardedState(t *testing.T, admin, public *backend) http.Handler {
	t.Helper()
	def := `
name: guarded
resources:
  - path: /admin
    methods:
      ANY: {integration: {type: HTTP_PROXY, uri: "` + admin.URL + `/admin"}}
  - path: /public/{p}
    methods:
      ANY: {integration: {type: HTTP_PROXY, uri: "` + public.URL + `/public/{p}"}}
`
	return newRegional(t, newSource(buildState(t, apiDef{id: "guarded001", def: def, stages: prod(nil)}))).Handler()
}

// traversals are request targets that some parser somewhere reads as
// /prod/admin. None of them may reach the /admin route.
var traversals = []string{
	"/prod/public/../admin",
	"/prod/x/../admin",
	"/prod/./admin",
	"/prod//admin",
	"//prod/admin",
	"/prod/public/%2e%2e/admin",
	"/prod/public/%2E%2E/admin",
	"/prod/public/.%2e/admin",
	"/prod/public%2f..%2fadmin",
	"/prod/public%2F..%2Fadmin",
	"/prod/public/..%5cadmin",
	"/prod/public/..%5Cadmin",
	"/prod/public\\..\\admin",
	"/prod/public/..;/admin",
	"/prod/admin;",
	"/prod/admin;jsessionid=x",
	"/prod/admin%3b",
	"/prod/admin%00",
	"/prod/admin%2f",
	"/prod/%2fadmin",
	"/prod/public/%252e%252e/admin", // double-encoded: decodes once to a literal "%2e%2e"
}

func TestTraversalCannotReachAdmin(t *testing.T) {
	t.Parallel()
	admin, public := newBackend(t), newBackend(t)
	h := guardedState(t, admin, public)
	t.Run("group", func(t *testing.T) {
		for _, target := range traversals {
			t.Run(target, func(t *testing.T) {
				t.Parallel()
				w := call(t, h, "GET", "guarded001", target, nil, nil)
				switch w.Code {
				case http.StatusBadRequest, http.StatusNotFound:
					errBody(t, w)
				case http.StatusOK:
					if s := decodeSeen(t, w); strings.HasPrefix(s.RequestURI, "/admin") || strings.Contains(s.RequestURI, "..") {
						t.Fatalf("reached %q", s.RequestURI)
					}
				default:
					t.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
			})
		}
	})
	if n := admin.hits.Load(); n != 0 {
		t.Errorf("admin backend saw %d requests", n)
	}
	// The one legitimate way in still works.
	if w := call(t, h, "GET", "guarded001", "/prod/admin", nil, nil); w.Code != 200 || admin.hits.Load() != 1 {
		t.Errorf("plain /prod/admin: status %d, admin hits %d", w.Code, admin.hits.Load())
	}
}
