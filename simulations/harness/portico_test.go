package harness

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portico-gw/portico/configs"
)

// TestSingleNodeConfig checks that a SingleNode's config file, as Start
// writes it, decodes strictly, with every listener on the addresses given
// (none on the node's fixed defaults, which would collide with another
// node on the machine), no access log and the default throttle at the
// maximum.
func TestSingleNodeConfig(t *testing.T) {
	t.Parallel()
	sn := SingleNode{Driver: "accessbench", Region: "us-east-1", Zone: "portico.localhost"}
	addrs := []string{"127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003", "127.0.0.1:40004", "127.0.0.1:40005"}
	if len(addrs) != singleNodePorts {
		t.Fatalf("the test gives %d addresses, Config takes %d", len(addrs), singleNodePorts)
	}
	dir := t.TempDir()
	cfg := sn.Config(dir, addrs)
	file := filepath.Join(dir, "node.json")
	if err := writeNodeConfig(file, &cfg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := configs.LoadNode(b)
	if err != nil {
		t.Fatalf("LoadNode: %v\n%s", err, b)
	}
	if n.Name != sn.Driver+"-1" || !n.HasRole(configs.RoleControl) || !n.HasRole(configs.RoleRegional) ||
		n.Region != sn.Region || n.Zone != sn.Zone || n.AccessLog != "off" || n.DataDir != filepath.Join(dir, "data") {
		t.Errorf("node config %+v", n)
	}
	got := []string{n.Admin.Listen, n.Regional.Listen, n.Raft.Listen, n.Internal.Listen, n.Gossip.Listen}
	if !slices.Equal(got, addrs) {
		t.Errorf("listeners admin, regional, raft, internal, gossip = %q, want %q", got, addrs)
	}
	if th := n.DefaultThrottle; th == nil || th.RateLimit != configs.MaxRateLimit || th.BurstLimit != configs.MaxBurstLimit {
		t.Errorf("default throttle %+v, want the maximum (the 10,000 rps default would cap the measurement)", th)
	}
}
