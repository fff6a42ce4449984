package dns

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const soaLine = "portico.localhost. 60 IN SOA ns-dns-1.portico.localhost. hostmaster.portico.localhost. 7 7200 3600 1209600 60"

// TestAnswers is the zone's behaviour for one client (127.0.0.1, internal)
// over UDP, without latency data: records written as zone-file text.
func TestAnswers(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(t, newView(fixture())))

	glue := []string{
		"ns-dns-1.portico.localhost. 60 IN A 192.0.2.53",
		"ns-dns-1.portico.localhost. 60 IN AAAA 2001:db8::53",
		"ns-dns-2.portico.localhost. 60 IN A 198.51.100.53",
	}
	domainSOA := "api.example.com. 60 IN SOA ns-dns-1.portico.localhost. hostmaster.portico.localhost. 7 7200 3600 1209600 60"
	cases := []struct {
		name   string
		q      query
		rcode  int
		noAA   bool
		answer []string
		ns     []string
		extra  []string
	}{
		{name: "apex SOA", q: query{name: testZone, qtype: dns.TypeSOA}, answer: []string{soaLine}},
		{name: "apex NS with glue", q: query{name: testZone, qtype: dns.TypeNS},
			answer: []string{"portico.localhost. 60 IN NS ns-dns-1.portico.localhost.", "portico.localhost. 60 IN NS ns-dns-2.portico.localhost."},
			extra:  glue},
		{name: "apex A is NODATA", q: query{name: testZone, qtype: dns.TypeA}, ns: []string{soaLine}},
		{name: "apex ANY is one RRset", q: query{name: testZone, qtype: dns.TypeANY}, answer: []string{soaLine}},
		{name: "name server A", q: query{name: "ns-dns-1." + testZone, qtype: dns.TypeA}, answer: []string{"ns-dns-1.portico.localhost. 60 IN A 192.0.2.53"}},
		{name: "name server AAAA", q: query{name: "ns-dns-1." + testZone, qtype: dns.TypeAAAA}, answer: []string{"ns-dns-1.portico.localhost. 60 IN AAAA 2001:db8::53"}},
		{name: "node A, any case", q: query{name: "USE-Edge-1.Nodes.Portico.Localhost.", qtype: dns.TypeA}, answer: []string{"use-edge-1.nodes.portico.localhost. 60 IN A 192.0.2.11"}},
		{name: "node without IPv6 is NODATA", q: query{name: "use-edge-2.nodes." + testZone, qtype: dns.TypeAAAA}, ns: []string{soaLine}},
		{name: "node TXT is NODATA", q: query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeTXT}, ns: []string{soaLine}},
		{name: "node ANY is the A RRset", q: query{name: "use-edge-1.nodes." + testZone, qtype: dns.TypeANY}, answer: []string{"use-edge-1.nodes.portico.localhost. 60 IN A 192.0.2.11"}},
		{name: "unknown node NXDOMAIN", q: query{name: "nobody.nodes." + testZone, qtype: dns.TypeA}, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "unknown name NXDOMAIN", q: query{name: "nothing-here." + testZone, qtype: dns.TypeA}, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "nodes. is an empty non-terminal", q: query{name: "nodes." + testZone, qtype: dns.TypeA}, ns: []string{soaLine}},
		{name: "edge. is an empty non-terminal", q: query{name: "edge." + testZone, qtype: dns.TypeA}, ns: []string{soaLine}},
		{name: "region with APIs is an empty non-terminal", q: query{name: "us-east-1." + testZone, qtype: dns.TypeA}, ns: []string{soaLine}},
		{name: "ENT ANY is NODATA", q: query{name: "us-east-1." + testZone, qtype: dns.TypeANY}, ns: []string{soaLine}},
		{name: "region without APIs NXDOMAIN", q: query{name: "ap-south-1." + testZone, qtype: dns.TypeA}, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "regional name: healthy regional nodes of the home region", q: query{name: apiEdge + ".us-east-1." + testZone, qtype: dns.TypeA},
			answer: []string{apiEdge + ".us-east-1.portico.localhost. 60 IN A 192.0.2.22", apiEdge + ".us-east-1.portico.localhost. 60 IN A 192.0.2.21"}},
		{name: "regional name in another region NXDOMAIN", q: query{name: apiEdge + ".eu-west-1." + testZone, qtype: dns.TypeA}, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "EU regional name", q: query{name: apiEU + ".eu-west-1." + testZone, qtype: dns.TypeA}, answer: []string{apiEU + ".eu-west-1.portico.localhost. 60 IN A 198.51.100.21"}},
		{name: "regional name of an API without REGIONAL NXDOMAIN", q: query{name: apiPrivate + ".us-east-1." + testZone, qtype: dns.TypeA}, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "edge name without latency data: all healthy edges", q: query{name: apiEdge + ".edge." + testZone, qtype: dns.TypeA},
			answer: []string{apiEdge + ".edge.portico.localhost. 60 IN A 192.0.2.11", apiEdge + ".edge.portico.localhost. 60 IN A 192.0.2.12", apiEdge + ".edge.portico.localhost. 60 IN A 198.51.100.11"}},
		{name: "edge name AAAA: the edges with IPv6", q: query{name: apiEdge + ".edge." + testZone, qtype: dns.TypeAAAA}, answer: []string{apiEdge + ".edge.portico.localhost. 60 IN AAAA 2001:db8::11"}},
		{name: "edge name of an API without EDGE NXDOMAIN", q: query{name: apiEU + ".edge." + testZone, qtype: dns.TypeA}, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "private name for an internal client", q: query{name: apiPrivate + ".private.us-east-1." + testZone, qtype: dns.TypeA},
			answer: []string{apiPrivate + ".private.us-east-1.portico.localhost. 60 IN A 10.1.0.22", apiPrivate + ".private.us-east-1.portico.localhost. 60 IN A 10.1.0.21"}},
		{name: "private. ENT for an internal client", q: query{name: "private.us-east-1." + testZone, qtype: dns.TypeA}, ns: []string{soaLine}},
		{name: "outside the zone REFUSED", q: query{name: "example.com.", qtype: dns.TypeA}, rcode: dns.RcodeRefused, noAA: true},
		{name: "root REFUSED", q: query{name: ".", qtype: dns.TypeNS}, rcode: dns.RcodeRefused, noAA: true},
		{name: "below a custom domain REFUSED", q: query{name: "www.api.example.com.", qtype: dns.TypeA}, rcode: dns.RcodeRefused, noAA: true},
		{name: "AXFR REFUSED", q: query{name: testZone, qtype: dns.TypeAXFR}, rcode: dns.RcodeRefused, noAA: true},
		{name: "IXFR REFUSED", q: query{name: testZone, qtype: dns.TypeIXFR}, rcode: dns.RcodeRefused, noAA: true},
		{name: "custom domain SOA", q: query{name: "api.example.com.", qtype: dns.TypeSOA}, answer: []string{domainSOA}},
		{name: "custom domain NS", q: query{name: "api.example.com.", qtype: dns.TypeNS},
			answer: []string{"api.example.com. 60 IN NS ns-dns-1.portico.localhost.", "api.example.com. 60 IN NS ns-dns-2.portico.localhost."}, extra: glue},
		{name: "custom domain without latency: first region in order", q: query{name: "API.example.com.", qtype: dns.TypeA},
			answer: []string{"api.example.com. 60 IN A 192.0.2.22", "api.example.com. 60 IN A 192.0.2.21"}},
		{name: "custom domain MX is NODATA with its own SOA", q: query{name: "api.example.com.", qtype: dns.TypeMX}, ns: []string{domainSOA}},
		{name: "custom domain AAAA without IPv6 is NODATA", q: query{name: "api.example.com.", qtype: dns.TypeAAAA}, ns: []string{domainSOA}},
		{name: "single-region custom domain", q: query{name: "solo.example.org.", qtype: dns.TypeA}, answer: []string{"solo.example.org. 60 IN A 203.0.113.21"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := tc.q.msg()
			r := exchange(t, s, m, "udp", "")
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.Authoritative == tc.noAA {
				t.Errorf("AA = %v, want %v", r.Authoritative, !tc.noAA)
			}
			if r.RecursionAvailable {
				t.Error("RA set; the server is not recursive")
			}
			if !r.RecursionDesired {
				t.Error("RD not copied from the query")
			}
			if len(r.Question) != 1 || r.Question[0] != m.Question[0] {
				t.Errorf("question %v, want %v echoed as sent", r.Question, m.Question)
			}
			sameRRs(t, "answer", r.Answer, tc.answer)
			sameRRs(t, "authority", r.Ns, tc.ns)
			sameRRs(t, "additional", r.Extra, tc.extra)
		})
	}
}

