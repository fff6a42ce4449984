package endpoints

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go/http3"

	"github.com/portico-gw/portico/cache"
	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// testClock is a clock a test moves by hand.
type testClock struct{ ns atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// staticUpstreams is the edge's view of regional nodes, set by the test.
type staticUpstreams struct {
	mu  sync.Mutex
	ups []Upstream
}

func (s *staticUpstreams) Regional(region string) []Upstream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if region != testRegion {
		return nil
	}
	return append([]Upstream(nil), s.ups...)
}

func (s *staticUpstreams) set(ups ...Upstream) {
	s.mu.Lock()
	s.ups = ups
	s.mu.Unlock()
}

// countingBackend answers /items/{id} with a JSON body and counts calls
// per path; fail makes it answer 503, block holds requests until
// released.
type countingBackend struct {
	*backend
	mu    sync.Mutex
	calls map[string]int
	fail  atomic.Bool
	gate  chan struct{} // when not nil, requests wait for it to close
	seen  chan http.Header
}

func newCountingBackend(t testing.TB) *countingBackend {
	b := &countingBackend{calls: map[string]int{}, seen: make(chan http.Header, 1000)}
	b.backend = &backend{}
	b.backend.Server = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.calls[r.URL.Path]++
		gate := b.gate
		b.mu.Unlock()
		select {
		case b.seen <- r.Header.Clone():
		default:
		}
		if gate != nil {
			<-gate
		}
		if b.fail.Load() {
			http.Error(w, "backend down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"auth":%q,"pad":%q}`, r.URL.Path, r.Header.Get("Authorization"), strings.Repeat("x", 2000))
	}))
	return b
}

func (b *countingBackend) count(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[path]
}

const edgeAPI = `
name: shop
endpoint_types: [EDGE]
home_region: us-east-1
resources:
  - path: /items/{id}
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/items/{id}"}}
  - path: /echo
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/echo"}}
  - path: /mock
    methods:
      GET: {integration: {type: MOCK, status_code: 200, body: "mocked at the edge"}}
`

// edgeState is a state with the shop API (edgeAPI, with routes appended
// to its resources) on stage prod, caching with the given settings.
func edgeState(t testing.TB, backendAddr string, c *configs.StageCache, routes string) *configs.State {
	t.Helper()
	st := buildState(t, apiDef{id: "shop000001", def: edgeAPI + routes, stages: prod(map[string]string{"backend": backendAddr})})
	s := *st.Stage("shop000001", "prod")
	s.Cache = c
	return st.WithStage(st.Index+1, &s)
}

func ttl(d time.Duration) *configs.Duration { v := configs.Duration(d); return &v }

// edgeRig is an edge and an origin endpoint of the home region, wired as a
// cluster wires them: mutual TLS under one CA, HTTP/3 on the origin's UDP
// port and HTTP/2 on its TCP port.
type edgeRig struct {
	t                 testing.TB
	src               *fakeSource
	edge, origin      *Gateway
	edgeNow, origNow  *testClock
	ups               *staticUpstreams
	originAddr        string // TCP and UDP port number
	h2, h1            *http.Client
	backend           *countingBackend
	mtls              *pki.MTLS
	edgeAddr          string
	edgeMetrics       *prometheus.Registry
	originTCPRequests atomic.Int64
}

type rigOptions struct {
	noOriginUDP bool // the origin listens on TCP only: UDP "does not get through"
	cache       *configs.StageCache
	routes      string                // YAML resources appended to edgeAPI's
	credentials []*configs.Credential // SigV4 credentials in the state
}

