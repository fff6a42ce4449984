package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testNode is a real node (Raft on disk, TLS listener, admin API) on
// loopback ports chosen by the kernel.
type testNode struct {
	t      testing.TB
	node   *Node
	client *Client
	https  *http.Client
	region string
	zone   string
	cfg    configs.Node
	stop   func()
}

func startNode(t testing.TB, dataDir string) *testNode {
	t.Helper()
	return startNodeCfg(t, configs.Node{
		Name: "test-1", Region: "us-east-1", Zone: "portico.test", DataDir: dataDir,
		Admin:     configs.AdminConfig{Listen: "127.0.0.1:0"},
		Regional:  configs.ListenerConfig{Listen: "127.0.0.1:0"},
		Raft:      configs.RaftConfig{Listen: "127.0.0.1:0"},
		Internal:  configs.InternalConfig{Listen: "127.0.0.1:0"},
		Gossip:    configs.GossipConfig{Listen: "127.0.0.1:0"},
		AccessLog: "off", ShutdownGrace: configs.Duration(2 * time.Second),
	})
}

// startNodeCfg starts a node from a config; listeners left empty get
// kernel-chosen loopback ports.
func startNodeCfg(t testing.TB, cfg configs.Node) *testNode {
	t.Helper()
	for _, l := range []*string{&cfg.Admin.Listen, &cfg.Regional.Listen, &cfg.Edge.Listen, &cfg.DNS.Listen, &cfg.Raft.Listen, &cfg.Internal.Listen, &cfg.Gossip.Listen} {
		if *l == "" {
			*l = "127.0.0.1:0"
		}
	}
	if cfg.Zone == "" {
		cfg.Zone = "portico.test"
	}
	if cfg.AccessLog == "" {
		cfg.AccessLog = "off"
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = configs.Duration(2 * time.Second)
	}
	n, err := New(cfg, slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("node stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("node not ready within 60s")
	}
	addrs := n.Addrs()
	tn := &testNode{t: t, node: n, client: NewClient(addrs.Admin), region: cfg.Region, zone: cfg.Zone, cfg: cfg}
	if addrs.Regional != "" {
		ca := addrs.CAFile
		if ca == "" {
			ca = cfg.TLS.CAFile // certificates issued by the test's CA
		}
		tn.https = httpsClient(t, ca, addrs.Regional)
	}
	stopped := false
	tn.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("node did not stop within 30s")
		}
	}
	t.Cleanup(tn.stop)
	return tn
}

// httpsClient trusts the node's CA and dials every invoke host at the
// regional listener, as DNS would.
func httpsClient(t testing.TB, caFile, regionalAddr string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file has no certificate")
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, regionalAddr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// call invokes a stage path of an API and returns status and body.
func (tn *testNode) call(method, apiID, path string, body io.Reader) (int, string, http.Header) {
	tn.t.Helper()
	url := fmt.Sprintf("https://%s.%s.%s/%s", apiID, tn.region, tn.zone, strings.TrimPrefix(path, "/"))
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tn.t.Fatal(err)
	}
	resp, err := tn.https.Do(req)
	if err != nil {
		tn.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// eventually retries f until it returns nil or the deadline passes.
func eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for attempt := 0; ; attempt++ {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", within, err)
		}
		time.Sleep(time.Duration(min(attempt+1, 20)) * 10 * time.Millisecond)
	}
}

func (tn *testNode) do(method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return tn.client.Do(ctx, method, path, body, out)
}

func (tn *testNode) mustDo(method, path string, body, out any) {
	tn.t.Helper()
	if err := tn.do(method, path, body, out); err != nil {
		tn.t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (tn *testNode) appliedIndex() uint64 {
	tn.t.Helper()
	var st struct {
		AppliedIndex uint64 `json:"applied_index"`
	}
	tn.mustDo("GET", "/v1/status", nil, &st)
	return st.AppliedIndex
}

// jsonRaw receives an admin answer's bytes unchanged.
type jsonRaw []byte

func (j *jsonRaw) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }
