package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// ExportOpenAPI writes the API snapshot of a deployment as an OpenAPI 3.0.1
// document (indented JSON) in API Gateway's shape. info.version is the
// deployment id; with a stage, the server URL ends in {basePath}, whose
// default is the stage name, as API Gateway writes it. stage may be nil.
//
// Paths keep the order of the API's resources or routes, so ImportOpenAPI
// of the result gives back the same API apart from its id. Authorizers,
// API key requirements, request validators and models are written as API
// Gateway exports them (see openapi_security.go).
func ExportOpenAPI(d *Deployment, stage *Stage, serverURL string) ([]byte, error) {
	if d == nil {
		return nil, errors.New("export openapi: no deployment")
	}
	a := &d.API
	doc := &openapi3.T{
		OpenAPI:    "3.0.1",
		Info:       &openapi3.Info{Title: a.Name, Description: a.Description, Version: d.ID},
		Paths:      openapi3.NewPaths(),
		Extensions: map[string]any{},
	}
	server := &openapi3.Server{URL: strings.TrimSuffix(serverURL, "/")}
	if stage != nil {
		server.URL += "/{basePath}"
		server.Variables = map[string]*openapi3.ServerVariable{"basePath": {Default: stage.Name}}
	}
	doc.Servers = openapi3.Servers{server}

	if a.Kind != "" {
		doc.Extensions[extKind] = a.Kind
	}
	if len(a.EndpointTypes) > 0 {
		doc.Extensions[extEndpointTypes] = a.EndpointTypes
	}
	if a.HomeRegion != "" {
		doc.Extensions[extHomeRegion] = a.HomeRegion
	}
	if c := a.CORS; c != nil {
		x := awsCORS{
			AllowOrigins: c.AllowOrigins, AllowMethods: c.AllowMethods,
			AllowHeaders: c.AllowHeaders, ExposeHeaders: c.ExposeHeaders,
			AllowCredentials: c.AllowCredentials,
		}
		if c.MaxAge != 0 {
			x.MaxAge = durationNumber(c.MaxAge, time.Second)
		}
		doc.Extensions[extCORS] = x
	}

	access := newAccessExport(a)
	paths, items, err := exportPaths(a, access)
	if err != nil {
		return nil, fmt.Errorf("export openapi: %w", err)
	}
	if order := routeOrder(a, paths); order != nil {
		doc.Extensions[extRouteOrder] = order
	}
	components, err := access.finish(a, doc.Extensions)
	if err != nil {
		return nil, fmt.Errorf("export openapi: %w", err)
	}
	out, err := marshalOrdered(doc, paths, items, components)
	if err != nil {
		return nil, fmt.Errorf("export openapi: %w", err)
	}
	return out, nil
}

// exportPaths builds one path item per path, in the order paths first
// appear among the API's operations; access collects what the operations'
// access settings need in the rest of the document.
func exportPaths(a *API, access *accessExport) ([]string, map[string]*openapi3.PathItem, error) {
	var paths []string
	items := map[string]*openapi3.PathItem{}
	for _, op := range a.Operations() {
		path, method := op.Path, op.Method
		var params []string
		if op.Default {
			path, method = defaultRoutePath, "ANY"
		} else {
			t, err := ParseTemplate(path)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: path %q: %w", op.Field, path, err)
			}
			params = t.Params()
		}
		key, ok := openAPIKey(method)
		if !ok {
			return nil, nil, fmt.Errorf("%s: unsupported method %q", op.Field, method)
		}
		item := items[path]
		if item == nil {
			item = &openapi3.PathItem{Extensions: map[string]any{}}
			items[path] = item
			paths = append(paths, path)
		}
		o, err := exportOperation(a.Kind, params, op.Integration)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op.Field, err)
		}
		access.operation(o, op.Access)
		if key == extAnyMethod {
			if item.Extensions[key] != nil {
				return nil, nil, fmt.Errorf("%s: %s %s is defined twice", op.Field, method, path)
			}
			item.Extensions[key] = o
			continue
		}
		if item.GetOperation(method) != nil {
			return nil, nil, fmt.Errorf("%s: %s %s is defined twice", op.Field, method, path)
		}
		item.SetOperation(method, o)
	}
	return paths, items, nil
}

