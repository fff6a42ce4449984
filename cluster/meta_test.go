package cluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		meta NodeMeta
	}{
		{"zero", NodeMeta{}},
		{"full", NodeMeta{
			Region: "eu-west",
			Roles:  []string{"control", "regional", "edge", "dns"},
			Addrs: map[string]string{
				"admin": "10.0.0.1:9000", "regional": "10.0.0.1:8443", "raft": "10.0.0.1:7000",
				"internal": "10.0.0.1:8080", "edge": "[2001:db8::1]:443", "dns": "10.0.0.1:53",
			},
			ConfigIndex: 18446744073709551615,
			Health:      HealthOK,
			Version:     "v0.3.1-dev+abc123",
		}},
		{"edge only", NodeMeta{Region: "us-east", Roles: []string{"edge"}, Health: HealthStarting}},
		{"empty addr value", NodeMeta{Addrs: map[string]string{"admin": ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tags, err := tt.meta.Tags()
			if err != nil {
				t.Fatalf("Tags: %v", err)
			}
			if tags["v"] != "1" {
				t.Errorf("version tag = %q, want \"1\"", tags["v"])
			}
			got, err := ParseMeta(tags)
			if err != nil {
				t.Fatalf("ParseMeta(%v): %v", tags, err)
			}
			if !reflect.DeepEqual(got, tt.meta) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, tt.meta)
			}
		})
	}
}

func TestMetaParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tags    map[string]string
		want    NodeMeta
		wantErr error // nil: any error when errText is set
		errText string
	}{
		{name: "older writer, missing fields are zero", tags: map[string]string{"v": "1", "region": "ap-south"},
			want: NodeMeta{Region: "ap-south"}},
		{name: "unknown tags ignored", tags: map[string]string{"v": "1", "health": "ok", "load": "0.3"},
			want: NodeMeta{Health: "ok"}},
		{name: "future version", tags: map[string]string{"v": "2", "region": "x"}, wantErr: ErrMetaVersion},
		{name: "no version", tags: map[string]string{"region": "x"}, wantErr: ErrMetaVersion},
		{name: "not a number", tags: map[string]string{"v": "one"}, wantErr: ErrMetaVersion},
		{name: "serf role-only tags", tags: map[string]string{"role": ""}, wantErr: ErrMetaVersion},
		{name: "bad index", tags: map[string]string{"v": "1", "index": "-4"}, errText: "malformed index"},
		{name: "bad addrs", tags: map[string]string{"v": "1", "addrs": "admin=1.2.3.4:5,raft"}, errText: "malformed addrs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMeta(tt.tags)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseMeta error = %v, want %v", err, tt.wantErr)
				}
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("ParseMeta error = %v, want one containing %q", err, tt.errText)
				}
			default:
				if err != nil {
					t.Fatalf("ParseMeta: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %#v, want %#v", got, tt.want)
				}
			}
		})
	}
}

func TestMetaTagsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		meta NodeMeta
		text string
	}{
		{"comma in role", NodeMeta{Roles: []string{"edge,dns"}}, "role"},
		{"empty role", NodeMeta{Roles: []string{""}}, "role"},
		{"equals in listener name", NodeMeta{Addrs: map[string]string{"a=b": "1.2.3.4:5"}}, "listener name"},
		{"comma in address", NodeMeta{Addrs: map[string]string{"admin": "1.2.3.4:5,6"}}, "address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.meta.Tags(); err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Tags error = %v, want one about %q", err, tt.text)
			}
		})
	}
}

func TestMetaTooLarge(t *testing.T) {
	t.Parallel()
	m := NodeMeta{Region: "eu-west", Roles: []string{"edge"}, Addrs: map[string]string{}}
	for _, name := range []string{"admin", "regional", "raft", "internal", "edge", "dns", "quic", "metrics"} {
		m.Addrs[name] = "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535"
	}
	m.Version = strings.Repeat("x", 200)
	_, err := m.Tags()
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Tags error = %v, want ErrMetaTooLarge", err)
	}
	if !strings.Contains(err.Error(), "512") {
		t.Errorf("error %q does not name the 512-byte limit", err)
	}
}

// TestMetaSizeMatchesSerf finds the largest meta Tags accepts and starts
// serf with it: serf measures its own encoding and would refuse it if
// encodedTagsSize undercounted.
func TestMetaSizeMatchesSerf(t *testing.T) {
	t.Parallel()
	m := NodeMeta{Region: "r"}
	lo, hi := 0, MetaMaxSize
	for lo < hi { // largest Version length that fits
		mid := (lo + hi + 1) / 2
		m.Version = strings.Repeat("v", mid)
		if _, err := m.Tags(); err == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	m.Version = strings.Repeat("v", lo)
	tags, err := m.Tags()
	if err != nil {
		t.Fatalf("Tags at the limit: %v", err)
	}
	if n, _ := encodedTagsSize(tags); n > MetaMaxSize || n < MetaMaxSize-2 {
		t.Fatalf("largest accepted meta encodes to %d bytes, want just under %d", n, MetaMaxSize)
	}
	g := startTestGossip(t, "limit", nil, func(c *GossipConfig) { c.Meta = m })
	if got := g.Members()[0].Meta.Version; got != m.Version {
		t.Fatalf("local meta version has %d bytes, want %d", len(got), len(m.Version))
	}
}

// FuzzParseMeta checks that ParseMeta never panics and that whatever it
// accepts and Tags can re-encode decodes to the same meta.
func FuzzParseMeta(f *testing.F) {
	f.Add("1", "eu-west", "edge,dns", "admin=127.0.0.1:9000,raft=127.0.0.1:7000", "42", "ok", "v1.0.0")
	f.Add("1", "", "", "", "", "", "")                            // a minimal v1 node
	f.Add("2", "x", "edge", "", "1", "ok", "v9")                  // a newer node
	f.Add("1", "x", ",,", "=,a=", "18446744073709551616", "", "") // malformed lists, overflowing index
	f.Fuzz(func(t *testing.T, v, region, roles, addrs, index, health, version string) {
		tags := map[string]string{"v": v, "region": region, "roles": roles, "addrs": addrs,
			"index": index, "health": health, "version": version}
		m, err := ParseMeta(tags)
		if err != nil {
			return
		}
		again, err := m.Tags()
		if err != nil {
			return // e.g. an empty role name: readable, not writable
		}
		m2, err := ParseMeta(again)
		if err != nil {
			t.Fatalf("ParseMeta(Tags(%#v)): %v", m, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding changed meta:\n got %#v\nwant %#v", m2, m)
		}
	})
}
