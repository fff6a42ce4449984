package endpoints

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// proxyAPI routes to an echo backend at ${stageVariables.backend}.
const proxyAPI = `
name: proxied
resources:
  - path: /items/{id}
    methods:
      ANY:
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/v1/items/{id}?src=gw"}
  - path: /files/{path+}
    methods:
      GET:
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/store/{path}"}
  - path: /as-post
    methods:
      GET:
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/post", method: POST}
  - path: /missing-var
    methods:
      GET:
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.nothing}/x"}
  - path: /{proxy+}
    methods:
      ANY:
        integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/{proxy}"}
`

func proxyRegional(t *testing.T, b *backend) http.Handler {
	t.Helper()
	src := newSource(buildState(t, apiDef{id: "proxyapi01", def: proxyAPI, stages: prod(map[string]string{
		"backend": strings.TrimPrefix(b.URL, "http://"),
	})}))
	return newRegional(t, src).Handler()
}

func TestProxyPassesRequestExactly(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	h := proxyRegional(t, b)
	hdr := http.Header{
		"Content-Type": {"application/json"},
		"X-Custom":     {"one", "two"},
		"Cookie":       {"a=b"},
	}
	body := `{"hello":"world"}`
	w := call(t, h, "PATCH", "proxyapi01", "/prod/anything/a%20b/c?x=1&y=%2F&x=2", hdr, strings.NewReader(body))
	s := decodeSeen(t, w)
	if s.Method != "PATCH" {
		t.Errorf("method %q", s.Method)
	}
	if want := "/anything/a%20b/c?x=1&y=%2F&x=2"; s.RequestURI != want {
		t.Errorf("backend request URI %q, want %q", s.RequestURI, want)
	}
	if s.Body != body {
		t.Errorf("body %q, want %q", s.Body, body)
	}
	for k, v := range hdr {
		if got := s.Header[k]; strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if s.Host != strings.TrimPrefix(b.URL, "http://") {
		t.Errorf("backend Host %q, want the target host", s.Host)
	}
	if got := s.Header.Get("X-Forwarded-Host"); got != host("proxyapi01") {
		t.Errorf("X-Forwarded-Host %q", got)
	}
	// The response comes back with the backend's headers, but with the
	// gateway's request id, which is also the one the backend saw.
	if w.Header().Get("X-Backend") != "echo" {
		t.Error("backend response header lost")
	}
	id := w.Header().Values(headerRequestID)
	if len(id) != 1 || id[0] == "backend-made-this-up" || s.Header.Get(headerRequestID) != id[0] {
		t.Errorf("response request id %q, backend saw %q", id, s.Header.Get(headerRequestID))
	}
}

func TestProxyTargetSubstitution(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	h := proxyRegional(t, b)
	tests := []struct {
		method, target string
		wantURI        string
		wantMethod     string
	}{
		{"GET", "/prod/items/42", "/v1/items/42?src=gw", "GET"},
		{"DELETE", "/prod/items/42?force=1", "/v1/items/42?src=gw&force=1", "DELETE"},
		{"GET", "/prod/items/a%20b", "/v1/items/a%20b?src=gw", "GET"},
		{"GET", "/prod/items/%3Fx%3D1", "/v1/items/%3Fx=1?src=gw", "GET"}, // "?" stays in the path
		{"GET", "/prod/files/a/b%20c/d.txt", "/store/a/b%20c/d.txt", "GET"},
		{"GET", "/prod/files/dir/", "/store/dir/", "GET"},
		{"GET", "/prod/as-post", "/post", "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			t.Parallel()
			s := decodeSeen(t, call(t, h, tc.method, "proxyapi01", tc.target, nil, nil))
			if s.RequestURI != tc.wantURI {
				t.Errorf("backend URI %q, want %q", s.RequestURI, tc.wantURI)
			}
			if s.Method != tc.wantMethod {
				t.Errorf("backend method %q, want %q", s.Method, tc.wantMethod)
			}
		})
	}
}

func TestProxyInvalidTarget(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	h := proxyRegional(t, b)
	w := call(t, h, "GET", "proxyapi01", "/prod/missing-var", nil, nil)
	if w.Code != http.StatusInternalServerError || errBody(t, w).Message != "integration URI is invalid" {
		t.Fatalf("status %d body %q", w.Code, w.Body.String())
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("backend saw %d requests", n)
	}
}

