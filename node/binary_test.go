package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// portico builds the real binary once per test run.
func portico(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "portico-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "portico")
		out, err := exec.Command("go", "build", "-o", binPath, "..").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePorts reserves n loopback ports and releases them for the process
// under test.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// proc is a started command whose output goes to the test log.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func startProc(t *testing.T, dir string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill the whole group (make + portico)
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	w := writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Logf("output of %s %v:\n%s", name, args, p.output())
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (p *proc) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case err := <-p.done:
		p.done <- err // keep it for Cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not exit within 30s of %v", sig)
		return nil
	}
}

func waitAdmin(t *testing.T, admin string) *Client {
	t.Helper()
	c := NewClient(admin)
	eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return c.Do(ctx, "GET", "/healthz", nil, nil)
	})
	return c
}

// TestCrashLosesNothingAcknowledged runs the real binary, applies and
// deploys, kills it with SIGKILL, restarts it, and checks the stage serves
// the same responses.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	t.Parallel()
	bin := portico(t)
	dir := t.TempDir()
	ports := freePorts(t, 5)
	cfg := fmt.Sprintf("name: crash-1\nregion: eu-west-1\nroles: [control, regional]\nzone: portico.test\ndata_dir: %s\nadmin: {listen: %q}\nregional: {listen: %q}\nraft: {listen: %q}\ninternal: {listen: %q}\ngossip: {listen: %q}\naccess_log: \"off\"\n",
		filepath.Join(dir, "data"), ports[0], ports[1], ports[2], ports[3], ports[4])
	cfgFile := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	backend := versionBackend(t)
	backendHost := strings.TrimPrefix(backend.URL, "http://")

	p := startProc(t, dir, bin, "run", "--config", cfgFile)
	c := waitAdmin(t, ports[0])
	ctx := context.Background()
	var res applyResult
	if err := c.Do(ctx, "POST", "/v1/apply", []byte(petsDef(backendHost, "before the crash")), &res); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/apis/"+res.API.ID+"/deployments", deployRequest{Stage: "live", Variables: map[string]string{"backend": backendHost}}, nil); err != nil {
		t.Fatal(err)
	}
	https := httpsClient(t, filepath.Join(dir, "data", "tls", "ca.pem"), ports[1])
	get := func(path string) (int, string, error) {
		resp, err := https.Get(fmt.Sprintf("https://%s.eu-west-1.portico.test/live%s", res.API.ID, path))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), nil
	}
	want := map[string]string{"/greeting": "before the crash", "/pets/3": "backend GET /v1/pets/3"}
	check := func() error {
		for path, body := range want {
			status, got, err := get(path)
			if err != nil {
				return err
			}
			if status != 200 || got != body {
				return fmt.Errorf("GET %s = %d %q, want 200 %q", path, status, got, body)
			}
		}
		return nil
	}
	eventually(t, 10*time.Second, check)

	// The last acknowledged write right before the crash must survive too.
	var st stageView
	if err := c.Do(ctx, "PUT", "/v1/apis/"+res.API.ID+"/stages/live/variables", map[string]any{"variables": map[string]string{"backend": backendHost, "last": "write"}}, &st); err != nil {
		t.Fatal(err)
	}
	if err := p.signal(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL did not kill the node")
	}
	https.Transport.(*http.Transport).CloseIdleConnections()

	startProc(t, dir, bin, "run", "--config", cfgFile)
	c = waitAdmin(t, ports[0])
	// Ready means the log is replayed: no retry needed for the state.
	if err := check(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if err := c.Do(ctx, "GET", "/v1/apis/"+res.API.ID+"/stages/live", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Variables["last"] != "write" {
		t.Fatalf("stage variables after crash = %v: the last acknowledged write was lost", st.Variables)
	}
}

// TestMakeRunServesTheDemo drives `make run` as a new user would and runs
// the curl command it prints.
func TestMakeRunServesTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make and the real binary")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (make deps installs it)")
	}
	t.Parallel()
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state.json")
	// A loopback /24 of its own, so the fixed dev ports cannot collide
	// with anything else on the machine.
	prefix := fmt.Sprintf("127.%d.%d", 100+rand.IntN(100), rand.IntN(250))
	flags := fmt.Sprintf("--data-dir %s --state-file %s --ip-prefix %s --backend-listen %s.250:0 --access-log off",
		filepath.Join(dir, "data"), stateFile, prefix, prefix)
	p := startProc(t, "..", "make", "--no-print-directory", "run", "DEV_FLAGS="+flags)

	var state *StateFile
	eventually(t, 120*time.Second, func() error {
		s, err := ReadStateFile(stateFile)
		if err != nil {
			return err
		}
		state = s
		return nil
	})
	if state.Demo == nil || !strings.HasPrefix(state.Demo.Curl, "curl ") {
		t.Fatalf("state file has no demo curl command: %+v", state)
	}
	if !strings.Contains(p.output(), state.Demo.Curl) {
		t.Fatalf("the banner does not print the curl command %q", state.Demo.Curl)
	}
	out, err := exec.Command("sh", "-c", state.Demo.Curl+" --silent --show-error --max-time 10").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", state.Demo.Curl, err, out)
	}
	if !strings.Contains(string(out), "hello from the demo backend") {
		t.Fatalf("demo call returned %q", out)
	}

	// The printed edge call is served by an edge.
	if state.Demo.EdgeCurl == "" || !strings.Contains(p.output(), state.Demo.EdgeCurl) {
		t.Fatalf("no edge curl command in the state file and banner: %+v", state.Demo)
	}
	out, err = exec.Command("sh", "-c", state.Demo.EdgeCurl+" -i --silent --show-error --max-time 10").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"id":"42"`) || !strings.Contains(strings.ToLower(string(out)), "x-cache: miss from edge") {
		t.Fatalf("%s: %v\n%s", state.Demo.EdgeCurl, err, out)
	}

	// The real dig asks the cluster's DNS for the demo's edge name and
	// gets the edge nodes' addresses (dev puts edges after the control
	// nodes: prefix.4 to prefix.6).
	if _, err := exec.LookPath("dig"); err != nil {
		t.Fatal("dig is not installed (make deps installs dnsutils)")
	}
	dnsHost, dnsPort, _ := net.SplitHostPort(state.DNS)
	edgeName := state.Demo.APIID + ".edge." + state.Zone
	out, err = exec.Command("dig", "@"+dnsHost, "-p", dnsPort, "+short", "+time=5", "+tries=2", edgeName, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", edgeName, err, out)
	}
	answers := strings.Fields(string(out))
	if len(answers) == 0 {
		t.Fatalf("dig %s answered nothing", edgeName)
	}
	for _, a := range answers {
		if !slices.Contains([]string{prefix + ".4", prefix + ".5", prefix + ".6"}, a) {
			t.Fatalf("dig %s answered %v; want edge addresses of %s.4-6", edgeName, answers, prefix)
		}
	}
	out, _ = exec.Command("dig", "@"+dnsHost, "-p", dnsPort, "nope.edge."+state.Zone, "A").CombinedOutput()
	if !strings.Contains(string(out), "status: NXDOMAIN") || !strings.Contains(string(out), "flags: qr aa") {
		t.Fatalf("dig of a missing name: want an authoritative NXDOMAIN\n%s", out)
	}

	// The CLI finds the node through the state file.
	cli := exec.Command(portico(t), "--state-file", stateFile, "stages", "get", "--api", "demo", "--stage", "dev", "-o", "json")
	cliOut, err := cli.CombinedOutput()
	if err != nil || !strings.Contains(string(cliOut), state.Demo.InvokeURL) {
		t.Fatalf("portico stages get: %v\n%s", err, cliOut)
	}

	// Ctrl-C stops it cleanly and removes the state file. make itself
	// re-raises SIGINT once its child has exited, so make's own status is
	// "interrupted"; portico's clean stop shows in its log and state file.
	if err := p.signal(t, syscall.SIGINT); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
			t.Fatalf("make run exit after SIGINT: %v", err)
		}
	}
	if !strings.Contains(p.output(), "node stopping") || strings.Contains(p.output(), "error:") {
		t.Fatalf("portico did not stop cleanly:\n%s", p.output())
	}
	if _, err := os.Stat(stateFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state file still there after a clean stop: %v", err)
	}

	// Restarted on the same data, the cluster comes back with its state and
	// does not create the demo API a second time.
	startProc(t, "..", portico(t), append([]string{"dev"}, strings.Fields(flags)...)...)
	eventually(t, 120*time.Second, func() error {
		_, err := ReadStateFile(stateFile)
		return err
	})
	out, err = exec.Command(portico(t), "--state-file", stateFile, "apis", "list", "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("apis list: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), `"name": "demo"`); n != 1 {
		t.Fatalf("after a restart there are %d demo APIs, want 1:\n%s", n, out)
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
