package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsperfOutput is what dnsperf 2.10.0 printed for a 2 s run against
// CoreDNS with a query file of one regional, one edge and one NXDOMAIN
// name.
const dnsperfOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d q -l 2 -c 1 -q 100 -t 0.5
[Status] Sending queries (to 127.0.0.1:15353)
[Status] Started at: Sat Nov 21 09:42:17 2026
[Status] Stopping after 2.000000 seconds
[Timeout] Query timed out: msg id 121
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         80045
  Queries completed:    80044 (100.00%)
  Queries lost:         1 (0.00%)

  Response codes:       NOERROR 53364 (66.67%), NXDOMAIN 26680 (33.33%)
  Average packet size:  request 44, response 143
  Run time (s):         2.000859
  Queries per second:   40005.317716

  Average Latency (s):  0.002135 (min 0.000029, max 0.015070)
  Latency StdDev (s):   0.001285

`

func TestParseDNSPerf(t *testing.T) {
	t.Parallel()
	r, err := parseDNSPerf(dnsperfOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := perfResult{
		Sent: 80045, Completed: 80044, Lost: 1, QPS: 40005.317716,
		RunTime: 2000859 * time.Microsecond, AvgLatency: 2135 * time.Microsecond,
		RequestBytes: 44, ResponseBytes: 143,
		Rcodes: map[string]int64{"NOERROR": 53364, "NXDOMAIN": 26680},
	}
	got, _ := json.Marshal(r)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("parseDNSPerf:\n got %s\nwant %s", got, exp)
	}
	if s := r.LostShare(); s <= 0 || s > 0.0001 {
		t.Errorf("LostShare = %v", s)
	}
}

func TestParseDNSPerfRejects(t *testing.T) {
	t.Parallel()
	for name, out := range map[string]string{
		"no statistics": "DNS Performance Testing Tool\nVersion 2.10.0\n\nError: could not open file\n",
		"no qps":        strings.Replace(dnsperfOutput, "Queries per second:", "Queries per minute:", 1),
		"bad number":    strings.Replace(dnsperfOutput, "Queries sent:         80045", "Queries sent:         lots", 1),
	} {
		if _, err := parseDNSPerf(out); err == nil {
			t.Errorf("%s: parseDNSPerf accepted it", name)
		}
	}
}

var testAPIs = []benchAPI{{ID: "a1b2c3d4e5", Home: "us-east-1"}, {ID: "f6g7h8i9j0", Home: "eu-west-1"}}

func TestQueryNames(t *testing.T) {
	t.Parallel()
	names := queryNames("portico.localhost", testAPIs)
	want := map[class][]string{
		classRegional: {"a1b2c3d4e5.us-east-1.portico.localhost.", "f6g7h8i9j0.eu-west-1.portico.localhost."},
		classEdge:     {"a1b2c3d4e5.edge.portico.localhost.", "f6g7h8i9j0.edge.portico.localhost."},
		classNX: {"nx-0000000.edge.portico.localhost.", "nx-0000000.us-east-1.portico.localhost.",
			"nx-0000001.edge.portico.localhost.", "nx-0000001.eu-west-1.portico.localhost."},
	}
	for _, c := range classes {
		if !slices.Equal(names[c], want[c]) {
			t.Errorf("%s names = %q, want %q", c, names[c], want[c])
		}
	}
}

func TestMixLines(t *testing.T) {
	t.Parallel()
	names := queryNames("portico.localhost", testAPIs)
	lines := mixLines(names)
	if len(lines) != mixBlocks*len(mixBlock) {
		t.Fatalf("%d lines, want %d", len(lines), mixBlocks*len(mixBlock))
	}
	count := map[class]int{}
	asked := map[string]bool{}
	classOf := map[string]class{}
	for _, c := range classes {
		for _, n := range names[c] {
			classOf[n] = c
		}
	}
	for _, l := range lines {
		name, typ, ok := strings.Cut(l, " ")
		if !ok || typ != "A" {
			t.Fatalf("line %q is not \"NAME A\"", l)
		}
		c, known := classOf[name]
		if !known {
			t.Fatalf("line %q asks for a name not in the classes", l)
		}
		count[c]++
		asked[name] = true
	}
	// 9 regional, 9 edge and 2 NXDOMAIN names in every 20.
	if count[classRegional] != 9*mixBlocks || count[classEdge] != 9*mixBlocks || count[classNX] != 2*mixBlocks {
		t.Errorf("mix counts %v", count)
	}
	if len(asked) != len(classOf) {
		t.Errorf("the mix asks for %d of the %d names", len(asked), len(classOf))
	}
	if got := mixDescription(); got != "45% regional, 45% edge, 10% nxdomain (all type A)" {
		t.Errorf("mixDescription() = %q", got)
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestZoneFile checks that the zone file parses back into the records it
// was written from, SOA first.
func TestZoneFile(t *testing.T) {
	t.Parallel()
	z := zoneData{
		Zone: "portico.localhost.",
		SOA:  mustRR(t, "portico.localhost. 60 IN SOA ns-us-east-1-a.portico.localhost. hostmaster.portico.localhost. 1795254018 7200 3600 1209600 60").(*dns.SOA),
		NS:   []dns.RR{mustRR(t, "portico.localhost. 60 IN NS ns-us-east-1-a.portico.localhost.")},
		Glue: []dns.RR{mustRR(t, "ns-us-east-1-a.portico.localhost. 60 IN A 127.150.7.1")},
		Answers: map[string][]dns.RR{
			"a1b2c3d4e5.us-east-1.portico.localhost.": {mustRR(t, "a1b2c3d4e5.us-east-1.portico.localhost. 60 IN A 127.150.7.1")},
			"a1b2c3d4e5.edge.portico.localhost.": {
				mustRR(t, "a1b2c3d4e5.edge.portico.localhost. 60 IN A 127.150.7.3"),
				mustRR(t, "a1b2c3d4e5.edge.portico.localhost. 60 IN A 127.150.7.4"),
			},
		},
	}
	path := filepath.Join(t.TempDir(), "zone.db")
	if err := z.writeFile(path); err != nil {
		t.Fatal(err)
	}
	if z.records() != 6 {
		t.Errorf("records() = %d, want 6", z.records())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, "", path)
	var got []string
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		got = append(got, rr.String())
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{z.SOA.String(), z.NS[0].String(), z.Glue[0].String(),
		z.Answers["a1b2c3d4e5.edge.portico.localhost."][0].String(), z.Answers["a1b2c3d4e5.edge.portico.localhost."][1].String(),
		z.Answers["a1b2c3d4e5.us-east-1.portico.localhost."][0].String()}
	if !slices.Equal(got, want) {
		t.Errorf("zone file parses to\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if err := (zoneData{Zone: "x."}).writeFile(path); err == nil {
		t.Error("a zone without SOA was written")
	}
}

func TestAddrSet(t *testing.T) {
	t.Parallel()
	got := addrSet([]dns.RR{
		mustRR(t, "x. 60 IN A 127.0.0.4"),
		mustRR(t, "x. 60 IN NS ns.x."),
		mustRR(t, "x. 60 IN A 127.0.0.3"),
		mustRR(t, "x. 60 IN AAAA ::1"),
	})
	if want := []string{"127.0.0.3", "127.0.0.4", "::1"}; !slices.Equal(got, want) {
		t.Errorf("addrSet = %q, want %q", got, want)
	}
}

func TestCorefile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "Corefile")
	if err := (corednsConfig{Zone: "portico.localhost.", Host: "127.0.0.1", Port: "15353", ZoneFile: "/tmp/zone.db"}).write(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"portico.localhost.:15353 {", "bind 127.0.0.1", "file /tmp/zone.db portico.localhost."} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Corefile lacks %q:\n%s", want, b)
		}
	}
}

func TestPerfArgs(t *testing.T) {
	t.Parallel()
	s := perfSettings{Mode: "udp", Clients: 1, Threads: 1, Outstanding: 100, TimeoutS: 0.5}
	args, err := s.args("127.0.0.1:15353", "/tmp/q.txt", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := "-m udp -s 127.0.0.1 -p 15353 -d /tmp/q.txt -l 10 -c 1 -T 1 -q 100 -t 0.5"
	if got := strings.Join(args, " "); got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	ok := options{portico: "bin/portico", duration: 10 * time.Second, runs: 3, classDuration: 5 * time.Second,
		perf: perfSettings{Mode: "udp", Clients: 1, Threads: 1, Outstanding: 100, TimeoutS: 1}}
	if err := ok.validate(); err != nil {
		t.Fatalf("default options: %v", err)
	}
	// The default run stays under about three minutes on the 2-core VM.
	if e := ok.expected(); e > 150*time.Second {
		t.Errorf("expected load phase %v", e)
	}
	for name, mutate := range map[string]func(*options){
		"no portico":     func(o *options) { o.portico = "" },
		"fractional":     func(o *options) { o.duration = 1500 * time.Millisecond },
		"mode":           func(o *options) { o.perf.Mode = "doh" },
		"threads":        func(o *options) { o.perf.Threads = 2 },
		"json":           func(o *options) { o.porticoDNS = "[1]" },
		"no runs":        func(o *options) { o.runs = 0 },
		"class duration": func(o *options) { o.classDuration = -time.Second },
	} {
		o := ok
		mutate(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	o := ok
	o.porticoDNS = `{"explore": -1}`
	if m, err := o.dnsExtra(); err != nil || m["explore"] != float64(-1) {
		t.Errorf("dnsExtra() = %v, %v", m, err)
	}
}
