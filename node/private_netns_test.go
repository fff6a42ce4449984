package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The private-endpoint lab: four network namespaces joined to the node's
// by veth pairs. Every address lives only inside namespaces the test
// creates; the root namespace is never touched.
//
//	PUB 198.51.100.2/24 ── 198.51.100.1 ┐
//	INA 10.20.1.2/24    ── 10.20.1.1    ├ NODE (portico run; admin etc. on its loopback)
//	INB 10.20.2.2/24    ── 10.20.2.1    ┘
//
// PUB has no route to 10.20.0.0/16; INA and INB route everything through
// the node. Everything they send is addressed to one of the node's own
// addresses, so the node delivers it locally and forwards nothing.
const (
	labPublicNode = "198.51.100.1"
	labPublicPeer = "198.51.100.2"
	labINANode    = "10.20.1.1" // the node's address on the internal network "corp"
	labINAPeer    = "10.20.1.2"
	labINBNode    = "10.20.2.1"
	labINBPeer    = "10.20.2.2" // inside 10.20.2.0/24, which ledger's policy denies

	labAdmin        = "127.0.0.1:9180" // on the node namespace's loopback
	labRegionalPort = 8443
	labDNSPort      = 8053
	labPrivatePort  = 8445
	labZone         = "portico.test"
	labRegion       = "us-east-1"
)

// privateLab is the built topology and the node running in it.
type privateLab struct {
	bin                 string
	node, pub, ina, inb string // namespace names, unique per run
	dir                 string
	ca                  string // the CA that signs the node's generated certificates
}

