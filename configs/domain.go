package configs

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Custom domain limits.
const (
	// MaxDomainMappings is API Gateway's quota of base path mappings per
	// custom domain name.
	MaxDomainMappings = 200
	// MaxDomainNameLength is the longest name in text form (RFC 1035
	// §2.3.4: 255 octets on the wire, 253 characters without the final dot).
	MaxDomainNameLength = 253
	// MaxBasePathLength bounds a base path segment.
	MaxBasePathLength = 128
	// RootBasePath is how the root mapping (an empty base path) is written
	// where an empty string cannot be, as in API Gateway: in URLs and on
	// the command line.
	RootBasePath = "(none)"
)

var (
	// RFC 1123 §2.1: letters, digits and hyphens, not at either end; 1-63
	// characters per label (RFC 1035 §2.3.4).
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	basePathRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// Domain is a custom domain name, like API Gateway's: clients call
// https://NAME/BASE/... and reach the stage a base path maps. TLS
// certificates for the name are node configuration, not part of it.
type Domain struct {
	// Name is the fully qualified name, lowercase, without the final dot.
	Name string `json:"name"`
	// EndpointType is REGIONAL (the default) or EDGE.
	EndpointType EndpointType `json:"endpoint_type"`
	// Regions that serve a REGIONAL domain; DNS answers with the
	// lowest-latency healthy one. Empty means the home regions of the
	// mapped APIs (see State.DomainRegions). An EDGE domain has none: every
	// edge node serves it.
	Regions   []string  `json:"regions,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Mappings are kept sorted by base path, the root mapping first.
	Mappings []BasePathMapping `json:"mappings,omitempty"`
}

// BasePathMapping sends https://DOMAIN/BASE_PATH/rest to the stage of an
// API, which sees /rest. An empty base path is the root mapping: it takes
// every request no other mapping takes.
type BasePathMapping struct {
	BasePath string `json:"base_path"`
	APIID    string `json:"api_id"`
	Stage    string `json:"stage"`
}

// DisplayBasePath renders a base path for people and URLs: RootBasePath
// for the root mapping.
func DisplayBasePath(bp string) string {
	if bp == "" {
		return RootBasePath
	}
	return bp
}

// NormalizeBasePath turns RootBasePath (and "/"-wrapped forms such as
// "/v1/") into the stored form: "" for the root, else the segment.
func NormalizeBasePath(bp string) string {
	bp = strings.Trim(bp, "/")
	if bp == RootBasePath {
		return ""
	}
	return bp
}

// CanonicalDomainName lowercases a host name and drops a final dot, the
// form names are stored and looked up in. It does not strip a port.
func CanonicalDomainName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// ApplyDefaults fills unset fields: the endpoint type and the canonical
// forms of the name and base paths.
func (d *Domain) ApplyDefaults() {
	d.Name = CanonicalDomainName(d.Name)
	if d.EndpointType == "" {
		d.EndpointType = EndpointRegional
	}
	for i := range d.Mappings {
		d.Mappings[i].BasePath = NormalizeBasePath(d.Mappings[i].BasePath)
	}
}

// Validate reports every problem in the domain at once, with field paths
// such as "mappings[1].base_path". Call ApplyDefaults first. Whether the
// mapped APIs and stages exist is for the caller to check against a State.
func (d *Domain) Validate() error {
	var p problems
	if err := ValidateDomainName(d.Name); err != nil {
		p.add("name", "%s", err)
	}
	switch d.EndpointType {
	case EndpointRegional:
	case EndpointEdge:
		if len(d.Regions) > 0 {
			p.add("regions", "an EDGE domain is served by every edge node; regions apply to REGIONAL domains")
		}
	default:
		p.add("endpoint_type", "must be REGIONAL or EDGE, not %q", d.EndpointType)
	}
	seenRegion := map[string]int{}
	for i, r := range d.Regions {
		f := fmt.Sprintf("regions[%d]", i)
		if !regionRE.MatchString(r) {
			p.add(f, "must be a region name of lowercase letters, digits and dashes, not %q", r)
		} else if j, dup := seenRegion[r]; dup {
			p.add(f, "%s duplicates regions[%d]", r, j)
		} else {
			seenRegion[r] = i
		}
	}
	if len(d.Mappings) > MaxDomainMappings {
		p.add("mappings", "at most %d base path mappings are allowed per domain, got %d", MaxDomainMappings, len(d.Mappings))
	}
	seenBase := map[string]int{}
	for i, m := range d.Mappings {
		f := fmt.Sprintf("mappings[%d].", i)
		m.validate(&p, f)
		if j, dup := seenBase[m.BasePath]; dup {
			p.add(f+"base_path", "%s duplicates mappings[%d]", DisplayBasePath(m.BasePath), j)
		} else {
			seenBase[m.BasePath] = i
		}
	}
	return p.err()
}

// Validate checks one mapping on its own (fields "base_path", "api_id",
// "stage"). Call NormalizeBasePath on the base path first.
func (m BasePathMapping) Validate() error {
	var p problems
	m.validate(&p, "")
	return p.err()
}

func (m BasePathMapping) validate(p *problems, prefix string) {
	if err := ValidateBasePath(m.BasePath); err != nil {
		p.add(prefix+"base_path", "%s", err)
	}
	switch {
	case m.APIID == "":
		p.add(prefix+"api_id", "is required")
	case !idRE.MatchString(m.APIID):
		p.add(prefix+"api_id", "must be an API id of 10 lowercase letters or digits")
	}
	switch {
	case m.Stage == "":
		p.add(prefix+"stage", "is required")
	case !stageNameRE.MatchString(m.Stage):
		p.add(prefix+"stage", "must be 1-128 letters, digits, - or _")
	}
}

// ValidateDomainName checks a stored (canonical) custom domain name: a
// fully qualified host name of at least two labels, lowercase, without
// the final dot and without wildcards.
func ValidateDomainName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is required")
	case len(name) > MaxDomainNameLength:
		return fmt.Errorf("must be at most %d characters, got %d", MaxDomainNameLength, len(name))
	case strings.HasSuffix(name, "."):
		return fmt.Errorf("must not end with a dot")
	case strings.Contains(name, "*"):
		return fmt.Errorf("wildcard names are not supported")
	case name != strings.ToLower(name):
		return fmt.Errorf("must be lowercase")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return fmt.Errorf("must be a fully qualified name such as api.example.com")
	}
	for i, l := range labels {
		switch {
		case l == "":
			return fmt.Errorf("label %d is empty", i+1)
		case len(l) > 63:
			return fmt.Errorf("label %q is longer than 63 characters", l)
		case !dnsLabelRE.MatchString(l):
			return fmt.Errorf("label %q must be letters, digits and dashes, not starting or ending with a dash", l)
		}
	}
	// RFC 3696 §2: a top-level domain is never all digits (and an IPv4
	// address is not a domain name).
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("the last label must not be all digits")
	}
	return nil
}

// ValidateBasePath checks a stored base path: "" (the root mapping) or
// one path segment of letters, digits, '-', '_' and '.'.
func ValidateBasePath(bp string) error {
	switch {
	case bp == "":
		return nil
	case bp == "." || bp == "..":
		// RFC 3986 §5.2.4: clients remove dot segments, so it is unreachable.
		return fmt.Errorf("%q is not a usable path segment", bp)
	case len(bp) > MaxBasePathLength:
		return fmt.Errorf("must be at most %d characters", MaxBasePathLength)
	case !basePathRE.MatchString(bp):
		return fmt.Errorf("must be %s or one path segment of letters, digits, '-', '_' and '.', not %q", RootBasePath, bp)
	}
	return nil
}

// Mapping returns the mapping with the base path ("" for the root), or
// nil.
func (d *Domain) Mapping(basePath string) *BasePathMapping {
	for i := range d.Mappings {
		if d.Mappings[i].BasePath == basePath {
			return &d.Mappings[i]
		}
	}
	return nil
}

// Match picks the mapping for a request path and returns it with the
// path the API sees: "/v1/pets" under base path "v1" is "/pets", and
// "/v1" is "/". A base path mapping beats the root mapping. It returns
// nil when nothing maps the path.
func (d *Domain) Match(path string) (*BasePathMapping, string) {
	seg, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg != "" {
		if m := d.Mapping(seg); m != nil {
			return m, "/" + rest
		}
	}
	if m := d.Mapping(""); m != nil {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		return m, path
	}
	return nil, ""
}

// WithMapping returns a copy of the domain with the mapping added, or
// replacing the one with the same base path; mappings stay sorted.
func (d *Domain) WithMapping(m BasePathMapping) *Domain {
	n := d.clone()
	if cur := n.Mapping(m.BasePath); cur != nil {
		*cur = m
		return n
	}
	n.Mappings = append(n.Mappings, m)
	sort.Slice(n.Mappings, func(i, j int) bool { return n.Mappings[i].BasePath < n.Mappings[j].BasePath })
	return n
}

// WithoutMappings returns a copy of the domain without the mappings for
// which drop is true, and whether any was dropped.
func (d *Domain) WithoutMappings(drop func(BasePathMapping) bool) (*Domain, bool) {
	n := d.clone()
	n.Mappings = slices.DeleteFunc(n.Mappings, drop)
	if len(n.Mappings) == 0 {
		n.Mappings = nil
	}
	return n, len(n.Mappings) != len(d.Mappings)
}

func (d *Domain) clone() *Domain {
	n := *d
	n.Regions = slices.Clone(d.Regions)
	n.Mappings = slices.Clone(d.Mappings)
	return &n
}
