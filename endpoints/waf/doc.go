// Package waf is a per-stage web application firewall: an http.Handler
// middleware that a gateway stage wraps around its routes, like an AWS
// WAF web ACL associated with an API Gateway stage.
//
// It exists so that the stage's request filtering (IP lists, per-client
// rate rules and the OWASP Core Rule Set) is compiled once per
// configuration, tested on its own and kept apart from routing: the
// configuration layer embeds Config, the pipeline calls New when it
// compiles a stage and puts Firewall.Wrap in front of the stage's
// handler. It depends on neither configs/ nor the cluster.
//
// # Checks
//
// Wrap runs the checks in this order; the first that blocks ends them:
//
//	ip_deny    the client address is in Config.IPDeny          block
//	ip_allow   IPAllow is set and the address is not in it      block
//	rate_rule  a RateRule's limit is exceeded                   BLOCK or COUNT
//	crs        the Core Rule Set's anomaly score is too high     BLOCK or DETECT
//
// A block calls Options.Block with a Reason naming the rule (the IPDeny or
// RateRules index, or the CRS rule ids); the default answers 403
// {"message":"Forbidden"}. Every match, blocked or only counted, goes to
// Options.OnMatch (for metrics) and to the log (CRS matches at info,
// engine failures at error, IP and rate matches at debug so that a flood
// does not flood the log).
//
// The client address comes from Options.ClientIP (default: RemoteAddr).
// IP lists take CIDRs or single addresses, IPv4 and IPv6; an IPv4-mapped
// IPv6 address is treated as the IPv4 address. A lookup is one map probe
// per distinct prefix length in the list (ipset.go), so 10,000 entries
// cost the same as ten.
//
// # Rate rules
//
// Rate rules are per node: each node counts the requests it sees, so a
// client spread over N nodes gets up to N times the limit. Cluster-wide
// throttling is a different feature. A rule counts per client address in
// a sliding window kept as ten slots (a request counts for between 9/10
// of the window and the whole window), counts blocked requests too (a
// client that keeps going over stays blocked), and tracks at most
// Options.MaxTrackedAddresses addresses (default 100,000, about 15 MB),
// forgetting the least recently seen. The clock is Options.Now. A rule
// with a PathPrefix counts only the requests whose path starts with it;
// the path comes from Options.Path (default: r.URL.Path), which a
// gateway sets to the path within the API, after the stage or base path
// (a prefix "/login" matches /prod/login).
//
// # Core Rule Set
//
// The Core Rule Set runs in github.com/corazawaf/coraza/v3 (v3.8.1) with
// the rules embedded by github.com/corazawaf/coraza-coreruleset/v4
// (CRS 4.25.0): no rule files on disk, no network. Only the request
// rules (REQUEST-*.conf) are loaded and response phases are off, because
// the gateway streams responses. The directives (crs.go) follow coraza's
// recommended configuration, except that PUT, PATCH and DELETE are
// allowed methods, early blocking is on, and a body that fails to parse
// is blocked only when it was inspected whole. Content types the CRS does
// not know (application/octet-stream, for one) score 920420 and are
// blocked at the default threshold; exclude 920420 for such APIs.
//
// The body: the first InspectBodyLimit (16 KiB) bytes are read and
// inspected; next then gets a body that replays them and reads the rest
// of the original, so the backend receives every byte unchanged and no
// more than 16 KiB is ever held for inspection. What lies past the limit
// is not inspected (AWS WAF's oversize handling CONTINUE); of a JSON
// document cut at the limit the values before the cut are. A body whose
// read fails is not inspected (the URL and headers still are) and next
// sees the same read error. Multipart file parts within the limit are
// spooled to os.TempDir by coraza and removed when the transaction
// closes; coraza also checks at compile time that os.TempDir is writable.
//
// Cost, measured on the 2-core CI machine (BenchmarkWrap and friends):
// without the CRS the firewall adds well under a microsecond (an IP list
// lookup is about 30 ns at 10,000 entries, a rate rule about 80 ns). With
// the CRS a benign GET takes about 0.7 ms, a small JSON POST about
// 1.5 ms, and each further JSON value about 0.25 ms more; long values
// cost about 7 µs per byte. coraza keeps up to 1,000 values per source
// (SecArgumentsLimit), so the worst request costs a few hundred
// milliseconds of CPU: the reason the body limit is 16 KiB and not more.
// Rate rules run before the CRS and bound what one client can spend.
//
// Compiling the rule set takes about 75 ms and keeps about 12 MB, so
// compiled engines are shared: a package-level cache keyed by paranoia
// level, threshold and the sorted exclusions hands every Firewall with
// the same settings the same engine. Mode is not part of the key: DETECT
// runs the same rules and only ignores the verdict. The cache holds
// engines weakly: an engine lives while some Firewall uses it and is then
// collected, so a gateway that builds its new stage table beside the old
// one reuses every unchanged engine and never accumulates dead ones.
// Concurrent News of one new setting compile it once.
//
// Each request gets one coraza transaction, which is logged
// (ProcessLogging) and closed on every path. Failures inside the engine
// (an error from coraza, or a panic, which is recovered) are reported as
// KindError: in BLOCK mode the request is blocked (fail closed, as a WAF
// that is meant to block should), in DETECT mode it is let through.
//
// # Concurrency
//
// A Firewall is immutable after New and safe for concurrent use; it
// starts no goroutines and needs no Close. New blocks while it compiles a
// rule set. Wrap's handler blocks only on reading the body prefix.
package waf
