package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// class is a kind of name in the query mix.
type class string

const (
	classRegional class = "regional" // {apiId}.{region}.{zone}: the healthy regional nodes of the home region
	classEdge     class = "edge"     // {apiId}.edge.{zone}: the nearest healthy edges, latency-routed
	classNX       class = "nxdomain" // names under edge. and {region}. that no API has
)

// classes in the order the report lists them.
var classes = []class{classRegional, classEdge, classNX}

// mixBlock is the query mix: in every block of 20 lines of the data file,
// 9 regional names, 9 edge names and 2 names that do not exist. Real
// traffic asks mostly for names that exist; the NXDOMAIN share keeps the
// negative path (SOA in the authority section) in the measurement.
var mixBlock = []class{
	classRegional, classEdge, classRegional, classEdge, classRegional, classEdge, classRegional, classEdge, classNX,
	classRegional, classEdge, classRegional, classEdge, classRegional, classEdge, classRegional, classEdge, classRegional, classEdge, classNX,
}

// mixBlocks is how many blocks the mix data file has: dnsperf loops over
// the file, so its length only needs to cycle through every name.
const mixBlocks = 20

// benchAPI is one API the driver creates; its names are queried.
type benchAPI struct {
	ID   string `json:"id"`
	Home string `json:"home_region"`
}

// queryNames are the names of each class, fully qualified: per API its
// regional and its edge name, and for every API a name of the same shape
// that does not exist, under edge. and under the API's home region.
func queryNames(zone string, apis []benchAPI) map[class][]string {
	zone = dns.Fqdn(zone)
	names := map[class][]string{}
	for i, a := range apis {
		names[classRegional] = append(names[classRegional], a.ID+"."+a.Home+"."+zone)
		names[classEdge] = append(names[classEdge], a.ID+".edge."+zone)
		// Same length as an API id (10 characters), never one: ids have
		// no '-'.
		nx := fmt.Sprintf("nx-%07d", i)
		names[classNX] = append(names[classNX], nx+".edge."+zone, nx+"."+a.Home+"."+zone)
	}
	return names
}

// mixLines is the data file of the query mix: mixBlocks blocks of
// mixBlock, each class cycling through its names. Every question is
// type A.
func mixLines(names map[class][]string) []string {
	next := map[class]int{}
	var lines []string
	for range mixBlocks {
		for _, c := range mixBlock {
			ns := names[c]
			if len(ns) == 0 {
				continue
			}
			lines = append(lines, ns[next[c]%len(ns)]+" A")
			next[c]++
		}
	}
	return lines
}

// classLines is the data file of one class: each of its names once.
func classLines(names []string) []string {
	lines := make([]string, 0, len(names))
	for _, n := range names {
		lines = append(lines, n+" A")
	}
	return lines
}

// writeLines writes lines, each ended by a newline, to path.
func writeLines(path string, lines []string) error {
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// zoneData is what Portico answered for the zone, from which the
// equivalent zone file for CoreDNS is written: the apex SOA and NS with
// their glue, and the A records of every name that exists.
type zoneData struct {
	Zone    string
	SOA     *dns.SOA
	NS      []dns.RR
	Glue    []dns.RR
	Answers map[string][]dns.RR // fully qualified, lowercase name → its A records
}

// write writes z as a zone file: $ORIGIN, then every record with its
// owner fully qualified, SOA first, names in sorted order.
func (z zoneData) write(w io.Writer) error {
	if z.SOA == nil {
		return fmt.Errorf("zone %s has no SOA", z.Zone)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "; written by dnsbench from Portico's answers\n$ORIGIN %s\n", dns.Fqdn(z.Zone))
	records := []dns.RR{z.SOA}
	records = append(records, z.NS...)
	records = append(records, z.Glue...)
	for _, name := range slices.Sorted(maps.Keys(z.Answers)) {
		records = append(records, z.Answers[name]...)
	}
	for _, rr := range records {
		fmt.Fprintln(bw, rr.String())
	}
	return bw.Flush()
}

// writeFile writes z as a zone file at path.
func (z zoneData) writeFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = z.write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write zone file %s: %w", path, err)
	}
	return nil
}

// records is how many records the zone file holds.
func (z zoneData) records() int {
	n := 1 + len(z.NS) + len(z.Glue)
	for _, rrs := range z.Answers {
		n += len(rrs)
	}
	return n
}

// addrSet is the A and AAAA data of rrs, sorted: what two servers must
// agree on for a name, whatever the order they answer in.
func addrSet(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}
