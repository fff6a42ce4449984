package endpoints

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-gw/portico/configs"
)

const helloAPI = `
name: hello
resources:
  - path: /hello
    methods:
      GET: {integration: {type: MOCK, body: "hello v1"}}
  - path: /admin
    methods:
      GET: {integration: {type: MOCK, body: "admin"}}
`

func TestRegionalServesHTTP2AndHTTP1(t *testing.T) {
	t.Parallel()
	g := newRegional(t, newSource(buildState(t, apiDef{id: "helloapi01", def: helloAPI, stages: prod(nil)})))
	run(t, g)
	addr := g.Addr().String()
	for _, tc := range []struct {
		name  string
		http2 bool
		major int
	}{{"h2", true, 2}, {"http/1.1", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := client(t, addr, tc.http2)
			// The URL names the invoke host: SNI, certificate check and
			// host routing all see it; the dialer goes to the listener.
			resp, err := c.Get("https://" + host("helloapi01") + ":443/prod/hello")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "hello v1" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			if resp.ProtoMajor != tc.major {
				t.Errorf("protocol %s, want major %d", resp.Proto, tc.major)
			}
			if resp.Header.Get(headerRequestID) == "" {
				t.Error("no request id")
			}
		})
	}
}

// TestRegionalRawRequests sends request lines byte for byte over TLS, so
// nothing on the client side cleans the path first.
func TestRegionalRawRequests(t *testing.T) {
	t.Parallel()
	g := newRegional(t, newSource(buildState(t, apiDef{id: "helloapi01", def: helloAPI, stages: prod(nil)})))
	run(t, g)
	c, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	tests := []struct {
		name    string
		target  string
		headers string
		status  int
		json    bool
	}{
		{"plain", "/prod/hello", "", 200, false},
		{"absolute form", "https://" + host("helloapi01") + "/prod/hello", "", 200, false},
		{"dot dot", "/prod/hello/../admin", "", 400, true},
		{"absolute dot dot", "https://" + host("helloapi01") + "/prod/hello/%2e%2e/admin", "", 400, true},
		{"double slash", "//prod/admin", "", 400, true},
		{"encoded dots", "/prod/hello/%2e%2e/admin", "", 400, true},
		{"encoded slash", "/prod/hello%2f..%2fadmin", "", 400, true},
		{"backslash", "/prod/hello/..%5cadmin", "", 400, true},
		{"semicolon", "/prod/admin;x=y", "", 400, true},
		// Over the 10,240-byte budget but under net/http's own hard limit
		// (MaxHeaderBytes plus its 4 KiB slack): the gateway's JSON 431.
		{"headers too large", "/prod/hello", "X-Big: " + strings.Repeat("a", 11000) + "\r\n", 431, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := tls.Dial("tcp", g.Addr().String(), &tls.Config{RootCAs: pool, ServerName: host("helloapi01"), NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", tc.target, host("helloapi01"), tc.headers)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.status, body)
			}
			if tc.json {
				var e errorBody
				if err := json.Unmarshal(body, &e); err != nil || e.RequestID != resp.Header.Get(headerRequestID) {
					t.Errorf("body %q is not the gateway's JSON error (%v)", body, err)
				}
			}
		})
	}
}

func TestHostsNotServed(t *testing.T) {
	t.Parallel()
	st := buildState(t,
		apiDef{id: "helloapi01", def: helloAPI, stages: prod(nil)},
		apiDef{id: "westapi001", def: helloAPI + "home_region: us-west-2\n", stages: prod(nil)},
		apiDef{id: "edgeapi001", def: helloAPI + "endpoint_types: [EDGE]\n", stages: prod(nil)},
		apiDef{id: "privapi001", def: helloAPI + "endpoint_types: [PRIVATE]\n", stages: prod(nil)},
		apiDef{id: "bothapi001", def: helloAPI + "endpoint_types: [EDGE, REGIONAL]\n", stages: prod(nil)},
	)
	h := newRegional(t, newSource(st)).Handler()
	tests := []struct {
		host   string
		status int
		msg    string
	}{
		{host("helloapi01"), 200, ""},
		{host("helloapi01") + ":8443", 200, ""},
		{strings.ToUpper(host("helloapi01")), 200, ""},
		{host("helloapi01") + ".", 200, ""},
		{host("bothapi001"), 200, ""},
		{host("westapi001"), 404, errNotServedRegion.message},
		{host("edgeapi001"), 404, errNotServedRegional.message},
		{host("privapi001"), 404, errUnknownHost.message}, // not revealed
		{host("nosuchapi1"), 404, errUnknownHost.message},
		{"helloapi01.us-west-2." + testZone, 404, errUnknownHost.message},
		{"helloapi01.us-east-1.example.com", 404, errUnknownHost.message},
		{"us-east-1." + testZone, 404, errUnknownHost.message},
		{"127.0.0.1:8443", 404, errUnknownHost.message},
		{"", 404, errUnknownHost.message},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			r := httptestRequest("GET", "/prod/hello")
			r.Host = tc.host
			w := serve(h, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.msg != "" && errBody(t, w).Message != tc.msg {
				t.Errorf("message %q, want %q", errBody(t, w).Message, tc.msg)
			}
		})
	}
}

