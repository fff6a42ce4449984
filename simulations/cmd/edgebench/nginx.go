package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/simulations/harness"
)

// nginxConf is the reference cache: the research note's nginx.conf
// (performance-anchors.md appendix A.2: 2 workers, upstream keepalive
// 128, proxy_cache with use_temp_path=off and proxy_cache_lock) with two
// changes: entries stay valid for an hour (the Portico stage's TTL) and
// the cache status header is X-Cache-Status. One server listens on a
// plain port (the note measured plain HTTP) and a TLS port with a
// certificate from the cluster's CA, of the same kind as the edges' own
// (ECDSA P-256), preferring the TLS 1.3 suite Go's server picks on
// hardware with AES instructions (AES-128-GCM; OpenSSL, and so wrk, would
// otherwise settle on AES-256-GCM). Everything nginx writes stays in Dir.
// With -pin it runs 1 worker, on the one CPU it has (the note's pinned
// config).
var nginxConf = template.Must(template.New("nginx.conf").Parse(`# written by edgebench
worker_processes {{.Workers}};
{{if .Root}}user root;
{{end}}pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=edge:10m max_size=100m inactive=60m use_temp_path=off;
    upstream backend { server {{.Backend}}; keepalive 128; }
    server {
        listen {{.Plain}};
        listen {{.TLS}} ssl;
        ssl_certificate {{.Cert}};
        ssl_certificate_key {{.Key}};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers on;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;
        location / {
            proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_cache edge; proxy_cache_valid 200 1h; proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status;
        }
    }
}
`))

// nginxProc is nginx's process name in the driver's Group.
const nginxProc = "nginx"

// nginxConfig fills nginxConf.
type nginxConfig struct {
	Workers    int    // worker_processes
	Dir        string // for the pid, logs, temporary files and the cache
	Root       bool   // nginx runs as root: its workers must too, or they cannot enter Dir
	Backend    string // upstream host:port
	Plain, TLS string // listen addresses
	Cert, Key  string // PEM files
}

// write writes the config file to path.
func (c nginxConfig) write(path string) error {
	return harness.WriteTemplate(path, nginxConf, c)
}

// nginxServer is the running reference cache.
type nginxServer struct {
	plain, tls string // listen addresses
	version    string // "nginx/1.22.1"
	// proc is nginx's supervisor (Group.StartTree); the master and its
	// workers are its descendants.
	proc *harness.Proc
}

// findNginx resolves -nginx; Debian installs nginx in /usr/sbin, which is
// not on every user's PATH.
func findNginx(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if name == "nginx" {
		if p, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("nginx not found (-nginx %q): run make deps (or apt-get install nginx-light)", name)
}

// startNginx writes the config and a server certificate from ca under
// dir/nginx, starts nginx in the foreground under procs (StartTree: its
// workers die with it) and returns once it answers on its plain port (the
// caller checks both ports' cache hits). Its output goes to
// dir/logs/nginx.log, its error log to dir/nginx/error.log.
func startNginx(ctx context.Context, procs *harness.Group, bin, dir, backend string, ca *pki.CA, workers int) (*nginxServer, error) {
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		return nil, err
	}
	cert, key, err := ca.IssueFiles(ndir, "server", pki.IssueOptions{CommonName: "nginx",
		DNSNames: []string{"*.edge." + zone}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		return nil, fmt.Errorf("nginx certificate: %w", err)
	}
	ports, err := harness.FreePorts(2)
	if err != nil {
		return nil, err
	}
	n := &nginxServer{plain: ports[0], tls: ports[1], version: nginxVersion(ctx, bin)}
	conf := filepath.Join(ndir, "nginx.conf")
	cfg := nginxConfig{Workers: workers, Dir: ndir, Root: os.Geteuid() == 0, Backend: backend, Plain: n.plain, TLS: n.tls, Cert: cert, Key: key}
	if err := cfg.write(conf); err != nil {
		return nil, err
	}

	logPath := filepath.Join(dir, "logs", "nginx.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "-p", ndir, "-e", filepath.Join(ndir, "error.log"), "-c", conf, "-g", "daemon off;")
	cmd.Dir = ndir
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := procs.StartTree(nginxProc, cmd)
	if err != nil {
		return nil, err
	}
	probe := &http.Client{Timeout: 5 * time.Second}
	err = harness.Retry(ctx, 30*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("nginx exited (%v): %s%s", p.Err(), harness.ReadTail(logPath), harness.ReadTail(filepath.Join(ndir, "error.log"))))
		}
		res, err := probe.Get("http://" + n.plain + "/")
		if err != nil {
			return err
		}
		return res.Body.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("wait for nginx: %w", err)
	}
	n.proc = p
	return n, nil
}

// nginxVersion is "nginx/1.22.1", or "" if nginx -v does not say.
func nginxVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	_, v, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx version: ")
	if !ok {
		return ""
	}
	return v
}
