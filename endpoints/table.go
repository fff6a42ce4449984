package endpoints

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/cache"
	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
)

// table is everything an endpoint serves at one committed State,
// compiled. It is immutable once published.
type table struct {
	index   uint64
	apis    map[string]*apiEntry       // by API id (lowercase)
	domains map[string]*configs.Domain // custom domains served here, by name
	// API keys (by hash) and usage plans (by id); keySrc is what keys
	// was built from, so an unchanged key set is not hashed again.
	keys   *auth.APIKeys
	keySrc map[string]*configs.APIKey
	plans  map[string]*configs.UsagePlan
}

// apiEntry is one API as seen from this endpoint. refuse is set when the
// API exists but is not served here (see refuses); such an entry has no
// stages.
type apiEntry struct {
	id, name string
	refuse   *gatewayError
	policy   *policy // the resource policy for this endpoint's type; nil admits all
	stages   map[string]*stage
}

// stage is one deployed stage compiled into a router. A stage whose first
// compile failed has a nil router and answers 500.
type stage struct {
	apiID, apiName, name string
	home                 string // the API's home region when compiled
	router               *router
	cors                 *corsPolicy // nil: the API has no CORS settings
	responses            *responses  // nil: the API customizes no gateway response
	// front is the stage's entry when something runs before routing
	// (the WAF); nil means the stage itself.
	front http.Handler
	// shared names the node-shared authorizers and firewall the stage
	// uses (see Access.retain).
	shared  []string
	metrics *stageMetrics

	// What the stage was compiled from; an unchanged stage is reused by
	// the next build instead of compiled again.
	src *configs.Stage
	dep *configs.Deployment
}

func emptyTable() *table {
	return &table{apis: map[string]*apiEntry{}, domains: map[string]*configs.Domain{}}
}

