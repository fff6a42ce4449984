package endpoints

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-gw/portico/configs"
	"github.com/portico-gw/portico/endpoints/auth"
	"github.com/portico-gw/portico/endpoints/validate"
)

// Limiter enforces throttles and quotas. The node's limiter holds them
// for the whole cluster (endpoints/limit), from budget leased ahead of
// time: Throttle never blocks.
type Limiter interface {
	// Throttle takes one request from the token bucket named key, with
	// the given rate and burst. When it is empty, retry is how long until
	// a token is likely.
	Throttle(key string, t configs.Throttle) (ok bool, retry time.Duration)
	// Quota counts one request against the quota named key. When it is
	// refused, exhausted says the period's quota is used up (retry is
	// then the time until the period ends); otherwise the limiter could
	// not count it yet and the request is throttled. It may wait briefly
	// for budget on its way (bounded, and ended by ctx).
	Quota(ctx context.Context, key string, q configs.Quota) (ok, exhausted bool, retry time.Duration)
}

// Throttle levels, checked in this order; the first one that is empty
// answers 429 THROTTLED. A request refused at a later level has already
// taken its token from the earlier ones (the coarse levels bound the
// total, so this errs on the safe side). The quota is counted last, only
// for a request every throttle admitted, and answers 429 QUOTA_EXCEEDED.
//
//  1. the node group's default (configs.DefaultRateLimit, per cluster)
//  2. the stage's throttle
//  3. the route's throttle (stage route_throttles)
//  4. the API key's usage plan throttle, per key
//  5. the usage plan's quota, per key
type routeLimits struct {
	lim    Limiter
	levels []limitLevel // 1-3, fixed at compile
}

type limitLevel struct {
	key string
	t   configs.Throttle
}

// compileLimits returns the route's throttle levels.
func (g *Gateway) compileLimits(apiID string, s *configs.Stage, op configs.Operation) *routeLimits {
	lim := g.access.Limiter
	if lim == nil {
		return nil
	}
	rl := &routeLimits{lim: lim}
	if d := g.access.DefaultThrottle; d.RateLimit > 0 {
		rl.levels = append(rl.levels, limitLevel{"default", d})
	}
	stageKey := "stage:" + apiID + "/" + s.Name
	if s.Throttle != nil {
		rl.levels = append(rl.levels, limitLevel{stageKey, *s.Throttle})
	}
	if t, ok := s.RouteThrottles[op.Key()]; ok {
		rl.levels = append(rl.levels, limitLevel{stageKey + "/" + op.Key(), t})
	}
	return rl
}

// allow runs the levels for a caller; plan is the usage plan of the API
// key the request was checked with, nil when the route takes none.
func (rl *routeLimits) allow(ctx context.Context, w http.ResponseWriter, id auth.Identity, plan *configs.UsagePlan) *gatewayError {
	for _, l := range rl.levels {
		if ok, retry := rl.lim.Throttle(l.key, l.t); !ok {
			return throttled(w, retry)
		}
	}
	if plan == nil {
		return nil
	}
	pk := plan.ID + "/" + id.KeyID
	if plan.Throttle != nil {
		if ok, retry := rl.lim.Throttle("key:"+pk, *plan.Throttle); !ok {
			return throttled(w, retry)
		}
	}
	if plan.Quota != nil {
		if ok, exhausted, retry := rl.lim.Quota(ctx, pk, *plan.Quota); !ok {
			if !exhausted {
				return throttled(w, retry)
			}
			w.Header().Set("Retry-After", retryAfter(retry))
			return errQuotaExceeded
		}
	}
	return nil
}

func throttled(w http.ResponseWriter, retry time.Duration) *gatewayError {
	w.Header().Set("Retry-After", retryAfter(retry))
	return errThrottled
}

// retryAfter renders a wait as whole seconds, at least 1 (RFC 9110 §10.2.3).
func retryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	// A bucket that never refills (rate 0) has no retry time: cap the
	// hint at 31 days, the longest a quota period lasts.
	s = min(max(s, 1), 31*86400)
	return strconv.FormatInt(s, 10)
}

// validation is a route's request validator.
type validation struct {
	v *validate.Validator
}

// compileValidation compiles the operation's validator from the API's
// models; nil when the operation validates nothing.
func compileValidation(api *configs.API, op configs.Operation) (*validation, error) {
	vc := op.Access.Validation
	if vc == nil || (!vc.Parameters && !vc.Body) {
		return nil, nil
	}
	v, err := validate.Compile(api.ValidationSpec(vc))
	if err != nil {
		return nil, err
	}
	return &validation{v: v}, nil
}

func (c *validation) run(r *http.Request, ex *exchange) *gatewayError {
	_, f := c.v.CheckWith(r, ex.pathParam, ex.bodyReader)
	if f == nil {
		return nil
	}
	if f.Rule == "body:read" {
		var gerr *gatewayError
		if errors.As(f.Err, &gerr) {
			return gerr // 413, or the body could not be read
		}
		return errBadBody
	}
	typ := configs.RespBadRequestBody
	if f.Kind == validate.KindBadRequestParameters {
		typ = configs.RespBadRequestParameters
	}
	return typedError(http.StatusBadRequest, typ, f.Message)
}

// pathParam returns one matched path parameter by name, or "".
func (ex *exchange) pathParam(name string) string {
	if ex.route == nil {
		return ""
	}
	for i, n := range ex.route.params {
		if n == name && i < len(ex.params) {
			return ex.params[i]
		}
	}
	return ""
}
