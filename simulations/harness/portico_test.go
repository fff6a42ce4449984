package harness

import (
	"testing"

	"github.com/portico-gw/portico/configs"
)

// TestSingleNodeConfig checks that both shapes of a SingleNode's config
// decode strictly, with the listeners given and, without OwnPorts, the
// node's default internal and gossip ports.
func TestSingleNodeConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		node         SingleNode
		ports        NodePorts
		wantInternal bool
	}{
		{"default ports", SingleNode{Driver: "proxybench", Region: "us-east-1", Zone: "portico.localhost"},
			NodePorts{Admin: "127.0.0.1:40001", Regional: "127.0.0.1:40002", Raft: "127.0.0.1:40003"}, false},
		{"own ports", SingleNode{Driver: "accessbench", Region: "us-east-1", Zone: "portico.localhost", OwnPorts: true},
			NodePorts{Admin: "127.0.0.1:40001", Regional: "127.0.0.1:40002", Raft: "127.0.0.1:40003", Internal: "127.0.0.1:40004", Gossip: "127.0.0.1:40005"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := configs.LoadNode([]byte(tt.node.Config(t.TempDir(), tt.ports)))
			if err != nil {
				t.Fatal(err)
			}
			if n.Name != tt.node.Driver+"-1" || !n.HasRole(configs.RoleControl) || !n.HasRole(configs.RoleRegional) ||
				n.Region != tt.node.Region || n.Zone != tt.node.Zone || n.AccessLog != "off" {
				t.Errorf("node config %+v", n)
			}
			if n.Admin.Listen != tt.ports.Admin || n.Regional.Listen != tt.ports.Regional || n.Raft.Listen != tt.ports.Raft {
				t.Errorf("listeners admin %s regional %s raft %s, want %+v", n.Admin.Listen, n.Regional.Listen, n.Raft.Listen, tt.ports)
			}
			if tt.wantInternal && (n.Internal.Listen != tt.ports.Internal || n.Gossip.Listen != tt.ports.Gossip) {
				t.Errorf("internal %s gossip %s, want %s %s", n.Internal.Listen, n.Gossip.Listen, tt.ports.Internal, tt.ports.Gossip)
			}
			if !tt.wantInternal && (n.Internal.Listen == "" || n.Gossip.Listen == "") {
				t.Errorf("internal %q gossip %q: want the node's defaults", n.Internal.Listen, n.Gossip.Listen)
			}
		})
	}
}
