package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	yamlv2 "go.yaml.in/yaml/v2"
)

// ImportOpenAPI converts an OpenAPI 3.0 document (YAML or JSON) into an API
// definition, reading API Gateway's extensions (see openapi.go; security
// schemes, request validators and models: openapi_security.go). Problems
// come back as a *ValidationError whose fields are paths in the document,
// such as "paths./items/{id}.get.x-amazon-apigateway-integration.type".
// Resources and routes keep the order of the document's paths.
//
// It neither applies defaults nor validates the result: callers run
// ApplyDefaults and Validate as for a native definition.
func ImportOpenAPI(data []byte) (*API, error) {
	j, err := ToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("import openapi: %w", err)
	}
	var p problems
	checkOpenAPIShape(&p, j)
	if err := p.err(); err != nil {
		return nil, err
	}
	// External references stay disallowed: an import reads no file or URL.
	doc, err := openapi3.NewLoader().LoadFromData(j)
	if err != nil {
		return nil, &ValidationError{Errors: []FieldError{{Message: "not a valid OpenAPI 3.0 document: " + kinMessage(err)}}}
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber() // models keep their numbers as written
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("import openapi: %w", err)
	}
	im := importer{p: &p, order: readDocOrder(data), raw: raw}
	a := im.api(doc)
	if err := p.err(); err != nil {
		return nil, err
	}
	return a, nil
}

// checkOpenAPIShape checks, with field paths, what the kin loader would
// only report without a location: the version, info, and that every path
// item and operation is an object of the right shape.
func checkOpenAPIShape(p *problems, j []byte) {
	var top map[string]json.RawMessage
	if json.Unmarshal(j, &top) != nil {
		p.add("document", "must be an object")
		return
	}
	if _, ok := top["swagger"]; ok {
		p.add("swagger", "swagger 2.0 documents are not supported; convert to OpenAPI 3.0")
		return
	}
	for _, k := range []string{"openapi", "info", "paths"} {
		if _, ok := top[k]; !ok {
			p.add(k, "is required")
		}
	}
	if raw, ok := top["openapi"]; ok {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			p.add("openapi", "must be a version string such as \"3.0.3\"")
		} else if !(&openapi3.T{OpenAPI: v}).IsOpenAPI30() {
			p.add("openapi", "version %q is not supported; use OpenAPI 3.0.x", v)
		}
	}
	if raw, ok := top["info"]; ok {
		var info map[string]json.RawMessage
		var title string
		switch {
		case json.Unmarshal(raw, &info) != nil:
			p.add("info", "must be an object")
		case info["title"] == nil:
			p.add("info.title", "is required")
		case json.Unmarshal(info["title"], &title) != nil:
			p.add("info.title", "must be a string")
		}
	}
	raw, ok := top["paths"]
	if !ok {
		return
	}
	var paths map[string]json.RawMessage
	if json.Unmarshal(raw, &paths) != nil || paths == nil {
		p.add("paths", "must be an object")
		return
	}
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		if strings.HasPrefix(path, "x-") {
			continue
		}
		f := "paths." + path
		if !strings.HasPrefix(path, "/") {
			p.add(f, "a path must start with /")
			continue
		}
		var item map[string]json.RawMessage
		if json.Unmarshal(paths[path], &item) != nil {
			p.add(f, "must be an object")
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(item)) {
			switch key {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace", "connect", "query", extAnyMethod:
				var op openapi3.Operation
				if raw := item[key]; raw[0] != '{' {
					p.add(f+"."+key, "must be an object, not %s", jsonValueKind(raw))
				} else if err := json.Unmarshal(raw, &op); err != nil {
					jsonProblem(p, f+"."+key, err)
				}
			}
		}
	}
}

// kinMessage trims the loader's habit of reporting both its JSON and its
// YAML attempt; the input is always JSON here.
func kinMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "failed to unmarshal data: json error: ")
	msg, _, _ = strings.Cut(msg, ", yaml error: ")
	return strings.TrimPrefix(msg, "json: ")
}

// docOrder is the order in which the document lists its paths, the
// keys of each path item and its security schemes (the order of the
// API's authorizers): encoding/json and the kin loader keep only maps.
type docOrder struct {
	paths   []string
	keys    map[string][]string
	schemes []string
}

// readDocOrder reads the order with a YAML decoder that keeps it (JSON is
// YAML too). On failure the order is empty and sorted order is used.
func readDocOrder(data []byte) docOrder {
	o := docOrder{keys: map[string][]string{}}
	var top struct {
		Paths      yamlv2.MapSlice `yaml:"paths"`
		Components struct {
			SecuritySchemes yamlv2.MapSlice `yaml:"securitySchemes"`
		} `yaml:"components"`
	}
	if yamlv2.Unmarshal(data, &top) != nil {
		return o
	}
	for _, entry := range top.Components.SecuritySchemes {
		if name, ok := entry.Key.(string); ok {
			o.schemes = append(o.schemes, name)
		}
	}
	for _, entry := range top.Paths {
		path, ok := entry.Key.(string)
		if !ok {
			continue
		}
		o.paths = append(o.paths, path)
		item, _ := entry.Value.(yamlv2.MapSlice)
		for _, kv := range item {
			if k, ok := kv.Key.(string); ok {
				o.keys[path] = append(o.keys[path], k)
			}
		}
	}
	return o
}

