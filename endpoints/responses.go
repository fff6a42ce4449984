package endpoints

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/configs"
)

// responses are a stage's customized gateway responses (API Gateway's
// gateway responses), compiled from its deployment.
type responses struct {
	byType map[configs.ResponseType]*gatewayResponse
}

type gatewayResponse struct {
	status  int // 0 keeps the error's
	headers map[string]string
	body    []templatePart // the body template, split once; nil keeps the JSON body
	hasCT   bool
}

// templatePart is a literal run of a body template followed by one of its
// variables (varNone after the last run).
type templatePart struct {
	lit string
	v   templateVar
}

type templateVar int

const (
	varNone templateVar = iota
	varMessageString
	varMessage
	varResponseType
	varRequestID
)

// templateVars are the variables a body template may use, longest first
// where one name starts another.
var templateVars = []struct {
	name string
	v    templateVar
}{
	{"$context.error.messageString", varMessageString},
	{"$context.error.message", varMessage},
	{"$context.error.responseType", varResponseType},
	{"$context.requestId", varRequestID},
}

// parseTemplate splits a body template into literal runs and variables,
// once per deployment rather than on every error response.
func parseTemplate(s string) []templatePart {
	var parts []templatePart
	lit := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "$context.")
		if j < 0 {
			break
		}
		i += j
		matched := false
		for _, tv := range templateVars {
			if strings.HasPrefix(s[i:], tv.name) {
				parts = append(parts, templatePart{lit: s[lit:i], v: tv.v})
				i += len(tv.name)
				lit, matched = i, true
				break
			}
		}
		if !matched {
			i++
		}
	}
	return append(parts, templatePart{lit: s[lit:]})
}

// defaultResponse customizes nothing: the error's status and the JSON
// errorBody. writeError uses it where a stage has no customization.
var defaultResponse = &gatewayResponse{}

// compileResponses returns nil when the API customizes nothing.
func compileResponses(m map[configs.ResponseType]configs.GatewayResponse) *responses {
	if len(m) == 0 {
		return nil
	}
	rs := &responses{byType: make(map[configs.ResponseType]*gatewayResponse, len(m))}
	for t, gr := range m {
		c := &gatewayResponse{status: gr.StatusCode, headers: gr.Headers}
		if gr.Body != "" {
			c.body = parseTemplate(gr.Body)
		}
		for k := range gr.Headers {
			if strings.EqualFold(k, "Content-Type") {
				c.hasCT = true
			}
		}
		rs.byType[t] = c
	}
	return rs
}

// find returns the customization for e: its own type's, else the
// DEFAULT_4XX or DEFAULT_5XX one of its status class.
func (rs *responses) find(e *gatewayError) *gatewayResponse {
	if gr := rs.byType[e.responseType()]; gr != nil {
		return gr
	}
	if e.status >= 500 {
		return rs.byType[configs.RespDefault5XX]
	}
	return rs.byType[configs.RespDefault4XX]
}

// write renders e through the customization; writeError calls it.
func (gr *gatewayResponse) write(w http.ResponseWriter, requestID string, e *gatewayError) {
	var body []byte
	if gr.body == nil {
		b, err := json.Marshal(errorBody{Message: e.message, RequestID: requestID})
		if err != nil {
			b = []byte(`{"message":"internal server error"}`)
		}
		body = append(b, '\n')
	} else {
		for _, p := range gr.body {
			body = append(body, p.lit...)
			switch p.v {
			case varMessageString:
				quoted, _ := json.Marshal(e.message) // a string always marshals
				body = append(body, quoted...)
			case varMessage:
				body = append(body, e.message...)
			case varResponseType:
				body = append(body, e.responseType()...)
			case varRequestID:
				body = append(body, requestID...)
			}
		}
	}
	h := w.Header()
	h.Del("Content-Encoding")
	if !gr.hasCT {
		h.Set("Content-Type", "application/json")
	}
	for k, v := range gr.headers {
		h.Set(k, v)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	status := e.status
	if gr.status != 0 {
		status = gr.status
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
