package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/portico-gw/portico/simulations/harness"
)

// get sends one GET of url, with Host host unless it is empty
// (harness.WrkTarget.Get), and wants a 200 with the backend's payload. It
// returns the answer's header.
func get(ctx context.Context, c *http.Client, url, host string) (http.Header, error) {
	status, h, body, err := harness.WrkTarget{URL: url, Host: host}.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK || body != string(payload) {
		var with string
		if host != "" {
			with = fmt.Sprintf(" (Host %q)", host)
		}
		return nil, fmt.Errorf("GET %s%s = %d %.200q, want 200 and the backend's %d-byte payload", url, with, status, body, len(payload))
	}
	return h, nil
}

// newClient returns an HTTP/1.1 client that asks for no compression (wrk
// does not either; Portico would gzip a 1 KiB JSON answer for a client
// that does) and keeps at most conns connections. With caFile it trusts
// that CA and checks the server's certificate for serverName, which is
// also the SNI; without, it checks nothing (the backend's throwaway
// certificate).
func newClient(caFile, serverName string, conns int) (*http.Client, error) {
	tc := &tls.Config{InsecureSkipVerify: true}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the cluster CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no certificate", caFile)
		}
		tc = &tls.Config{RootCAs: pool, ServerName: serverName}
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DisableCompression:  true,
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// hitTarget is one URL of the cache-hit comparison, loaded with wrk.
type hitTarget struct {
	wrk   harness.WrkTarget
	probe *http.Client
	// cacheHeader names the answer's header that tells a cache hit, and
	// hit is its value then; empty for the backend.
	cacheHeader, hit string
	runs             []harness.WrkResult
}

// check makes one request the way wrk will; a cache must answer it as a
// hit.
func (t *hitTarget) check(ctx context.Context) error {
	h, err := get(ctx, t.probe, t.wrk.URL, t.wrk.Host)
	if err != nil {
		return err
	}
	if t.cacheHeader != "" && h.Get(t.cacheHeader) != t.hit {
		return fmt.Errorf("%s: %s %q, want %q", t.wrk.Name, t.cacheHeader, h.Get(t.cacheHeader), t.hit)
	}
	return nil
}