// TestAnswerOrder: regional answers come least loaded first; owner names
// keep the question's spelling (resolvers using 0x20 compare it).
func TestAnswerOrder(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(t, newView(fixture())))
	r := serveMsg(t, s, query{name: apiEdge + ".US-East-1." + testZone, qtype: dns.TypeA}.msg(), "127.0.0.1:5300")
	if len(r.Answer) != 2 {
		t.Fatalf("answer %v", r.Answer)
	}
	if got := r.Answer[0].(*dns.A).A.String(); got != "192.0.2.22" {
		t.Errorf("first address %s, want the least loaded node's 192.0.2.22", got)
	}
	if got := r.Answer[0].Header().Name; got != apiEdge+".US-East-1."+testZone {
		t.Errorf("owner %q, want the question's spelling", got)
	}
}

// TestAnswerLimit: at most MaxAnswers addresses.
func TestAnswerLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newView(fixture()))
	cfg.MaxAnswers = 2
	s := newServer(t, cfg)
	r := serveMsg(t, s, query{name: apiEdge + ".edge." + testZone, qtype: dns.TypeA}.msg(), "127.0.0.1:5300")
	if len(r.Answer) != 2 {
		t.Errorf("got %d records, want MaxAnswers = 2: %v", len(r.Answer), r.Answer)
	}
}

