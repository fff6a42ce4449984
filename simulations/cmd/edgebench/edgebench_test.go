package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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

// TestNginxConf checks that the nginx the driver would run accepts the
// config it writes (nginx -t); it is skipped where nginx is not installed.
func TestNginxConf(t *testing.T) {
	t.Parallel()
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
	conf := filepath.Join(dir, "nginx.conf")
	cfg := nginxConfig{Dir: dir, Root: os.Geteuid() == 0, Backend: "127.0.0.1:1", Plain: ports[0], TLS: ports[1], Cert: cert, Key: key}
	if err := cfg.write(conf); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}
