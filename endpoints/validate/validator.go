package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// DefaultModel is the Models key that applies to every content type
// without its own entry (API Gateway's "$default").
const DefaultModel = "$default"

// defaultContentType is assumed for a request without a Content-Type
// header, as API Gateway does for REST APIs.
const defaultContentType = "application/json"

// Spec is what a method declares about its requests. It is a plain value
// that the config layer fills in; Compile does not keep references to it.
type Spec struct {
	RequiredPath    []string // path parameter names that must be non-blank
	RequiredQuery   []string // query string names that must have a non-blank value
	RequiredHeaders []string // header names that must have a non-blank value
	ValidateParams  bool     // check the required parameters
	ValidateBody    bool     // check the body against Models

	// Models by media type ("application/json"); DefaultModel applies to
	// any content type without its own entry. Keys match
	// case-insensitively and must not carry parameters.
	Models map[string]Model
}

// Model is a named JSON Schema. Name appears in compile errors only.
type Model struct {
	Name   string
	Schema json.RawMessage
}

// Validator is a compiled Spec. It is immutable and safe for concurrent
// use. A nil *Validator validates nothing.
type Validator struct {
	params      []param // path, then query, then headers, in declaration order
	checkParams bool
	checkBody   bool
	models      map[string]*model // by lowercase media type
	fallback    *model            // DefaultModel, or nil
}

// model is one compiled schema.
type model struct {
	schema *jsonschema.Schema
}

// Compile checks spec and compiles its models. Every model is compiled,
// even when ValidateBody is false, so that a bad one is reported now. An
// error names the offending parameter or model and the problem.
func Compile(spec Spec) (*Validator, error) {
	return compile(spec, compileSchema)
}

// CheckSpec reports the first problem Compile would find in spec other
// than in a model's schema: a blank or repeated parameter name, or a
// content type that is malformed, has parameters or is listed twice. It
// compiles nothing, for config validation, which checks each schema once
// with CheckSchema rather than once per method that uses it.
func CheckSpec(spec Spec) error {
	_, err := compile(spec, func(json.RawMessage) (*jsonschema.Schema, error) { return nil, nil })
	return err
}

// compile is Compile with the schema compiler as a parameter.
func compile(spec Spec, compileModel func(json.RawMessage) (*jsonschema.Schema, error)) (*Validator, error) {
	v := &Validator{
		checkParams: spec.ValidateParams,
		checkBody:   spec.ValidateBody,
		models:      make(map[string]*model, len(spec.Models)),
	}
	for _, set := range []struct {
		in    location
		names []string
	}{
		{inPath, spec.RequiredPath},
		{inQuery, spec.RequiredQuery},
		{inHeader, spec.RequiredHeaders},
	} {
		seen := make(map[string]bool, len(set.names))
		for _, name := range set.names {
			if strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("required %s parameter: empty name", set.in)
			}
			key := name
			if set.in == inHeader {
				key = http.CanonicalHeaderKey(name)
			}
			if seen[key] {
				return nil, fmt.Errorf("required %s parameter %q: listed twice", set.in, name)
			}
			seen[key] = true
			v.params = append(v.params, param{in: set.in, name: name, rule: set.in.String() + "." + name})
		}
	}
	// Sorted, so that the error for a spec with several bad models is
	// always the same one.
	for _, ct := range slices.Sorted(maps.Keys(spec.Models)) {
		m := spec.Models[ct]
		key, err := modelKey(ct)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", m.Name, err)
		}
		sch, err := compileModel(m.Schema)
		if err != nil {
			return nil, fmt.Errorf("model %q for %q: %w", m.Name, ct, err)
		}
		cm := &model{schema: sch}
		if key == DefaultModel {
			v.fallback = cm
			continue
		}
		if _, dup := v.models[key]; dup {
			return nil, fmt.Errorf("model %q: content type %q listed twice", m.Name, ct)
		}
		v.models[key] = cm
	}
	return v, nil
}

