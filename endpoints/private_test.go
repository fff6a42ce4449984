package endpoints

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/configs"
)

// privateHost is the invoke host of an API on the test region's private
// endpoints.
func privateHost(apiID string) string { return apiID + ".private." + testRegion + "." + testZone }

func newPrivate(t testing.TB, src configs.Source, listen string, cidrs ...string) *Gateway {
	t.Helper()
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	return newRegional(t, src, func(c *Config) {
		c.Kind, c.Listen, c.Network, c.EndpointID, c.NetworkCIDRs = KindPrivate, listen, "corp", "pe-corp", ps
	})
}

// policyAPI is published as PRIVATE and REGIONAL with a policy per
// endpoint type: inside, one subnet is denied and the network allowed;
// outside, only 203.0.113.0/24 may call, except one address.
const policyAPI = helloAPI + `
endpoint_types: [PRIVATE, REGIONAL]
resource_policy:
  statements:
    - {sid: DenyLab, effect: Deny, endpoint_types: [PRIVATE], source_cidrs: [10.20.2.0/24]}
    - {effect: Allow, endpoint_types: [PRIVATE], source_networks: [corp]}
    - {effect: Allow, endpoint_types: [REGIONAL], source_cidrs: [203.0.113.0/24]}
    - {effect: Deny, endpoint_types: [REGIONAL], source_cidrs: [203.0.113.9/32]}
`

func TestPrivateEndpointServesOnlyPrivateAPIsUnderItsPolicy(t *testing.T) {
	t.Parallel()
	src := newSource(buildState(t,
		apiDef{id: "policyapi1", def: policyAPI, stages: prod(nil)},
		apiDef{id: "privonly01", def: helloAPI + "endpoint_types: [PRIVATE]\n", stages: prod(nil)},
		apiDef{id: "openapi001", def: helloAPI, stages: prod(nil)},
		apiDef{id: "westpriv01", def: helloAPI + "endpoint_types: [PRIVATE]\nhome_region: us-west-2\n", stages: prod(nil)},
	))
	priv := newPrivate(t, src, "127.0.0.1:0", "10.20.0.0/16").Handler()
	reg := newRegional(t, src).Handler()
	tests := []struct {
		name   string
		h      http.Handler
		host   string
		client string
		status int
		msg    string
	}{
		{"private, allowed network", priv, privateHost("policyapi1"), "10.20.1.2", 200, ""},
		{"private, denied subnet", priv, privateHost("policyapi1"), "10.20.2.2", 403, errAccessDenied.message},
		{"private, no policy", priv, privateHost("privonly01"), "10.20.2.2", 200, ""},
		{"private, regional-only API", priv, privateHost("openapi001"), "10.20.1.2", 404, errNotServedPrivate.message},
		{"private, other region", priv, privateHost("westpriv01"), "10.20.1.2", 404, errUnknownHost.message},
		{"private, regional host", priv, host("policyapi1"), "10.20.1.2", 404, errUnknownHost.message},
		{"regional, allowed CIDR", reg, host("policyapi1"), "203.0.113.7", 200, ""},
		{"regional, denied address wins", reg, host("policyapi1"), "203.0.113.9", 403, errAccessDenied.message},
		{"regional, implicit deny", reg, host("policyapi1"), "198.51.100.1", 403, errAccessDenied.message},
		// A private-only API is not revealed on public listeners: the
		// same answer as a host without an API.
		{"regional, private-only API", reg, host("privonly01"), "10.20.1.2", 404, errUnknownHost.message},
		{"regional, no such API", reg, host("nosuchapi1"), "10.20.1.2", 404, errUnknownHost.message},
		{"regional, private host", reg, privateHost("privonly01"), "10.20.1.2", 404, errUnknownHost.message},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptestRequest("GET", "/prod/hello")
			r.Host, r.RemoteAddr = tc.host, tc.client+":40000"
			w := serve(tc.h, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.msg != "" && errBody(t, w).Message != tc.msg {
				t.Errorf("message %q, want %q", errBody(t, w).Message, tc.msg)
			}
			if tc.status == 200 && w.Body.String() != "hello v1" {
				t.Errorf("body %q", w.Body.String())
			}
		})
	}
}

