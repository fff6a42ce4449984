package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// File names inside a CA directory.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

const (
	caValidity      = 10 * 365 * 24 * time.Hour
	defaultValidity = 365 * 24 * time.Hour
	// renewWithin: EnsureCert reissues a certificate with this little
	// time left (or half its lifetime, for short-lived ones).
	renewWithin = 24 * time.Hour
	// backdate absorbs clock skew between the signer and the verifier.
	backdate = time.Hour
)

// dnsNameRE is a DNS name of LDH labels (RFC 1123 section 2.1), the shape a
// node name must have to be verified as a ServerName.
var dnsNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// CA is a loaded certificate authority that can sign node certificates.
type CA struct {
	Cert     *x509.Certificate
	Key      *ecdsa.PrivateKey
	CertFile string // path of ca.pem, what clients and peers trust
}

// IssueOptions describe a certificate to issue.
type IssueOptions struct {
	// CommonName is the node name. It is also put in DNSNames, since
	// peers verify a node certificate by its node name.
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// Validity defaults to one year; it is capped at the CA's expiry.
	Validity time.Duration
}

func (o IssueOptions) validity() time.Duration {
	if o.Validity <= 0 {
		return defaultValidity
	}
	return o.Validity
}

// dnsNames is CommonName followed by DNSNames, without duplicates.
func (o IssueOptions) dnsNames() []string {
	names := []string{o.CommonName}
	for _, n := range o.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// CreateCA writes a new CA into dir (created if missing). It refuses to
// replace an existing ca.pem or ca-key.pem: the error wraps fs.ErrExist
// and names the file.
func CreateCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Lstat(f); err == nil {
			return nil, fmt.Errorf("create CA: %s already exists; refusing to replace a CA (delete it first, or use the existing one): %w", f, fs.ErrExist)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "Portico cluster CA", Organization: []string{"Portico"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	// O_EXCL: a CA created concurrently is never overwritten.
	if err := writeNew(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	if err := writeNew(certFile, encodeCert(der), 0o644); err != nil {
		os.Remove(keyFile)
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertFile: certFile}, nil
}

// LoadCA reads the CA in dir. A missing file gives an error that wraps
// fs.ErrNotExist.
func LoadCA(dir string) (*CA, error) {
	certFile, keyFile := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	cert, err := readCert(certFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: %s does not belong to %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key, CertFile: certFile}, nil
}

// EnsureCA loads the CA in dir, or creates it when dir holds none. It is
// what `portico dev` and nodes without a configured CA use.
func EnsureCA(dir string) (*CA, error) {
	ca, err := LoadCA(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	ca, err = CreateCA(dir)
	if errors.Is(err, fs.ErrExist) {
		return LoadCA(dir) // created by someone else meanwhile, or half there: say what is wrong
	}
	return ca, err
}

// Issue signs a new key pair for opts.CommonName, usable both to serve and
// to dial (ExtKeyUsage ServerAuth and ClientAuth). It returns PEM.
func (ca *CA) Issue(opts IssueOptions) (certPEM, keyPEM []byte, err error) {
	if !dnsNameRE.MatchString(opts.CommonName) {
		return nil, nil, fmt.Errorf("issue certificate: common name %q is not a DNS name (letters, digits, dashes and dots)", opts.CommonName)
	}
	for _, n := range opts.DNSNames {
		if !dnsNameRE.MatchString(strings.TrimPrefix(n, "*.")) {
			return nil, nil, fmt.Errorf("issue certificate: %q is not a DNS name", n)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate: generate key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(opts.validity())
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: opts.CommonName, Organization: []string{"Portico"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     opts.dnsNames(),
		IPAddresses:  opts.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w", opts.CommonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// IssueFiles issues a certificate and writes it to dir/base.pem and its key
// to dir/base-key.pem (mode 0600), replacing files of those names. base is
// a file name, not a path.
func (ca *CA) IssueFiles(dir, base string, opts IssueOptions) (certFile, keyFile string, err error) {
	if base == "" || base == "." || base == ".." || filepath.Base(base) != base {
		return "", "", fmt.Errorf("issue certificate: %q is not a file name", base)
	}
	certFile, keyFile = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem")
	certPEM, keyPEM, err := ca.Issue(opts)
	if err != nil {
		return "", "", err
	}
	if err := writePair(certFile, keyFile, certPEM, keyPEM); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// EnsureCert returns the certificate in certFile and keyFile when it was
// signed by ca, is for opts.CommonName, covers every name and IP in opts
// and has more than a day left; otherwise it issues a new one from ca and
// writes it there.
func EnsureCert(ca *CA, certFile, keyFile string, opts IssueOptions) (tls.Certificate, error) {
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && ca.fits(c, opts, time.Now()) {
		return c, nil
	}
	certPEM, keyPEM, err := ca.Issue(opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePair(certFile, keyFile, certPEM, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load issued certificate: %w", err)
	}
	return c, nil
}

// fits reports whether c can be kept for opts.
func (ca *CA) fits(c tls.Certificate, opts IssueOptions, now time.Time) bool {
	leaf, err := leafOf(c)
	if err != nil {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return false
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return false
	}
	if leaf.Subject.CommonName != opts.CommonName {
		return false
	}
	for _, n := range opts.dnsNames() {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range opts.IPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return leaf.NotAfter.Sub(now) > min(renewWithin, opts.validity()/2)
}

func leafOf(c tls.Certificate) (*x509.Certificate, error) {
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	if len(c.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(c.Certificate[0])
}

func readCert(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM certificate", file)
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", file, err)
			}
			return c, nil
		}
	}
}

// readKey accepts SEC 1 ("EC PRIVATE KEY") and PKCS #8 ("PRIVATE KEY")
// ECDSA keys.
func readKey(file string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", file)
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", file, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", file, err)
		}
		if ek, ok := k.(*ecdsa.PrivateKey); ok {
			return ek, nil
		}
		return nil, fmt.Errorf("%s is not an ECDSA key", file)
	}
	return nil, fmt.Errorf("%s holds a %q block, not a private key", file, block.Type)
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	b, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}), nil
}

// writePair replaces a certificate and its key, each atomically. The key
// goes first: a crash in between leaves a new key beside the old
// certificate, a pair that does not load, which EnsureCert then reissues.
func writePair(certFile, keyFile string, certPEM, keyPEM []byte) error {
	for _, d := range []string{filepath.Dir(certFile), filepath.Dir(keyFile)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create certificate directory: %w", err)
		}
	}
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, certPEM, 0o644)
}

// writeAtomic writes data to a temporary file beside name and renames it
// over name.
func writeAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// serial is a random 127-bit serial number (RFC 5280 section 4.1.2.2
// allows up to 20 octets; CA/B Forum asks for at least 64 random bits).
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}
