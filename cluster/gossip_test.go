package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// gossipWait bounds every wait for the cluster to converge. Generous: the
// race detector on a shared 2-vCPU machine slows everything; passing tests
// finish far sooner.
const gossipWait = 30 * time.Second

// tbLogWriter sends log lines to t.Log until the test ends; serf and
// memberlist goroutines may still log after Shutdown returns.
type tbLogWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Helper()
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testGossipLogger logs to tb at info level. Call it before starting
// nodes so its cleanup runs after theirs.
func testGossipLogger(tb testing.TB) *slog.Logger {
	w := &tbLogWriter{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, nil))
}

func testMeta(name string) NodeMeta {
	return NodeMeta{
		Region: "region-" + name,
		Roles:  []string{"edge", "dns"},
		Addrs:  map[string]string{"edge": "127.0.0.1:8443", "admin": "127.0.0.1:9000"},
		Health: HealthOK, Version: "test",
	}
}

// startTestGossip starts one node on 127.0.0.1 port 0, shut down when
// the test ends. logger nil: a fresh test logger.
func startTestGossip(tb testing.TB, name string, logger *slog.Logger, mutate func(*GossipConfig)) *Gossip {
	tb.Helper()
	if logger == nil {
		logger = testGossipLogger(tb)
	}
	cfg := GossipConfig{
		NodeName: name,
		Bind:     "127.0.0.1:0",
		Meta:     testMeta(name),
		Logger:   logger.With("node", name),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := StartGossip(cfg)
	if err != nil {
		tb.Fatalf("start gossip %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := g.Shutdown(); err != nil {
			tb.Errorf("shutdown %s: %v", name, err)
		}
	})
	return g
}

// startTestCluster starts n nodes named node0..node(n-1), joins each to
// node0 and waits until every node sees every other alive.
func startTestCluster(tb testing.TB, n int, mutate func(i int, cfg *GossipConfig)) []*Gossip {
	tb.Helper()
	logger := testGossipLogger(tb)
	nodes := make([]*Gossip, n)
	for i := range nodes {
		nodes[i] = startTestGossip(tb, fmt.Sprintf("node%d", i), logger, func(c *GossipConfig) {
			if mutate != nil {
				mutate(i, c)
			}
		})
		if i > 0 {
			joinTest(tb, nodes[i], nodes[0])
		}
	}
	waitMembers(tb, nodes, statuses(nodes, MemberAlive))
	return nodes
}

func joinTest(tb testing.TB, g, seed *Gossip) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gossipWait)
	defer cancel()
	if n, err := g.Join(ctx, []string{seed.LocalAddr()}); err != nil || n != 1 {
		tb.Fatalf("join %s to %s: n=%d err=%v", g.cfg.NodeName, seed.LocalAddr(), n, err)
	}
}

func statuses(nodes []*Gossip, s MemberStatus) map[string]MemberStatus {
	want := make(map[string]MemberStatus, len(nodes))
	for _, g := range nodes {
		want[g.cfg.NodeName] = s
	}
	return want
}

// eventually retries check until it returns nil or gossipWait passes,
// waking on a change of any watched node or on a short tick.
func eventually(tb testing.TB, what string, watch []*Gossip, check func() error) {
	tb.Helper()
	deadline := time.NewTimer(gossipWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// Take the change channels before checking so no change is missed.
		changed := make(chan struct{}, 1)
		stop := make(chan struct{})
		for _, g := range watch {
			go func(ch <-chan struct{}) {
				select {
				case <-ch:
					select {
					case changed <- struct{}{}:
					default:
					}
				case <-stop:
				}
			}(g.Changed())
		}
		err := check()
		if err == nil {
			close(stop)
			return
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			close(stop)
			tb.Fatalf("%s: not reached in %v: %v", what, gossipWait, err)
		}
		close(stop)
	}
}

// viewErr reports how g's view differs from want (member → status).
func viewErr(g *Gossip, want map[string]MemberStatus) error {
	got := make(map[string]MemberStatus)
	for _, m := range g.Members() {
		got[m.Name] = m.Status
	}
	for name, s := range want {
		if got[name] != s {
			return fmt.Errorf("%s sees %s as %q, want %q (view %v)", g.cfg.NodeName, name, got[name], s, got)
		}
	}
	return nil
}

// waitMembers waits until every node in nodes sees want.
func waitMembers(tb testing.TB, nodes []*Gossip, want map[string]MemberStatus) {
	tb.Helper()
	eventually(tb, "membership", nodes, func() error {
		for _, g := range nodes {
			if err := viewErr(g, want); err != nil {
				return err
			}
		}
		return nil
	})
}

