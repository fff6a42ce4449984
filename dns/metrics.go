package dns

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names: portico_dns_*. Children are resolved when the server is
// built, so the query path only increments.
const (
	metricsNamespace = "portico"
	metricsSubsystem = "dns"
)

// rcodesCounted are the response codes with their own child; others are
// counted as "other".
var rcodesCounted = []int{
	dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError,
	dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeBadVers,
}

// rcodeName is the name of a response code this server sends. miekg/dns
// names 16 BADSIG (TSIG); here it can only be BADVERS (RFC 6891).
func rcodeName(rc int) string {
	if rc == dns.RcodeBadVers {
		return "BADVERS"
	}
	return dns.RcodeToString[rc]
}

// metrics are the server's counters. A nil *metrics counts nothing.
type metrics struct {
	queries   [2]prometheus.Counter // udp, tcp
	responses map[int]prometheus.Counter
	other     prometheus.Counter    // other response codes
	dropped   prometheus.Counter    // no response sent
	limits    [2]prometheus.Counter // dropped, slipped
	decisions [len(sourceNames)]prometheus.Counter
	explored  prometheus.Counter
	failOpen  prometheus.Counter
	truncs    prometheus.Counter
	panics    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	var errs []error
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}, labels)
		if err := register(reg, &v); err != nil {
			errs = append(errs, err)
		}
		return v
	}
	queries := vec("queries_total", "Packets received, by transport.", "transport")
	responses := vec("responses_total", `Responses sent by response code; "dropped" when none was sent.`, "rcode")
	limited := vec("rate_limited_total", "UDP responses withheld by rate limiting: dropped, or slipped (sent empty and truncated).", "action")
	decisions := vec("latency_answers_total", "Latency-routed answers by the source of the winner's latency.", "source")
	single := vec("events_total", "Answers that explored the runner-up, failed open, were truncated, or panicked.", "event")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("dns: register metrics: %w", err)
	}
	m := &metrics{responses: map[int]prometheus.Counter{}}
	m.queries[0], m.queries[1] = queries.WithLabelValues("udp"), queries.WithLabelValues("tcp")
	for _, rc := range rcodesCounted {
		m.responses[rc] = responses.WithLabelValues(rcodeName(rc))
	}
	m.other, m.dropped = responses.WithLabelValues("other"), responses.WithLabelValues("dropped")
	m.limits[0], m.limits[1] = limited.WithLabelValues("drop"), limited.WithLabelValues("slip")
	for i, name := range sourceNames {
		m.decisions[i] = decisions.WithLabelValues(name)
	}
	m.explored, m.failOpen = single.WithLabelValues("explore"), single.WithLabelValues("fail_open")
	m.truncs, m.panics = single.WithLabelValues("truncated"), single.WithLabelValues("panic")
	return m, nil
}

// register registers *c, or points *c at the collector already
// registered under the same description (a second server in one process).
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}

func (m *metrics) served(tcp bool, rcode int) {
	if m == nil {
		return
	}
	if tcp {
		m.queries[1].Inc()
	} else {
		m.queries[0].Inc()
	}
	switch c, ok := m.responses[rcode]; {
	case ok:
		c.Inc()
	case rcode == rcodeDropped:
		m.dropped.Inc()
	default:
		m.other.Inc()
	}
}

func (m *metrics) limited(slipped bool) {
	if m == nil {
		return
	}
	if slipped {
		m.limits[1].Inc()
	} else {
		m.limits[0].Inc()
	}
}

func (m *metrics) decided(d *decision) {
	if m == nil || len(d.answered) == 0 {
		return
	}
	m.decisions[d.cands[d.answered[0]].src].Inc()
	if d.explored {
		m.explored.Inc()
	}
}

func (m *metrics) failedOpen() {
	if m != nil {
		m.failOpen.Inc()
	}
}

func (m *metrics) truncated() {
	if m != nil {
		m.truncs.Inc()
	}
}

func (m *metrics) panicked() {
	if m != nil {
		m.panics.Inc()
	}
}
