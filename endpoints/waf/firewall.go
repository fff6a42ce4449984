package waf

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Options are the parts of a Firewall that come from the gateway rather
// than from the stage's configuration. Every field may be left zero.
type Options struct {
	// Now is the clock of the rate rules; time.Now when nil.
	Now func() time.Time
	// Logger receives one line per match (see Firewall); the default is
	// slog.Default() with component=waf.
	Logger *slog.Logger
	// ClientIP returns the true client address of a request (the gateway
	// knows which proxies to trust). The default parses r.RemoteAddr.
	// IPv4-mapped IPv6 addresses are unmapped before use. An invalid
	// address matches no IP list entry (so it fails IPAllow) and all
	// requests with one share a single rate counter.
	ClientIP func(*http.Request) netip.Addr
	// Path returns the path a rate rule's PathPrefix is matched against;
	// the default is r.URL.Path. A gateway that serves an API under a
	// stage or base path (/prod/login) returns the path within the API
	// (/login), as routes are written. It gets the ResponseWriter the
	// firewall was handed, so it can read what the gateway recorded
	// there. It is called only when some rate rule has a PathPrefix.
	Path func(w http.ResponseWriter, r *http.Request) string
	// Block answers a blocked request; the default writes 403 with the
	// JSON body {"message":"Forbidden"}. The request body has not been
	// read, or only partly.
	Block func(w http.ResponseWriter, r *http.Request, reason Reason)
	// OnMatch, when set, is called for every match, blocked or not (COUNT
	// rate rules, DETECT mode), on the request's goroutine before the
	// request is blocked or passed on. It must not block: count, don't
	// do I/O. Meant for metrics.
	OnMatch func(r *http.Request, m Match)
	// MaxTrackedAddresses bounds each rate rule's per-address counters;
	// DefaultMaxTrackedAddresses when zero.
	MaxTrackedAddresses int
}

// Kind names the check that matched a request. The values are stable and
// fit as metric labels.
type Kind string

// The kinds, in the order the checks run.
const (
	KindIPDeny  Kind = "ip_deny"   // the address is in Config.IPDeny
	KindIPAllow Kind = "ip_allow"  // Config.IPAllow is set and the address is not in it
	KindRate    Kind = "rate_rule" // a rate rule's limit was exceeded
	KindCRS     Kind = "crs"       // the Core Rule Set's verdict
	KindError   Kind = "crs_error" // the Core Rule Set failed on this request
)

// Reason says which rule matched a request.
type Reason struct {
	Kind Kind
	// Index is the entry of Config.IPDeny (KindIPDeny) or of
	// Config.RateRules (KindRate) that matched; -1 for the other kinds.
	Index int
	// RuleID is, for KindCRS, the rule that decided: usually 949110 or
	// 949111 (inbound anomaly score exceeded), or 200002/200003 (the
	// request body did not parse).
	RuleID int
	// Matched are, for KindCRS, the ids of the rules that matched and
	// scored (e.g. 942100 for SQL injection found by libinjection), in
	// the order they ran.
	Matched []int
	// Err is, for KindError, what went wrong.
	Err error
}

// String formats the reason for logs: "ip_deny[2]", "ip_allow",
// "rate_rules[0]", "crs 949110 (942100,942190)" or "crs_error: ...".
func (r Reason) String() string {
	switch r.Kind {
	case KindIPDeny:
		return fmt.Sprintf("ip_deny[%d]", r.Index)
	case KindRate:
		return fmt.Sprintf("rate_rules[%d]", r.Index)
	case KindCRS:
		var b strings.Builder
		fmt.Fprintf(&b, "crs %d", r.RuleID)
		for i, id := range r.Matched {
			if i == 0 {
				b.WriteString(" (")
			} else {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, id)
		}
		if len(r.Matched) > 0 {
			b.WriteByte(')')
		}
		return b.String()
	case KindError:
		return fmt.Sprintf("%s: %v", r.Kind, r.Err)
	default:
		return string(r.Kind)
	}
}

// Match is one matched rule, reported to Options.OnMatch.
type Match struct {
	Reason Reason
	// Blocked is false when the rule only counts: a COUNT rate rule, the
	// Core Rule Set in DETECT mode, or an engine error in DETECT mode.
	Blocked bool
}

// Firewall is a compiled Config. It is immutable and safe for concurrent
// use; Wrap may be called any number of times, and every handler it
// returns shares the rate counters.
type Firewall struct {
	deny, allow *ipSet
	rates       []rateRule
	crs         *engine // nil when the Core Rule Set is off
	detect      bool

	now      func() time.Time
	log      *slog.Logger
	clientIP func(*http.Request) netip.Addr
	path     func(http.ResponseWriter, *http.Request) string
	prefixed bool // some rate rule has a PathPrefix
	block    func(http.ResponseWriter, *http.Request, Reason)
	onMatch  func(*http.Request, Match)
}

type rateRule struct {
	index   int
	prefix  string
	count   bool // ActionCount
	counter *rateCounter
}

