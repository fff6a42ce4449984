package endpoints

import (
	"net/http"

	"github.com/portico-gw/portico/configs"
)

// gatewayError is an error the gateway itself answers with. It is rendered
// in exactly one place, writeError, as the client's JSON body.
type gatewayError struct {
	status  int
	message string
	// typ is the gateway response type an API can customize; empty
	// means DEFAULT_4XX or DEFAULT_5XX by status.
	typ configs.ResponseType
	// errType, when set, goes out as x-amzn-ErrorType, which AWS SDK
	// clients read to name the error.
	errType string
}

func (e *gatewayError) Error() string { return e.message }

func newError(status int, message string) *gatewayError {
	return &gatewayError{status: status, message: message}
}

func typedError(status int, typ configs.ResponseType, message string) *gatewayError {
	return &gatewayError{status: status, message: message, typ: typ}
}

// responseType is the gateway response that answers e.
func (e *gatewayError) responseType() configs.ResponseType {
	if e.typ != "" {
		return e.typ
	}
	if e.status >= 500 {
		return configs.RespDefault5XX
	}
	return configs.RespDefault4XX
}

// Errors answered on the request path. The messages follow Amazon API
// Gateway where it has one ("Endpoint request timed out"); the rest name
// the reason so an operator can tell the cases apart.
var (
	errUnknownHost         = newError(http.StatusNotFound, "no API is served at this host")
	errNotServedRegional   = newError(http.StatusNotFound, "the API is not published as a REGIONAL endpoint")
	errNotServedRegion     = newError(http.StatusNotFound, "the API is not served in this region")
	errNoStage             = newError(http.StatusNotFound, "stage not found")
	errNoRoute             = typedError(http.StatusNotFound, configs.RespResourceNotFound, "no route matches the request")
	errMethodNotAllowed    = newError(http.StatusMethodNotAllowed, "method not allowed on this resource")
	errBadPath             = newError(http.StatusBadRequest, "invalid request path")
	errBadBody             = newError(http.StatusBadRequest, "the request body could not be read")
	errBodyTooLarge        = typedError(http.StatusRequestEntityTooLarge, configs.RespRequestTooLarge, "request body is larger than 10485760 bytes")
	errHeadersTooLarge     = newError(http.StatusRequestHeaderFieldsTooLarge, "request line and headers are larger than 10240 bytes")
	errStageBroken         = newError(http.StatusInternalServerError, "stage configuration is invalid")
	errInternal            = newError(http.StatusInternalServerError, "internal server error")
	errIntegrationURI      = newError(http.StatusInternalServerError, "integration URI is invalid")
	errIntegrationFailed   = typedError(http.StatusBadGateway, configs.RespIntegrationFailure, "integration request failed")
	errIntegrationTimeout  = typedError(http.StatusGatewayTimeout, configs.RespIntegrationTimeout, "Endpoint request timed out")
	errNotServedEdge       = newError(http.StatusNotFound, "the API is not published as an EDGE endpoint")
	errUpstreamUnavailable = newError(http.StatusServiceUnavailable, "no regional node of the API's home region is available")
	errUpstreamFailed      = newError(http.StatusBadGateway, "the regional node did not answer")
	errCORSOrigin          = newError(http.StatusForbidden, "CORS preflight: origin is not allowed")
	errNoMapping           = newError(http.StatusNotFound, "no base path mapping of this domain matches the request path")
	errNotServedPrivate    = newError(http.StatusNotFound, "the API is not published as a PRIVATE endpoint")
	// errAccessDenied is API Gateway's ACCESS_DENIED answer to a request
	// a resource policy denies.
	errAccessDenied = typedError(http.StatusForbidden, configs.RespAccessDenied, "User: anonymous is not authorized to perform: execute-api:Invoke on this resource")
	// Throttles and quotas (API Gateway's THROTTLED and QUOTA_EXCEEDED).
	errThrottled     = typedError(http.StatusTooManyRequests, configs.RespThrottled, "Too Many Requests")
	errQuotaExceeded = typedError(http.StatusTooManyRequests, configs.RespQuotaExceeded, "Limit Exceeded")
	// errWAFFiltered answers a request the stage's WAF blocked.
	errWAFFiltered = typedError(http.StatusForbidden, configs.RespWAFFiltered, "Forbidden")
)

// notServedAs answers a request for an API not published as the
// endpoint's type.
var notServedAs = map[configs.EndpointType]*gatewayError{
	configs.EndpointRegional: errNotServedRegional,
	configs.EndpointEdge:     errNotServedEdge,
	configs.EndpointPrivate:  errNotServedPrivate,
}

// errorBody is the JSON shape of every gateway error.
type errorBody struct {
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// writeError renders e as the response. It is the only place that writes a
// gateway error body: through the stage's customization of e's gateway
// response, else as the JSON errorBody (defaultResponse). Headers a
// handler set for the success path are kept only when they describe the
// error (Allow on 405); the Content-* headers are replaced.
func writeError(w http.ResponseWriter, requestID string, e *gatewayError) {
	if e.errType != "" {
		w.Header().Set("X-Amzn-Errortype", e.errType)
	}
	gr := defaultResponse
	if ex := exchangeOf(w); ex.stage != nil && ex.stage.responses != nil {
		if c := ex.stage.responses.find(e); c != nil {
			gr = c
		}
	}
	gr.write(w, requestID, e)
}