// TestProxyForwardingHeaders shows that what the backend learns about the
// client comes from the gateway: a client-sent X-Forwarded-For is
// replaced, and listing the gateway's headers in Connection (which makes
// a naive proxy delete them as hop-by-hop) does not remove them.
func TestProxyForwardingHeaders(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	h := proxyRegional(t, b)
	tests := []struct {
		name string
		hdr  http.Header
	}{
		{"spoofed X-Forwarded-For", http.Header{"X-Forwarded-For": {"203.0.113.66"}, "Forwarded": {"for=203.0.113.66"}}},
		{"Connection strips gateway headers", http.Header{
			"Connection":           {"X-Forwarded-For, X-Portico-Request-Id"},
			"X-Forwarded-For":      {"203.0.113.66"},
			"X-Portico-Request-Id": {"client-chosen"},
		}},
		{"Connection lowercase", http.Header{"Connection": {"x-forwarded-for,x-portico-request-id,keep-alive"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := call(t, h, "GET", "proxyapi01", "/prod/whoami", tc.hdr, nil)
			s := decodeSeen(t, w)
			if got := s.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "192.0.2.7" {
				t.Errorf("backend X-Forwarded-For %q, want the client address 192.0.2.7", got)
			}
			if s.Header.Get("Forwarded") != "" {
				t.Errorf("client Forwarded header reached the backend: %q", s.Header.Get("Forwarded"))
			}
			if got := s.Header.Get(headerRequestID); got == "" || got != w.Header().Get(headerRequestID) {
				t.Errorf("backend request id %q, response %q", got, w.Header().Get(headerRequestID))
			}
			if s.Header.Get("Connection") != "" {
				t.Errorf("Connection reached the backend: %q", s.Header.Get("Connection"))
			}
			if got := w.Header().Get("Alt-Svc"); got != "" {
				t.Errorf("the backend's Alt-Svc reached the client: %q", got)
			}
		})
	}
}

// TestProxyAcceptEncoding shows that content coding is left to the client
// and the backend: the gateway adds no Accept-Encoding of its own, passes
// the client's on as sent, and relays an encoded body as it came.
func TestProxyAcceptEncoding(t *testing.T) {
	t.Parallel()
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		h := proxyRegional(t, b)
		for _, ae := range []string{"", "gzip, br", "identity"} {
			hdr := http.Header{}
			if ae != "" {
				hdr.Set("Accept-Encoding", ae)
			}
			s := decodeSeen(t, call(t, h, "GET", "proxyapi01", "/prod/ae", hdr, nil))
			if got := strings.Join(s.Header.Values("Accept-Encoding"), "|"); got != ae {
				t.Errorf("client Accept-Encoding %q: backend saw %q", ae, got)
			}
		}
	})
	t.Run("encoded body", func(t *testing.T) {
		t.Parallel()
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		io.WriteString(zw, "hello, compressed world")
		zw.Close()
		b := &backend{}
		b.Server = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				io.WriteString(w, "plain")
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(zipped.Bytes())
		}))
		h := proxyRegional(t, b)
		w := call(t, h, "GET", "proxyapi01", "/prod/z", http.Header{"Accept-Encoding": {"gzip"}}, nil)
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(w.Body.Bytes(), zipped.Bytes()) {
			t.Errorf("gzip: status %d, Content-Encoding %q, body %q; want the backend's gzip bytes", w.Code, w.Header().Get("Content-Encoding"), w.Body.Bytes())
		}
		w = call(t, h, "GET", "proxyapi01", "/prod/z", nil, nil)
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "" || w.Body.String() != "plain" {
			t.Errorf("no Accept-Encoding: status %d, Content-Encoding %q, body %q; want plain", w.Code, w.Header().Get("Content-Encoding"), w.Body.Bytes())
		}
	})
}

func TestProxyErrors(t *testing.T) {
	t.Parallel()
	slow := newSlowBackend(t)
	def := fmt.Sprintf(`
name: failing
resources:
  - path: /refused
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://%s/x"}}
  - path: /slow
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "%s/slow", timeout: 50ms}}
`, closedAddr(t), slow.URL)
	h := newRegional(t, newSource(buildState(t, apiDef{id: "failapi001", def: def, stages: prod(nil)}))).Handler()
	tests := []struct {
		target string
		status int
		msg    string
	}{
		{"/prod/refused", http.StatusBadGateway, errIntegrationFailed.message},
		{"/prod/slow", http.StatusGatewayTimeout, "Endpoint request timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			t.Parallel()
			w := call(t, h, "GET", "failapi001", tc.target, nil, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.status, w.Body.String())
			}
			if m := errBody(t, w).Message; m != tc.msg {
				t.Errorf("message %q, want %q", m, tc.msg)
			}
		})
	}
	t.Run("slow backend stops by itself", func(t *testing.T) {
		t.Parallel()
		call(t, h, "GET", "failapi001", "/prod/slow", nil, nil)
		select {
		case <-slow.stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow backend was not released after the gateway timed out")
		}
	})
}

// slowBackend answers only after a minute, but stops as soon as the
// gateway gives up on it (its request context ends when the gateway closes
// the connection), so the test never waits for it.
type slowBackend struct {
	*backend
	stopped chan struct{}
}

func newSlowBackend(t *testing.T) *slowBackend {
	b := &slowBackend{backend: &backend{}, stopped: make(chan struct{}, 16)}
	b.Server = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		defer func() { b.stopped <- struct{}{} }()
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
			io.WriteString(w, "too late")
		}
	}))
	return b
}

func TestMock(t *testing.T) {
	t.Parallel()
	def := `
name: mocked
resources:
  - path: /teapot
    methods:
      GET:
        integration:
          type: MOCK
          status_code: 418
          headers: {Content-Type: text/plain, x-mock: "yes"}
          body: "short and stout"
  - path: /empty
    methods:
      GET: {integration: {type: MOCK}}
`
	h := newRegional(t, newSource(buildState(t, apiDef{id: "mockapi001", def: def, stages: prod(nil)}))).Handler()
	for range 2 { // the canned response is shared; serving it twice must not change it
		w := call(t, h, "GET", "mockapi001", "/prod/teapot", nil, nil)
		if w.Code != 418 || w.Body.String() != "short and stout" {
			t.Fatalf("status %d body %q", w.Code, w.Body.String())
		}
		if w.Header().Get("Content-Type") != "text/plain" || w.Header().Get("X-Mock") != "yes" {
			t.Errorf("headers %v", w.Header())
		}
		if w.Header().Get(headerRequestID) == "" {
			t.Error("no request id")
		}
	}
	w := call(t, h, "GET", "mockapi001", "/prod/empty", nil, nil)
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("empty mock: status %d body %q", w.Code, w.Body.String())
	}
	w = call(t, h, "HEAD", "mockapi001", "/prod/teapot", nil, nil)
	if w.Code != 405 {
		t.Errorf("HEAD on a GET-only resource: status %d", w.Code)
	}
}
