package node

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/configs"
)

// DemoAPIName is the name of the API `portico dev` creates.
const DemoAPIName = "demo"

// demoBackend is the small HTTP service behind the demo API.
func demoBackend() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"message": "hello from the demo backend"})
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"id": r.PathValue("id"), "name": "item " + r.PathValue("id")})
	})
	mux.HandleFunc("/echo/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		headers := map[string]string{}
		for k, v := range r.Header {
			headers[k] = strings.Join(v, ", ")
		}
		reply(w, map[string]any{
			"method": r.Method, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
			"headers": headers, "body": string(body), "remote_addr": r.RemoteAddr,
		})
	})
	return mux
}

// demoAPI is the definition `portico dev` applies: proxied routes that use
// a stage variable for the backend address, a path parameter, a greedy
// path, and a mock.
func demoAPI() *configs.API {
	proxy := func(uri string) configs.Method {
		return configs.Method{Integration: configs.Integration{Type: configs.IntegrationHTTPProxy, URI: uri}}
	}
	return &configs.API{
		Name:          DemoAPIName,
		Description:   "The demo API of portico dev",
		EndpointTypes: []configs.EndpointType{configs.EndpointRegional, configs.EndpointEdge},
		Resources: []configs.Resource{
			{Path: "/hello", Methods: map[string]configs.Method{"GET": proxy("http://${stageVariables.backend}/hello")}},
			{Path: "/items/{id}", Methods: map[string]configs.Method{"GET": proxy("http://${stageVariables.backend}/items/{id}")}},
			{Path: "/echo/{proxy+}", Methods: map[string]configs.Method{"ANY": proxy("http://${stageVariables.backend}/echo/{proxy}")}},
			{Path: "/mock", Methods: map[string]configs.Method{"GET": {Integration: configs.Integration{
				Type: configs.IntegrationMock, StatusCode: 200,
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    `{"message":"mocked by portico"}`,
			}}}},
		},
	}
}