// exportOperation builds one operation: its path parameters, a minimal
// response and the integration extension.
func exportOperation(kind Kind, params []string, in Integration) (*openapi3.Operation, error) {
	o := openapi3.NewOperation()
	for _, name := range params {
		p := openapi3.NewPathParameter(name).WithSchema(openapi3.NewStringSchema())
		o.AddParameter(p)
	}
	o.Responses = openapi3.NewResponses(openapi3.WithStatus(200,
		&openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("OK")}))

	x := awsIntegration{PassThrough: "when_no_match"}
	switch in.Type {
	case IntegrationHTTPProxy:
		x.Type, x.URI, x.HTTPMethod = "http_proxy", in.URI, in.Method
		if x.HTTPMethod == "" {
			x.HTTPMethod = "ANY"
		}
		if in.Timeout != 0 {
			x.TimeoutInMillis = durationNumber(in.Timeout, time.Millisecond)
		}
		if kind == KindHTTP {
			x.PayloadFormat = "1.0" // API Gateway HTTP APIs require it on http_proxy
		}
	case IntegrationMock:
		status := in.StatusCode
		if status == 0 {
			status = 200
		}
		code := strconv.Itoa(status)
		x.Type = "mock"
		// API Gateway picks a mock's response from the request template.
		x.RequestTemplates = map[string]string{"application/json": `{"statusCode": ` + code + `}`}
		r := awsIntegrationResponse{StatusCode: statusText(code)}
		if in.Body != "" {
			r.ResponseTemplates = map[string]string{"application/json": in.Body}
		}
		x.Responses = map[string]awsIntegrationResponse{"default": r}
		if len(in.Headers) > 0 || in.Body != "" {
			m, err := json.Marshal(porticoMock{StatusCode: status, Headers: in.Headers, Body: in.Body})
			if err != nil {
				return nil, err
			}
			x.PorticoMock = m
		}
	default:
		return nil, fmt.Errorf("unsupported integration type %q", in.Type)
	}
	o.Extensions = map[string]any{extIntegration: x}
	return o, nil
}

// routeOrder returns the HTTP API's route keys when importing the exported
// paths would not give them back in the same order (routes of one path
// that are not next to each other, or not in the order of the path item's
// keys), and nil otherwise.
func routeOrder(a *API, paths []string) []string {
	if len(a.Routes) < 2 {
		return nil
	}
	keys := make([]string, len(a.Routes))
	for i, r := range a.Routes {
		keys[i] = r.Key
	}
	var predicted []string
	for _, path := range paths {
		for _, m := range openAPIMethods {
			for _, k := range keys {
				if routeKeyFor(m.method, path) == k {
					predicted = append(predicted, k)
				}
			}
		}
	}
	if slices.Equal(predicted, keys) {
		return nil
	}
	return keys
}

func routeKeyFor(method, path string) string {
	if path == defaultRoutePath && method == "ANY" {
		return DefaultRouteKey
	}
	return method + " " + path
}

// marshalOrdered writes the document with its top-level keys in the
// customary order (openapi, info, servers, paths, then components and
// extensions) and the paths in the given order; encoding/json alone would
// sort both. components, when not nil, is written as it is.
func marshalOrdered(doc *openapi3.T, paths []string, items map[string]*openapi3.PathItem, components json.RawMessage) ([]byte, error) {
	head, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(head, &top); err != nil {
		return nil, err
	}
	var pathsJSON objectWriter
	for _, path := range paths {
		item, err := json.Marshal(items[path])
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", path, err)
		}
		pathsJSON.add(path, item)
	}
	top["paths"] = pathsJSON.bytes()
	if components != nil {
		top["components"] = components
	}

	var w objectWriter
	for _, k := range []string{"openapi", "info", "servers", "paths"} {
		if v, ok := top[k]; ok {
			w.add(k, v)
			delete(top, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		w.add(k, top[k])
	}
	var out bytes.Buffer
	if err := json.Indent(&out, w.bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// objectWriter writes a JSON object whose members keep the order added.
type objectWriter struct{ buf bytes.Buffer }

func (w *objectWriter) add(key string, value json.RawMessage) {
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	k, _ := json.Marshal(key) // a string always marshals
	w.buf.Write(k)
	w.buf.WriteByte(':')
	w.buf.Write(value)
}

func (w *objectWriter) bytes() []byte {
	if w.buf.Len() == 0 {
		return []byte("{}")
	}
	return append(w.buf.Bytes(), '}')
}
