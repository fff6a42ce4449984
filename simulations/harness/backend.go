package harness

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BackendFlag is the hidden flag that runs a driver as its own backend
// (ServeBackend); StartBackend re-executes the driver with it.
const BackendFlag = "serve-backend"

// BackendAddrs is the line a backend process prints once it listens.
type BackendAddrs struct {
	Plain string `json:"plain"`
	TLS   string `json:"tls"`
}

// ServeBackend is a driver's hidden -serve-backend mode (BackendFlag): it
// serves h on a plain HTTP address (the gateway's upstream) and on an
// HTTPS address with a throwaway self-signed certificate (the fair direct
// run: wrk pays TLS on both paths). spec is "PLAIN_ADDR,TLS_ADDR"; port 0
// picks a free port. It prints the bound addresses as one JSON line on
// stdout and serves until ctx ends.
func ServeBackend(ctx context.Context, spec string, h http.Handler, stdout io.Writer) error {
	plainAddr, tlsAddr, ok := strings.Cut(spec, ",")
	if !ok {
		return fmt.Errorf("-serve-backend %q: want PLAIN_ADDR,TLS_ADDR", spec)
	}
	cert, err := SelfSignedCert()
	if err != nil {
		return err
	}
	plainLn, err := net.Listen("tcp", plainAddr)
	if err != nil {
		return fmt.Errorf("listen plain: %w", err)
	}
	tlsLn, err := net.Listen("tcp", tlsAddr)
	if err != nil {
		plainLn.Close()
		return fmt.Errorf("listen tls: %w", err)
	}
	newServer := func() *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0), // probes and aborted TLS handshakes are noise here
		}
	}
	plain, secure := newServer(), newServer()
	// As the gateway's regional listener (node/node.go): TLS 1.2 or newer,
	// an ECDSA P-256 certificate, Go's default suites.
	secure.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	errc := make(chan error, 2)
	go func() { errc <- plain.Serve(plainLn) }()
	go func() { errc <- secure.ServeTLS(tlsLn, "", "") }()

	line, _ := json.Marshal(BackendAddrs{Plain: plainLn.Addr().String(), TLS: tlsLn.Addr().String()})
	fmt.Fprintf(stdout, "%s\n", line)

	var serveErr error
	returned := 0
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		returned++
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	plain.Shutdown(sctx)
	secure.Shutdown(sctx)
	for ; returned < 2; returned++ {
		<-errc
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// HelloHandler is the minimal backend the single-gateway drivers measure
// against: GET /hello answers 200 with body, anything else 404. No mux
// and no sniffing, as the "minimal Go net/http hello" of the research
// note's §3.1; a small fixed body, so that a benchmark measures the
// gateway's work rather than payload copying.
func HelloHandler(body string) http.Handler {
	b := []byte(body)
	ctype := []string{"text/plain; charset=utf-8"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello" {
			http.NotFound(w, r)
			return
		}
		w.Header()["Content-Type"] = ctype
		w.Write(b)
	})
}

// SelfSignedCert makes a one-day ECDSA P-256 certificate for 127.0.0.1.
// Nobody verifies it: wrk does not check certificates, and the driver's
// own probe of the direct port skips verification.
func SelfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "bench backend"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-sign: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Backend is a running backend (StartBackend): the addresses it bound and
// its process.
type Backend struct {
	BackendAddrs
	Proc *Proc
}

// BackendProc is the backend's process name in its Group (StartBackend).
const BackendProc = "backend"

// StartBackend re-executes the driver with -serve-backend (BackendFlag)
// on free 127.0.0.1 ports, in g under the name BackendProc, and returns it
// once it listens. Its stderr goes to dir/backend.log.
func StartBackend(ctx context.Context, g *Group, dir string) (*Backend, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "backend.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(exe, "-"+BackendFlag, "127.0.0.1:0,127.0.0.1:0")
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := g.Start(BackendProc, cmd)
	if err != nil {
		return nil, err
	}
	// The reader ends with the first line or when the process exits (the
	// group stops it on every return path).
	type lineOrErr struct {
		line string
		err  error
	}
	got := make(chan lineOrErr, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		got <- lineOrErr{line, err}
	}()
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	select {
	case r := <-got:
		if r.err != nil {
			<-p.Done()
			return nil, fmt.Errorf("backend exited before listening (%v): %s", p.Err(), ReadTail(filepath.Join(dir, "backend.log")))
		}
		b := &Backend{Proc: p}
		if err := json.Unmarshal([]byte(r.line), &b.BackendAddrs); err != nil || b.Plain == "" || b.TLS == "" {
			return nil, fmt.Errorf("backend printed %q, want its addresses as JSON", r.line)
		}
		return b, nil
	case <-timer.C:
		return nil, errors.New("backend did not listen within 15s")
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// ReadTail returns the last lines of a log file, for error messages.
func ReadTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) == 0 {
		return "(" + filepath.Base(path) + " is empty)"
	}
	return "\n" + Tail(string(b), 20)
}

// FreePorts reserves n 127.0.0.1 addresses and releases them for a child
// to bind. Another process could take one in between; on loopback in a
// bench run that has not been seen to happen.
func FreePorts(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a port: %w", err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}
