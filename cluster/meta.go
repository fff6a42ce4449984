package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// NodeMeta is what each node announces to the cluster through gossip. It
// travels as serf tags (a string map) under a version tag; see Tags.
type NodeMeta struct {
	Region string
	// Roles the node holds: "control", "regional", "edge", "dns".
	Roles []string
	// Addrs maps a listener name to its host:port: "admin", "regional",
	// "raft", "internal", "edge", "dns".
	Addrs map[string]string
	// Public are the addresses public clients reach the node at, when
	// the operator set them (else DNS uses the listener hosts).
	Public []string
	// ConfigIndex is the Raft index of the state the node serves.
	ConfigIndex uint64
	// Health is "starting", "ok" or "draining".
	Health string
	// Version is the node's software version.
	Version string
	// RaftState is true on a control node that has Raft state (it has
	// bootstrapped or been added). Control nodes bootstrap a new cluster
	// only when none of them has state.
	RaftState bool
}

// Node health values announced in NodeMeta.Health.
const (
	HealthStarting = "starting"
	HealthOK       = "ok"
	HealthDraining = "draining"
)

// MetaMaxSize is the most bytes a node's encoded meta may take: memberlist
// carries it in every alive message and caps it (memberlist.MetaMaxSize).
const MetaMaxSize = memberlist.MetaMaxSize

// metaVersion is the encoding written by Tags. Adding a tag keeps the
// version (older readers ignore unknown tags, newer readers see a missing
// tag as the zero value); changing what an existing tag means or how it
// is spelled bumps it.
const metaVersion = 1

// Tag keys of meta version 1. Short keys: the whole map must fit in
// MetaMaxSize together with serf's own framing.
const (
	tagVersion  = "v"       // encoding version, decimal
	tagRegion   = "region"  // region name
	tagRoles    = "roles"   // comma-separated role names
	tagAddrs    = "addrs"   // comma-separated name=host:port, sorted by name
	tagIndex    = "index"   // applied config index, decimal
	tagHealth   = "health"  // starting, ok, draining
	tagSoftware = "version" // software version
	tagRaft     = "raft"    // "1" when the node has Raft state
	tagPublic   = "public"  // comma-separated public IP addresses
)

// ErrMetaVersion is returned by ParseMeta for tags written in an encoding
// this node does not understand (a newer node, or not a Portico node). The
// caller logs it and skips the member's meta.
var ErrMetaVersion = errors.New("unsupported node meta version")

// ErrMetaTooLarge is returned by Tags when the encoded meta would not fit
// in memberlist's MetaMaxSize bytes.
var ErrMetaTooLarge = errors.New("node meta too large")

// Tags encodes m as serf tags. It fails when a value cannot be encoded
// (a role or listener name holding ',' or '=') or when the encoding, as
// serf puts it on the wire, exceeds MetaMaxSize bytes.
func (m NodeMeta) Tags() (map[string]string, error) {
	tags := map[string]string{tagVersion: strconv.Itoa(metaVersion)}
	if m.Region != "" {
		tags[tagRegion] = m.Region
	}
	if len(m.Roles) > 0 {
		for _, r := range m.Roles {
			if r == "" || strings.ContainsAny(r, ",") {
				return nil, fmt.Errorf("node meta: role %q: empty or holds ','", r)
			}
		}
		tags[tagRoles] = strings.Join(m.Roles, ",")
	}
	if len(m.Addrs) > 0 {
		names := slices.Sorted(maps.Keys(m.Addrs))
		parts := make([]string, 0, len(names))
		for _, name := range names {
			addr := m.Addrs[name]
			if name == "" || strings.ContainsAny(name, ",=") {
				return nil, fmt.Errorf("node meta: listener name %q: empty or holds ',' or '='", name)
			}
			if strings.Contains(addr, ",") {
				return nil, fmt.Errorf("node meta: listener %s address %q holds ','", name, addr)
			}
			parts = append(parts, name+"="+addr)
		}
		tags[tagAddrs] = strings.Join(parts, ",")
	}
	if len(m.Public) > 0 {
		for _, a := range m.Public {
			if a == "" || strings.Contains(a, ",") {
				return nil, fmt.Errorf("node meta: public address %q: empty or holds ','", a)
			}
		}
		tags[tagPublic] = strings.Join(m.Public, ",")
	}
	if m.ConfigIndex != 0 {
		tags[tagIndex] = strconv.FormatUint(m.ConfigIndex, 10)
	}
	if m.Health != "" {
		tags[tagHealth] = m.Health
	}
	if m.Version != "" {
		tags[tagSoftware] = m.Version
	}
	if m.RaftState {
		tags[tagRaft] = "1"
	}
	n, err := encodedTagsSize(tags)
	if err != nil {
		return nil, fmt.Errorf("node meta: measure encoding: %w", err)
	}
	if n > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, memberlist allows %d (listener addresses and roles take most of it)",
			ErrMetaTooLarge, n, MetaMaxSize)
	}
	return tags, nil
}

// encodedTagsSize is the length of tags as serf encodes them into
// memberlist meta: one magic byte, then the msgpack map (serf's
// encodeTags, protocol version 3 and later).
func encodedTagsSize(tags map[string]string) (int, error) {
	var buf bytes.Buffer
	buf.WriteByte(0xff) // serf's tagMagicByte
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return 0, err
	}
	return buf.Len(), nil
}

// ParseMeta decodes tags written by NodeMeta.Tags. Tags of an unknown
// version, or with no version, return an error wrapping ErrMetaVersion;
// a tag that is absent decodes to its zero value; unknown tags are
// ignored; a tag that is present but malformed is an error.
func ParseMeta(tags map[string]string) (NodeMeta, error) {
	v, ok := tags[tagVersion]
	if !ok {
		return NodeMeta{}, fmt.Errorf("%w: no %q tag", ErrMetaVersion, tagVersion)
	}
	if n, err := strconv.Atoi(v); err != nil || n != metaVersion {
		return NodeMeta{}, fmt.Errorf("%w: %q (this node reads version %d)", ErrMetaVersion, v, metaVersion)
	}
	m := NodeMeta{
		Region:    tags[tagRegion],
		Health:    tags[tagHealth],
		Version:   tags[tagSoftware],
		RaftState: tags[tagRaft] == "1",
	}
	if s := tags[tagRoles]; s != "" {
		m.Roles = strings.Split(s, ",")
	}
	if s := tags[tagPublic]; s != "" {
		m.Public = strings.Split(s, ",")
	}
	if s := tags[tagAddrs]; s != "" {
		m.Addrs = make(map[string]string)
		for _, part := range strings.Split(s, ",") {
			name, addr, ok := strings.Cut(part, "=")
			if !ok || name == "" {
				return NodeMeta{}, fmt.Errorf("node meta: malformed %s entry %q", tagAddrs, part)
			}
			m.Addrs[name] = addr
		}
	}
	if s := tags[tagIndex]; s != "" {
		idx, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return NodeMeta{}, fmt.Errorf("node meta: malformed %s %q: %w", tagIndex, s, err)
		}
		m.ConfigIndex = idx
	}
	return m, nil
}
