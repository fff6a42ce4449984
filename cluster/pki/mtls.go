package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// MTLS holds the TLS configs of one node for node-to-node traffic. All of
// them require TLS 1.3 and a certificate from the cluster CA on both ends.
type MTLS struct {
	// Server accepts only clients with a certificate from the cluster CA.
	// It is shared: Clone it before changing it (for NextProtos, say).
	Server *tls.Config
	// Client returns a new config that presents this node's certificate
	// and verifies the peer against the cluster CA. serverName is the
	// node name of the peer being dialed (node certificates carry it as a
	// DNS SAN). An empty serverName accepts any node of the cluster: the
	// chain is verified, the name is not, and PeerName of that connection
	// is empty. Use it only where the dialer knows nothing but an address.
	Client func(serverName string) *tls.Config
	// CAPool holds the cluster CA certificate(s).
	CAPool *x509.CertPool
	// NodeName is this node's name, the CommonName of its certificate.
	NodeName string
}

// MutualTLS loads the cluster CA (caFile may hold several certificates, to
// roll a CA) and this node's certificate, and checks at once that the
// certificate chains to the CA and names the node, so a wrong file fails
// at start rather than on every handshake.
func MutualTLS(caFile, certFile, keyFile string) (*MTLS, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster CA %s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load node certificate: %w", err)
	}
	leaf, err := leafOf(cert)
	if err != nil {
		return nil, fmt.Errorf("parse node certificate %s: %w", certFile, err)
	}
	name := leaf.Subject.CommonName
	if name == "" {
		return nil, fmt.Errorf("node certificate %s has no common name (the node name)", certFile)
	}
	inter := intermediates(cert.Certificate)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}})
		if err != nil {
			return nil, fmt.Errorf("node certificate %s does not verify against cluster CA %s (reissue it with `portico ca sign --node %s`): %w", certFile, caFile, name, err)
		}
	}

	server := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	client := func(serverName string) *tls.Config {
		c := &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   serverName,
		}
		if serverName == "" {
			// Skips only the built-in name check; VerifyConnection runs
			// on every handshake, resumed ones included, and verifies the
			// chain against the cluster CA.
			c.InsecureSkipVerify = true
			c.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, pool) }
		}
		return c
	}
	return &MTLS{Server: server, Client: client, CAPool: pool, NodeName: name}, nil
}

// PeerName is the node name (certificate CommonName) of the verified peer
// of a connection: the client, on a connection accepted with
// MTLS.Server; the server, on one dialed with MTLS.Client(name). It is
// empty when the peer's certificate was not verified by crypto/tls.
func PeerName(cs tls.ConnectionState) string {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.CommonName
}

// verifyChain checks the server certificate of cs against roots without
// a name check.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("tls: peer is not a cluster node: %w", err)
	}
	return nil
}

func intermediates(chain [][]byte) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, der := range chain[min(1, len(chain)):] {
		if c, err := x509.ParseCertificate(der); err == nil {
			pool.AddCert(c)
		}
	}
	return pool
}
