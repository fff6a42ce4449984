package pki

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := CreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mode(t *testing.T, file string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, dir string)
	}{
		{"create then load", func(t *testing.T, dir string) {
			ca, err := CreateCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !ca.Cert.IsCA || ca.Cert.NotAfter.Before(time.Now().AddDate(9, 11, 0)) {
				t.Errorf("CA: IsCA=%v NotAfter=%v, want a CA for 10 years", ca.Cert.IsCA, ca.Cert.NotAfter)
			}
			if ca.CertFile != filepath.Join(dir, "ca.pem") {
				t.Errorf("CertFile = %s", ca.CertFile)
			}
			if m := mode(t, filepath.Join(dir, "ca-key.pem")); m != 0o600 {
				t.Errorf("ca-key.pem mode %v, want 0600", m)
			}
			got, err := LoadCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cert.Equal(ca.Cert) || !got.Key.Equal(ca.Key) || got.CertFile != ca.CertFile {
				t.Error("LoadCA returned another CA than CreateCA wrote")
			}
		}},
		{"refuse to overwrite", func(t *testing.T, dir string) {
			first, err := CreateCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = CreateCA(dir)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), filepath.Join(dir, "ca.pem")) {
				t.Fatalf("second CreateCA: %v, want fs.ErrExist naming ca.pem", err)
			}
			if got, err := LoadCA(dir); err != nil || !got.Cert.Equal(first.Cert) {
				t.Errorf("CA changed after a refused CreateCA (err %v)", err)
			}
		}},
		{"refuse when only the key exists", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := CreateCA(dir); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "ca-key.pem") {
				t.Fatalf("CreateCA: %v, want fs.ErrExist naming ca-key.pem", err)
			}
		}},
		{"load missing", func(t *testing.T, dir string) {
			if _, err := LoadCA(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("LoadCA of an empty dir: %v, want fs.ErrNotExist", err)
			}
		}},
		{"load refuses a leaf", func(t *testing.T, dir string) {
			ca := mustCA(t)
			// A node certificate under the CA's file names.
			if _, _, err := ca.IssueFiles(dir, "ca", IssueOptions{CommonName: "node-1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), "not a CA") {
				t.Fatalf("LoadCA of a leaf: %v, want not a CA", err)
			}
		}},
		{"load refuses a foreign key", func(t *testing.T, dir string) {
			if _, err := CreateCA(dir); err != nil {
				t.Fatal(err)
			}
			other := mustCA(t)
			kb, err := os.ReadFile(filepath.Join(filepath.Dir(other.CertFile), "ca-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), kb, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), "does not belong") {
				t.Fatalf("LoadCA with another CA's key: %v", err)
			}
		}},
		{"ensure creates once", func(t *testing.T, dir string) {
			dir = filepath.Join(dir, "nested", "tls")
			a, err := EnsureCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			b, err := EnsureCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Cert.Equal(b.Cert) {
				t.Error("EnsureCA created a second CA")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, t.TempDir())
		})
	}
}