// domain returns the custom domain a Host names, or nil. The port is
// ignored, case does not matter, and a trailing dot is allowed.
func (t *table) domain(host string) *configs.Domain {
	if len(t.domains) == 0 {
		return nil
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return t.domains[configs.CanonicalDomainName(host)]
}

// servesDomain says whether this endpoint answers for d: regional
// endpoints REGIONAL domains of their region (or of every region that
// maps an API here, when the domain names none), edges EDGE domains. A
// private API is never mapped to a custom domain; an origin sees the
// API's own host, which the edge puts back.
func (g *Gateway) servesDomain(d *configs.Domain) bool {
	switch g.cfg.Kind {
	case KindRegional:
		return d.EndpointType == configs.EndpointRegional && (len(d.Regions) == 0 || slices.ContainsFunc(d.Regions, func(r string) bool { return strings.EqualFold(r, g.cfg.Region) }))
	case KindEdge:
		return d.EndpointType == configs.EndpointEdge
	}
	return false
}

// resolveHost maps an invoke host "{apiId}.{suffix}" (suffix is
// "{region}.{zone}", lowercase) to its API. The port is ignored, case
// does not matter, and a trailing dot is allowed.
func (t *table) resolveHost(host, suffix string) (*apiEntry, *gatewayError) {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	id, rest, ok := strings.Cut(host, ".")
	if !ok || id == "" || !strings.EqualFold(rest, suffix) {
		return nil, errUnknownHost
	}
	e := t.apis[id]
	if e == nil {
		e = t.apis[strings.ToLower(id)]
	}
	if e == nil {
		return nil, errUnknownHost
	}
	return e, nil
}

// keepCache says whether a stage's cached entries stay valid from prev to
// st: the stage still exists, caches, and serves the same deployment (a
// new deployment starts with an empty cache, so no answer of the old one
// outlives it).
func keepCache(st *configs.State, prev *table, api, name string) bool {
	if st == nil || prev == nil {
		return false
	}
	s := st.Stage(api, name)
	e := prev.apis[api]
	if s == nil || s.Cache == nil || e == nil {
		return false
	}
	old := e.stages[name]
	return old != nil && old.dep != nil && old.dep.ID == s.DeploymentID
}

// refuses says why this endpoint does not serve a, or nil when it does:
// a regional endpoint serves REGIONAL APIs of its region, a private one
// PRIVATE APIs of its region, an edge EDGE APIs of every region, an
// origin EDGE APIs of its region. A PRIVATE API is not revealed anywhere
// it is not served: it gets the answer of a host without an API.
func (g *Gateway) refuses(a *configs.API) *gatewayError {
	t := g.endpointType()
	switch {
	case !a.HasEndpointType(t) && a.HasEndpointType(configs.EndpointPrivate) && g.cfg.Kind != KindPrivate:
		return errUnknownHost
	case !a.HasEndpointType(t):
		return notServedAs[t]
	case g.cfg.Kind != KindEdge && !strings.EqualFold(a.HomeRegion, g.cfg.Region):
		if t == configs.EndpointPrivate {
			return errUnknownHost
		}
		return errNotServedRegion
	}
	return nil
}

// stageKey names a stage across builds.
type stageKey struct{ api, stage string }

// failure remembers which inputs last failed to compile, so an unchanged
// bad stage is logged once, not at every build.
type failure struct {
	src *configs.Stage
	dep *configs.Deployment
}

// build compiles st into a new table, reusing unchanged stages of prev.
// Only the goroutine that owns the table (New, then the watch loop)
// calls it.
func (g *Gateway) build(st *configs.State, prev *table) *table {
	t := emptyTable()
	failing := map[stageKey]bool{}
	g.cache.Retain(func(api, name string) bool { return keepCache(st, prev, api, name) })
	if st != nil {
		t.index = st.Index
		for id, a := range st.APIs {
			if a != nil {
				e := g.buildAPI(st, id, a, prev, failing)
				t.apis[e.id] = e
			}
		}
	}
	if st != nil {
		t.plans = st.Plans
		t.keys, t.keySrc = g.buildKeys(st.Keys, prev)
		g.access.setCredentials(st.Credentials)
		for name, d := range st.Domains {
			if d != nil && g.servesDomain(d) {
				t.domains[name] = d
			}
		}
	}
	for k := range g.failed {
		if !failing[k] {
			delete(g.failed, k)
		}
	}
	keep := map[[3]string]bool{}
	for _, e := range t.apis {
		for _, s := range e.stages {
			keep[s.metrics.labelSet()] = true
		}
	}
	g.metrics.retain(keep)
	inUse := map[string]bool{}
	for _, e := range t.apis {
		for _, s := range e.stages {
			for _, k := range s.shared {
				inUse[k] = true
			}
		}
	}
	g.access.retain(g, inUse)
	return t
}

// buildKeys returns the API key table of a state, reusing prev's when the
// keys did not change.
func (g *Gateway) buildKeys(keys map[string]*configs.APIKey, prev *table) (*auth.APIKeys, map[string]*configs.APIKey) {
	if prev != nil && prev.keys != nil && maps.Equal(prev.keySrc, keys) {
		return prev.keys, keys
	}
	list := make([]auth.APIKey, 0, len(keys))
	for _, k := range keys {
		list = append(list, auth.APIKey{ID: k.ID, Hash: k.Hash, PlanID: k.PlanID, Enabled: k.Enabled})
	}
	t, err := auth.NewAPIKeys(list)
	if err != nil { // the admin API refuses duplicate values; never expected
		g.log.Error("api keys do not load", "err", err)
		t, _ = auth.NewAPIKeys(nil)
	}
	return t, keys
}

// apiKey checks the request's x-api-key for a stage: a known, enabled key
// whose usage plan covers the stage; it returns the caller and the plan.
// Any failure is API Gateway's
// INVALID_API_KEY answer, 403 Forbidden.
func (t *table) apiKey(r *http.Request, apiID, stage string) (auth.Identity, *configs.UsagePlan, *gatewayError) {
	if t.keys == nil {
		return auth.Identity{}, nil, authError(&auth.Error{Kind: auth.KindInvalidAPIKey})
	}
	id, err := t.keys.Verify(r)
	if err != nil {
		return auth.Identity{}, nil, authError(err)
	}
	p := t.plans[id.PlanID]
	if p == nil || !p.Covers(apiID, stage) {
		return auth.Identity{}, nil, authError(&auth.Error{Kind: auth.KindInvalidAPIKey, Reason: "the key's usage plan does not cover the stage"})
	}
	return id, p, nil
}

// buildAPI builds one API's entry: refused, or with its stages.
func (g *Gateway) buildAPI(st *configs.State, id string, a *configs.API, prev *table, failing map[stageKey]bool) *apiEntry {
	e := &apiEntry{id: strings.ToLower(id), name: a.Name, stages: map[string]*stage{}}
	if e.refuse = g.refuses(a); e.refuse != nil {
		return e
	}
	e.policy = compilePolicy(a.ResourcePolicy, g.endpointType())
	var prevAPI *apiEntry
	if prev != nil {
		prevAPI = prev.apis[e.id]
	}
	for name, s := range st.Stages[id] {
		if s == nil {
			continue
		}
		var old *stage
		if prevAPI != nil {
			old = prevAPI.stages[name]
		}
		e.stages[name] = g.buildStage(e.id, a, s, st.Deployments[id][s.DeploymentID], old, failing)
	}
	return e
}

// buildStage returns what a stage serves: the previous compile when
// nothing changed, else a fresh compile; when that fails, the previous
// working table, or failing that a stage that answers 500.
func (g *Gateway) buildStage(apiID string, a *configs.API, s *configs.Stage, dep *configs.Deployment, old *stage, failing map[stageKey]bool) *stage {
	if old != nil && old.src == s && old.dep == dep && old.apiName == a.Name && old.home == a.HomeRegion {
		return old
	}
	c, err := g.compileStage(apiID, a, s, dep)
	if err == nil {
		return c
	}
	k := stageKey{apiID, s.Name}
	failing[k] = true
	keepOld := old != nil && old.router != nil
	if g.failed[k] != (failure{s, dep}) { // log each bad input once
		g.failed[k] = failure{s, dep}
		g.log.Error("stage does not compile", "api", apiID, "stage", s.Name, "deployment", s.DeploymentID, "serving_previous", keepOld, "err", err)
	}
	if keepOld {
		return old
	}
	return &stage{apiID: apiID, apiName: a.Name, name: s.Name, home: a.HomeRegion, src: s, dep: dep, metrics: g.metrics.stage(apiID, a.Name, s.Name)}
}

func (s *stageMetrics) labelSet() [3]string {
	if s == nil {
		return [3]string{}
	}
	return s.labels
}

// compileStage compiles one stage's deployment into a router whose routes
// are ready-made handler chains.
func (g *Gateway) compileStage(apiID string, a *configs.API, s *configs.Stage, dep *configs.Deployment) (*stage, error) {
	if dep == nil {
		return nil, fmt.Errorf("deployment %q does not exist", s.DeploymentID)
	}
	rt := &router{}
	var uses []string // node-shared verifiers and firewalls the stage holds
	var store *cache.Stage
	compressMin := dep.API.CompressionSize()
	for _, op := range dep.API.Operations() {
		h, err := g.compileIntegration(op, s.Variables, a.HomeRegion)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Field, err)
		}
		if rc := s.Cache.ForRoute(op.Key()); rc.Enabled {
			if store == nil {
				store = g.cache.Stage(apiID, s.Name, s.Cache.CapacityBytes())
				store.SetFlushes(s.CacheFlushFloor, toFlushes(s.CacheFlushes))
			}
			caller := callerKeyOf(&dep.API, op)
			h = &cacheRoute{store: store, policy: cachePolicy(rc, compressMin, caller), signed: caller.signed, next: h}
		}
		if g.cfg.Kind != KindOrigin && compressMin < configs.MaxCompressionSize {
			h = cache.Compressor(compressMin, h)
		}
		h, err = g.compileAccess(apiID, &dep.API, s, op, h, &uses)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Field, err)
		}
		if err := rt.add(op, limitBody(h)); err != nil {
			return nil, err
		}
	}
	c := &stage{
		apiID: apiID, apiName: a.Name, name: s.Name, home: a.HomeRegion,
		router:    rt,
		cors:      compileCORS(dep.API.CORS),
		responses: compileResponses(dep.API.GatewayResponses),
		metrics:   g.metrics.stage(apiID, a.Name, s.Name),
		src:       s, dep: dep,
		shared: uses,
	}
	if s.WAF != nil && g.cfg.Kind != KindOrigin {
		fw, err := g.access.firewall(g, apiID, s.Name, s.WAF, &c.shared)
		if err != nil {
			return nil, fmt.Errorf("waf: %w", err)
		}
		c.front = fw.Wrap(c)
	}
	return c, nil
}

