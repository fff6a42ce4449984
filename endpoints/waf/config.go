package waf

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/portico-gw/portico/configs/field"
)

// Actions of a rate rule and modes of the Core Rule Set. Both are written
// in capitals, as AWS WAF writes rule actions.
const (
	ActionBlock = "BLOCK" // answer 403 through Options.Block
	ActionCount = "COUNT" // only report (Options.OnMatch, log) and let the request through

	ModeBlock  = "BLOCK"  // requests over the anomaly threshold are blocked
	ModeDetect = "DETECT" // they are reported and let through
)

// Defaults filled in by ApplyDefaults, and the bounds Validate enforces.
const (
	// DefaultRateWindow is AWS WAF's default evaluation window for
	// rate-based rules (5 minutes).
	DefaultRateWindow = 5 * time.Minute
	// MinRateWindow and MaxRateWindow bound RateRule.Window. The window is
	// counted in ten slots (see rate.go), so 10 s gives 1 s steps.
	MinRateWindow = 10 * time.Second
	MaxRateWindow = time.Hour

	// DefaultParanoiaLevel and DefaultAnomalyThreshold are the CRS's own
	// defaults (crs-setup.conf: blocking_paranoia_level=1,
	// inbound_anomaly_score_threshold=5): one critical match blocks.
	DefaultParanoiaLevel    = 1
	DefaultAnomalyThreshold = 5
	// MaxAnomalyThreshold bounds CRS.AnomalyThreshold; far above any score
	// a real request reaches, it only catches typos.
	MaxAnomalyThreshold = 10_000

	// MaxIPEntries bounds IPAllow and IPDeny, as an AWS WAF IP set is
	// bounded (10,000 addresses).
	MaxIPEntries = 10_000
)

// Config is the firewall of one stage. The zero Config lets everything
// through. It is plain data: the configuration layer embeds it, decodes it
// strictly and calls Validate before committing it.
type Config struct {
	// IPAllow lists CIDRs ("203.0.113.0/24", "2001:db8::/32") or single
	// addresses. When it is not empty, only client addresses inside one of
	// them pass; the others are blocked (KindIPAllow). IPv4-mapped
	// prefixes of /96 or longer (::ffff:192.0.2.0/120) mean the IPv4
	// addresses; other IPv6 prefixes, ::/0 included, match only IPv6
	// clients. Zones (fe80::1%eth0) are ignored, as client addresses
	// carry none.
	IPAllow []string `json:"ip_allow,omitempty"`
	// IPDeny lists CIDRs or single addresses that are always blocked
	// (KindIPDeny). Deny is checked first, so it wins over IPAllow.
	IPDeny []string `json:"ip_deny,omitempty"`
	// RateRules are checked in order after the IP lists. They are per
	// node: see RateRule.
	RateRules []RateRule `json:"rate_rules,omitempty"`
	// CoreRuleSet turns on the OWASP Core Rule Set; nil leaves it off.
	CoreRuleSet *CRS `json:"core_rule_set,omitempty"`
}

// RateRule limits the requests one client address may make in a sliding
// window, like an AWS WAF rate-based rule. Counts are kept per node, in
// memory: a client spread over N nodes may make up to N×Limit requests.
// (Cluster-wide throttling is a different feature.) Every request the
// rule sees is counted, blocked ones too, so a client that keeps going
// over the limit stays blocked until its rate falls.
type RateRule struct {
	// Limit is the most requests one address may make within Window; the
	// next one is blocked (or counted). At least 1.
	Limit int `json:"limit"`
	// Window is the length of the sliding window; DefaultRateWindow when
	// zero, otherwise between MinRateWindow and MaxRateWindow.
	Window Duration `json:"window,omitempty"`
	// Action is ActionBlock (the default) or ActionCount.
	Action string `json:"action,omitempty"`
	// PathPrefix, when set, scopes the rule to requests whose path starts
	// with it, byte for byte. The path is what Options.Path returns
	// (r.URL.Path by default); in the gateway it is the path within the
	// API, after the stage or the custom domain's base path: "/login"
	// matches /prod/login. It must start with "/".
	PathPrefix string `json:"path_prefix,omitempty"`
}

// CRS configures the OWASP Core Rule Set (v4, embedded; see doc.go).
type CRS struct {
	// ParanoiaLevel is the CRS blocking paranoia level, 1 to 4; 0 means
	// DefaultParanoiaLevel. Higher levels catch more and block more
	// legitimate traffic.
	ParanoiaLevel int `json:"paranoia_level,omitempty"`
	// AnomalyThreshold is the inbound anomaly score at which a request is
	// blocked; 0 means DefaultAnomalyThreshold. A critical match scores 5,
	// an error 4, a warning 3, a notice 2.
	AnomalyThreshold int `json:"anomaly_threshold,omitempty"`
	// Mode is ModeBlock (the default) or ModeDetect.
	Mode string `json:"mode,omitempty"`
	// ExcludeRules are CRS rule ids removed from the set (SecRuleRemoveById),
	// for false positives: e.g. 920420 to accept request content types the
	// CRS does not know, such as application/octet-stream.
	ExcludeRules []int `json:"exclude_rules,omitempty"`
}

