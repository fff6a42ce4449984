package endpoints

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

const (
	testRegion = "us-east-1"
	testZone   = "portico.localhost"
)

// host is the invoke host of an API on the test region.
func host(apiID string) string { return apiID + "." + testRegion + "." + testZone }

// fakeSource is a configs.Source whose state a test sets.
type fakeSource struct {
	st atomic.Pointer[configs.State]
	ch atomic.Pointer[chan struct{}]
}

func newSource(st *configs.State) *fakeSource {
	s := &fakeSource{}
	ch := make(chan struct{})
	s.ch.Store(&ch)
	s.st.Store(st)
	return s
}

func (s *fakeSource) State() *configs.State    { return s.st.Load() }
func (s *fakeSource) Changed() <-chan struct{} { return *s.ch.Load() }

// Set publishes a new state and wakes the watchers.
func (s *fakeSource) Set(st *configs.State) {
	s.st.Store(st)
	ch := make(chan struct{})
	close(*s.ch.Swap(&ch))
}

// apiDef is one API of a test state: its definition as YAML text and its
// stages with their variables.
type apiDef struct {
	id     string
	def    string
	stages map[string]map[string]string // stage name → variables
	raw    bool                         // skip defaults and validation (to test bad input)
}

// buildState turns API definitions into a committed state, every stage
// pointing at its own deployment of the definition.
func buildState(t testing.TB, defs ...apiDef) *configs.State {
	t.Helper()
	st := configs.NewState()
	idx := uint64(1)
	for _, d := range defs {
		a, err := configs.ParseAPI([]byte(d.def))
		if err != nil {
			t.Fatalf("api %s: %v", d.id, err)
		}
		a.ID = d.id
		if !d.raw {
			a.ApplyDefaults(testRegion)
			if err := a.Validate(); err != nil {
				t.Fatalf("api %s: %v", d.id, err)
			}
		}
		idx++
		st = st.WithAPI(idx, a)
		for name, vars := range d.stages {
			idx++
			dep := &configs.Deployment{ID: "dep" + name, APIID: d.id, API: *a.Clone()}
			stage := &configs.Stage{APIID: d.id, Name: name, DeploymentID: dep.ID, Variables: vars}
			st = st.WithDeployment(idx, dep, stage)
		}
	}
	return st
}

// prod is the usual stage set: one stage "prod" with the given variables.
func prod(vars map[string]string) map[string]map[string]string {
	return map[string]map[string]string{"prod": vars}
}

// tWriter sends log output to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newRegional builds a regional endpoint over src; mod adjusts the config.
func newRegional(t testing.TB, src configs.Source, mod ...func(*Config)) *Gateway {
	t.Helper()
	cfg := Config{
		Region: testRegion,
		Zone:   testZone,
		Listen: "127.0.0.1:0",
		TLS:    serverTLS(t),
		Source: src,
		Logger: testLogger(t),
	}
	for _, m := range mod {
		m(&cfg)
	}
	g, err := NewRegional(cfg)
	if err != nil {
		t.Fatalf("NewRegional: %v", err)
	}
	return g
}

// run starts g.Run and stops it at cleanup, failing if it does not
// return nil.
func run(t testing.TB, g *Gateway) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-g.Ready():
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	}
}

// call sends one request through the handler and returns the recorded
// response. target is the raw request target ("/prod/items?x=1"); it is
// used as RequestURI exactly, even if it is not a valid URL.
func call(t testing.TB, h http.Handler, method, apiID, target string, hdr http.Header, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/", body)
	r.RequestURI = target
	path, query, _ := strings.Cut(target, "?")
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, path, query
	r.Host = host(apiID)
	r.RemoteAddr = "192.0.2.7:41000"
	for k, vs := range hdr {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errBody decodes a gateway error body, failing if it is not one.
func errBody(t testing.TB, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q, want application/json; body %q", ct, w.Body.String())
	}
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if e.RequestID == "" || e.RequestID != w.Header().Get(headerRequestID) {
		t.Fatalf("request_id %q does not match header %q", e.RequestID, w.Header().Get(headerRequestID))
	}
	return e
}

// seen is what the echo backend reports about the request it received.
type seen struct {
	Method     string      `json:"method"`
	RequestURI string      `json:"request_uri"`
	Host       string      `json:"host"`
	Header     http.Header `json:"header"`
	Body       string      `json:"body"` // only when short
	BodyLen    int         `json:"body_len"`
	BodyErr    string      `json:"body_err,omitempty"`
	// TransferEncoding is the request's (net/http takes it out of the
	// header, and drops Content-Length for a chunked body).
	TransferEncoding []string `json:"transfer_encoding,omitempty"`
}

// backend is a real HTTP server on loopback that echoes what it saw.
type backend struct {
	*httptest.Server
	hits atomic.Int64
}

func newBackend(t testing.TB) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, err := io.ReadAll(r.Body)
		s := seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header, BodyLen: len(body), TransferEncoding: r.TransferEncoding}
		if len(body) <= 64<<10 {
			s.Body = string(body)
		}
		if err != nil {
			s.BodyErr = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", "echo")
		w.Header().Set(headerRequestID, "backend-made-this-up")
		w.Header().Set("Alt-Svc", `h3=":1"; ma=60`) // the backend's own, never relayed
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(b.Close)
	return b
}

func decodeSeen(t testing.TB, w *httptest.ResponseRecorder) seen {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %q", w.Code, w.Body.String())
	}
	var s seen
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatalf("backend answer %q: %v", w.Body.String(), err)
	}
	return s
}

// eventually retries cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testCert is a self-signed certificate for *.{region}.{zone} and
// 127.0.0.1, made once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "portico test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"*." + testRegion + "." + testZone, "*.edge." + testZone, "*.private." + testRegion + "." + testZone, "shop.example.com"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
})

func serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := testCert()
	if err != nil {
		t.Fatalf("test certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}
}

// client returns an HTTPS client that trusts the test certificate and
// dials addr whatever the URL's host, so requests can use invoke hosts.
func client(t testing.TB, addr string, http2 bool) *http.Client {
	t.Helper()
	c, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	var protos http.Protocols
	protos.SetHTTP1(!http2)
	protos.SetHTTP2(http2)
	d := &net.Dialer{}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		Protocols: &protos,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// newServer starts an httptest server closed at cleanup.
func newServer(t testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func httptestRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.7:41000"
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type panicky struct{}

func (panicky) ServeHTTP(http.ResponseWriter, *http.Request) { panic("boom") }