func TestIssueVerifies(t *testing.T) {
	t.Parallel()
	ca, other := mustCA(t), mustCA(t)
	certPEM, keyPEM, err := ca.Issue(IssueOptions{CommonName: "node-1", DNSNames: []string{"node-1.internal"}, IPs: []net.IP{net.ParseIP("10.0.0.7")}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if leaf.Subject.CommonName != "node-1" {
		t.Errorf("CommonName = %q, want node-1", leaf.Subject.CommonName)
	}
	if d := time.Until(leaf.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity ends in %v, want one year", d)
	}
	pool := func(c *CA) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(c.Cert)
		return p
	}
	tests := []struct {
		name    string
		roots   *x509.CertPool
		host    string
		usage   x509.ExtKeyUsage
		wantErr bool
	}{
		{"node name as server", pool(ca), "node-1", x509.ExtKeyUsageServerAuth, false},
		{"node name as client", pool(ca), "node-1", x509.ExtKeyUsageClientAuth, false},
		{"extra DNS name", pool(ca), "node-1.internal", x509.ExtKeyUsageServerAuth, false},
		{"IP", pool(ca), "10.0.0.7", x509.ExtKeyUsageServerAuth, false},
		{"another node's name", pool(ca), "node-2", x509.ExtKeyUsageServerAuth, true},
		{"another CA", pool(other), "node-1", x509.ExtKeyUsageServerAuth, true},
		{"code signing", pool(ca), "node-1", x509.ExtKeyUsageCodeSigning, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := leaf.Verify(x509.VerifyOptions{Roots: tt.roots, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Verify: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	t.Parallel()
	ca := mustCA(t)
	tests := []struct {
		name string
		base string
		cn   string
		dns  string
	}{
		{"empty common name", "n", "", ""},
		{"space in common name", "n", "node 1", ""},
		{"wildcard common name", "n", "*.node", ""},
		{"space in a DNS name", "n", "node-1", "bad name"},
		{"wildcard in the middle", "n", "node-1", "a.*.node"},
		{"empty base", "", "node-1", ""},
		{"base with a directory", "a/node-1", "node-1", ""},
		{"parent base", "..", "node-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			opts := IssueOptions{CommonName: tt.cn}
			if tt.dns != "" {
				opts.DNSNames = []string{"ok.example", tt.dns}
			}
			if _, _, err := ca.IssueFiles(dir, tt.base, opts); err == nil {
				t.Fatal("IssueFiles succeeded")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("IssueFiles left %d files behind", len(ents))
			}
		})
	}
}

func TestIssueFiles(t *testing.T) {
	t.Parallel()
	ca := mustCA(t)
	dir := filepath.Join(t.TempDir(), "out")
	certFile, keyFile, err := ca.IssueFiles(dir, "node-1", IssueOptions{CommonName: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	if certFile != filepath.Join(dir, "node-1.pem") || keyFile != filepath.Join(dir, "node-1-key.pem") {
		t.Errorf("files %s %s", certFile, keyFile)
	}
	if m := mode(t, keyFile); m != 0o600 {
		t.Errorf("key mode %v, want 0600", m)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureCert(t *testing.T) {
	t.Parallel()
	ca, other := mustCA(t), mustCA(t)
	base := IssueOptions{CommonName: "node-1", DNSNames: []string{"*.eu-west-1.portico.test", "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	with := func(f func(o *IssueOptions)) IssueOptions {
		o := base
		o.DNSNames = append([]string(nil), base.DNSNames...)
		o.IPs = append([]net.IP(nil), base.IPs...)
		f(&o)
		return o
	}
	tests := []struct {
		name      string
		existing  *CA // signs the certificate already on disk; nil: none
		exOpts    IssueOptions
		junk      bool // the files on disk are not PEM
		opts      IssueOptions
		wantReuse bool
	}{
		{name: "issues when absent", opts: base},
		{name: "reuses a matching certificate", existing: ca, exOpts: base, opts: base, wantReuse: true},
		{name: "reuses one with more names", existing: ca, exOpts: with(func(o *IssueOptions) { o.DNSNames = append(o.DNSNames, "extra") }), opts: base, wantReuse: true},
		{name: "reissues for a new DNS name", existing: ca, exOpts: base, opts: with(func(o *IssueOptions) { o.DNSNames = append(o.DNSNames, "node-1.portico.test") })},
		{name: "reissues for a new IP", existing: ca, exOpts: base, opts: with(func(o *IssueOptions) { o.IPs = append(o.IPs, net.ParseIP("127.0.0.2")) })},
		{name: "reissues for another node name", existing: ca, exOpts: base, opts: with(func(o *IssueOptions) { o.CommonName = "node-2" })},
		{name: "reissues one from another CA", existing: other, exOpts: base, opts: base},
		{name: "reissues one about to expire", existing: ca, exOpts: with(func(o *IssueOptions) { o.Validity = time.Hour }), opts: base},
		{name: "reissues over junk", junk: true, opts: base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls", "server.pem"), filepath.Join(dir, "tls", "server-key.pem")
			var before []byte
			switch {
			case tt.existing != nil:
				if _, _, err := tt.existing.IssueFiles(filepath.Join(dir, "tls"), "server", tt.exOpts); err != nil {
					t.Fatal(err)
				}
				pair, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					t.Fatal(err)
				}
				before = pair.Certificate[0]
			case tt.junk:
				os.Mkdir(filepath.Join(dir, "tls"), 0o700)
				for _, f := range []string{certFile, keyFile} {
					if err := os.WriteFile(f, []byte("junk"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}

			got, err := EnsureCert(ca, certFile, keyFile, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if reused := bytes.Equal(got.Certificate[0], before); reused != tt.wantReuse {
				t.Errorf("reused = %v, want %v", reused, tt.wantReuse)
			}
			if !ca.fits(got, tt.opts, time.Now()) {
				t.Error("returned certificate does not fit the options")
			}
			onDisk, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk.Certificate[0], got.Certificate[0]) {
				t.Error("the files hold another certificate than the one returned")
			}
			if m := mode(t, keyFile); m != 0o600 {
				t.Errorf("key mode %v, want 0600", m)
			}
		})
	}
}

// nodeCert issues a node certificate into dir and returns its files.
func nodeCert(t *testing.T, ca *CA, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := ca.IssueFiles(dir, name, IssueOptions{CommonName: name})
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// nameless writes a certificate from ca whose only SAN is an IP, so the
// node name it carries as CommonName cannot be verified as a ServerName.
func nameless(t *testing.T, ca *CA, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialOrFatal(t),
		Subject:      pkix.Name{CommonName: "node-9"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "node-9.pem"), filepath.Join(dir, "node-9-key.pem")
	if err := writePair(certFile, keyFile, encodeCert(der), keyPEM); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func serialOrFatal(t *testing.T) *big.Int {
	t.Helper()
	n, err := serial()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMutualTLSLoad(t *testing.T) {
	t.Parallel()
	ca, other := mustCA(t), mustCA(t)
	dir := t.TempDir()
	goodCert, goodKey := nodeCert(t, ca, dir, "node-1")
	foreignCert, foreignKey := nodeCert(t, other, dir, "node-2")
	namelessCert, namelessKey := nameless(t, ca, dir)
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("no certificate here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		caFile, cert, key string
		wantErr           string // "" means success
	}{
		{"node certificate from the CA", ca.CertFile, goodCert, goodKey, ""},
		{"CA bundle", bundle(t, dir, other, ca), goodCert, goodKey, ""},
		{"certificate from another CA", ca.CertFile, foreignCert, foreignKey, "does not verify"},
		{"certificate without the node name as SAN", ca.CertFile, namelessCert, namelessKey, "does not verify"},
		{"missing CA file", filepath.Join(dir, "none.pem"), goodCert, goodKey, "no such file"},
		{"CA file without certificates", empty, goodCert, goodKey, "no PEM certificate"},
		{"key of another certificate", ca.CertFile, goodCert, foreignKey, "load node certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := MutualTLS(tt.caFile, tt.cert, tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MutualTLS: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.NodeName != "node-1" {
				t.Errorf("NodeName = %q", m.NodeName)
			}
			if m.Server.MinVersion != tls.VersionTLS13 || m.Server.ClientAuth != tls.RequireAndVerifyClientCert {
				t.Errorf("server config: min version %x, client auth %v", m.Server.MinVersion, m.Server.ClientAuth)
			}
			if c := m.Client("node-2"); c.ServerName != "node-2" || c.MinVersion != tls.VersionTLS13 || c.InsecureSkipVerify {
				t.Errorf("client config: %+v", c)
			}
		})
	}
}

// bundle writes one file holding the certificates of cas.
func bundle(t *testing.T, dir string, cas ...*CA) string {
	t.Helper()
	var b []byte
	for _, c := range cas {
		b = append(b, encodeCert(c.Cert.Raw)...)
	}
	f := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	ca, other := mustCA(t), mustCA(t)
	dir := t.TempDir()
	mustMTLS := func(name string) *MTLS {
		cert, key := nodeCert(t, ca, dir, name)
		m, err := MutualTLS(ca.CertFile, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	srv, cli := mustMTLS("node-1"), mustMTLS("node-2")
	rogue, err := tls.LoadX509KeyPair(nodeCert(t, other, dir, "node-3"))
	if err != nil {
		t.Fatal(err)
	}
	// rogueServer serves a certificate from another CA.
	rogueServer := srv.Server.Clone()
	rogueServer.Certificates = []tls.Certificate{rogue}

	tests := []struct {
		name   string
		server *tls.Config
		client func() *tls.Config
		// failing is "" for a working connection, else the side whose
		// handshake must fail.
		failing    string
		serverSees string // PeerName on the server side
		clientSees string // PeerName on the client side
	}{
		{name: "client from the same CA", server: srv.Server, client: func() *tls.Config { return cli.Client("node-1") },
			serverSees: "node-2", clientSees: "node-1"},
		{name: "client accepting any node", server: srv.Server, client: func() *tls.Config { return cli.Client("") },
			serverSees: "node-2", clientSees: ""},
		{name: "client certificate from another CA", server: srv.Server, failing: "server", client: func() *tls.Config {
			c := cli.Client("node-1")
			// Sent even though the server asks for certificates of its
			// own CA, which crypto/tls would otherwise honour by sending
			// none.
			c.Certificates = nil
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogue, nil }
			return c
		}},
		{name: "client without a certificate", server: srv.Server, failing: "server", client: func() *tls.Config {
			c := cli.Client("node-1")
			c.Certificates = nil
			return c
		}},
		{name: "server with another node name", server: srv.Server, failing: "client", client: func() *tls.Config { return cli.Client("node-7") }},
		{name: "server from another CA", server: rogueServer, failing: "client", client: func() *tls.Config { return cli.Client("node-3") }},
		{name: "server from another CA, any node", server: rogueServer, failing: "client", client: func() *tls.Config { return cli.Client("") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := tls.Listen("tcp", "127.0.0.1:0", tt.server)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			type result struct {
				peer string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				defer c.Close()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net, not a timing assertion
				if err := tc.Handshake(); err != nil {
					done <- result{err: err}
					return
				}
				peer := PeerName(tc.ConnectionState())
				_, err = io.WriteString(tc, peer+"\n")
				done <- result{peer: peer, err: err}
			}()

			d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second}, Config: tt.client()}
			var clientPeer, echoed string
			conn, cerr := d.Dial("tcp", ln.Addr().String())
			if cerr == nil {
				tc := conn.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(30 * time.Second))
				clientPeer = PeerName(tc.ConnectionState())
				// In TLS 1.3 the client finishes its handshake before the
				// server has checked the client certificate; the server's
				// verdict arrives with the first read.
				echoed, cerr = bufio.NewReader(tc).ReadString('\n')
				tc.Close()
			}
			srvRes := <-done

			switch tt.failing {
			case "":
				if cerr != nil || srvRes.err != nil {
					t.Fatalf("connection failed: client %v, server %v", cerr, srvRes.err)
				}
				if srvRes.peer != tt.serverSees || echoed != tt.serverSees+"\n" {
					t.Errorf("server sees peer %q (echoed %q), want %q", srvRes.peer, echoed, tt.serverSees)
				}
				if clientPeer != tt.clientSees {
					t.Errorf("client sees peer %q, want %q", clientPeer, tt.clientSees)
				}
			case "server":
				if srvRes.err == nil {
					t.Fatalf("server accepted the client as %q", srvRes.peer)
				}
				if cerr == nil {
					t.Fatalf("client read %q from a server that rejected it", echoed)
				}
				t.Logf("server: %v; client: %v", srvRes.err, cerr)
			case "client":
				if cerr == nil {
					t.Fatalf("client accepted the server and read %q", echoed)
				}
				t.Logf("client: %v; server: %v", cerr, srvRes.err)
			}
		})
	}
}

func TestPeerNameUnverified(t *testing.T) {
	t.Parallel()
	ca := mustCA(t)
	certPEM, keyPEM, err := ca.Issue(IssueOptions{CommonName: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cs   tls.ConnectionState
		want string
	}{
		{"no certificates", tls.ConnectionState{}, ""},
		{"presented but not verified", tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Leaf}}, ""},
		{"verified", tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{pair.Leaf, ca.Cert}}}, "node-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := PeerName(tt.cs); got != tt.want {
				t.Errorf("PeerName = %q, want %q", got, tt.want)
			}
		})
	}
}
