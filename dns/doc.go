// Package dns is Portico's authoritative DNS server. It exists so that
// clients reach the nearest healthy node by name, without a third-party
// DNS service: edge names resolve to the edges closest to the asking
// client, regional names to the healthy nodes of the API's region,
// custom domains to the lowest-latency healthy region they are mapped in,
// and private names only for clients in internal networks.
//
// Names under the zone Z (Snapshot.Zone):
//
//	Z                          SOA; NS ns-{node}.Z for each dns node, with glue
//	ns-{node}.Z                A/AAAA of a dns node
//	{node}.nodes.Z             A/AAAA of any node's public addresses
//	{apiId}.edge.Z             the nearest healthy edge nodes for the client
//	{apiId}.{region}.Z         the healthy regional nodes of the API's home region
//	{apiId}.private.{region}.Z their private addresses, internal clients only
//
// Names outside Z are REFUSED unless they are a custom domain (exact
// name), answered as its own apex.
//
// The server reads the cluster through View, an immutable Snapshot the
// node rebuilds on changes, and measured latencies through Latency; both
// must never block. It indexes each new snapshot once (atomic pointer
// swap); queries never take a cluster lock.
//
// A query runs through a chain fixed in Go code, CoreDNS's shape without a
// plugin registry:
//
//	recover+metrics → rate limit → parse/validate → client subnet → answer
//
// The server is authoritative (AA), never recursive (RA clear), refuses
// zone transfers, answers ANY with one RRset (RFC 8482), speaks EDNS0
// (buffer 1232, BADVERS for versions above 0), truncates UDP answers that
// do not fit (TC, then TCP gives the full answer), reads and echoes EDNS
// Client Subnet (RFC 7871) with the scope the answer depended on, and
// limits UDP responses per client network with slip. How latency-based
// answers are chosen is described in latency.go; Explain tells it for
// one name and client.
//
// On Linux, UDP workers read and write datagrams in batches (recvmmsg,
// sendmmsg; udp.go, mmsg_linux.go): one system call each way per batch
// instead of per query, which is most of what answering costs.
package dns
