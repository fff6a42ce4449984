package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/portico-gw/portico/configs"
)

// privateNode runs control+regional+dns with internal network "corp" =
// 127.0.6.0/24 and its private listener on 127.0.6.1 (loopback plays the
// internal network; the namespace test in private_netns_test.go does it
// with real links).
func privateNode(t *testing.T) *testNode {
	t.Helper()
	port := 0
	return startNodeCfg(t, configs.Node{
		Name: "priv-1", Region: "us-east-1", DataDir: t.TempDir(),
		Roles:            []string{configs.RoleControl, configs.RoleRegional, configs.RoleDNS},
		InternalNetworks: []configs.InternalNetwork{{Name: "corp", CIDRs: []string{"127.0.6.0/24"}, Address: "127.0.6.1"}},
		Private:          configs.PrivateConfig{Port: &port},
		PublicAddresses:  []string{"127.0.0.1"},
	})
}

// clientFrom is an HTTPS client that trusts the node's CA and dials addr
// from the source address from, whatever the URL's host.
func clientFrom(t *testing.T, caFile, from, addr string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	d := &net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPrivateEndpointOnAnInternalAddress(t *testing.T) {
	t.Parallel()
	tn := privateNode(t)
	dir := t.TempDir()
	def := filepath.Join(dir, "ledger.yaml")
	if err := os.WriteFile(def, []byte(`
name: ledger
endpoint_types: [PRIVATE, REGIONAL]
resource_policy:
  statements:
    - {effect: Deny, endpoint_types: [PRIVATE], source_cidrs: [127.0.6.66/32]}
    - {effect: Allow, endpoint_types: [PRIVATE], private_endpoints: [pe-corp]}
resources:
  - path: /balance
    methods:
      GET: {integration: {type: MOCK, body: '{"balance":42}'}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := tn.run("apply", "-f", def, "-o", "id")
	if code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	id := strings.TrimSpace(out)
	if code, out, errOut := tn.run("deploy", "--api", id, "--stage", "prod", "--wait"); code != 0 {
		t.Fatalf("deploy: %s%s", out, errOut)
	}
	_, url, _ := tn.run("stages", "get", "--api", id, "--stage", "prod", "-o", "private-url")
	url = strings.TrimSpace(url)
	privAddr := tn.node.Addrs().Private["corp"]
	if !strings.HasPrefix(url, "https://"+id+".private.us-east-1.portico.test:") || !strings.HasSuffix(privAddr, url[strings.LastIndex(url, ":"):strings.LastIndex(url, "/prod/")]) {
		t.Fatalf("private URL %q does not name the private listener %s", url, privAddr)
	}

	ca := tn.node.Addrs().CAFile
	if status, body := get(t, clientFrom(t, ca, "127.0.6.9", privAddr), url+"balance"); status != 200 || body != `{"balance":42}` {
		t.Errorf("internal client: %d %s", status, body)
	}
	if status, body := get(t, clientFrom(t, ca, "127.0.6.66", privAddr), url+"balance"); status != 403 || !strings.Contains(body, "not authorized") {
		t.Errorf("denied internal client: %d %s", status, body)
	}
	// The same API on the public regional listener: no statement
	// applies to REGIONAL, so it is open there.
	if status, body, _ := tn.call("GET", id, "/prod/balance", nil); status != 200 {
		t.Errorf("regional listener: %d %s", status, body)
	}

	// DNS: the private name answers the private listener's address to
	// internal clients only; outsiders get the NXDOMAIN of a name that
	// does not exist. The regional name answers public_addresses.
	dnsAddr := tn.node.Addrs().DNS
	name := id + ".private.us-east-1.portico.test"
	eventually(t, 10*time.Second, func() error {
		if got, rcode := lookupFrom(t, dnsAddr, "127.0.6.9", name); rcode != mdns.RcodeSuccess || !slices.Equal(got, []string{"127.0.6.1"}) {
			return fmt.Errorf("internal lookup = %v rcode %d", got, rcode)
		}
		return nil
	})
	got, rcode := lookupFrom(t, dnsAddr, "127.0.0.1", name)
	_, rcodeNone := lookupFrom(t, dnsAddr, "127.0.0.1", "nosuchapi1.private.us-east-1.portico.test")
	if rcode != mdns.RcodeNameError || len(got) != 0 || rcode != rcodeNone {
		t.Errorf("external lookup = %v rcode %d, want NXDOMAIN like a missing name (%d)", got, rcode, rcodeNone)
	}
	if got, _ := lookupFrom(t, dnsAddr, "127.0.0.1", id+".us-east-1.portico.test"); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("regional name = %v, want the public address", got)
	}

	// /metrics separates the private endpoint's series.
	resp, err := http.Get("http://" + tn.node.Addrs().Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(m), `endpoint="private-corp"`) {
		t.Error(`/metrics has no series with endpoint="private-corp"`)
	}
}

func TestPrivateListenerNeedsItsAddress(t *testing.T) {
	t.Parallel()
	cfg := configs.Node{
		Name: "priv-2", Region: "us-east-1", DataDir: t.TempDir(), Zone: "portico.test",
		Roles:            []string{configs.RoleControl, configs.RoleRegional},
		InternalNetworks: []configs.InternalNetwork{{Name: "corp", CIDRs: []string{"192.0.2.0/24"}, Address: "192.0.2.123"}},
		Admin:            configs.AdminConfig{Listen: "127.0.0.1:0"}, Regional: configs.ListenerConfig{Listen: "127.0.0.1:0"},
		Edge: configs.ListenerConfig{Listen: "127.0.0.1:0"}, Raft: configs.RaftConfig{Listen: "127.0.0.1:0"},
		Internal: configs.InternalConfig{Listen: "127.0.0.1:0"}, Gossip: configs.GossipConfig{Listen: "127.0.0.1:0"},
		AccessLog: "off",
	}
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = n.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "internal_networks[0].address") || !strings.Contains(err.Error(), "192.0.2.123") {
		t.Fatalf("Run = %v, want a start-up error naming internal_networks[0].address", err)
	}

	// A wildcard or an address outside the network is refused by
	// validation before anything starts.
	for _, addr := range []string{"0.0.0.0", "10.0.0.1"} {
		bad := cfg
		bad.InternalNetworks = []configs.InternalNetwork{{Name: "corp", CIDRs: []string{"192.0.2.0/24"}, Address: addr}}
		if _, err := New(bad, nil); err == nil || !strings.Contains(err.Error(), "internal_networks[0].address") {
			t.Errorf("address %s: New = %v, want a validation error", addr, err)
		}
	}
}
