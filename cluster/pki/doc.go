// Package pki is Portico's small certificate authority: it creates the
// cluster CA, issues node certificates from it and builds the mutual-TLS
// configs that node-to-node traffic (Raft, config distribution,
// forwarding, admin-to-admin) runs on. A node without a certificate from
// the cluster CA cannot complete a handshake with another node.
//
// The same code issues the certificate a node generates for its public
// HTTPS listener when none is configured (data_dir/tls), so there is one
// certificate generator in the binary, not two.
//
// # Files
//
// A CA directory holds ca.pem (the certificate, copied to every node) and
// ca-key.pem (the private key, mode 0600, needed only to sign). Keys are
// ECDSA P-256; the CA lives 10 years, node certificates 1 year unless
// asked otherwise. A certificate file may hold a bundle of CA certificates
// for MutualTLS (to roll a CA); LoadCA signs with the first one.
//
// # Names
//
// Nodes dial each other by IP address, so a dialer cannot check a name
// taken from the address. Instead every node certificate carries its node
// name both as the subject CommonName and as a DNS SAN, and a dialer that
// knows which node it wants puts that name in ServerName (MTLS.Client).
// A transport that only knows an address (hashicorp/raft's StreamLayer
// dials a ServerAddress) asks for MTLS.Client(""): the peer's chain is
// still verified against the cluster CA, but any node of the cluster is
// accepted. That is the same trust a node gets by joining, since the CA
// signs nothing but cluster nodes. PeerName reports the verified peer's
// node name on either side of a connection, for logs and authorization.
//
// # Reload
//
// Certificates are loaded once, when a node starts; a new certificate or
// CA takes effect on restart. EnsureCert reissues a generated certificate
// at start when it no longer covers the node's names or has a day or less
// left.
package pki
