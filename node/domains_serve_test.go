package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-gw/portico/cluster/pki"
	"github.com/portico-gw/portico/configs"
)

// TestCustomDomainServedWithItsCertificate: a regional custom domain is
// served through its base path mappings over TLS with the certificate
// from domain_certificates, picked by SNI beside the node's own.
func TestCustomDomainServedWithItsCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := pki.EnsureCA(filepath.Join(dir, "domain-ca"))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "api.pem"), filepath.Join(dir, "api-key.pem")
	if _, err := pki.EnsureCert(ca, certFile, keyFile, pki.IssueOptions{CommonName: "api.example.com", DNSNames: []string{"api.example.com"}}); err != nil {
		t.Fatal(err)
	}
	tn := startNodeCfg(t, configs.Node{
		Name: "dom-1", Region: "us-east-1", DataDir: t.TempDir(),
		Roles:              []string{configs.RoleControl, configs.RoleRegional},
		DomainCertificates: []configs.CertificateFiles{{CertFile: certFile, KeyFile: keyFile}},
	})
	var res applyResult
	tn.mustDo("POST", "/v1/apply", []byte(petsDef("127.0.0.1:1", "hi from the domain")), &res)
	tn.mustDo("POST", "/v1/apis/"+res.API.ID+"/deployments", deployRequest{Stage: "prod"}, nil)
	tn.mustDo("POST", "/v1/domains", map[string]any{"name": "api.example.com"}, nil)
	tn.mustDo("PUT", "/v1/domains/api.example.com/mappings/v1", map[string]string{"api_id": res.API.ID, "stage": "prod"}, nil)

	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	regional := tn.node.Addrs().Regional
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, regional)
		}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	eventually(t, 10*time.Second, func() error {
		resp, err := c.Get("https://api.example.com/v1/greeting")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "hi from the domain" {
			return fmt.Errorf("GET through the domain: %d %s", resp.StatusCode, b)
		}
		return nil
	})
	// The API's own host still gets the node's certificate.
	if status, body, _ := tn.call("GET", res.API.ID, "/prod/greeting", nil); status != 200 || body != "hi from the domain" {
		t.Errorf("own host: %d %s", status, body)
	}
}