// assertMembers checks, without waiting, that every node sees want.
func assertMembers(t *testing.T, step string, nodes []*Gossip, want map[string]MemberStatus) {
	t.Helper()
	for _, g := range nodes {
		if err := viewErr(g, want); err != nil {
			t.Fatalf("after %s: %v", step, err)
		}
	}
}

func member(g *Gossip, name string) (Member, bool) {
	for _, m := range g.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func TestGossipJoinMetaAndUpdates(t *testing.T) {
	t.Parallel()
	nodes := startTestCluster(t, 4, nil)

	for _, g := range nodes {
		if strings.HasSuffix(g.LocalAddr(), ":0") {
			t.Fatalf("%s reports LocalAddr %s, want the picked port", g.cfg.NodeName, g.LocalAddr())
		}
		for _, other := range nodes {
			m, _ := member(g, other.cfg.NodeName)
			if m.MetaErr != nil {
				t.Fatalf("%s: meta of %s: %v", g.cfg.NodeName, m.Name, m.MetaErr)
			}
			if want := testMeta(other.cfg.NodeName); !reflect.DeepEqual(m.Meta, want) {
				t.Fatalf("%s sees meta of %s as %#v, want %#v", g.cfg.NodeName, m.Name, m.Meta, want)
			}
			if m.Addr != other.LocalAddr() {
				t.Fatalf("%s sees %s at %s, want %s", g.cfg.NodeName, m.Name, m.Addr, other.LocalAddr())
			}
		}
	}

	// A meta update reaches every node and fires Changed on each.
	changed := make([]<-chan struct{}, len(nodes))
	for i, g := range nodes {
		changed[i] = g.Changed()
	}
	meta := testMeta("node2")
	meta.ConfigIndex, meta.Health = 42, HealthDraining
	if err := nodes[2].SetMeta(meta); err != nil {
		t.Fatalf("SetMeta: %v", err)
	}
	eventually(t, "config index 42 everywhere", nodes, func() error {
		for _, g := range nodes {
			if m, _ := member(g, "node2"); m.Meta.ConfigIndex != 42 || m.Meta.Health != HealthDraining {
				return fmt.Errorf("%s sees node2 meta %#v", g.cfg.NodeName, m.Meta)
			}
		}
		return nil
	})
	for i, ch := range changed {
		select {
		case <-ch:
		default:
			t.Errorf("Changed of node%d did not fire for the meta update", i)
		}
	}

	// Oversized meta is refused locally and nothing is announced.
	big := meta
	big.Version = strings.Repeat("x", MetaMaxSize)
	if err := nodes[2].SetMeta(big); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("SetMeta(oversized) error = %v, want ErrMetaTooLarge", err)
	}

	// Probes feed the network coordinates behind RTT.
	eventually(t, "RTT estimate", nodes[:1], func() error {
		for _, other := range nodes[1:] {
			if _, ok := nodes[0].RTT(other.cfg.NodeName); !ok {
				return fmt.Errorf("no coordinate for %s yet", other.cfg.NodeName)
			}
		}
		return nil
	})
	for _, other := range nodes[1:] {
		rtt, _ := nodes[0].RTT(other.cfg.NodeName)
		between, ok := nodes[0].RTTBetween("node0", other.cfg.NodeName)
		t.Logf("RTT node0→%s ≈ %v (between: %v %v)", other.cfg.NodeName, rtt, between, ok)
		if rtt < 0 || rtt > time.Second {
			t.Errorf("RTT node0→%s = %v on loopback", other.cfg.NodeName, rtt)
		}
	}
	if _, ok := nodes[0].RTT("nobody"); ok {
		t.Errorf("RTT of an unknown node reported ok")
	}
}

func TestGossipCrashedNodeFailsAndLeaverLeaves(t *testing.T) {
	t.Parallel()
	nodes := startTestCluster(t, 4, nil)

	// A crash looks like this to peers: the process stops answering.
	if err := nodes[3].Shutdown(); err != nil {
		t.Fatalf("shutdown node3: %v", err)
	}
	want := statuses(nodes[:3], MemberAlive)
	want["node3"] = MemberFailed
	waitMembers(t, nodes[:3], want)

	ctx, cancel := context.WithTimeout(context.Background(), gossipWait)
	defer cancel()
	if err := nodes[2].Leave(ctx); err != nil {
		t.Fatalf("leave node2: %v", err)
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatalf("shutdown node2: %v", err)
	}
	want["node2"] = MemberLeft
	waitMembers(t, nodes[:2], want)

	if _, err := nodes[2].Join(ctx, []string{nodes[0].LocalAddr()}); !errors.Is(err, ErrGossipClosed) {
		t.Errorf("Join after Shutdown error = %v, want ErrGossipClosed", err)
	}
}