// TestPrivateEndpointsInNamespaces is the end-to-end test of private
// endpoints (issue #6): the real binary in its own network namespace, a
// public client and two internal clients in theirs. It checks that
//
//   - internal clients reach PRIVATE APIs on the private listener;
//   - the public client cannot open a connection to the private listener,
//     even when it routes to the private address over the public link,
//     and gets the same not-found answer for a PRIVATE API on the public
//     listener as for an API that does not exist;
//   - DNS answers private names only to internal sources, and to the
//     public side exactly as for a name that does not exist;
//   - a resource policy denying one internal CIDR blocks a client in it
//     while another internal client passes.
//
// Each property is a subtest, so a failure in one does not hide the rest.
func TestPrivateEndpointsInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("not running as root: creating network namespaces and veth links needs root (CI runs as root, so it runs there)")
	}
	for _, tool := range []string{"ip", "curl", "dig", "timeout", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; scripts/install-deps.sh (make deps) installs it", tool)
		}
	}
	t.Parallel()

	lab := buildPrivateLab(t)
	lab.startNode(t)
	ledger := lab.applyAndDeploy(t, "ledger.yaml", ledgerAPI(true))
	privOnly := lab.applyAndDeploy(t, "ledger-private-only.yaml", ledgerPrivateOnlyAPI)
	t.Logf("ledger=%s ledger-private-only=%s", ledger, privOnly)

	const balance = `{"balance":42}`
	regionalHost := func(id string) string { return id + "." + labRegion + "." + labZone }
	privateHost := func(id string) string { return id + ".private." + labRegion + "." + labZone }

	// The plumbing every other check leans on: the public client reaches
	// the node's regional listener. ledger is PRIVATE and REGIONAL and no
	// statement of its policy applies to REGIONAL, so it passes.
	t.Run("public client calls the regional endpoint", func(t *testing.T) {
		eventually(t, 10*time.Second, func() error {
			return lab.https(lab.pub, regionalHost(ledger), labPublicNode, labRegionalPort, "/prod/balance").want(200, balance)
		})
	})

	t.Run("internal client reaches the private APIs", func(t *testing.T) {
		for _, id := range []string{ledger, privOnly} {
			if err := lab.https(lab.ina, privateHost(id), labINANode, labPrivatePort, "/prod/balance").want(200, balance); err != nil {
				t.Errorf("INA -> %s on the private listener: %v", id, err)
			}
		}
	})

	t.Run("resource policy denies one internal CIDR", func(t *testing.T) {
		r := lab.https(lab.inb, privateHost(ledger), labINANode, labPrivatePort, "/prod/balance")
		if r.err != nil || r.status != 403 {
			t.Errorf("INB (%s, denied CIDR) -> ledger on the private listener: %v, want 403", labINBPeer, r)
		} else if msg, err := r.message(); err != nil || msg == "" {
			t.Errorf("403 body %q: want a JSON body with a message (%v)", r.body, err)
		} else {
			t.Logf("INB denied: 403 %q", msg)
		}
		// The same client reaches an API without a policy, and another
		// internal client passes ledger's policy.
		if err := lab.https(lab.inb, privateHost(privOnly), labINANode, labPrivatePort, "/prod/balance").want(200, balance); err != nil {
			t.Errorf("INB -> ledger-private-only (no policy): %v", err)
		}
		if err := lab.https(lab.ina, privateHost(ledger), labINANode, labPrivatePort, "/prod/balance").want(200, balance); err != nil {
			t.Errorf("INA (%s) -> ledger: %v", labINAPeer, err)
		}
	})

	t.Run("public listener answers not-found for a private API", func(t *testing.T) {
		priv := lab.https(lab.pub, regionalHost(privOnly), labPublicNode, labRegionalPort, "/prod/balance")
		none := lab.https(lab.pub, regionalHost("zzzzzzzzzz"), labPublicNode, labRegionalPort, "/prod/balance")
		if priv.err != nil || none.err != nil {
			t.Fatalf("PUB on the regional listener: private API %v; unknown API %v", priv, none)
		}
		if none.status != 404 && none.status != 403 {
			t.Errorf("an unknown API answers %v, want 404 or 403", none)
		}
		pm, perr := priv.message()
		nm, nerr := none.message()
		if perr != nil || nerr != nil || priv.status != none.status || pm != nm {
			t.Errorf("PRIVATE-only API on the public listener answers %d %q, an unknown API %d %q: a public client must not tell them apart",
				priv.status, pm, none.status, nm)
		} else {
			t.Logf("both answer %d %q", priv.status, pm)
		}
	})

	t.Run("DNS hides private names from the public side", func(t *testing.T) {
		ref := lab.dig(lab.pub, "nosuchapi1.private."+labRegion+"."+labZone)
		if ref.err != nil {
			t.Fatalf("dig from PUB: %v", ref.err)
		}
		for _, id := range []string{ledger, privOnly} {
			got := lab.dig(lab.pub, privateHost(id))
			if got.err != nil {
				t.Fatalf("dig from PUB: %v", got.err)
			}
			if got.status != "NXDOMAIN" || len(got.answers) != 0 {
				t.Errorf("PUB asks for %s: %s %v, want NXDOMAIN without answers\n%s", privateHost(id), got.status, got.answers, got.raw)
			}
			if got.status != ref.status || got.flags != ref.flags {
				t.Errorf("PUB: the existing private name %s answers %q %q, a missing one %q %q: the answer reveals the name",
					privateHost(id), got.status, got.flags, ref.status, ref.flags)
			}
		}
		// The API's regional name is public, answered with the node's
		// public address.
		reg := lab.dig(lab.pub, regionalHost(ledger))
		if reg.err != nil || reg.status != "NOERROR" || !slices.Equal(reg.answers, []string{labPublicNode}) {
			t.Errorf("PUB asks for %s: %s %v (%v), want NOERROR [%s]\n%s", regionalHost(ledger), reg.status, reg.answers, reg.err, labPublicNode, reg.raw)
		}
	})

	t.Run("DNS resolves private names on the internal side", func(t *testing.T) {
		// INA's queries reach 198.51.100.1 from 10.20.1.2, an internal
		// source.
		for _, id := range []string{ledger, privOnly} {
			got := lab.dig(lab.ina, privateHost(id))
			if got.err != nil || got.status != "NOERROR" || !slices.Equal(got.answers, []string{labINANode}) {
				t.Errorf("INA asks for %s: %s %v (%v), want NOERROR [%s]\n%s", privateHost(id), got.status, got.answers, got.err, labINANode, got.raw)
			}
		}
	})

	t.Run("public client cannot connect to the private listener", func(t *testing.T) {
		// The listener is there: an internal client connects.
		if r := lab.connect(lab.ina, labINANode, labPrivatePort); !r.connected {
			t.Fatalf("INA cannot connect to %s:%d: %s (the private listener is not up)", labINANode, labPrivatePort, r)
		}
		// Without a route the public client gets nowhere.
		if r := lab.connect(lab.pub, labINANode, labPrivatePort); r.connected {
			t.Errorf("PUB, without a route to 10.20.0.0/16, connected to the private listener")
		}
		// An attacker on the public link routes to the private address.
		// The node receives its SYNs (a closed port on the same address
		// answers at once), but the private listener drops them: the
		// connect times out and no HTTP answer ever comes.
		route := []string{"-n", lab.pub, "route", "add", "10.20.0.0/16", "via", labPublicNode}
		t.Cleanup(func() { exec.Command("ip", "-n", lab.pub, "route", "del", "10.20.0.0/16").Run() })
		mustRun(t, "ip", route...)
		if r := lab.connect(lab.pub, labINANode, 9); r.connected || r.timedOut {
			t.Fatalf("PUB -> %s:9 (nothing listens): %s, want connection refused: the route to the node does not work", labINANode, r)
		}
		r := lab.connect(lab.pub, labINANode, labPrivatePort)
		if r.connected || !r.timedOut {
			t.Errorf("PUB, routing to 10.20.0.0/16 over the public link, -> %s:%d: %s; want the connection attempt dropped (a timeout)", labINANode, labPrivatePort, r)
		}
		h := lab.https(lab.pub, privateHost(privOnly), labINANode, labPrivatePort, "/prod/balance")
		if h.err == nil || h.status != 0 || h.exit != 28 {
			t.Errorf("PUB over the public link -> private listener: %v; want no HTTP response (curl exit 28, connect timeout)", h)
		}
	})
}