func TestPolicyEvaluation(t *testing.T) {
	t.Parallel()
	stmt := func(effect configs.PolicyEffect, mod func(*configs.PolicyStatement)) configs.PolicyStatement {
		s := configs.PolicyStatement{Effect: effect}
		mod(&s)
		return s
	}
	allowNet := stmt(configs.EffectAllow, func(s *configs.PolicyStatement) { s.SourceNetworks = []string{"corp"} })
	allowPE := stmt(configs.EffectAllow, func(s *configs.PolicyStatement) { s.PrivateEndpoints = []string{"pe-corp"} })
	denyOutside := stmt(configs.EffectDeny, func(s *configs.PolicyStatement) { s.NotSourceCIDRs = []string{"10.0.0.0/8"} })
	allowAll := stmt(configs.EffectAllow, func(*configs.PolicyStatement) {})
	edgeOnly := stmt(configs.EffectDeny, func(s *configs.PolicyStatement) { s.EndpointTypes = []configs.EndpointType{configs.EndpointEdge} })
	inside := origin{addr: netip.MustParseAddr("10.1.2.3"), network: "corp", endpoint: "pe-corp"}
	public := origin{addr: netip.MustParseAddr("198.51.100.4")}
	tests := []struct {
		name  string
		stmts []configs.PolicyStatement
		t     configs.EndpointType
		o     origin
		want  bool
	}{
		{"no policy", nil, configs.EndpointPrivate, public, true},
		{"network allowed", []configs.PolicyStatement{allowNet}, configs.EndpointPrivate, inside, true},
		{"no network on a public listener", []configs.PolicyStatement{allowNet}, configs.EndpointRegional, public, false},
		{"endpoint id allowed", []configs.PolicyStatement{allowPE}, configs.EndpointPrivate, inside, true},
		{"other endpoint id", []configs.PolicyStatement{allowPE}, configs.EndpointPrivate, origin{addr: inside.addr, network: "corp", endpoint: "pe-lab"}, false},
		{"deny outside wins over allow all", []configs.PolicyStatement{allowAll, denyOutside}, configs.EndpointRegional, public, false},
		{"deny outside spares inside", []configs.PolicyStatement{allowAll, denyOutside}, configs.EndpointRegional, inside, true},
		{"unknown address is outside", []configs.PolicyStatement{allowAll, denyOutside}, configs.EndpointRegional, origin{}, false},
		// A policy with statements only for other endpoint types is
		// no policy for this one.
		{"statements for other types only", []configs.PolicyStatement{edgeOnly}, configs.EndpointRegional, public, true},
		{"statement for this type", []configs.PolicyStatement{edgeOnly}, configs.EndpointEdge, public, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rp *configs.ResourcePolicy
			if tc.stmts != nil {
				rp = &configs.ResourcePolicy{Statements: tc.stmts}
			}
			if got, why := compilePolicy(rp, tc.t).admits(tc.o); got != tc.want {
				t.Errorf("admits = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

// TestPrivateListenerDropsOutsiders: a client outside the network's CIDRs
// cannot complete a TCP handshake with the private listener; one inside
// can. On loopback, 127.0.9.0/24 plays the internal network and
// 127.0.0.1 the outsider.
func TestPrivateListenerDropsOutsiders(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the handshake is refused by a Linux socket filter; elsewhere the accept-time check closes the connection")
	}
	src := newSource(buildState(t, apiDef{id: "privonly01", def: helloAPI + "endpoint_types: [PRIVATE]\n", stages: prod(nil)}))
	g := newPrivate(t, src, "127.0.9.1:0", "127.0.9.0/24")
	run(t, g)
	addr := g.Addr().String()

	inside := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.9.7")}, Timeout: 5 * time.Second}
	c, err := inside.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("internal client: %v", err)
	}
	c.Close()

	// The SYN is dropped, so the dial can only time out (never a reset,
	// never a connection). A loaded machine can only make it fail later.
	outside := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 700 * time.Millisecond}
	c, err = outside.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatal("a client outside the internal network opened a connection to the private listener")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("outsider dial error = %v, want a timeout (SYN dropped)", err)
	}
}

func TestPrivateListenerFiltersIPv6(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("Linux socket filter")
	}
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ln.Close()
	src := newSource(buildState(t))
	// ::1 is inside ::/127 but not inside ::2/128.
	for _, tc := range []struct {
		cidr  string
		admit bool
	}{{"::/127", true}, {"::2/128", false}, {"0:0:0:0:0:0:0:0/64", true}, {"fe80::/10", false}} {
		g := newPrivate(t, src, "[::1]:0", tc.cidr)
		run(t, g)
		c, err := net.DialTimeout("tcp", g.Addr().String(), 700*time.Millisecond)
		if c != nil {
			c.Close()
		}
		if (err == nil) != tc.admit {
			t.Errorf("cidr %s: dial error %v, want admitted=%v", tc.cidr, err, tc.admit)
		}
	}
}