// modelKey checks a Models key and returns its lookup form.
func modelKey(ct string) (string, error) {
	if ct == DefaultModel {
		return ct, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("content type %q: %w", ct, err)
	}
	if len(params) > 0 || strings.Contains(ct, ";") {
		return "", fmt.Errorf("content type %q: parameters are not allowed", ct)
	}
	if !strings.Contains(mt, "/") {
		return "", fmt.Errorf("content type %q: want type/subtype", ct)
	}
	return mt, nil // ParseMediaType lowercases
}

// CheckSchema compiles schema as Compile would and reports why it cannot
// be used, for config validation before a model is stored.
func CheckSchema(name string, schema json.RawMessage) error {
	if _, err := compileSchema(schema); err != nil {
		return fmt.Errorf("model %q: %w", name, err)
	}
	return nil
}

// Check validates r. Parameters are checked first (when the Spec asks
// for it) and a failure there leaves r.Body untouched. Then, when the
// Spec validates bodies and a model applies to r's content type, Check
// reads the whole body, sets r.Body to a fresh reader over the bytes
// read (closing the original) and returns those bytes, also alongside a
// body failure. Otherwise body is nil and r.Body is untouched.
//
// A nil Failure means the request may go to the integration. Check never
// panics on client input and does not block beyond reading r.Body.
func (v *Validator) Check(r *http.Request, pathParams func(name string) string) (body []byte, err *Failure) {
	return v.CheckWith(r, pathParams, readBody)
}

// CheckWith is Check with the body read by read, for a caller that may
// have read it already (a request pipeline whose earlier steps needed
// the bytes): read must return the whole body and leave r.Body reading
// the same bytes. An error of read is the Failure's Err.
func (v *Validator) CheckWith(r *http.Request, pathParams func(name string) string, read func(*http.Request) ([]byte, error)) (body []byte, err *Failure) {
	if v == nil {
		return nil, nil
	}
	if v.checkParams && len(v.params) > 0 {
		if f := v.checkParameters(r, pathParams); f != nil {
			return nil, f
		}
	}
	if !v.checkBody {
		return nil, nil
	}
	m := v.modelFor(r.Header.Get("Content-Type"))
	if m == nil {
		return nil, nil
	}
	body, rerr := read(r)
	if rerr != nil {
		return body, &Failure{Kind: KindBadRequestBody, Message: invalidBody, Rule: "body:read", Err: rerr}
	}
	return body, m.check(body)
}

// modelFor returns the model for a Content-Type header value, or nil.
func (v *Validator) modelFor(contentType string) *model {
	if m, ok := v.models[strings.ToLower(mediaType(contentType))]; ok {
		return m
	}
	return v.fallback
}

// mediaType is the type/subtype part of a Content-Type value, without
// parameters and surrounding space; defaultContentType when the header
// is absent or blank. A malformed value is returned as it is and matches
// no model but DefaultModel.
func mediaType(contentType string) string {
	if strings.TrimSpace(contentType) == "" {
		return defaultContentType
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// readBody reads all of r.Body and puts a reader over the bytes back in
// its place, also after a read error.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	cerr := r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return body, fmt.Errorf("read body: %w", err)
	}
	if cerr != nil {
		return body, fmt.Errorf("close body: %w", cerr)
	}
	return body, nil
}

// errRefused is what the loader answers for every URL.
var errRefused = errors.New("references outside the model are not allowed")

// refuseLoader is the schema compiler's URL loader: it loads nothing, so
// a model can only refer to itself. The standard meta-schemas are built
// into the library and never reach the loader.
type refuseLoader struct{}

func (refuseLoader) Load(string) (any, error) { return nil, errRefused }

// modelURL is where a model is registered in its own compiler; relative
// references resolve against it and are refused by the loader.
const modelURL = "mem://portico/model.json"

// compileSchema compiles one model in a compiler of its own, so models
// never see each other's "$id"s.
func compileSchema(schema json.RawMessage) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(schema)) == 0 {
		return nil, errors.New("empty schema")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(modelURL, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	sch, err := c.Compile(modelURL)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return sch, nil
}