// ordered returns have in the order of want, then what want lacks, sorted.
func ordered(want, have []string) []string {
	present := map[string]bool{}
	for _, h := range have {
		present[h] = true
	}
	var out []string
	for _, w := range want {
		if present[w] {
			out = append(out, w)
			delete(present, w)
		}
	}
	rest := make([]string, 0, len(present))
	for h := range present {
		rest = append(rest, h)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

type importer struct {
	p     *problems
	order docOrder
	// raw is the document as decoded JSON: models are copied from it as
	// written, and the any-method's operations, which the kin loader
	// leaves alone, read the same way as the others.
	raw    map[string]any
	access *accessImport
}

func (im *importer) api(doc *openapi3.T) *API {
	a := &API{Name: doc.Info.Title, Description: doc.Info.Description}
	ext := doc.Extensions
	a.Kind = im.kind(ext)
	im.extension(ext, extHomeRegion, &a.HomeRegion)
	var types []string
	if !im.extension(ext, extEndpointTypes, &types) {
		var conf struct {
			Types []string `json:"types"`
		}
		im.extension(ext, extEndpointConf, &conf)
		types = conf.Types
	}
	for _, t := range types {
		a.EndpointTypes = append(a.EndpointTypes, EndpointType(strings.ToUpper(t)))
	}
	var cors awsCORS
	if im.extension(ext, extCORS, &cors) {
		a.CORS = im.cors(cors)
	}
	im.readAccess(a)

	resources := map[string]int{}
	for _, path := range ordered(im.order.paths, doc.Paths.Keys()) {
		item := doc.Paths.Value(path)
		if item == nil {
			continue
		}
		for _, op := range im.operations(path, item) {
			in, ok := im.integration(op.field, op.op)
			if !ok {
				continue
			}
			ac := im.operationAccess(path, op)
			if a.Kind == KindHTTP {
				key := op.method + " " + path
				if path == defaultRoutePath && op.method == "ANY" {
					key = DefaultRouteKey
				}
				a.Routes = append(a.Routes, Route{Key: key, Integration: in, Access: ac})
				continue
			}
			i, ok := resources[path]
			if !ok {
				i = len(a.Resources)
				resources[path] = i
				a.Resources = append(a.Resources, Resource{Path: path, Methods: map[string]Method{}})
			}
			a.Resources[i].Methods[op.method] = Method{Integration: in, Access: ac}
		}
	}
	im.readModelList()
	if len(im.access.models) > 0 {
		a.Models = im.access.models
	}
	var routeOrder []string
	if a.Kind == KindHTTP && im.extension(ext, extRouteOrder, &routeOrder) {
		sortRoutes(a.Routes, routeOrder)
	}
	return a
}

// kind reads x-portico-kind; without it, an API Gateway HTTP API export
// (it carries x-amazon-apigateway-importexport-version) is an HTTP API and
// anything else is left to the REST default.
func (im *importer) kind(ext map[string]any) Kind {
	var s string
	if im.extension(ext, extKind, &s) {
		k := Kind(strings.ToUpper(s))
		if k != KindREST && k != KindHTTP {
			im.p.add(extKind, "must be REST or HTTP, not %q", s)
		}
		return k
	}
	if _, ok := ext[extImportExport]; ok {
		return KindHTTP
	}
	return ""
}

// extension decodes the extension name into v and reports whether it was
// present and well-formed.
func (im *importer) extension(ext map[string]any, name string, v any) bool {
	raw, ok := ext[name]
	if !ok || raw == nil {
		return false
	}
	return im.decode(name, raw, v)
}

// decode decodes an extension value into v, reporting problems with their
// path under field. Keys v does not know are ignored.
func (im *importer) decode(field string, value, v any) bool {
	b, err := json.Marshal(value)
	if err != nil {
		im.p.add(field, "%s", err)
		return false
	}
	before := len(*im.p)
	checkFields(im.p, field, b, reflect.TypeOf(v), false)
	if len(*im.p) > before {
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		jsonProblem(im.p, field, err)
		return false
	}
	return true
}

func (im *importer) cors(c awsCORS) *CORS {
	out := &CORS{
		AllowOrigins:     c.AllowOrigins,
		AllowMethods:     c.AllowMethods,
		AllowHeaders:     c.AllowHeaders,
		ExposeHeaders:    c.ExposeHeaders,
		AllowCredentials: c.AllowCredentials,
	}
	if c.MaxAge != "" {
		d, err := numberDuration(c.MaxAge, time.Second)
		if err != nil {
			im.p.add(extCORS+".maxAge", "%s", err)
		}
		out.MaxAge = d
	}
	return out
}

type importedOp struct {
	method string
	key    string // the path item's key: "get", ..., or the any-method extension
	field  string
	op     *openapi3.Operation
}

// operations lists a path item's operations in document order.
func (im *importer) operations(path string, item *openapi3.PathItem) []importedOp {
	f := "paths." + path
	byKey := map[string]*openapi3.Operation{
		"get": item.Get, "post": item.Post, "put": item.Put, "patch": item.Patch,
		"delete": item.Delete, "head": item.Head, "options": item.Options,
	}
	if raw, ok := item.Extensions[extAnyMethod]; ok {
		var op openapi3.Operation
		if im.decode(f+"."+extAnyMethod, raw, &op) {
			byKey[extAnyMethod] = &op
		}
	}
	unsupported := map[string]*openapi3.Operation{"trace": item.Trace, "connect": item.Connect, "query": item.Query}
	for m, op := range item.AdditionalOperations {
		unsupported[m] = op
	}
	for _, m := range slices.Sorted(maps.Keys(unsupported)) {
		if unsupported[m] != nil {
			im.p.add(f+"."+m, "unsupported method %s (use one of %s)", strings.ToUpper(m), strings.Join(Methods, ", "))
		}
	}
	var keys []string
	for k, op := range byKey {
		if op != nil {
			keys = append(keys, k)
		}
	}
	var ops []importedOp
	for _, k := range ordered(im.order.keys[path], keys) {
		m := strings.ToUpper(k)
		if k == extAnyMethod {
			m = "ANY"
		}
		ops = append(ops, importedOp{method: m, key: k, field: f + "." + k, op: byKey[k]})
	}
	return ops
}

// integration maps x-amazon-apigateway-integration of one operation.
func (im *importer) integration(field string, op *openapi3.Operation) (Integration, bool) {
	f := field + "." + extIntegration
	raw, ok := op.Extensions[extIntegration]
	if !ok || raw == nil {
		im.p.add(f, "is required")
		return Integration{}, false
	}
	var x awsIntegration
	if !im.decode(f, raw, &x) {
		return Integration{}, false
	}
	before := len(*im.p)
	var in Integration
	switch strings.ToLower(x.Type) {
	case "http_proxy":
		in = Integration{Type: IntegrationHTTPProxy, URI: x.URI}
		// API Gateway's ANY means "the client's method", which is our empty Method.
		if m := strings.ToUpper(x.HTTPMethod); m != "ANY" {
			in.Method = m
		}
		if x.TimeoutInMillis != "" {
			d, err := numberDuration(x.TimeoutInMillis, time.Millisecond)
			if err != nil {
				im.p.add(f+".timeoutInMillis", "%s", err)
			}
			in.Timeout = d
		}
	case "mock":
		in = im.mock(f, x)
	case "":
		im.p.add(f+".type", "is required (http_proxy or mock)")
	default:
		im.p.add(f+".type", "%q is not supported: only http_proxy and mock are", x.Type)
	}
	return in, len(*im.p) == before
}

// mock reads a MOCK integration: API Gateway's responses.default (status
// code, an application/json template as the body, static 'quoted' header
// values), then x-portico-mock, which wins where it sets a field.
func (im *importer) mock(f string, x awsIntegration) Integration {
	in := Integration{Type: IntegrationMock}
	if r, ok := x.Responses["default"]; ok {
		if r.StatusCode != "" {
			code, err := strconv.Atoi(string(r.StatusCode))
			if err != nil || code < 0 || code > 999 {
				im.p.add(f+".responses.default.statusCode", "must be an HTTP status code, not %q", r.StatusCode)
			}
			in.StatusCode = code
		}
		in.Body = r.ResponseTemplates["application/json"]
		for k, v := range r.ResponseParameters {
			name, ok := strings.CutPrefix(k, "method.response.header.")
			if ok && len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
				if in.Headers == nil {
					in.Headers = map[string]string{}
				}
				in.Headers[name] = v[1 : len(v)-1]
			}
		}
	}
	if len(x.PorticoMock) == 0 || string(x.PorticoMock) == "null" {
		return in
	}
	mf := f + "." + extMock
	before := len(*im.p)
	checkFields(im.p, mf, x.PorticoMock, reflect.TypeFor[porticoMock](), true)
	var m porticoMock
	if len(*im.p) > before || json.Unmarshal(x.PorticoMock, &m) != nil {
		return in
	}
	if m.StatusCode != 0 {
		in.StatusCode = m.StatusCode
	}
	if m.Headers != nil {
		in.Headers = m.Headers
	}
	if m.Body != "" {
		in.Body = m.Body
	}
	return in
}

// sortRoutes puts routes in the order of keys; routes not listed keep
// their order after the listed ones.
func sortRoutes(routes []Route, keys []string) {
	rank := map[string]int{}
	for i, k := range keys {
		if _, dup := rank[k]; !dup {
			rank[k] = i
		}
	}
	pos := func(r Route) int {
		if i, ok := rank[r.Key]; ok {
			return i
		}
		return len(keys)
	}
	sort.SliceStable(routes, func(i, j int) bool { return pos(routes[i]) < pos(routes[j]) })
}