// New validates cfg and compiles it. With a Core Rule Set it may block
// for the compile (about 75 ms, several times that under -race) unless a
// live Firewall already uses a rule set with the same paranoia level,
// threshold and exclusions, which is then shared (see doc.go). cfg is not
// retained. A config that fails Validate gives a *ValidationError
// (wrapped).
func New(cfg Config, opts Options) (*Firewall, error) {
	if err := cfg.Validate("waf"); err != nil {
		return nil, fmt.Errorf("validate waf config: %w", err)
	}
	f := &Firewall{
		now:      opts.Now,
		log:      opts.Logger,
		clientIP: opts.ClientIP,
		path:     opts.Path,
		block:    opts.Block,
		onMatch:  opts.OnMatch,
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.Default().With("component", "waf")
	}
	if f.clientIP == nil {
		f.clientIP = remoteAddr
	}
	if f.path == nil {
		f.path = urlPath
	}
	if f.block == nil {
		f.block = forbidden
	}
	var err error
	if f.deny, err = newIPSet("ip_deny", cfg.IPDeny); err != nil {
		return nil, fmt.Errorf("compile waf config: %w", err)
	}
	if f.allow, err = newIPSet("ip_allow", cfg.IPAllow); err != nil {
		return nil, fmt.Errorf("compile waf config: %w", err)
	}
	maxAddrs := cmp.Or(opts.MaxTrackedAddresses, DefaultMaxTrackedAddresses)
	for i, r := range cfg.RateRules {
		f.rates = append(f.rates, rateRule{
			index:   i,
			prefix:  r.PathPrefix,
			count:   r.Action == ActionCount,
			counter: newRateCounter(r.Limit, cmp.Or(r.Window.D(), DefaultRateWindow), maxAddrs),
		})
		f.prefixed = f.prefixed || r.PathPrefix != ""
	}
	if s := cfg.CoreRuleSet; s != nil {
		if f.crs, err = sharedEngine(keyOf(*s)); err != nil {
			return nil, err
		}
		f.detect = s.Mode == ModeDetect
	}
	return f, nil
}

// Wrap returns a handler that checks each request and either blocks it
// (through Options.Block) or passes it to next. The checks run in order:
// IPDeny, IPAllow, RateRules, CoreRuleSet; the first block ends them.
// next receives the request with its body intact, even when the Core
// Rule Set read part of it.
func (f *Firewall) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, next)
	})
}

func (f *Firewall) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	client := f.clientIP(r)
	if client.Is4In6() {
		client = client.Unmap()
	}
	client = client.WithZone("")

	if i := f.deny.lookup(client); i >= 0 {
		f.reject(w, r, client, Reason{Kind: KindIPDeny, Index: i})
		return
	}
	if f.allow != nil && f.allow.lookup(client) < 0 {
		f.reject(w, r, client, Reason{Kind: KindIPAllow, Index: -1})
		return
	}
	if len(f.rates) > 0 {
		now := f.now()
		var path string
		if f.prefixed {
			path = f.path(w, r)
		}
		for _, rr := range f.rates {
			if rr.prefix != "" && !strings.HasPrefix(path, rr.prefix) {
				continue
			}
			if !rr.counter.hit(client, now) {
				continue
			}
			reason := Reason{Kind: KindRate, Index: rr.index}
			if rr.count {
				f.report(r, client, reason, false)
				continue
			}
			f.reject(w, r, client, reason)
			return
		}
	}
	if f.crs != nil {
		v := f.inspect(r, client)
		r = v.request
		if v.hit {
			// Fail closed: an engine error blocks in BLOCK mode, like a
			// match; DETECT mode never blocks.
			if f.detect {
				f.report(r, client, v.reason, false)
			} else {
				f.reject(w, r, client, v.reason)
				return
			}
		}
	}
	next.ServeHTTP(w, r)
}

// engine returns the compiled Core Rule Set, nil when it is off (tests
// check sharing through it).
func (f *Firewall) engine() *engine { return f.crs }

func (f *Firewall) reject(w http.ResponseWriter, r *http.Request, client netip.Addr, reason Reason) {
	f.report(r, client, reason, true)
	f.block(w, r, reason)
}

// report tells OnMatch and the log. IP and rate matches are logged at
// debug level: a flood would otherwise flood the log, and the access log
// and OnMatch already see them. Core Rule Set matches carry rule ids that
// nothing else records, so they are logged at info level, and engine
// errors at error level.
func (f *Firewall) report(r *http.Request, client netip.Addr, reason Reason, blocked bool) {
	if f.onMatch != nil {
		f.onMatch(r, Match{Reason: reason, Blocked: blocked})
	}
	level := slog.LevelDebug
	switch reason.Kind {
	case KindCRS:
		level = slog.LevelInfo
	case KindError:
		level = slog.LevelError
	}
	ctx := r.Context()
	if !f.log.Enabled(ctx, level) {
		return
	}
	action := ActionCount
	if blocked {
		action = ActionBlock
	}
	f.log.LogAttrs(ctx, level, "waf match",
		slog.String("action", action),
		slog.String("rule", string(reason.Kind)),
		slog.String("reason", reason.String()),
		slog.String("client", client.String()),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path))
}

// remoteAddr is the default Options.ClientIP.
func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr)
	return a
}

// urlPath is the default Options.Path.
func urlPath(_ http.ResponseWriter, r *http.Request) string { return r.URL.Path }

// forbidden is the default Options.Block.
func forbidden(w http.ResponseWriter, _ *http.Request, _ Reason) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", "23")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"message":"Forbidden"}`))
}
