package endpoints

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
)

// accessRoute is the per-route front of the chain, in the documented
// order: authorizer (and API key) → throttle and quota → request
// validation; then next (cache, integration). It is compiled per route
// and holds only immutable settings and node-shared verifiers.
type accessRoute struct {
	g      *Gateway
	region string // the API's home region

	jwt      *auth.JWT
	external *auth.External
	sigv4    *auth.SigV4
	scopes   []string
	// hdrNames are the headers an authorizer sets for the backend; a
	// client's own values of them are always removed.
	hdrNames []string

	keyRequired bool
	apiID       string
	stage       string
	resource    string // the route's path template, for authorizer events

	limits *routeLimits // nil: no throttle applies (origin)
	check  *validation  // nil: nothing to validate

	next http.Handler
}

// compileAccess wraps next in the operation's access steps. On an edge,
// regional or private endpoint it always returns an accessRoute, even for
// an operation with nothing to check (the steps it does not need are
// skipped per request); on an origin it returns next itself: the edge
// that forwarded the request ran them.
func (g *Gateway) compileAccess(apiID string, api *configs.API, s *configs.Stage, op configs.Operation, next http.Handler, uses *[]string) (http.Handler, error) {
	if g.cfg.Kind == KindOrigin {
		return next, nil
	}
	ac := op.Access
	ar := &accessRoute{g: g, region: api.HomeRegion, keyRequired: ac.APIKeyRequired, apiID: apiID, stage: s.Name, resource: op.Path, scopes: ac.AuthorizationScopes, next: next}
	acc := g.access
	switch ac.Authorization {
	case configs.AuthJWT, configs.AuthCustom:
		az := api.FindAuthorizer(ac.Authorizer)
		if az == nil {
			return nil, fmt.Errorf("authorizer %q does not exist", ac.Authorizer)
		}
		var err error
		if ac.Authorization == configs.AuthJWT {
			if ar.jwt, err = acc.jwt(g, apiID, az, uses); err == nil {
				ar.hdrNames = ar.jwt.HeaderNames()
			}
		} else if ar.external, err = acc.external(g, apiID, az, uses); err == nil {
			ar.hdrNames = ar.external.HeaderNames()
		}
		if err != nil {
			return nil, fmt.Errorf("authorizer %q: %w", ac.Authorizer, err)
		}
	case configs.AuthIAM:
		// Signed for the API's home region, as AWS SDK clients sign
		// for the region of the endpoint they call; an edge anywhere
		// accepts the same signature.
		v, err := acc.signer(api.HomeRegion)
		if err != nil {
			return nil, err
		}
		ar.sigv4 = v
	}
	ar.limits = g.compileLimits(apiID, s, op)
	chk, err := compileValidation(api, op)
	if err != nil {
		return nil, err
	}
	ar.check = chk
	return ar, nil
}

func (ar *accessRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchangeOf(w)
	for _, n := range ar.hdrNames {
		r.Header.Del(n)
	}
	var id auth.Identity
	var err error
	switch {
	case ar.jwt != nil:
		if id, err = ar.jwt.VerifyRequest(r); err == nil {
			err = ar.jwt.CheckScopes(id, ar.scopes)
		}
	case ar.external != nil:
		id, err = ar.external.Authorize(r.Context(), r, auth.Target{
			MethodArn:      ar.methodArn(r, ex),
			Resource:       ar.resource,
			PathParameters: ex.pathParams(),
			APIID:          ar.apiID, Stage: ar.stage, RequestID: ex.id,
			SourceIP: ar.g.originOf(r).addr.String(),
		})
	case ar.sigv4 != nil:
		body, rerr := ex.readBody(r)
		if rerr != nil {
			writeError(w, ex.id, rerr)
			return
		}
		id, err = ar.sigv4.Verify(r, body)
	}
	if err != nil {
		ar.g.log.Debug("request not authorized", "request_id", ex.id, "api", ar.apiID, "err", err)
		writeError(w, ex.id, authError(err))
		return
	}
	var plan *configs.UsagePlan // the API key's, when the route requires one
	if ar.keyRequired {
		var key auth.Identity
		var gerr *gatewayError
		key, plan, gerr = ar.g.table.Load().apiKey(r, ar.apiID, ar.stage)
		if gerr != nil {
			writeError(w, ex.id, gerr)
			return
		}
		// The key identifies the caller for throttling and the cache
		// when no authorizer did.
		if id.Method == "" {
			id = key
		} else {
			id.KeyID, id.PlanID = key.KeyID, key.PlanID
		}
	}
	if id.Method != "" {
		id.SetHeaders(r.Header, nil)
		ex.identity = id.CacheKey
	}
	if ar.limits != nil {
		if gerr := ar.limits.allow(r.Context(), w, id, plan); gerr != nil {
			writeError(w, ex.id, gerr)
			return
		}
	}
	if ar.check != nil {
		if gerr := ar.check.run(r, ex); gerr != nil {
			writeError(w, ex.id, gerr)
			return
		}
	}
	ar.next.ServeHTTP(w, r)
}

// methodArn names the request like API Gateway's method ARN (with the
// account left empty), so an external authorizer's policy can be written
// against it and its answers are cached per resource.
func (ar *accessRoute) methodArn(r *http.Request, ex *exchange) string {
	return "arn:aws:execute-api:" + ar.region + "::" + ar.apiID + "/" + ar.stage + "/" + r.Method + ex.apiPath
}

// readBody reads the request body once (it is already capped by
// limitBody) and puts a reader over the bytes back, so later steps and
// the integration see it whole.
func (ex *exchange) readBody(r *http.Request) ([]byte, *gatewayError) {
	if ex.bodyRead {
		return ex.bodyBytes, nil
	}
	ex.bodyRead = true
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if err == errBodyTooLarge {
			return nil, errBodyTooLarge
		}
		return nil, errBadBody
	}
	ex.bodyBytes = b
	r.Body = io.NopCloser(bytes.NewReader(b))
	// The integration sends a known length: an HTTP/1.1 client's
	// "chunked" would otherwise still frame the copy the proxy sends.
	r.ContentLength, r.TransferEncoding = int64(len(b)), nil
	return b, nil
}

// bodyReader is readBody as the validator takes it: every step that needs
// the bytes shares one read.
func (ex *exchange) bodyReader(r *http.Request) ([]byte, error) {
	b, gerr := ex.readBody(r)
	if gerr != nil {
		return nil, gerr
	}
	return b, nil
}

// pathParams returns the matched path parameters by name.
func (ex *exchange) pathParams() map[string]string {
	if ex.route == nil || len(ex.route.params) == 0 {
		return nil
	}
	m := make(map[string]string, len(ex.route.params))
	for i, n := range ex.route.params {
		if i < len(ex.params) {
			m[n] = ex.params[i]
		}
	}
	return m
}
