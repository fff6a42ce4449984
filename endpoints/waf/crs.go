package waf

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
)

// InspectBodyLimit is how much of a request body the Core Rule Set
// inspects: 16 KiB, AWS WAF's default body inspection limit for API
// Gateway. The rest of the body is not inspected and is passed on
// unchanged, like AWS WAF's oversize handling CONTINUE. The limit is set
// by CPU, not memory: the CRS costs about 7 µs per byte of argument text
// and 0.25-0.5 ms per argument on the 2-core CI machine (doc.go), so
// 128 KiB would let one request cost most of a CPU-second.
const InspectBodyLimit = 16 << 10

// Rule ids this package gives meaning to.
const (
	ruleAnomalyPhase2 = 949110 // CRS: inbound anomaly score exceeded
	ruleAnomalyPhase1 = 949111 // the same, early blocking in phase 1
	ruleBodyError     = 200002 // this package: request body did not parse
	ruleMultipart     = 200003 // this package: multipart failed strict checks
)

// engine is one compiled Core Rule Set. It is immutable and shared by
// every Firewall whose CRS settings have the same engineKey.
type engine struct {
	key engineKey
	waf coraza.WAF
}

// engineKey is what a compiled rule set depends on. Mode is not part of
// it: both modes run the same rules, and DETECT only ignores the verdict.
type engineKey struct {
	paranoia  int
	threshold int
	exclude   string // sorted, deduplicated ids joined by ","
}

func keyOf(s CRS) engineKey {
	ids := slices.Clone(s.ExcludeRules)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return engineKey{
		paranoia:  cmp.Or(s.ParanoiaLevel, DefaultParanoiaLevel),
		threshold: cmp.Or(s.AnomalyThreshold, DefaultAnomalyThreshold),
		exclude:   strings.Join(parts, ","),
	}
}

// engines is the process-wide cache of compiled rule sets. It holds them
// weakly: an engine lives as long as some Firewall uses it, and the entry
// is dropped by a cleanup once the last one is collected. A gateway that
// builds its new stage table beside the old one therefore reuses every
// engine whose settings did not change. Compiles of one key are
// single-flight; different keys compile in parallel.
var engines = struct {
	mu sync.Mutex
	m  map[engineKey]*flight
}{m: map[engineKey]*flight{}}

// flight is one compile; done is closed once eng or err is set.
type flight struct {
	done chan struct{}
	eng  weak.Pointer[engine]
	err  error
}

// sharedEngine returns the compiled rule set for key, compiling it if no
// live Firewall holds one. It blocks for the compile (about 75 ms on
// the CI machine, several times that under -race).
func sharedEngine(key engineKey) (*engine, error) {
	for {
		engines.mu.Lock()
		f := engines.m[key]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			engines.m[key] = f
			engines.mu.Unlock()
			return f.compile(key)
		}
		engines.mu.Unlock()
		<-f.done
		if f.err != nil {
			return nil, f.err
		}
		if e := f.eng.Value(); e != nil {
			return e, nil
		}
		// Collected between the lookup and now; its cleanup may not have
		// run yet. Drop the entry and compile anew.
		engines.mu.Lock()
		if engines.m[key] == f {
			delete(engines.m, key)
		}
		engines.mu.Unlock()
	}
}

func (f *flight) compile(key engineKey) (*engine, error) {
	defer close(f.done)
	w, err := coraza.NewWAF(coraza.NewWAFConfig().
		WithRootFS(coreruleset.FS).
		WithDirectives(directives(key)))
	if err != nil {
		f.err = fmt.Errorf("compile core rule set: %w", err)
		engines.mu.Lock()
		delete(engines.m, key) // the next New tries again
		engines.mu.Unlock()
		return nil, f.err
	}
	e := &engine{key: key, waf: w}
	f.eng = weak.Make(e)
	runtime.AddCleanup(e, func(f *flight) {
		engines.mu.Lock()
		if engines.m[key] == f {
			delete(engines.m, key)
		}
		engines.mu.Unlock()
	}, f)
	return e, nil
}

// directives is the whole configuration of one engine. It follows
// coraza's recommended configuration where it concerns requests, and
// changes what an API gateway needs changed:
//
//   - the rule engine is always On; DETECT mode is the Firewall ignoring
//     the verdict, so both modes share one engine;
//   - request bodies are buffered in memory only, up to InspectBodyLimit,
//     and a longer body is inspected partially (ProcessPartial) instead
//     of refused; of a cut-off JSON document the values before the cut
//     are inspected (coraza parses it best effort);
//   - a body that does not parse (bad JSON, XML or multipart) is blocked
//     only when it was inspected whole, since a cut-off one never parses;
//   - responses are not inspected (SecResponseBodyAccess Off and no
//     RESPONSE-* rule files), because the gateway streams them;
//   - no audit log; matches are reported by the Firewall;
//   - PUT, PATCH and DELETE are allowed methods (CRS 911100 allows only
//     GET, HEAD, POST and OPTIONS by default); routing decides methods;
//   - early blocking is on, so a request whose headers already reach the
//     threshold is blocked before its body is read.
func directives(k engineKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit %[1]d
SecRequestBodyInMemoryLimit %[1]d
SecRequestBodyLimitAction ProcessPartial
SecRequestBodyJsonDepthLimit 1024
SecResponseBodyAccess Off
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" \
    "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" \
    "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" \
    "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" \
    "id:%[2]d,phase:2,t:none,log,deny,status:403,msg:'Failed to parse request body.',severity:2,chain"
    SecRule INBOUND_DATA_ERROR "@eq 0" "t:none"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \
    "id:%[3]d,phase:2,t:none,log,deny,status:403,msg:'Multipart request body failed strict validation.',severity:2,chain"
    SecRule INBOUND_DATA_ERROR "@eq 0" "t:none"
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%[4]d"
SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%[5]d,setvar:tx.outbound_anomaly_score_threshold=4"
SecAction "id:900120,phase:1,pass,t:none,nolog,setvar:tx.early_blocking=1"
SecAction "id:900200,phase:1,pass,t:none,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
Include @owasp_crs/REQUEST-*.conf
`, InspectBodyLimit, ruleBodyError, ruleMultipart, k.paranoia, k.threshold)
	if k.exclude != "" {
		fmt.Fprintf(&b, "SecRuleRemoveById %s\n", strings.ReplaceAll(k.exclude, ",", " "))
	}
	return b.String()
}