// buildPrivateLab creates the namespaces and links. Each namespace's
// removal is registered before it is created; the veths are created
// directly inside the namespaces (never in the root one), so removing the
// namespaces removes them too, whatever step failed.
func buildPrivateLab(t *testing.T) *privateLab {
	t.Helper()
	base := fmt.Sprintf("ptc%05x", rand.IntN(1<<20))
	lab := &privateLab{bin: portico(t), node: base + "-node", pub: base + "-pub", ina: base + "-ina", inb: base + "-inb", dir: t.TempDir()}
	lab.ca = filepath.Join(lab.dir, "data", "tls", "ca.pem")
	for _, ns := range []string{lab.node, lab.pub, lab.ina, lab.inb} {
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
				t.Errorf("remove namespace %s: %v\n%s", ns, err, out)
			}
		})
		mustRun(t, "ip", "netns", "add", ns)
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	for _, l := range []struct {
		peer, ifname, nodeAddr, peerAddr string
		gateway                          bool
	}{
		{lab.pub, "pub0", labPublicNode, labPublicPeer, false},
		{lab.ina, "ina0", labINANode, labINAPeer, true},
		{lab.inb, "inb0", labINBNode, labINBPeer, true},
	} {
		mustRun(t, "ip", "-n", lab.node, "link", "add", l.ifname, "type", "veth", "peer", "name", "eth0", "netns", l.peer)
		mustRun(t, "ip", "-n", lab.node, "addr", "add", l.nodeAddr+"/24", "dev", l.ifname)
		mustRun(t, "ip", "-n", lab.node, "link", "set", l.ifname, "up")
		mustRun(t, "ip", "-n", l.peer, "addr", "add", l.peerAddr+"/24", "dev", "eth0")
		mustRun(t, "ip", "-n", l.peer, "link", "set", "eth0", "up")
		if l.gateway {
			mustRun(t, "ip", "-n", l.peer, "route", "add", "default", "via", l.nodeAddr)
		}
	}
	return lab
}

