package endpoints

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
	"github.com/portico-gw/portico/endpoints/waf"
)

// Access is the access-control state every endpoint of a node shares:
// the authorizers (so a JWKS or an external authorizer's answers are
// cached once per node, across redeployments), the SigV4 verifier (so a
// signature replayed on another listener of the node is still a replay)
// and the limiter. Build one with NewAccess and hand it to every
// Gateway's Config; a Gateway without one makes its own.
type Access struct {
	// Limiter enforces throttles and quotas (cluster-wide on a node; see
	// endpoints/limit). Nil enforces none (endpoint tests).
	Limiter Limiter
	// DefaultThrottle is the node group's limit, applied to every stage;
	// default configs.DefaultRateLimit and DefaultBurstLimit. A zero
	// RateLimit turns the level off.
	DefaultThrottle configs.Throttle

	log    *slog.Logger
	client *http.Client

	mu    sync.Mutex
	jwts  map[string]*sharedAuthorizer[*auth.JWT]
	exts  map[string]*sharedAuthorizer[*auth.External]
	sigv4 map[string]*auth.SigV4 // by region
	wafs  map[string]*sharedAuthorizer[*waf.Firewall]

	creds atomic.Pointer[credentialTable]
}

// sharedAuthorizer is an authorizer (or firewall) and the endpoints
// that use it: an endpoint is added when it asks for it (so another
// endpoint's rebuild meanwhile cannot drop it) and removed when its next
// table does not use it; one no endpoint uses any more is dropped.
type sharedAuthorizer[T any] struct {
	v     T
	users map[*Gateway]bool
}

// useShared returns the entry k of m for g, made by build when there is
// none (an error of build is returned and nothing stored); k is added to
// uses. It takes a.mu.
func useShared[T any](a *Access, m map[string]*sharedAuthorizer[T], g *Gateway, k string, uses *[]string, build func() (T, error)) (T, error) {
	*uses = append(*uses, k)
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := m[k]; s != nil {
		s.users[g] = true
		return s.v, nil
	}
	v, err := build()
	if err != nil {
		var zero T
		return zero, err
	}
	m[k] = &sharedAuthorizer[T]{v: v, users: map[*Gateway]bool{g: true}}
	return v, nil
}

// NewAccess returns the shared state; log may be nil.
func NewAccess(log *slog.Logger) *Access {
	if log == nil {
		log = discardLogger
	}
	a := &Access{
		DefaultThrottle: configs.Throttle{RateLimit: configs.DefaultRateLimit, BurstLimit: configs.DefaultBurstLimit},
		log:             log,
		client:          &http.Client{Transport: newTransport()},
		jwts:            map[string]*sharedAuthorizer[*auth.JWT]{},
		exts:            map[string]*sharedAuthorizer[*auth.External]{},
		sigv4:           map[string]*auth.SigV4{},
		wafs:            map[string]*sharedAuthorizer[*waf.Firewall]{},
	}
	a.creds.Store(&credentialTable{})
	return a
}

// fingerprint names an authorizer's settings: the same settings share one
// verifier and its caches.
func fingerprint(apiID string, az *configs.Authorizer) string {
	b, _ := json.Marshal(az) // plain data always marshals
	sum := sha256.Sum256(append([]byte(apiID+"\x00"), b...))
	return hex.EncodeToString(sum[:16])
}

// jwt returns the node's verifier for a JWT authorizer; its name is
// added to uses.
func (a *Access) jwt(g *Gateway, apiID string, az *configs.Authorizer, uses *[]string) (*auth.JWT, error) {
	return useShared(a, a.jwts, g, "jwt:"+fingerprint(apiID, az), uses, func() (*auth.JWT, error) {
		return auth.NewJWT(auth.JWTConfig{
			Issuer: az.Issuer, Audiences: az.Audiences, JWKSURL: az.JWKSURI,
			Algorithms: az.Algorithms, ClaimsToHeaders: az.ClaimsToHeaders,
			Client: a.client, Logger: a.log,
		})
	})
}

// external returns the node's client for a TOKEN or REQUEST authorizer;
// its name is added to uses.
func (a *Access) external(g *Gateway, apiID string, az *configs.Authorizer, uses *[]string) (*auth.External, error) {
	return useShared(a, a.exts, g, "ext:"+fingerprint(apiID, az), uses, func() (*auth.External, error) {
		return auth.NewExternal(auth.ExternalConfig{
			URL: az.URI, Type: auth.ExternalType(az.Type), IdentitySources: az.IdentitySources,
			TTL: az.AuthorizerTTL(), Timeout: az.AuthorizerTimeout(), ContextToHeaders: az.ContextToHeaders,
			Client: a.client,
		})
	})
}

