package configs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// OpenAPI import and export follow the shape of Amazon API Gateway's own
// OpenAPI 3.0 exports, so a document exported from API Gateway imports
// here and a document exported here reads like one from API Gateway:
//
//   - each operation carries x-amazon-apigateway-integration (type
//     http_proxy or mock, uri, httpMethod, timeoutInMillis, responses);
//   - the ANY method is the path-level x-amazon-apigateway-any-method;
//   - an HTTP API's $default route is the path "/$default";
//   - CORS is x-amazon-apigateway-cors, as in HTTP API exports.
//
// What API Gateway has no field for travels in x-portico-* extensions:
// the kind, endpoint types, home region, a mock's headers and body, and
// the order of an HTTP API's routes when paths alone cannot keep it.

// Extension names.
const (
	extIntegration   = "x-amazon-apigateway-integration"
	extAnyMethod     = "x-amazon-apigateway-any-method"
	extEndpointConf  = "x-amazon-apigateway-endpoint-configuration"
	extCORS          = "x-amazon-apigateway-cors"
	extImportExport  = "x-amazon-apigateway-importexport-version" // only API Gateway HTTP API exports carry it
	extKind          = "x-portico-kind"
	extEndpointTypes = "x-portico-endpoint-types"
	extHomeRegion    = "x-portico-home-region"
	extMock          = "x-portico-mock"
	extRouteOrder    = "x-portico-route-order"
)

// defaultRoutePath is how API Gateway exports an HTTP API's $default route.
const defaultRoutePath = "/" + DefaultRouteKey

// openAPIMethods pairs path item keys with methods, in the order the keys
// appear in an exported document (encoding/json sorts map keys).
var openAPIMethods = []struct{ key, method string }{
	{"delete", "DELETE"},
	{"get", "GET"},
	{"head", "HEAD"},
	{"options", "OPTIONS"},
	{"patch", "PATCH"},
	{"post", "POST"},
	{"put", "PUT"},
	{extAnyMethod, "ANY"},
}

func openAPIKey(method string) (string, bool) {
	for _, m := range openAPIMethods {
		if m.method == method {
			return m.key, true
		}
	}
	return "", false
}

// awsIntegration is the part of x-amazon-apigateway-integration that
// Portico reads. Other fields API Gateway writes (requestParameters,
// connectionType, payloadFormatVersion, ...) are ignored.
type awsIntegration struct {
	Type             string                            `json:"type"`
	URI              string                            `json:"uri,omitempty"`
	HTTPMethod       string                            `json:"httpMethod,omitempty"`
	TimeoutInMillis  json.Number                       `json:"timeoutInMillis,omitempty"`
	PassThrough      string                            `json:"passthroughBehavior,omitempty"`
	PayloadFormat    string                            `json:"payloadFormatVersion,omitempty"`
	RequestTemplates map[string]string                 `json:"requestTemplates,omitempty"`
	Responses        map[string]awsIntegrationResponse `json:"responses,omitempty"`
	PorticoMock      json.RawMessage                   `json:"x-portico-mock,omitempty"`
}

// awsIntegrationResponse is one entry of an integration's responses, keyed
// by a status pattern; "default" is the one a mock answers with.
type awsIntegrationResponse struct {
	StatusCode         statusText        `json:"statusCode,omitempty"`
	ResponseTemplates  map[string]string `json:"responseTemplates,omitempty"`
	ResponseParameters map[string]string `json:"responseParameters,omitempty"`
}

// statusText is a status code, which API Gateway writes as a string such
// as "200"; a number is read too.
type statusText string

func (s *statusText) UnmarshalJSON(b []byte) error {
	var n json.Number // accepts 200 and "200", rejects "abc"
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("must be a status code such as \"200\"")
	}
	*s = statusText(n)
	return nil
}

// porticoMock is x-portico-mock: a MOCK integration's whole response.
type porticoMock struct {
	StatusCode int               `json:"status_code,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body,omitempty"`
}

// awsCORS is x-amazon-apigateway-cors as API Gateway HTTP APIs write it;
// maxAge is in seconds.
type awsCORS struct {
	AllowOrigins     []string    `json:"allowOrigins,omitempty"`
	AllowMethods     []string    `json:"allowMethods,omitempty"`
	AllowHeaders     []string    `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string    `json:"exposeHeaders,omitempty"`
	MaxAge           json.Number `json:"maxAge,omitempty"`
	AllowCredentials bool        `json:"allowCredentials,omitempty"`
}

// durationNumber writes d as a number of units ("5000" for 5s in
// milliseconds); a fraction is kept so that no duration is rounded away.
func durationNumber(d Duration, unit time.Duration) json.Number {
	if int64(d)%int64(unit) == 0 {
		return json.Number(strconv.FormatInt(int64(d)/int64(unit), 10))
	}
	return json.Number(strconv.FormatFloat(float64(d)/float64(unit), 'f', -1, 64))
}

// numberDuration reads a number of units written by durationNumber or by
// API Gateway.
func numberDuration(n json.Number, unit time.Duration) (Duration, error) {
	f, err := n.Float64()
	if err != nil {
		return 0, fmt.Errorf("must be a number, not %q", n.String())
	}
	ns := math.Round(f * float64(unit))
	if ns < 0 || ns > math.MaxInt64/2 {
		return 0, errors.New("is out of range")
	}
	return Duration(ns), nil
}

// jsonProblem reports a decoding error at field, extended by the path
// encoding/json knows for type errors.
func jsonProblem(p *problems, field string, err error) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field != "" {
			field += "." + typeErr.Field
		}
		p.add(field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), strings.TrimPrefix(typeErr.Value, "number "))
		return
	}
	p.add(field, "%s", strings.TrimPrefix(err.Error(), "json: "))
}