func newEdgeRig(t *testing.T, o rigOptions) *edgeRig {
	t.Helper()
	r := &edgeRig{t: t, edgeNow: newClock(), origNow: newClock(), ups: &staticUpstreams{}, backend: newCountingBackend(t), edgeMetrics: prometheus.NewRegistry()}
	if o.cache == nil {
		o.cache = &configs.StageCache{Enabled: true, TTL: ttl(60 * time.Second), StaleIfError: configs.Duration(10 * time.Minute)}
	}
	st := edgeState(t, r.backend.Listener.Addr().String(), o.cache, o.routes)
	for _, c := range o.credentials {
		st = st.WithCredential(st.Index+1, c)
	}
	r.src = newSource(st)
	r.mtls = testMTLS(t)

	var err error
	r.origin, err = New(Config{Kind: KindOrigin, Region: testRegion, Zone: testZone, TLS: r.mtls.Server.Clone(),
		Source: r.src, Now: r.origNow.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// The origin's TCP side, as the node's internal listener serves it.
	tcp, udpAddr := listenTCPWithFreeUDP(t)
	r.originAddr = tcp.Addr().String()
	tc := r.mtls.Server.Clone()
	tc.NextProtos = []string{"h2", "http/1.1"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.originTCPRequests.Add(1)
		r.origin.Handler().ServeHTTP(w, req)
	}), TLSConfig: tc}
	go srv.ServeTLS(tcp, "", "")
	t.Cleanup(func() { srv.Close() })
	if !o.noOriginUDP {
		r.origin.cfg.Listen = udpAddr
	}
	run(t, r.origin)

	r.edge, err = New(Config{Kind: KindEdge, Region: "eu-west-1", Zone: testZone, Listen: "127.0.0.1:0", TLS: serverTLS(t),
		Source: r.src, Upstreams: r.ups, UpstreamTLS: r.mtls.Client(""), Now: r.edgeNow.Now, Logger: testLogger(t),
		Registerer: r.edgeMetrics})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r.edge)
	r.edgeAddr = r.edge.Addr().String()
	r.ups.set(Upstream{Name: "regional-1", Addr: r.originAddr, RTT: time.Millisecond})
	r.h2 = client(t, r.edgeAddr, true)
	r.h1 = client(t, r.edgeAddr, false)
	return r
}

// listenTCPWithFreeUDP listens on a loopback TCP port whose number is free
// on UDP too, and returns the UDP address (not yet bound).
func listenTCPWithFreeUDP(t testing.TB) (net.Listener, string) {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err == nil {
			pc.Close()
			t.Cleanup(func() { ln.Close() })
			return ln, ln.Addr().String()
		}
		ln.Close()
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatal(err)
		}
	}
	t.Fatal("no port free on both tcp and udp")
	return nil, ""
}