// Duration is a time.Duration written as a string such as "5m" or "30s".
type Duration = field.Duration

// ApplyDefaults fills in every zero value that has a default. Validate
// accepts zero values as well, so calling it is optional; it makes a
// stored or displayed configuration say what is in force.
func (c *Config) ApplyDefaults() {
	for i := range c.RateRules {
		r := &c.RateRules[i]
		if r.Window == 0 {
			r.Window = Duration(DefaultRateWindow)
		}
		if r.Action == "" {
			r.Action = ActionBlock
		}
	}
	if s := c.CoreRuleSet; s != nil {
		if s.ParanoiaLevel == 0 {
			s.ParanoiaLevel = DefaultParanoiaLevel
		}
		if s.AnomalyThreshold == 0 {
			s.AnomalyThreshold = DefaultAnomalyThreshold
		}
		if s.Mode == "" {
			s.Mode = ModeBlock
		}
	}
}

// FieldError is one problem in a Config, with the path of the field.
type FieldError = field.Error

// ValidationError lists every problem found at once.
type ValidationError = field.Errors

// Validate reports every problem in the Config at once as a
// *ValidationError, or nil. Field paths start with prefix (e.g. "waf" or
// "stages[2].waf"), so an error reads `waf.ip_deny[2]: invalid CIDR "x"`.
// Zero values that have a default are valid.
func (c *Config) Validate(prefix string) error {
	var p problems
	p.prefix = prefix
	validateCIDRs(&p, "ip_allow", c.IPAllow)
	validateCIDRs(&p, "ip_deny", c.IPDeny)
	for i, r := range c.RateRules {
		f := fmt.Sprintf("rate_rules[%d]", i)
		if r.Limit < 1 {
			p.add(f+".limit", "must be at least 1")
		}
		if w := r.Window.D(); w != 0 && (w < MinRateWindow || w > MaxRateWindow) {
			p.add(f+".window", "must be between %s and %s", MinRateWindow, MaxRateWindow)
		}
		switch r.Action {
		case "", ActionBlock, ActionCount:
		default:
			p.add(f+".action", "must be %q or %q, not %q", ActionBlock, ActionCount, r.Action)
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			p.add(f+".path_prefix", "must start with \"/\"")
		}
	}
	if s := c.CoreRuleSet; s != nil {
		const f = "core_rule_set"
		if s.ParanoiaLevel < 0 || s.ParanoiaLevel > 4 {
			p.add(f+".paranoia_level", "must be between 1 and 4")
		}
		if s.AnomalyThreshold < 0 || s.AnomalyThreshold > MaxAnomalyThreshold {
			p.add(f+".anomaly_threshold", "must be between 1 and %d", MaxAnomalyThreshold)
		}
		switch s.Mode {
		case "", ModeBlock, ModeDetect:
		default:
			p.add(f+".mode", "must be %q or %q, not %q", ModeBlock, ModeDetect, s.Mode)
		}
		for i, id := range s.ExcludeRules {
			if id < 1 || id > math.MaxInt32 {
				p.add(fmt.Sprintf("%s.exclude_rules[%d]", f, i), "must be a positive rule id")
			}
		}
	}
	return p.err()
}

func validateCIDRs(p *problems, field string, list []string) {
	if len(list) > MaxIPEntries {
		p.add(field, "must have at most %d entries", MaxIPEntries)
		return
	}
	for i, s := range list {
		if _, err := parsePrefix(s); err != nil {
			p.add(fmt.Sprintf("%s[%d]", field, i), "invalid CIDR %q", s)
		}
	}
}

// parsePrefix reads a CIDR or a single address and returns it masked and
// in the form client addresses are compared in: IPv4-mapped IPv6 prefixes
// of /96 or longer (::ffff:192.0.2.0/120) become IPv4 ones, and zones are
// dropped.
func parsePrefix(s string) (netip.Prefix, error) {
	var pfx netip.Prefix
	if addr, bits, ok := strings.Cut(s, "/"); ok {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.Prefix{}, err
		}
		v, err := netip.ParsePrefix(a.WithZone("").String() + "/" + bits)
		if err != nil {
			return netip.Prefix{}, err
		}
		pfx = v
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.WithZone("")
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked(), nil
}

// problems collects field errors under a prefix.
type problems struct {
	prefix string
	errs   []FieldError
}

func (p *problems) add(field, format string, args ...any) {
	if p.prefix != "" {
		field = p.prefix + "." + field
	}
	p.errs = append(p.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: p.errs}
}