// privateNodeConfig is the node's config: every listener but the public
// ones on the namespace's loopback, the public ones on 198.51.100.1, and
// the internal network "corp" with the node's address on it.
func privateNodeConfig(dataDir string) string {
	return fmt.Sprintf(`name: pn-1
region: %[2]s
roles: [control, regional, dns]
data_dir: %[1]q
zone: %[3]s
admin: {listen: %[4]q}
regional: {listen: "%[5]s:%[6]d"}
internal: {listen: "127.0.0.1:9443"}
gossip: {listen: "127.0.0.1:7946"}
raft: {listen: "127.0.0.1:8300"}
dns: {listen: "%[5]s:%[7]d"}
public_addresses: [%[5]q]
internal_networks:
  - name: corp
    cidrs: ["10.20.0.0/16"]
    address: %[8]q
    endpoint_id: pe-corp
private: {port: %[9]d}
access_log: "off"
shutdown_grace: 2s
`, dataDir, labRegion, labZone, labAdmin, labPublicNode, labRegionalPort, labDNSPort, labINANode, labPrivatePort)
}

// ledgerAPI is published as PRIVATE and REGIONAL; its policy denies
// 10.20.2.0/24 and allows the rest of corp on the private endpoint.
func ledgerAPI(withPolicy bool) string {
	policy := ""
	if withPolicy {
		policy = `resource_policy:
  statements:
    - effect: Deny
      endpoint_types: [PRIVATE]
      source_cidrs: ["10.20.2.0/24"]
    - effect: Allow
      endpoint_types: [PRIVATE]
      source_networks: ["corp"]
`
	}
	return "name: ledger\nendpoint_types: [PRIVATE, REGIONAL]\n" + policy + ledgerResources
}

const ledgerPrivateOnlyAPI = "name: ledger-private-only\nendpoint_types: [PRIVATE]\n" + ledgerResources

const ledgerResources = `resources:
  - path: /balance
    methods:
      GET:
        integration:
          type: MOCK
          status_code: 200
          headers: {Content-Type: application/json}
          body: '{"balance":42}'
`

// startNode runs the real binary inside the node's namespace and waits
// for its admin API. startProc kills its process group on cleanup, which
// runs before the namespaces are removed (cleanups run last-in first-out).
func (lab *privateLab) startNode(t *testing.T) {
	t.Helper()
	cfg := filepath.Join(lab.dir, "node.yaml")
	if err := os.WriteFile(cfg, []byte(privateNodeConfig(filepath.Join(lab.dir, "data"))), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, lab.dir, "ip", "netns", "exec", lab.node, lab.bin, "run", "--config", cfg)
	eventually(t, 60*time.Second, func() error {
		select {
		case err := <-p.done:
			p.done <- err // keep it for the cleanup
			t.Fatalf("portico run exited: %v\n%s", err, p.output())
		default:
		}
		r := runIn(lab.node, 5*time.Second, "curl", "-sf", "-m", "2", "http://"+labAdmin+"/healthz")
		if r.exit != 0 {
			return fmt.Errorf("healthz: %s", r)
		}
		return nil
	})
}

// applyAndDeploy applies a definition with the CLI, deploys it to stage
// prod and waits until the node serves it; it returns the API id.
func (lab *privateLab) applyAndDeploy(t *testing.T, file, def string) string {
	t.Helper()
	path := filepath.Join(lab.dir, file)
	if err := os.WriteFile(path, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runIn(lab.node, 30*time.Second, lab.bin, "apply", "-f", path, "--admin", labAdmin, "-o", "id")
	id := strings.TrimSpace(r.stdout)
	if r.exit != 0 || id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("portico apply -f %s: %s", file, r)
	}
	if r := runIn(lab.node, 40*time.Second, lab.bin, "deploy", "--api", id, "--stage", "prod", "--wait", "--admin", labAdmin); r.exit != 0 {
		t.Fatalf("portico deploy --api %s: %s", id, r)
	}
	return id
}

// cmdResult is what a command run inside a namespace did.
type cmdResult struct {
	args           []string
	stdout, stderr string
	exit           int // -1: it could not run or was killed at the bound
}

func (r cmdResult) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.exit, r.stdout, r.stderr)
}

