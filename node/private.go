package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints"
)

// privateAddrKey is the gossip listener name of a private listener:
// "private.{network}" → address:port.
const privateAddrKey = "private."

// checkLocalAddrs fails start-up, naming the field, when an internal
// network's address is not an address of this machine: a private
// listener binds only to the node's own internal address, never to a
// wildcard, so without that address there is nothing to serve. The
// kernel is asked directly (binding a UDP socket to the address), which
// also counts addresses a loopback route makes local.
func checkLocalAddrs(cfg configs.Node) error {
	for i, in := range cfg.InternalNetworks {
		if in.Address == "" || !cfg.HasRole(configs.RoleRegional) {
			continue
		}
		a, err := netip.ParseAddr(in.Address)
		if err != nil {
			continue // validated
		}
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			if errors.Is(err, syscall.EADDRNOTAVAIL) {
				return fmt.Errorf("internal_networks[%d].address: %s (network %s) is not an address of this machine; the private listener binds only to the node's own address on the internal network", i, a, in.Name)
			}
			return fmt.Errorf("internal_networks[%d].address: %s (network %s): %w", i, a, in.Name, err)
		}
		pc.Close()
	}
	return nil
}

// privateConfig is the endpoint config of one private listener.
func privateConfig(base endpoints.Config, pl configs.PrivateListener) endpoints.Config {
	base.Network, base.EndpointID, base.NetworkCIDRs = pl.Network, pl.EndpointID, pl.CIDRs
	base.Logger = base.Logger.With("network", pl.Network)
	return base
}

// privateListens are the addresses of the node's private listeners.
func privateListens(cfg configs.Node) []string {
	var out []string
	for _, pl := range cfg.PrivateListeners() {
		out = append(out, pl.Listen)
	}
	return out
}

// privatePort is the port private invoke URLs name: the one a private
// listener got (port 0 in tests), else the configured one.
func privatePort(cfg configs.Node, listening map[string]string) int {
	for _, addr := range listening {
		return portOf(addr)
	}
	return cfg.Private.PrivatePort()
}