func TestGossipEncryptionRejectsOtherKeys(t *testing.T) {
	t.Parallel()
	key := GenerateKey()
	nodes := startTestCluster(t, 3, func(_ int, c *GossipConfig) { c.Keys = [][]byte{key} })

	tests := []struct {
		name string
		keys [][]byte
	}{
		{"other key", [][]byte{GenerateKey()}},
		{"no key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "intruder-" + strings.ReplaceAll(tt.name, " ", "-")
			x := startTestGossip(t, name, nil, func(c *GossipConfig) { c.Keys = tt.keys })
			ctx, cancel := context.WithTimeout(context.Background(), gossipWait)
			defer cancel()
			n, err := x.Join(ctx, []string{nodes[0].LocalAddr()})
			if err == nil || n != 0 || !strings.Contains(err.Error(), "crypt") {
				t.Fatalf("join with %s: n=%d err=%v, want it refused for encryption", tt.name, n, err)
			}
			t.Logf("join with %s refused: %v", tt.name, err)
			for _, g := range nodes {
				if _, ok := member(g, name); ok {
					t.Fatalf("%s lists %s", g.cfg.NodeName, name)
				}
			}
			if len(x.Members()) != 1 {
				t.Fatalf("%s sees %d members, want only itself", name, len(x.Members()))
			}
		})
	}
}

func TestGossipKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := GenerateKey(), GenerateKey()
	oldB64, newB64 := base64.StdEncoding.EncodeToString(oldKey), base64.StdEncoding.EncodeToString(newKey)
	dirs := make([]string, 3)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	keyring := func(i int) string { return filepath.Join(dirs[i], "gossip", "keyring.json") }
	nodes := startTestCluster(t, 3, func(i int, c *GossipConfig) {
		c.KeyringFile, c.Keys = keyring(i), [][]byte{oldKey}
	})
	alive := statuses(nodes, MemberAlive)

	// Watch every node's view for the whole rotation: nobody may be lost,
	// not even for a moment.
	var (
		lostMu sync.Mutex
		lost   []string
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for _, g := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ch := g.Changed()
				for _, m := range g.Members() {
					if m.Status != MemberAlive {
						lostMu.Lock()
						lost = append(lost, fmt.Sprintf("%s saw %s %s", g.cfg.NodeName, m.Name, m.Status))
						lostMu.Unlock()
					}
				}
				select {
				case <-ch:
				case <-stop:
					return
				}
			}
		}()
	}
	stopWatch := func() {
		close(stop)
		wg.Wait()
		if len(lost) > 0 {
			t.Fatalf("members lost during rotation: %v", lost)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), gossipWait)
	defer cancel()
	op := nodes[1] // any member can drive a rotation
	checkKeys := func(step string, wantKeys, wantPrimary map[string]int) {
		t.Helper()
		st, err := op.Keys(ctx)
		if err != nil {
			t.Fatalf("after %s: Keys: %v (%+v)", step, err, st)
		}
		if st.Nodes != 3 || st.Responses != 3 || len(st.Errors) != 0 ||
			!reflect.DeepEqual(st.Keys, wantKeys) || !reflect.DeepEqual(st.Primary, wantPrimary) {
			t.Fatalf("after %s: key status %+v, want keys %v primary %v on 3 nodes", step, st, wantKeys, wantPrimary)
		}
		assertMembers(t, step, nodes, alive)
	}
	checkFiles := func(step string, want ...string) {
		t.Helper()
		for i := range nodes {
			data, err := os.ReadFile(keyring(i))
			if err != nil {
				t.Fatalf("after %s: %v", step, err)
			}
			var got []string
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("after %s: keyring file of node%d: %v", step, i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after %s: keyring file of node%d holds %v, want %v", step, i, got, want)
			}
		}
	}

	checkFiles("start", oldB64)
	checkKeys("start", map[string]int{oldB64: 3}, map[string]int{oldB64: 3})

	res, err := op.InstallKey(ctx, newKey)
	if err != nil || res.Nodes != 3 || res.Responses != 3 {
		t.Fatalf("InstallKey: %+v %v", res, err)
	}
	checkKeys("install", map[string]int{oldB64: 3, newB64: 3}, map[string]int{oldB64: 3})
	checkFiles("install", oldB64, newB64)

	if res, err = op.UseKey(ctx, newKey); err != nil {
		t.Fatalf("UseKey: %+v %v", res, err)
	}
	checkKeys("use", map[string]int{oldB64: 3, newB64: 3}, map[string]int{newB64: 3})
	checkFiles("use", newB64, oldB64)

	// The primary key cannot be removed; every node says why.
	if res, err = op.RemoveKey(ctx, newKey); err == nil || len(res.Errors) != 3 {
		t.Fatalf("RemoveKey(primary) = %+v, %v; want a failure from every node", res, err)
	} else {
		t.Logf("RemoveKey(primary) refused: %v %v", err, res.Errors)
	}
	if res, err = op.RemoveKey(ctx, oldKey); err != nil {
		t.Fatalf("RemoveKey: %+v %v", res, err)
	}
	checkKeys("remove", map[string]int{newB64: 3}, map[string]int{newB64: 3})
	checkFiles("remove", newB64)
	if _, err := op.InstallKey(ctx, []byte("short")); err == nil {
		t.Fatalf("InstallKey accepted a 5-byte key")
	}
	stopWatch()

	// The old key no longer gets in; the new one does.
	stale := startTestGossip(t, "stale", nil, func(c *GossipConfig) { c.Keys = [][]byte{oldKey} })
	if n, err := stale.Join(ctx, []string{nodes[0].LocalAddr()}); err == nil {
		t.Fatalf("a node with the removed key joined %d members", n)
	}
	fresh := startTestGossip(t, "fresh", nil, func(c *GossipConfig) { c.Keys = [][]byte{newKey} })
	joinTest(t, fresh, nodes[2])
	all := []*Gossip{nodes[0], nodes[1], nodes[2], fresh}
	waitMembers(t, all, statuses(all, MemberAlive))

	// A node started from a rotated keyring file uses the file, not the
	// (stale) configured keys.
	again := startTestGossip(t, "from-file", nil, func(c *GossipConfig) {
		c.KeyringFile, c.Keys = keyring(0), [][]byte{oldKey}
	})
	joinTest(t, again, nodes[1])
	all = append(all, again)
	waitMembers(t, all, statuses(all, MemberAlive))
}