// TestConfigSwap changes the source under a running endpoint: the new
// deployment is served, a stage that stops compiling keeps its previous
// table without affecting other stages, and a deleted API disappears.
func TestConfigSwap(t *testing.T) {
	t.Parallel()
	v1 := buildState(t,
		apiDef{id: "helloapi01", def: helloAPI, stages: map[string]map[string]string{"prod": nil, "beta": nil}},
		apiDef{id: "otherapi01", def: helloAPI, stages: prod(nil)},
	)
	src := newSource(v1)
	g := newRegional(t, src)
	run(t, g)
	h := g.Handler()
	get := func(api, path string) (int, string) {
		w := call(t, h, "GET", api, path, nil, nil)
		return w.Code, w.Body.String()
	}
	if code, body := get("helloapi01", "/prod/hello"); code != 200 || body != "hello v1" {
		t.Fatalf("before: %d %q", code, body)
	}

	// v2: a new deployment on prod.
	v2def := strings.Replace(helloAPI, "hello v1", "hello v2", 1)
	a2, err := configs.ParseAPI([]byte(v2def))
	if err != nil {
		t.Fatal(err)
	}
	a2.ID = "helloapi01"
	a2.ApplyDefaults(testRegion)
	dep2 := &configs.Deployment{ID: "dep2", APIID: a2.ID, API: *a2}
	v2 := v1.WithDeployment(v1.Index+1, dep2, &configs.Stage{APIID: a2.ID, Name: "prod", DeploymentID: "dep2"})
	src.Set(v2)
	eventually(t, "prod to serve v2", func() bool { _, b := get("helloapi01", "/prod/hello"); return b == "hello v2" })
	if _, body := get("helloapi01", "/beta/hello"); body != "hello v1" {
		t.Errorf("beta changed with prod: %q", body)
	}

	// v3: prod points at a deployment that does not compile (an
	// integration type this endpoint does not know) and beta at a missing
	// deployment; prod keeps v2, beta keeps v1, other APIs are untouched,
	// and a new stage that cannot compile answers 500.
	bad := *a2
	bad.Resources = []configs.Resource{{Path: "/hello", Methods: map[string]configs.Method{"GET": {Integration: configs.Integration{Type: "LAMBDA"}}}}}
	dep3 := &configs.Deployment{ID: "dep3", APIID: a2.ID, API: bad}
	v3 := v2.WithDeployment(v2.Index+1, dep3, &configs.Stage{APIID: a2.ID, Name: "prod", DeploymentID: "dep3"})
	v3 = v3.WithStage(v3.Index+1, &configs.Stage{APIID: a2.ID, Name: "beta", DeploymentID: "gone"})
	v3 = v3.WithStage(v3.Index+1, &configs.Stage{APIID: a2.ID, Name: "fresh", DeploymentID: "dep3"})
	v3 = v3.WithStage(v3.Index+1, &configs.Stage{APIID: "otherapi01", Name: "dev", DeploymentID: "depprod"})
	src.Set(v3)
	eventually(t, "the v3 table", func() bool { code, _ := get("otherapi01", "/dev/hello"); return code == 200 })
	for _, c := range []struct{ api, path, body string }{
		{"helloapi01", "/prod/hello", "hello v2"},
		{"helloapi01", "/beta/hello", "hello v1"},
		{"otherapi01", "/prod/hello", "hello v1"},
	} {
		if code, body := get(c.api, c.path); code != 200 || body != c.body {
			t.Errorf("%s %s: %d %q, want %q", c.api, c.path, code, body, c.body)
		}
	}
	if w := call(t, h, "GET", "helloapi01", "/fresh/hello", nil, nil); w.Code != 500 || errBody(t, w).Message != errStageBroken.message {
		t.Errorf("fresh broken stage: %d %q", w.Code, w.Body.String())
	}

	// v4: the API is deleted.
	src.Set(v3.WithoutAPI(v3.Index+1, "helloapi01"))
	eventually(t, "the API to disappear", func() bool { code, _ := get("helloapi01", "/prod/hello"); return code == 404 })
}

func TestNewRegionalValidates(t *testing.T) {
	t.Parallel()
	src := newSource(configs.NewState())
	good := Config{Region: testRegion, Zone: testZone, Listen: "127.0.0.1:0", TLS: serverTLS(t), Source: src}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no region", func(c *Config) { c.Region = "" }},
		{"no zone", func(c *Config) { c.Zone = "" }},
		{"no listen", func(c *Config) { c.Listen = "" }},
		{"no tls", func(c *Config) { c.TLS = nil }},
		{"tls without certificate", func(c *Config) { c.TLS = &tls.Config{} }},
		{"no source", func(c *Config) { c.Source = nil }},
		{"negative grace", func(c *Config) { c.ShutdownGrace = -1 }},
	}
	for _, tc := range tests {
		cfg := good
		tc.mod(&cfg)
		if _, err := NewRegional(cfg); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	g, err := NewRegional(good)
	if err != nil {
		t.Fatal(err)
	}
	if g.Addr() != nil {
		t.Error("Addr before Ready should be nil")
	}
	// Run stops cleanly on an already-cancelled context and runs once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx); err != nil {
		t.Errorf("Run on a cancelled context: %v", err)
	}
	if err := g.Run(context.Background()); err == nil {
		t.Error("second Run: no error")
	}
}

// TestGracefulShutdown cancels Run while a request is in flight: the
// listener stops accepting, the request still completes, and Run returns
// nil afterwards.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "finished")
	}))
	def := `
name: draining
resources:
  - path: /wait
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "` + slow.URL + `/wait"}}
`
	g := newRegional(t, newSource(buildState(t, apiDef{id: "drainapi01", def: def, stages: prod(nil)})))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- g.Run(ctx) }()
	<-g.Ready()
	addr := g.Addr().String()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	c := client(t, addr, true)
	go func() {
		resp, err := c.Get("https://" + host("drainapi01") + "/prod/wait")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-arrived
	cancel()
	eventually(t, "the listener to close", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}