// runIn runs a command inside namespace ns, killed after limit (every
// command given here also bounds itself; limit is the backstop).
func runIn(ns string, limit time.Duration, args ...string) cmdResult {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	full := append([]string{"netns", "exec", ns}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.WaitDelay = time.Second
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cmdResult{args: append([]string{"ip"}, full...), stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.exit = ee.ExitCode()
	default:
		r.exit = -1
		r.stderr += err.Error()
	}
	return r
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// httpResult is one HTTPS request made with curl from a namespace.
type httpResult struct {
	status int
	body   string
	exit   int // curl's exit status (28: timed out)
	err    error
}

func (r httpResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, r.body)
}

func (r httpResult) want(status int, body string) error {
	if r.err != nil {
		return r.err
	}
	if r.status != status || r.body != body {
		return fmt.Errorf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
	return nil
}

// message is the "message" of a gateway's JSON error body.
func (r httpResult) message() (string, error) {
	var b struct {
		Message string `json:"message"`
	}
	err := json.Unmarshal([]byte(r.body), &b)
	return b.Message, err
}

// https asks https://host:port/path from namespace ns, host resolving to
// ip, trusting the node's CA.
func (lab *privateLab) https(ns, host, ip string, port int, path string) httpResult {
	hp := host + ":" + strconv.Itoa(port)
	r := runIn(ns, 15*time.Second, "curl", "-sS", "--cacert", lab.ca, "--resolve", hp+":"+ip,
		"--connect-timeout", "3", "-m", "10", "-w", `\n%{http_code}`, "https://"+hp+path)
	body, code := "", r.stdout // -w puts the status on a line of its own
	if i := strings.LastIndexByte(r.stdout, '\n'); i >= 0 {
		body, code = r.stdout[:i], r.stdout[i+1:]
	}
	res := httpResult{body: strings.TrimSuffix(body, "\n"), exit: r.exit}
	res.status, _ = strconv.Atoi(code)
	if r.exit != 0 {
		res.err = fmt.Errorf("from %s: %s", ns, r)
	}
	return res
}

// connectResult is one raw TCP connection attempt.
type connectResult struct {
	connected, timedOut bool
	detail              string
}

func (r connectResult) String() string {
	switch {
	case r.connected:
		return "connected"
	case r.timedOut:
		return "timed out"
	}
	return "failed: " + r.detail
}

// connect opens (and closes) a TCP connection from namespace ns, giving
// up after 4s.
func (lab *privateLab) connect(ns, ip string, port int) connectResult {
	r := runIn(ns, 10*time.Second, "timeout", "4", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", ip, port))
	return connectResult{connected: r.exit == 0, timedOut: r.exit == 124, detail: strings.TrimSpace(r.stderr)}
}

// digResult is a DNS answer as dig shows it.
type digResult struct {
	status  string   // NOERROR, NXDOMAIN, ...
	flags   string   // the ";; flags:" line: header bits and section counts
	answers []string // A records of the answer section
	raw     string
	err     error
}

// dig asks the node's DNS server (on its public address) for name's A
// records from namespace ns, without recursion.
func (lab *privateLab) dig(ns, name string) digResult {
	r := runIn(ns, 10*time.Second, "dig", "+norec", "+time=2", "+tries=1", "@"+labPublicNode, "-p", strconv.Itoa(labDNSPort), name, "A")
	res := digResult{raw: r.stdout}
	if r.exit != 0 {
		res.err = fmt.Errorf("from %s: %s", ns, r)
		return res
	}
	inAnswer := false
	for _, line := range strings.Split(r.stdout, "\n") {
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			if _, s, ok := strings.Cut(line, "status: "); ok {
				res.status, _, _ = strings.Cut(s, ",")
			}
		case strings.HasPrefix(line, ";; flags:"):
			res.flags = line
		case strings.HasPrefix(line, ";; ANSWER SECTION:"):
			inAnswer = true
		case strings.TrimSpace(line) == "":
			inAnswer = false
		case inAnswer:
			if f := strings.Fields(line); len(f) == 5 && f[3] == "A" {
				res.answers = append(res.answers, f[4])
			}
		}
	}
	if res.status == "" {
		res.err = fmt.Errorf("from %s: no status in dig's output\n%s", ns, r.stdout)
	}
	return res
}