// signer returns the node's SigV4 verifier for a region.
func (a *Access) signer(region string) (*auth.SigV4, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v := a.sigv4[region]; v != nil {
		return v, nil
	}
	v, err := auth.NewSigV4(auth.SigV4Config{Region: region, Credentials: a})
	if err != nil {
		return nil, err
	}
	a.sigv4[region] = v
	return v, nil
}

// retain records which shared entries g's new table uses and drops
// (closing JWT verifiers) the ones no endpoint of the node uses any more.
func (a *Access) retain(g *Gateway, inUse map[string]bool) {
	a.mu.Lock()
	dropped := retainShared(a.jwts, g, inUse)
	retainShared(a.exts, g, inUse)
	retainShared(a.wafs, g, inUse)
	a.mu.Unlock()
	// Close waits for JWKS fetches in flight: not under the lock every
	// endpoint's build takes.
	for _, v := range dropped {
		_ = v.Close()
	}
}

// retainShared updates the users of m's entries for g's new table and
// returns the entries no endpoint uses any more, which it removes.
func retainShared[T any](m map[string]*sharedAuthorizer[T], g *Gateway, inUse map[string]bool) []T {
	var dropped []T
	for k, s := range m {
		if inUse[k] {
			s.users[g] = true
			continue
		}
		delete(s.users, g)
		if len(s.users) == 0 {
			dropped = append(dropped, s.v)
			delete(m, k)
		}
	}
	return dropped
}

// credentialTable is the SigV4 credentials of one state.
type credentialTable struct {
	src map[string]*configs.Credential
}

// setCredentials publishes the credentials of a new state.
func (a *Access) setCredentials(m map[string]*configs.Credential) {
	if cur := a.creds.Load(); maps.Equal(cur.src, m) {
		return
	}
	a.creds.Store(&credentialTable{src: m})
}

// LookupAccessKey implements auth.Credentials from the current state.
func (a *Access) LookupAccessKey(id string) (secret, principal string, ok bool) {
	c := a.creds.Load().src[id]
	if c == nil || !c.Enabled {
		return "", "", false
	}
	return c.Secret, c.ID, true
}

// authError turns an authorizer's error into the gateway's answer.
func authError(err error) *gatewayError {
	var ae *auth.Error
	k := auth.KindOf(err)
	msg := k.Message()
	if errors.As(err, &ae) {
		msg = ae.PublicMessage()
	}
	e := &gatewayError{status: k.Status(), message: msg, errType: k.ErrorType()}
	switch k {
	case auth.KindUnauthorized:
		e.typ = configs.RespUnauthorized
	case auth.KindMissingAuthenticationToken:
		e.typ = configs.RespMissingAuthToken
	case auth.KindAccessDenied:
		e.typ = configs.RespAccessDenied
	case auth.KindInvalidAPIKey:
		e.typ = configs.RespInvalidAPIKey
	case auth.KindInvalidSignature, auth.KindUnrecognizedClient:
		e.typ = configs.RespInvalidSignature
	case auth.KindAuthorizerFailure:
		e.typ = configs.RespAuthorizerConfigError
	default:
		e.typ = configs.RespAuthorizerFailure
	}
	return e
}

// firewall returns the node's compiled WAF for a stage's settings; the
// same settings keep the same firewall (and its rate counters) across
// rebuilds. The endpoint that asks first supplies the client address,
// path and blocking hooks; they are the same on every endpoint of a node.
// Rate rules match their path_prefix against the path within the API
// (after the stage, or a custom domain's base path), as routes are
// written.
func (a *Access) firewall(g *Gateway, apiID, stage string, cfg *configs.WAF, uses *[]string) (*waf.Firewall, error) {
	b, _ := json.Marshal(cfg) // plain data always marshals
	sum := sha256.Sum256(append([]byte(apiID+"\x00"+stage+"\x00"), b...))
	k := "waf:" + hex.EncodeToString(sum[:16])
	return useShared(a, a.wafs, g, k, uses, func() (*waf.Firewall, error) {
		return waf.New(*cfg, waf.Options{
			Logger:   a.log.With("api", apiID, "stage", stage),
			ClientIP: func(r *http.Request) netip.Addr { return g.originOf(r).addr },
			Path:     func(w http.ResponseWriter, _ *http.Request) string { return exchangeOf(w).apiPath },
			Block: func(w http.ResponseWriter, r *http.Request, why waf.Reason) {
				ex := exchangeOf(w)
				// IP list and rate blocks at debug, as waf logs their
				// matches, so a flood does not flood the log.
				level := slog.LevelInfo
				switch why.Kind {
				case waf.KindIPDeny, waf.KindIPAllow, waf.KindRate:
					level = slog.LevelDebug
				}
				if ctx := r.Context(); a.log.Enabled(ctx, level) {
					a.log.LogAttrs(ctx, level, "request blocked by waf", slog.String("request_id", ex.id),
						slog.String("api", apiID), slog.String("stage", stage), slog.String("rule", why.String()))
				}
				writeError(w, ex.id, errWAFFiltered)
			},
		})
	})
}
