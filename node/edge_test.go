package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/portico-gw/portico/configs"
)

// countingBackend counts requests per path and answers with the path.
type countingBackend struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newCountingBackend(t *testing.T) *countingBackend {
	b := &countingBackend{calls: map[string]int{}}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.calls[r.URL.Path]++
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"xff":%q}`, r.URL.Path, r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *countingBackend) count(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[path]
}

// edgeCall calls an API through an edge node over HTTPS (HTTP/2).
func edgeCall(t *testing.T, c *http.Client, apiID, path string) (int, string, string) {
	t.Helper()
	res, err := c.Get("https://" + apiID + ".edge.portico.test/" + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatalf("GET %s through edge: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("X-Cache"), string(b)
}

// TestEdgesCacheFlushAndHTTP3 runs a control+regional node and two edges
// in other regions: an API published to edges with the command line,
// cached at both tiers, flushed cluster-wide, and called over HTTP/3.
func TestEdgesCacheFlushAndHTTP3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	t.Parallel()
	c := newTestCluster(t)
	ctl := startNodeCfg(t, c.config("ctl-1", "us-east-1", []string{configs.RoleControl, configs.RoleRegional}, 1, nil, nil))
	join := []string{ctl.node.Addrs().Gossip}
	edges := []*testNode{
		startNodeCfg(t, c.config("edge-eu", "eu-west-1", []string{configs.RoleEdge}, 0, join, nil)),
		startNodeCfg(t, c.config("edge-ap", "ap-south-1", []string{configs.RoleEdge}, 0, join, nil)),
	}
	backend := newCountingBackend(t)
	host := strings.TrimPrefix(backend.URL, "http://")

	// A regional API, deployed, then published to edges and cached with
	// the command line.
	def := fmt.Sprintf(`{"name": "shop", "resources": [{"path": "/items/{id}", "methods": {"GET": {"integration": {"type": "HTTP_PROXY", "uri": "http://%s/items/{id}"}}}}]}`, host)
	var created applyResult
	ctl.mustDo("POST", "/v1/apis", json.RawMessage(def), &created)
	id := created.API.ID
	for _, args := range [][]string{
		{"deploy", "--api", id, "--stage", "prod"},
		{"apis", "update", "--api", id, "--endpoint-types", "EDGE,REGIONAL"},
		{"stages", "update", "--api", id, "--stage", "prod", "--cache-enabled", "--cache-ttl", "300", "--cache-capacity", "8MiB", "--cache-key-query", "v"},
	} {
		if code, out, errOut := ctl.run(args...); code != 0 {
			t.Fatalf("portico %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	if code, _, errOut := ctl.run("stages", "update", "--api", id, "--stage", "prod", "--cache-ttl", "3601"); code == 0 || !strings.Contains(errOut, "cache.ttl") {
		t.Errorf("a TTL over 3600s: exit %d, stderr %q, want an error naming cache.ttl", code, errOut)
	}
	var stage stageView
	ctl.mustDo("GET", "/v1/apis/"+id+"/stages/prod", nil, &stage)
	if stage.Cache == nil || !stage.Cache.Enabled || stage.Cache.TTL.D() != 300*time.Second || stage.Cache.Capacity != 8<<20 {
		t.Fatalf("stage cache after update = %+v", stage.Cache)
	}
	if !strings.Contains(stage.InvokeURLs["EDGE"], id+".edge.portico.test") {
		t.Errorf("invoke URLs %v lack the edge URL", stage.InvokeURLs)
	}

	for _, n := range append([]*testNode{ctl}, edges...) {
		eventually(t, 20*time.Second, func() error {
			if s := n.node.Served().State().Stage(id, "prod"); s == nil || s.Cache == nil {
				return fmt.Errorf("%s does not have the stage's cache settings yet", n.node.Name())
			}
			return nil
		})
	}
	clients := make([]*http.Client, len(edges))
	for i, e := range edges {
		clients[i] = httpsClient(t, c.ca.CertFile, e.node.Addrs().Edge)
		// Until the edge has the stage's cache settings (they arrive
		// after the deployment), its answers carry no edge X-Cache.
		eventually(t, 20*time.Second, func() error {
			if status, xc, body := edgeCall(t, clients[i], id, "/prod/items/1"); status != 200 || !strings.Contains(xc, "from edge") {
				return fmt.Errorf("%s: %d %q %s", e.node.Name(), status, xc, body)
			}
			return nil
		})
	}
	// Each edge now holds /items/1; a second call is a hit at the edge.
	for i, e := range edges {
		if _, xc, _ := edgeCall(t, clients[i], id, "/prod/items/1"); xc != "Hit from edge" {
			t.Fatalf("%s: X-Cache %q, want a hit", e.node.Name(), xc)
		}
	}
	// The second edge's miss was answered by the regional cache: the
	// backend was called once for both edges.
	if n := backend.count("/items/1"); n != 1 {
		t.Fatalf("backend calls for /items/1 = %d, want 1", n)
	}
	// The query string named in the key splits entries.
	if _, xc, _ := edgeCall(t, clients[0], id, "/prod/items/1?v=2"); !strings.HasPrefix(xc, "Miss from edge") {
		t.Errorf("?v=2: X-Cache %q, want a miss (v is part of the key)", xc)
	}

	// A flush reaches every edge and the regional cache within seconds.
	before := backend.count("/items/1")
	if code, out, errOut := ctl.run("cache", "flush", "--api", id, "--stage", "prod", "--path", "/items"); code != 0 {
		t.Fatalf("cache flush: exit %d\n%s%s", code, out, errOut)
	}
	for i, e := range edges {
		eventually(t, 10*time.Second, func() error {
			if _, xc, _ := edgeCall(t, clients[i], id, "/prod/items/1"); !strings.HasPrefix(xc, "Miss from edge") {
				return fmt.Errorf("%s still serves the flushed entry: X-Cache %q", e.node.Name(), xc)
			}
			return nil
		})
	}
	if n := backend.count("/items/1") - before; n != 1 {
		t.Errorf("backend calls after the flush = %d, want 1 (one refill for both edges)", n)
	}

	// HTTP/3 straight to an edge, with a forged client address that must
	// not reach the backend.
	pem, err := os.ReadFile(c.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: id + ".edge.portico.test"}}
	t.Cleanup(func() { tr.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+edges[0].node.Addrs().Edge+"/prod/items/9", nil)
	req.Host = id + ".edge.portico.test"
	req.Header.Set("X-Portico-Client-Addr", "203.0.113.50")
	req.Header.Set("X-Forwarded-For", "203.0.113.51")
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("HTTP/3 request to the edge: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 3 || !strings.Contains(string(body), `"xff":"127.0.0.1"`) {
		t.Fatalf("HTTP/3: %d %s %s, want 200 over HTTP/3 with only the real client address", res.StatusCode, res.Proto, body)
	}

	// Per-tier cache metrics on both kinds of node.
	for _, tc := range []struct {
		n    *testNode
		tier string
	}{{edges[0], "edge"}, {ctl, "regional"}} {
		n, tier := tc.n, tc.tier
		metrics := scrape(t, n)
		for _, name := range []string{"portico_CacheHitCount", "portico_CacheMissCount"} {
			if !strings.Contains(metrics, name+"{api_id=\""+id+"\"") || !strings.Contains(metrics, `tier="`+tier+`"`) {
				t.Errorf("%s /metrics lacks %s for tier %s", n.node.Name(), name, tier)
			}
			if !hasSeries(metrics, name+"{api_id=\""+id+"\"", `tier="`+tier+`"`) {
				t.Errorf("%s /metrics has no %s series of %s with tier %s", n.node.Name(), name, id, tier)
			}
		}
	}
}

// hasSeries reports whether a line of a /metrics scrape starts with
// prefix and contains label.
func hasSeries(metrics, prefix, label string) bool {
	for line := range strings.Lines(metrics) {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, label) {
			return true
		}
	}
	return false
}

func TestEdgeHost(t *testing.T) {
	t.Parallel()
	const suffix = ".edge.portico.test"
	for host, want := range map[string]bool{
		"abc.edge.portico.test":       true,
		"ABC.Edge.Portico.Test:8443":  true,
		"abc.edge.portico.test.":      true,
		"abc.edge.portico.test.:443":  true,
		"edge.portico.test":           false,
		".edge.portico.test":          true, // as before; the origin answers 404
		"abc.us-east-1.portico.test":  false,
		"abc.edge.portico.test.evil":  false,
		"10.0.0.1:7443":               false,
		"[::1]:7443":                  false,
		"abc.edge.portico.testing:80": false,
	} {
		if got := edgeHost(host, suffix); got != want {
			t.Errorf("edgeHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func scrape(t *testing.T, n *testNode) string {
	t.Helper()
	res, err := http.Get("http://" + n.node.Addrs().Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
