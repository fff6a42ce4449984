package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/simulations/harness"
)

func TestJSONPayload(t *testing.T) {
	t.Parallel()
	for _, size := range []int{128, 1000, payloadSize, 4096} {
		b := jsonPayload(size)
		if len(b) != size {
			t.Errorf("jsonPayload(%d) is %d bytes", size, len(b))
		}
		if !json.Valid(b) {
			t.Errorf("jsonPayload(%d) is not JSON: %s", size, b)
		}
	}
}

// TestPinOptions checks what -pin changes: one wrk thread unless
// -threads is given, the servers on one CPU the driver may use and the
// rest on all the others, and nothing without it.
func TestPinOptions(t *testing.T) {
	t.Parallel()
	parse := func(args ...string) (*options, error) {
		t.Helper()
		fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
		o := newOptions(fs)
		if err := fs.Parse(append([]string{"-portico", "bin/portico"}, args...)); err != nil {
			t.Fatal(err)
		}
		return o, errors.Join(o.choosePlacement(fs), o.validate())
	}
	o, err := parse()
	if err != nil || o.Threads != 2 || o.place.pinned() || o.place.String() != "shared: servers and wrk on every CPU" {
		t.Errorf("default: %v, %d wrk threads, placement %q; want no error, 2 and shared", err, o.Threads, o.place)
	}
	cpus, err := harness.AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	o, err = parse("-pin")
	if len(cpus) < 2 {
		if err == nil || !strings.Contains(err.Error(), "-pin needs at least 2 CPUs") {
			t.Errorf("-pin with CPUs %v: %v, want an error naming -pin", cpus, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("-pin with CPUs %v: %v", cpus, err)
	}
	if o.Threads != 1 {
		t.Errorf("-pin: %d wrk threads, want 1", o.Threads)
	}
	// Together the two lists hold every allowed CPU once.
	seen := map[string]int{o.place.server: 1}
	for c := range strings.SplitSeq(o.place.rest, ",") {
		seen[c]++
	}
	for _, c := range cpus {
		if seen[strconv.Itoa(c)] != 1 {
			t.Errorf("-pin with CPUs %v: servers on %q, the rest on %q; want each CPU in exactly one", cpus, o.place.server, o.place.rest)
			break
		}
	}
	if len(seen) != len(cpus) || strings.Contains(o.place.server, ",") {
		t.Errorf("-pin with CPUs %v: servers on %q, the rest on %q; want one CPU for the servers and the others for the rest", cpus, o.place.server, o.place.rest)
	}
	if o, _ := parse("-pin", "-threads", "3"); o.Threads != 3 {
		t.Errorf("-pin -threads 3: %d wrk threads, want 3", o.Threads)
	}
}

// TestNginxConf checks that the nginx the driver would run accepts the
// config it writes (nginx -t); it is skipped where nginx is not installed.
func TestNginxConf(t *testing.T) {
	t.Parallel()
	if w := (placement{server: "0", rest: "1"}).nginxWorkers(); w != 1 {
		t.Errorf("a pinned nginx gets %d workers, want 1 (one CPU)", w)
	}
	if w := (placement{}).nginxWorkers(); w != 2 {
		t.Errorf("a shared nginx gets %d workers, want the research note's 2", w)
	}
	bin, err := findNginx("nginx")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	ca, err := pki.CreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueFiles(dir, "server", pki.IssueOptions{CommonName: "nginx", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	ports, err := harness.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, place := range []placement{{}, {server: "0", rest: "1"}} {
		conf := filepath.Join(dir, "nginx.conf")
		cfg := nginxConfig{Workers: place.nginxWorkers(), Dir: dir, Root: os.Geteuid() == 0, Backend: "127.0.0.1:1", Plain: ports[0], TLS: ports[1], Cert: cert, Key: key}
		if err := cfg.write(conf); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: nginx -t: %v\n%s", place, err, out)
		}
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("\nworker_processes %d;\n", place.nginxWorkers()); !strings.Contains(string(b), want) {
			t.Errorf("%s: the config has no %q", place, strings.TrimSpace(want))
		}
	}
}

// TestReportServerCPU checks the server CPU time per hit under the
// headline, and that it is left out when it was not measured.
func TestReportServerCPU(t *testing.T) {
	t.Parallel()
	run := func(rps float64, cpu time.Duration) harness.WrkResult {
		return harness.WrkResult{RPS: rps, Requests: int64(rps * 5), Elapsed: 5 * time.Second,
			P50: time.Millisecond, P99: 3 * time.Millisecond, ServerCPU: cpu, HasServerCPU: cpu > 0}
	}
	hits := func(edgeCPU, nginxCPU time.Duration) []*hitTarget {
		var ts []*hitTarget
		for _, name := range hitNames {
			r := run(10000, 0)
			switch name {
			case edgeHit:
				r = run(10000, edgeCPU) // 50,000 requests
			case nginxTLS:
				r = run(10000, nginxCPU)
			}
			ts = append(ts, &hitTarget{wrk: harness.WrkTarget{Name: name, URL: "https://x/"}, runs: []harness.WrkResult{r}})
		}
		return ts
	}
	o := options{WrkOptions: harness.WrkOptions{Duration: 5 * time.Second, Runs: 1}}
	c := &benchCluster{}

	r := newReport(o, "portico", "wrk", "nginx", c, hits(1170*time.Millisecond, 1300*time.Millisecond), 0, nil)
	if got := r.Hits.EdgeOverNginxTLSCPU; got == nil || *got != 0.9 {
		t.Errorf("edge over nginx server CPU %v, want 0.9", got)
	}
	var b strings.Builder
	r.Print(&b)
	want := "server CPU per hit: portico-edge-hit 23.4µs, nginx-tls-hit 26.0µs (edge/nginx 0.90)"
	if !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	if n := strings.Count(b.String(), "cpu/req:"); n != 1 {
		t.Errorf("the cpu/req column is explained %d times, want once:\n%s", n, b.String())
	}

	r = newReport(o, "portico", "wrk", "nginx", c, hits(0, 0), 0, nil)
	b.Reset()
	r.Print(&b)
	if r.Hits.EdgeOverNginxTLSCPU != nil || strings.Contains(b.String(), "cpu/req") || strings.Contains(b.String(), "server CPU") {
		t.Errorf("server CPU reported though not measured:\n%s", b.String())
	}
}
