package waf

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
	"testing/iotest"
)

// FuzzBodyReplay checks the promise Wrap makes to the next handler: after
// the inspected prefix was read, the body it gets yields exactly the
// bytes the client sent, however the original body hands them out.
//
//	go test -fuzz FuzzBodyReplay ./endpoints/waf/
func FuzzBodyReplay(f *testing.F) {
	f.Add([]byte(""), uint16(16), uint8(0), int8(-1))                    // empty
	f.Add([]byte(`{"a":1}`), uint16(16), uint8(1), int8(7))              // shorter than the limit, length known
	f.Add(bytes.Repeat([]byte("x"), 40), uint16(16), uint8(2), int8(-1)) // longer, length unknown
	f.Add(bytes.Repeat([]byte("y"), 16), uint16(16), uint8(0), int8(16)) // exactly the limit
	f.Fuzz(func(t *testing.T, body []byte, limit uint16, mode uint8, declared int8) {
		if limit == 0 {
			limit = 1
		}
		var rd io.Reader = bytes.NewReader(body)
		switch mode % 3 {
		case 1:
			rd = iotest.OneByteReader(rd)
		case 2:
			rd = iotest.HalfReader(rd)
		}
		r := httptest.NewRequest("POST", "/", io.NopCloser(rd))
		prefix, eof, err := readPrefix(r.Body, int(limit), int64(declared))
		if err != nil {
			t.Fatalf("readPrefix: %v", err)
		}
		if len(prefix) > int(limit) || !bytes.HasPrefix(body, prefix) {
			t.Fatalf("prefix %q of body %q with limit %d", prefix, body, limit)
		}
		if eof && len(prefix) != len(body) {
			t.Fatalf("eof after %d of %d bytes", len(prefix), len(body))
		}
		got, err := io.ReadAll(withBody(r, prefix, eof, nil).Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("replayed %q, %v; want %q", got, err, body)
		}
	})
}

// FuzzParsePrefix checks that IP list entries never panic the parser and
// that what it accepts is in the form lookups compare against.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:192.0.2.0/120", // plain forms
		"fe80::1%eth0", "fe80::1%eth0/64", "::ffff:0:0/90", // zones, short mapped prefixes
		"", "/", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/8/8", "::/-1", // junk
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" {
			t.Fatalf("parsePrefix(%q) = %v, not a masked prefix without zone", s, p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			t.Fatalf("parsePrefix(%q) = %v, an IPv4-mapped prefix left mapped", s, p)
		}
		if a := p.Addr(); newIPSetMust(t, s).lookup(a) != 0 {
			t.Fatalf("the network address of %q (%v) is not in its own set", s, a)
		}
	})
}

func newIPSetMust(t *testing.T, s string) *ipSet {
	set, err := newIPSet("ip_deny", []string{s})
	if err != nil {
		t.Fatalf("newIPSet rejects %q that parsePrefix accepts: %v", s, err)
	}
	return set
}