// edgeTimeoutMargin is added to an integration's timeout at the edge, so
// that the regional node's own 504 reaches the client rather than the
// edge's.
const edgeTimeoutMargin = time.Second

// compileIntegration builds the handler that answers one operation. On an
// edge, an HTTP proxy integration forwards to the home region; a mock
// answers at the edge itself.
func (g *Gateway) compileIntegration(op configs.Operation, vars map[string]string, home string) (http.Handler, error) {
	in := op.Integration
	switch in.Type {
	case configs.IntegrationMock:
		return newMock(in), nil
	case configs.IntegrationHTTPProxy:
		timeout := in.Timeout.D()
		if timeout <= 0 {
			timeout = configs.DefaultIntegrationTimeout
		}
		if g.cfg.Kind == KindEdge {
			return &forwardRoute{f: g.forward, region: home, timeout: timeout + edgeTimeoutMargin}, nil
		}
		var params []string
		var greedy string
		if !op.Default {
			tmpl, err := configs.ParseTemplate(op.Path)
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", op.Path, err)
			}
			params, greedy = tmpl.Params(), tmpl.Greedy()
		}
		target, err := compileURI(in.URI, vars, params, greedy)
		if err != nil {
			return nil, err
		}
		if !target.dynamic && target.static == nil {
			// Served as 500 per request, like a URI that only turns
			// invalid after substitution; logged here once.
			g.log.Warn("integration URI is invalid", "route", op.Key(), "uri", in.URI)
		}
		return &proxyRoute{target: target, method: in.Method, timeout: timeout, rp: g.proxy, log: g.log}, nil
	default:
		return nil, fmt.Errorf("integration type %q is not supported", in.Type)
	}
}