func TestGossipUnencrypted(t *testing.T) {
	t.Parallel()
	g := startTestGossip(t, "plain", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), gossipWait)
	defer cancel()
	if _, err := g.Keys(ctx); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("Keys error = %v, want ErrNotEncrypted", err)
	}
	if _, err := g.InstallKey(ctx, GenerateKey()); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("InstallKey error = %v, want ErrNotEncrypted", err)
	}
	if len(GenerateKey()) != 32 {
		t.Errorf("GenerateKey length != 32")
	}
}

func TestGossipConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*GossipConfig)
		text   string
	}{
		{"no name", func(c *GossipConfig) { c.NodeName = "" }, "no node name"},
		{"bad key size", func(c *GossipConfig) { c.Keys = [][]byte{[]byte("0123456789")} }, "key"},
		{"empty keyring file", func(c *GossipConfig) { c.KeyringFile = empty }, "holds no keys"},
		{"probe timeout too long", func(c *GossipConfig) { c.ProbeTimeout = time.Second }, "probe timeout"},
		{"bad bind", func(c *GossipConfig) { c.Bind = "127.0.0.1" }, "bind address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := GossipConfig{NodeName: "n", Bind: "127.0.0.1:0", Logger: testGossipLogger(t)}
			tt.mutate(&cfg)
			g, err := StartGossip(cfg)
			if err == nil {
				g.Shutdown()
				t.Fatalf("StartGossip succeeded")
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("StartGossip error %q, want one about %q", err, tt.text)
			}
		})
	}
}

func TestGossipLogBridge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line  string
		level slog.Level
		lib   string
		msg   string
	}{
		{"[WARN] memberlist: Was able to connect to node2 over TCP", slog.LevelWarn, "memberlist", "Was able to connect to node2 over TCP"},
		{"[ERR] serf: Failed to write keyring file", slog.LevelError, "serf", "Failed to write keyring file"},
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1", slog.LevelDebug, "memberlist", "Stream connection from=127.0.0.1:1"},
		{"[INFO] serf: EventMemberJoin: node1 127.0.0.1", slog.LevelInfo, "serf", "EventMemberJoin: node1 127.0.0.1"},
		{"plain line", slog.LevelInfo, "", "plain line"},
	}
	for _, tt := range tests {
		level, lib, msg := parseStdlogLine(tt.line)
		if level != tt.level || lib != tt.lib || msg != tt.msg {
			t.Errorf("parseStdlogLine(%q) = %v %q %q, want %v %q %q", tt.line, level, lib, msg, tt.level, tt.lib, tt.msg)
		}
	}
}
