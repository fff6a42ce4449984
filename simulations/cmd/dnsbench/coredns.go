package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-gw/portico/simulations/harness"
)

// CoreDNS is built from the Go module proxy, never vendored or committed:
// `go install github.com/coredns/coredns@corednsVersion` in an empty
// directory outside any module, into a cache directory outside the
// repository, once. v1.14.7 is pinned because the proxy serves it and it
// builds with the project's Go; the proxy here refuses some versions and
// @latest is not reproducible.
const (
	corednsModule  = "github.com/coredns/coredns"
	corednsVersion = "v1.14.7"
	// corednsBuildTimeout bounds the first build: downloading CoreDNS's
	// dependencies and compiling them takes about 4 minutes on the 2-core
	// VM.
	corednsBuildTimeout = 20 * time.Minute
)

// corednsCacheDir is where the CoreDNS binary of version is kept:
// $XDG_CACHE_HOME/portico-bench/coredns-<version>, else
// ~/.cache/portico-bench/coredns-<version> (os.UserCacheDir).
func corednsCacheDir(version string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the CoreDNS build (set XDG_CACHE_HOME or pass -coredns): %w", err)
	}
	return filepath.Join(base, "portico-bench", "coredns-"+version), nil
}

// corednsBinary returns the CoreDNS binary to run: path when it is set
// (-coredns), else the cached build of version, built first if missing.
// Building runs outside the benchmark's budget, before anything starts.
func corednsBinary(ctx context.Context, log *slog.Logger, path, version string) (string, error) {
	if path != "" {
		return harness.Executable(path)
	}
	dir, err := corednsCacheDir(version)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "coredns")
	if fi, err := os.Stat(bin); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go not found, needed to build CoreDNS once (or pass -coredns): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build into a fresh directory and rename into place, so an
	// interrupted build never leaves a binary behind that looks complete.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "work") // empty: no go.mod applies
	if err := os.Mkdir(work, 0o755); err != nil {
		return "", err
	}
	log.Info("building CoreDNS once from the Go module proxy (a few minutes)", "module", corednsModule, "version", version, "into", dir)
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, corednsBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, goBin, "install", corednsModule+"@"+version)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	cmd.SysProcAttr = harness.SysProcAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", fmt.Errorf("build CoreDNS %s (go install %s@%s): %w\n%s", version, corednsModule, version, err, harness.Tail(string(out), 20))
	}
	if err := os.Rename(filepath.Join(tmp, "coredns"), bin); err != nil {
		return "", fmt.Errorf("install the CoreDNS build: %w", err)
	}
	log.Info("CoreDNS built", "bin", bin, "took", time.Since(start).Round(time.Second))
	return bin, nil
}

// corefile serves the zone file with the file plugin alone, on one
// address (UDP and TCP): the least CoreDNS does for an authoritative zone.
var corefile = template.Must(template.New("Corefile").Parse(`# written by dnsbench
{{.Zone}}:{{.Port}} {
    bind {{.Host}}
    file {{.ZoneFile}} {{.Zone}}
}
`))

// corednsConfig fills corefile.
type corednsConfig struct {
	Zone, Host, Port, ZoneFile string
}

// write writes the Corefile to path.
func (c corednsConfig) write(path string) error {
	return harness.WriteTemplate(path, corefile, c)
}

// startCoreDNS writes z as dir/coredns/zone.db and a Corefile serving it
// on addr, starts CoreDNS and returns once it answers the zone's SOA over
// TCP. Its output goes to dir/logs/coredns.log.
func startCoreDNS(ctx context.Context, procs *harness.Group, bin, dir, addr string, z zoneData) error {
	cdir := filepath.Join(dir, "coredns")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return err
	}
	zoneFile := filepath.Join(cdir, "zone.db")
	if err := z.writeFile(zoneFile); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	conf := filepath.Join(cdir, "Corefile")
	if err := (corednsConfig{Zone: z.Zone, Host: host, Port: port, ZoneFile: zoneFile}).write(conf); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "logs", "coredns.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "-conf", conf)
	cmd.Dir = cdir
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := procs.Start("coredns", cmd)
	if err != nil {
		return err
	}
	err = harness.Retry(ctx, 30*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("coredns exited (%v): %s", p.Err(), harness.ReadTail(logPath)))
		}
		_, err := ask(ctx, addr, z.Zone, dns.TypeSOA)
		return err
	})
	if err != nil {
		return fmt.Errorf("wait for coredns: %w", err)
	}
	return nil
}

// corednsVersionOf is "CoreDNS-1.14.7", or "" if the binary does not say.
func corednsVersionOf(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-version").Output()
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(first, "CoreDNS-") {
		return ""
	}
	return first
}