// TestNoSnapshot: a node that has not built a snapshot yet answers
// SERVFAIL, not a wrong NXDOMAIN.
func TestNoSnapshot(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(t, &fakeView{}))
	r := serveMsg(t, s, query{name: testZone, qtype: dns.TypeSOA}.msg(), "127.0.0.1:5300")
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

// TestNoZone: a snapshot without a zone is not answered for the root.
func TestNoZone(t *testing.T) {
	t.Parallel()
	snap := fixture()
	snap.Zone = ""
	s := newServer(t, testConfig(t, newView(snap)))
	for _, name := range []string{".", "example.com."} {
		if r := serveMsg(t, s, query{name: name, qtype: dns.TypeNS}.msg(), "127.0.0.1:5300"); r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", name, dns.RcodeToString[r.Rcode])
		}
	}
}

// TestSnapshotSwap: a new snapshot pointer is answered from at once.
func TestSnapshotSwap(t *testing.T) {
	t.Parallel()
	v := newView(fixture())
	s := newServer(t, testConfig(t, v))
	q := query{name: "newbie.nodes." + testZone, qtype: dns.TypeA}.msg()
	if r := serveMsg(t, s, q, "127.0.0.1:5300"); r.Rcode != dns.RcodeNameError {
		t.Fatalf("before: %s", dns.RcodeToString[r.Rcode])
	}
	v.update(func(s *Snapshot) {
		s.Nodes = append(s.Nodes, Node{Name: "newbie", Region: "us-east-1", Public: addrs("192.0.2.99")})
		s.Serial++
	})
	r := serveMsg(t, s, q, "127.0.0.1:5300")
	sameRRs(t, "answer", r.Answer, []string{"newbie.nodes.portico.localhost. 60 IN A 192.0.2.99"})
}

// TestIndexConflicts: bad labels and shadowing names are skipped, not
// fatal.
func TestIndexConflicts(t *testing.T) {
	t.Parallel()
	snap := fixture()
	snap.Nodes = append(snap.Nodes, Node{Name: "bad.name", Region: "us-east-1", Public: addrs("192.0.2.77")})
	snap.APIs["use-reg-1"] = APIInfo{HomeRegion: "nodes", Regional: true}  // use-reg-1.nodes.Z is a node name
	snap.APIs["UPPER12345"] = APIInfo{HomeRegion: "us-east-1", Edge: true} // ids are answered lowercase
	snap.Domains["inside.portico.localhost."] = Domain{Regions: []string{"us-east-1"}}
	cfg := testConfig(t, newView(snap))
	log, buf := testLogger(t)
	cfg.Logger = log
	s := newServer(t, cfg)
	r := serveMsg(t, s, query{name: "upper12345.edge." + testZone, qtype: dns.TypeA}.msg(), "127.0.0.1:5300")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("upper-case API id not answered: %v", r)
	}
	// The name the API's regional name would take keeps its first
	// meaning: the node's address, not the (empty) region "nodes".
	r = serveMsg(t, s, query{name: "use-reg-1.nodes." + testZone, qtype: dns.TypeA}.msg(), "127.0.0.1:5300")
	sameRRs(t, "answer", r.Answer, []string{"use-reg-1.nodes.portico.localhost. 60 IN A 192.0.2.21"})
	for _, want := range []string{"not a DNS label", "custom domain inside the zone", "name conflict"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}