// testMTLS makes a cluster CA and one node certificate in a temp dir.
func testMTLS(t testing.TB) *pki.MTLS {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.CreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueFiles(dir, "node", pki.IssueOptions{CommonName: "node-1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := pki.MutualTLS(ca.CertFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// get calls the edge and returns status, X-Cache and body.
func (r *edgeRig) get(c *http.Client, path string, hdr http.Header) (int, string, string, http.Header) {
	r.t.Helper()
	req, err := http.NewRequest("GET", "https://shop000001.edge."+testZone+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatalf("GET %s: read body: %v", path, err)
	}
	return res.StatusCode, res.Header.Get("X-Cache"), string(b), res.Header
}

func TestEdgeServesFromTwoTiersWithExpiry(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	status, xc, body, hdr := r.get(r.h2, "/prod/items/1", nil)
	if status != 200 || !strings.Contains(body, `"path":"/items/1"`) {
		t.Fatalf("first call: %d %q", status, body)
	}
	if xc != "Miss from edge, Miss from regional" {
		t.Errorf("first X-Cache = %q", xc)
	}
	if got := hdr.Get("Alt-Svc"); !strings.Contains(got, `h3=":`+strconv.Itoa(r.edge.Addr().(*net.TCPAddr).Port)+`"`) {
		t.Errorf("Alt-Svc = %q, want h3 on the edge's port", got)
	}
	if _, xc, _, hdr = r.get(r.h2, "/prod/items/1", nil); xc != "Hit from edge" {
		t.Errorf("second X-Cache = %q, want a hit at the edge", xc)
	}
	// Once per connection: the client keeps it for its max-age.
	if got := hdr.Get("Alt-Svc"); got != "" {
		t.Errorf("Alt-Svc on the connection's second response = %q, want none", got)
	}
	r.h2.CloseIdleConnections()
	if _, _, _, hdr = r.get(r.h2, "/prod/items/1", nil); hdr.Get("Alt-Svc") == "" {
		t.Error("no Alt-Svc on a new connection's first response")
	}
	if n := r.backend.count("/items/1"); n != 1 {
		t.Fatalf("backend calls = %d, want 1", n)
	}

	// The edge's entry expires; the regional one has not (its clock did
	// not move): the edge refills from the regional tier.
	r.edgeNow.Advance(61 * time.Second)
	if _, xc, _, _ = r.get(r.h2, "/prod/items/1", nil); xc != "Miss from edge, Hit from regional" {
		t.Errorf("after edge expiry X-Cache = %q", xc)
	}
	// Both expire: the backend is asked again.
	r.edgeNow.Advance(61 * time.Second)
	r.origNow.Advance(61 * time.Second)
	if _, xc, _, _ = r.get(r.h2, "/prod/items/1", nil); xc != "Miss from edge, Miss from regional" {
		t.Errorf("after both expire X-Cache = %q", xc)
	}
	if n := r.backend.count("/items/1"); n != 2 {
		t.Fatalf("backend calls = %d, want 2", n)
	}
	// A mock answers at the edge without any regional node.
	r.ups.set()
	if status, _, body, _ := r.get(r.h2, "/prod/mock", nil); status != 200 || body != "mocked at the edge" {
		t.Errorf("mock at the edge: %d %q", status, body)
	}
	// With no regional node and nothing cached: 503 naming the reason.
	if status, _, body, _ := r.get(r.h2, "/prod/items/9", nil); status != 503 || !strings.Contains(body, "no regional node") {
		t.Errorf("no upstream: %d %q", status, body)
	}
	// IntegrationLatency at the edge counts the forwards (three misses
	// and the 503), not the two hits or the mock.
	eventually(t, "4 IntegrationLatency samples at the edge", func() bool {
		return r.edgeSamples("portico_IntegrationLatency") == 4 && r.edgeSamples("portico_Latency") == 7
	})
}

// edgeSamples sums the samples of a histogram of the edge's stage
// shop000001/prod.
func (r *edgeRig) edgeSamples(name string) uint64 {
	r.t.Helper()
	families, err := r.edgeMetrics.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if f.GetName() == name && labels["api_id"] == "shop000001" && labels["stage"] == "prod" {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func TestEdgeCollapsesConcurrentMisses(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	gate := make(chan struct{})
	r.backend.mu.Lock()
	r.backend.gate = gate
	r.backend.mu.Unlock()
	const n = 100
	var wg sync.WaitGroup
	results := make(chan string, n)
	for range n {
		wg.Go(func() {
			status, _, body, _ := r.get(r.h2, "/prod/items/7", nil)
			results <- fmt.Sprint(status, strings.Contains(body, `"path":"/items/7"`))
		})
	}
	// The first request reaches the backend and is held there; the
	// others queue behind it at the edge. Release once it has arrived.
	eventually(t, "the first backend call", func() bool { return r.backend.count("/items/7") >= 1 })
	close(gate)
	wg.Wait()
	close(results)
	for res := range results {
		if res != "200 true" {
			t.Fatalf("a collapsed request got %s", res)
		}
	}
	if got := r.backend.count("/items/7"); got != 1 {
		t.Fatalf("backend calls = %d for %d concurrent misses, want 1", got, n)
	}
}

func TestEdgeServesStaleWhenBackendFails(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	if status, _, _, _ := r.get(r.h2, "/prod/items/3", nil); status != 200 {
		t.Fatalf("warm-up status %d", status)
	}
	r.backend.fail.Store(true)
	r.edgeNow.Advance(2 * time.Minute) // expired, inside stale-if-error (10m)
	r.origNow.Advance(2 * time.Minute)
	// The regional tier answers with its stale entry; the edge passes it
	// on without storing it as fresh.
	status, xc, body, _ := r.get(r.h2, "/prod/items/3", nil)
	if status != 200 || !strings.Contains(body, `"path":"/items/3"`) || xc != "Miss from edge, Stale from regional" {
		t.Fatalf("backend down: %d X-Cache %q, want the regional's stale entry", status, xc)
	}
	if _, xc, _, _ := r.get(r.h2, "/prod/items/3", nil); xc != "Miss from edge, Stale from regional" {
		t.Fatalf("again: X-Cache %q: the edge stored the regional's stale copy as fresh", xc)
	}
	// The regional node itself unreachable: the edge still serves stale.
	r.ups.set(Upstream{Name: "gone", Addr: closedAddr(t)})
	r.edgeNow.Advance(time.Minute)
	if status, xc, _, _ := r.get(r.h2, "/prod/items/3", nil); status != 200 || !strings.HasPrefix(xc, "Stale from edge") {
		t.Fatalf("regional down: %d X-Cache %q", status, xc)
	}
	// Past the stale-if-error window the error shows.
	r.edgeNow.Advance(20 * time.Minute)
	if status, _, _, _ := r.get(r.h2, "/prod/items/3", nil); status < 500 {
		t.Fatalf("beyond stale-if-error: status %d, want a 5xx", status)
	}
}

func TestEdgeKeepsIdentitiesApart(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	alice := http.Header{"Authorization": {"Bearer alice"}}
	bob := http.Header{"Authorization": {"Bearer bob"}}
	_, _, body, _ := r.get(r.h2, "/prod/items/5", alice)
	if !strings.Contains(body, `"auth":"Bearer alice"`) {
		t.Fatalf("alice got %q", body)
	}
	_, xc, body, _ := r.get(r.h2, "/prod/items/5", bob)
	if !strings.Contains(body, `"auth":"Bearer bob"`) || strings.HasPrefix(xc, "Hit") {
		t.Fatalf("bob got %q (X-Cache %q): another identity's entry", body, xc)
	}
	if _, xc, body, _ = r.get(r.h2, "/prod/items/5", alice); xc != "Hit from edge" || !strings.Contains(body, "alice") {
		t.Fatalf("alice again: %q %q, want her own cached entry", xc, body)
	}
	for _, key := range []string{"k1", "k2"} {
		_, xc, _, _ := r.get(r.h2, "/prod/items/6", http.Header{"X-Api-Key": {key}})
		if strings.HasPrefix(xc, "Hit") {
			t.Fatalf("api key %s got a cached entry of another key", key)
		}
	}
	if n := r.backend.count("/items/5") + r.backend.count("/items/6"); n != 4 {
		t.Fatalf("backend calls = %d, want 4 (one per identity and path)", n)
	}
}

// TestEdgeKeepsSignedCallersApartAtBothTiers: on a cached AWS_IAM route
// of an EDGE API, the caller the edge verified keys the entries of both
// tiers. Two callers with presigned URLs (the credential in the query,
// no identity header) never share an entry, neither at the edge nor at
// the regional node, which runs no access steps and learns the caller
// from the edge; and a caller's separately signed requests (a new
// Authorization header every time) hit its own entries at both tiers.
func TestEdgeKeepsSignedCallersApartAtBothTiers(t *testing.T) {
	echo := newBackend(t)
	const akidA, secretA = "PKIAEDGECALLERA00001", "edge/caller/A/0123456789abcdefghijklmnopq"
	const akidB, secretB = "PKIAEDGECALLERB00001", "edge/caller/B/0123456789abcdefghijklmnopq"
	r := newEdgeRig(t, rigOptions{
		routes: `
  - path: /signed/{id}
    methods:
      GET: {authorization: AWS_IAM, integration: {type: HTTP_PROXY, uri: "http://` + echo.Listener.Addr().String() + `/signed/{id}"}}
`,
		credentials: []*configs.Credential{
			{ID: akidA, Name: "a", Secret: secretA, Enabled: true},
			{ID: akidB, Name: "b", Secret: secretB, Enabled: true},
		},
	})
	const target = "https://shop000001.edge." + testZone + "/prod/signed/1"
	attempt := 0
	// send signs one request for the caller (presigned or in the
	// Authorization header) and returns X-Cache and the backend's
	// request URI and Authorization, which name the caller it answered.
	// The attempt query parameter makes each signature unique (a
	// signature is accepted once); the cache does not key on it.
	send := func(akid, secret string, presign bool) (xc, uri, authz string) {
		t.Helper()
		attempt++
		req, err := http.NewRequest("GET", target+"?attempt="+strconv.Itoa(attempt), nil)
		if err != nil {
			t.Fatal(err)
		}
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
		empty := sha256.Sum256(nil)
		if presign {
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), "execute-api", testRegion, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if req, err = http.NewRequest("GET", u, nil); err != nil {
				t.Fatal(err)
			}
		} else if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), "execute-api", testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := r.h2.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", req.URL, err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		var s seen
		if res.StatusCode != 200 || json.Unmarshal(body, &s) != nil {
			t.Fatalf("caller %s: status %d body %q", akid, res.StatusCode, body)
		}
		return res.Header.Get("X-Cache"), s.RequestURI, s.Header.Get("Authorization")
	}
	// check sends for the caller and wants X-Cache xc and an answer made
	// for the caller.
	check := func(step, akid, secret string, presign bool, want string) {
		t.Helper()
		xc, uri, authz := send(akid, secret, presign)
		if !strings.Contains(uri, akid) && !strings.Contains(authz, "Credential="+akid+"/") {
			t.Fatalf("%s: caller %s got the answer made for %s %q (X-Cache %q)", step, akid, uri, authz, xc)
		}
		if xc != want {
			t.Errorf("%s: caller %s: X-Cache %q, want %q", step, akid, xc, want)
		}
	}

	check("A's first", akidA, secretA, true, "Miss from edge, Miss from regional")
	check("B's first", akidB, secretB, true, "Miss from edge, Miss from regional")
	check("A again", akidA, secretA, true, "Hit from edge")
	if n := echo.hits.Load(); n != 2 {
		t.Fatalf("backend hits %d, want 2 (one per caller)", n)
	}
	// The edge's entries expire, the regional ones have not: each
	// caller gets its own entry from the regional tier.
	r.edgeNow.Advance(61 * time.Second)
	check("B after edge expiry", akidB, secretB, true, "Miss from edge, Hit from regional")
	check("A after edge expiry", akidA, secretA, true, "Miss from edge, Hit from regional")
	// Signed in the Authorization header, anew for every request: still
	// the caller's own entries, at the edge and at the regional tier.
	check("A signed in the header", akidA, secretA, false, "Hit from edge")
	r.edgeNow.Advance(61 * time.Second)
	check("B signed in the header after edge expiry", akidB, secretB, false, "Miss from edge, Hit from regional")
	check("B signed in the header again", akidB, secretB, false, "Hit from edge")
	if n := echo.hits.Load(); n != 2 {
		t.Errorf("backend hits %d, want 2 (one per caller)", n)
	}
}

func TestEdgeOverHTTP3AndForgedClientAddress(t *testing.T) {
	r := newEdgeRig(t, rigOptions{cache: &configs.StageCache{Enabled: false}})
	pool := x509.NewCertPool()
	c, _ := testCert()
	pool.AddCert(c.Leaf)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "shop000001.edge." + testZone}}
	t.Cleanup(func() { tr.Close() })
	h3 := &http.Client{Transport: rewriteHost{tr, r.edgeAddr}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "https://shop000001.edge."+testZone+"/prod/echo", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set(headerClientAddr, "203.0.113.10")
	req.Header.Set(headerCaller, "forged-caller")
	req.Header.Set(cache.HeaderEpoch, "999999")
	res, err := h3.Do(req)
	if err != nil {
		t.Fatalf("HTTP/3 request: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 3 {
		t.Fatalf("HTTP/3: status %d proto %s", res.StatusCode, res.Proto)
	}
	var got http.Header
	select {
	case got = <-r.backend.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("backend saw no request")
	}
	if xff := got.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("backend X-Forwarded-For = %q, want only the real client 127.0.0.1", xff)
	}
	for _, h := range internalHeaders {
		if v := got.Get(h); v != "" {
			t.Errorf("backend got %s %q", h, v)
		}
	}
	// One request id from the edge through the regional node.
	if id := res.Header.Get(headerRequestID); !validRequestID(id) || got.Get(headerRequestID) != id {
		t.Errorf("request id: client got %q, backend %q; want one id through both tiers", id, got.Get(headerRequestID))
	}
	if n := r.originTCPRequests.Load(); n != 0 {
		t.Errorf("%d requests reached the origin over HTTP/2; the edge should use HTTP/3", n)
	}
}

// rewriteHost sends every request to addr, keeping the URL's host for
// TLS and Host.
type rewriteHost struct {
	tr   *http3.Transport
	addr string
}

func (h rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Host = req.URL.Host
	out.URL.Host = h.addr
	return h.tr.RoundTrip(out)
}

func TestEdgeFallsBackToHTTP2AndRetriesAnotherNode(t *testing.T) {
	r := newEdgeRig(t, rigOptions{noOriginUDP: true, cache: &configs.StageCache{Enabled: false}})
	// The first node refuses connections; the second has no UDP listener.
	r.ups.set(Upstream{Name: "dead", Addr: closedAddr(t), RTT: time.Microsecond}, Upstream{Name: "alive", Addr: r.originAddr, RTT: time.Millisecond})
	status, _, body, _ := r.get(r.h1, "/prod/items/4", nil)
	if status != 200 || !strings.Contains(body, `"path":"/items/4"`) {
		t.Fatalf("status %d body %q", status, body)
	}
	if n := r.originTCPRequests.Load(); n != 1 {
		t.Fatalf("origin HTTP/2 requests = %d, want 1 (fallback from HTTP/3)", n)
	}
}

func TestEdgeFlushAndCommittedEpoch(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	for _, p := range []string{"/prod/items/1", "/prod/items/2"} {
		r.get(r.h2, p, nil)
		if _, xc, _, _ := r.get(r.h2, p, nil); xc != "Hit from edge" {
			t.Fatalf("%s not cached: %q", p, xc)
		}
	}
	// A gossiped flush of one path: only that entry goes, at both tiers.
	seq := r.src.State().Index + 1
	r.edge.FlushCache("shop000001", "prod", "/items/1", seq)
	r.origin.FlushCache("shop000001", "prod", "/items/1", seq)
	if _, xc, _, _ := r.get(r.h2, "/prod/items/1", nil); xc != "Miss from edge, Miss from regional" {
		t.Errorf("flushed path: X-Cache %q", xc)
	}
	if _, xc, _, _ := r.get(r.h2, "/prod/items/2", nil); xc != "Hit from edge" {
		t.Errorf("other path: X-Cache %q, want still cached", xc)
	}
	// A flush the nodes only learn from the committed state (the gossip
	// was missed): once the state arrives, the entries are gone.
	st := r.src.State()
	s := st.Stage("shop000001", "prod").WithFlush(configs.CacheFlush{Seq: st.Index + 2})
	r.src.Set(st.WithStage(st.Index+2, s))
	eventually(t, "the flush from the committed state", func() bool {
		_, xc, _, _ := r.get(r.h2, "/prod/items/2", nil)
		return xc == "Miss from edge, Miss from regional"
	})
}

// TestRegionalDropsInternalHeaders: a client of a regional endpoint cannot
// pose as an edge: an epoch it sends does not make the cache bypass its
// entries, the headers only an edge may send never reach the backend, and
// X-Forwarded-For names the real client.
func TestRegionalDropsInternalHeaders(t *testing.T) {
	t.Parallel()
	b := newCountingBackend(t)
	def := `
name: shop
resources:
  - path: /echo
    methods:
      GET: {integration: {type: HTTP_PROXY, uri: "http://${stageVariables.backend}/echo"}}
`
	st := buildState(t, apiDef{id: "shop000003", def: def, stages: prod(map[string]string{"backend": b.Listener.Addr().String()})})
	s := *st.Stage("shop000003", "prod")
	s.Cache = &configs.StageCache{Enabled: true, TTL: ttl(time.Minute)}
	h := newRegional(t, newSource(st.WithStage(st.Index+1, &s))).Handler()
	forged := http.Header{headerClientAddr: {"203.0.113.10"}, headerCaller: {"forged-caller"}, cache.HeaderEpoch: {"999999"}, headerRequestID: {"aaaaaaaaaaaaaaaaaaaa"}}
	w := call(t, h, "GET", "shop000003", "/prod/echo", forged, nil)
	if w.Code != 200 {
		t.Fatalf("status %d %q", w.Code, w.Body.String())
	}
	if again := call(t, h, "GET", "shop000003", "/prod/echo", forged, nil); again.Header().Get("X-Cache") != "Hit from regional" || b.count("/echo") != 1 {
		t.Errorf("with a forged epoch: X-Cache %q, backend calls %d; want a hit", again.Header().Get("X-Cache"), b.count("/echo"))
	}
	got := <-b.seen
	for _, h := range internalHeaders {
		if v := got.Get(h); v != "" {
			t.Errorf("backend got %s %q", h, v)
		}
	}
	if xff := got.Get("X-Forwarded-For"); xff != "192.0.2.7" {
		t.Errorf("backend X-Forwarded-For = %q, want the client 192.0.2.7", xff)
	}
	if id := w.Header().Get(headerRequestID); id == "aaaaaaaaaaaaaaaaaaaa" || got.Get(headerRequestID) != id {
		t.Errorf("request id: client %q, backend %q; want the gateway's own, not the client's", id, got.Get(headerRequestID))
	}
}

// TestForwarderOrder: nodes that refused a connection go last; then the
// nearest, where round trips within rttSlack count as equal and fewer
// requests in flight wins; then by name.
func TestForwarderOrder(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name     string
		ups      []Upstream
		inflight map[string]int64
		failed   []string
		want     []string
	}{
		{"nearest first", []Upstream{{Name: "b", RTT: 40 * ms}, {Name: "a", RTT: 10 * ms}}, nil, nil, []string{"a", "b"}},
		{"within slack: less loaded", []Upstream{{Name: "a", RTT: 10 * ms}, {Name: "b", RTT: 11 * ms}}, map[string]int64{"a": 3, "b": 1}, nil, []string{"b", "a"}},
		{"beyond slack: nearer despite load", []Upstream{{Name: "a", RTT: 10 * ms}, {Name: "b", RTT: 20 * ms}}, map[string]int64{"a": 9}, nil, []string{"a", "b"}},
		{"equal: by name", []Upstream{{Name: "b", RTT: ms}, {Name: "a", RTT: ms}}, nil, nil, []string{"a", "b"}},
		{"failed last", []Upstream{{Name: "a", RTT: ms}, {Name: "b", RTT: 50 * ms}}, nil, []string{"a"}, []string{"b", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			f := &forwarder{now: clock.Now}
			for i := range tc.ups {
				tc.ups[i].Addr = tc.ups[i].Name + ":443"
				st := f.state(tc.ups[i].Addr)
				st.inflight.Store(tc.inflight[tc.ups[i].Name])
				if slices.Contains(tc.failed, tc.ups[i].Name) {
					st.failUntil.Store(clock.Now().Add(upstreamPenalty).UnixNano())
				}
			}
			var got []string
			for _, c := range f.order(tc.ups) {
				got = append(got, c.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("order = %v, want %v", got, tc.want)
			}
			// The penalty ends.
			clock.Advance(upstreamPenalty)
			if len(tc.failed) > 0 {
				if c := f.order(tc.ups)[0]; c.Name != tc.failed[0] {
					t.Errorf("after the penalty: first %s, want %s again", c.Name, tc.failed[0])
				}
			}
		})
	}
}

// TestEdgeAltSvcPerConnectionAndHost: the edge advertises HTTP/3 on the
// first final response of a connection for each host in turn, and not on
// the responses after it for the same host.
func TestEdgeAltSvcPerConnectionAndHost(t *testing.T) {
	r := newEdgeRig(t, rigOptions{})
	own, other := "shop000001.edge."+testZone, "nosuchapi0.edge."+testZone
	want := `h3=":` + strconv.Itoa(r.edge.Addr().(*net.TCPAddr).Port) + `"; ma=86400`
	for i, step := range []struct {
		host string
		sent bool
	}{{own, true}, {own, false}, {other, true}, {own, true}, {own, false}} {
		req, _ := http.NewRequest("GET", "https://"+own+"/prod/mock", nil)
		req.Host = step.host
		res, err := r.h1.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if got := res.Header.Get("Alt-Svc"); (got == want) != step.sent || (got != "" && got != want) {
			t.Errorf("request %d (Host %s, status %d): Alt-Svc %q, want it sent: %v", i+1, step.host, res.StatusCode, got, step.sent)
		}
	}
}

// TestAltSvcOnTheFinalResponse: a 1xx, and the header map cleared after
// it (as the proxy does when it relays one), do not use the connection's
// advertisement up: the final response carries it.
func TestAltSvcOnTheFinalResponse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := newExchange(w)
		ex.adviseAltSvc(r)
		ex.Header().Set("Link", "</a.css>; rel=preload")
		ex.WriteHeader(http.StatusEarlyHints)
		clear(ex.Header())
		ex.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnContext = altSvcConnContext(4433)
	srv.Start()
	t.Cleanup(srv.Close)
	var hints []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, strconv.Itoa(code)+" "+h.Get("Alt-Svc"))
			return nil
		},
	})
	for i, want := range []string{`h3=":4433"; ma=86400`, ""} {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Alt-Svc"); got != want {
			t.Errorf("response %d: Alt-Svc %q, want %q", i+1, got, want)
		}
	}
	if len(hints) != 2 || hints[0] != "103 " {
		t.Errorf("1xx responses seen: %q, want two 103 without Alt-Svc", hints)
	}
}
