package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"reflect"
	"slices"
	"strings"
)

// draft4 is the JSON Schema draft models are read as without "$schema".
const draft4 = "http://json-schema.org/draft-04/schema"

// awsParameter is the part of a parameter object Portico reads.
type awsParameter struct {
	Ref      string `json:"$ref,omitempty"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required,omitempty"`
}

// validation maps the operation's request validator, required query and
// header parameters and request body models. Required parameters are kept
// only when the validator checks parameters (Portico has no other use for
// them); body models are kept in any case, as API Gateway keeps a
// method's request models, and checked when the validator says so.
func (im *importer) validation(f, opName string, item, op map[string]any, itemField string) *Validation {
	val := im.access.defaultVal
	if raw, ok := op[extRequestValidator]; ok {
		val = nil
		var name string
		if raw != nil && im.decode(f+"."+extRequestValidator, raw, &name) && name != "" {
			if v, ok := im.access.validators[name]; ok {
				val = &v
			} else {
				im.p.add(f+"."+extRequestValidator, "no validator named %q in %s", name, extRequestValidators)
			}
		}
	}
	v := &Validation{Models: im.requestModels(f, opName, op)}
	if val != nil {
		v.Parameters = val.Params
		v.Body = val.Body && len(v.Models) > 0
		if v.Parameters {
			v.RequiredQuery, v.RequiredHeaders = im.requiredParams(f, item, op, itemField)
		}
	}
	if !v.Parameters && !v.Body && len(v.Models) == 0 {
		return nil
	}
	return v
}

// requiredParams lists the required query and header parameters of the
// path item and the operation (whose own win), in document order.
func (im *importer) requiredParams(f string, item, op map[string]any, itemField string) (query, headers []string) {
	read := func(field string, list any) []awsParameter {
		var raws []any
		if list == nil || !im.decode(field, list, &raws) {
			return nil
		}
		var out []awsParameter
		for i, r := range raws {
			pf := fmt.Sprintf("%s[%d]", field, i)
			var p awsParameter
			if !im.decode(pf, r, &p) {
				continue
			}
			if p.Ref != "" {
				name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
				target, found := rawObject(rawObject(im.raw["components"])["parameters"])[unescapePointer(name)]
				if !ok || !found {
					im.p.add(pf+".$ref", "%q is not a parameter of components.parameters", p.Ref)
					continue
				}
				if !im.decode("components.parameters."+name, target, &p) {
					continue
				}
			}
			out = append(out, p)
		}
		return out
	}
	key := func(p awsParameter) string { return p.In + "\x00" + strings.ToLower(p.Name) }
	own := read(f+".parameters", op["parameters"])
	mine := map[string]bool{}
	for _, p := range own {
		mine[key(p)] = true
	}
	var all []awsParameter
	for _, p := range read(itemField+".parameters", item["parameters"]) {
		if !mine[key(p)] {
			all = append(all, p)
		}
	}
	for _, p := range append(all, own...) {
		switch {
		case !p.Required:
		case p.In == "query":
			query = append(query, p.Name)
		case p.In == "header":
			headers = append(headers, p.Name)
		}
	}
	return query, headers
}

// requestModels maps the request body's schemas to models, by media type.
func (im *importer) requestModels(f, opName string, op map[string]any) map[string]string {
	body := rawObject(op["requestBody"])
	if body == nil {
		return nil
	}
	bf := f + ".requestBody"
	if ref, ok := body["$ref"].(string); ok {
		name, isBody := strings.CutPrefix(ref, "#/components/requestBodies/")
		body = rawObject(rawObject(rawObject(im.raw["components"])["requestBodies"])[unescapePointer(name)])
		if !isBody || body == nil {
			im.p.add(bf+".$ref", "%q is not a request body of components.requestBodies", ref)
			return nil
		}
		bf = "components.requestBodies." + name
	}
	content := rawObject(body["content"])
	var models map[string]string
	for _, mt := range slices.Sorted(maps.Keys(content)) {
		mf := bf + ".content." + mt
		schema, ok := rawObject(content[mt])["schema"]
		if !ok || schema == nil {
			continue
		}
		key := mt
		switch {
		case mt == anyMediaRange:
			key = "$default"
		case strings.Contains(mt, ";"):
			base, _, err := mime.ParseMediaType(mt)
			if err != nil {
				im.p.add(mf, "is not a media type: %s", err)
				continue
			}
			key = base
		}
		name, ok := im.bodyModel(mf+".schema", opName, key, schema)
		if !ok {
			continue
		}
		if models == nil {
			models = map[string]string{}
		}
		models[key] = name
	}
	return models
}

// bodyModel returns the model for a request body schema: the components
// schema it refers to, or a model of its own named after the operation.
func (im *importer) bodyModel(f, opName, mediaType string, schema any) (string, bool) {
	if m := rawObject(schema); len(m) == 1 {
		if ref, ok := m["$ref"].(string); ok {
			if name, ok := strings.CutPrefix(ref, schemaRefPrefix); ok && !strings.Contains(name, "/") {
				return im.componentModel(f, unescapePointer(name))
			}
		}
	}
	if rawObject(schema) == nil {
		im.p.add(f, "must be an object")
		return "", false
	}
	ai := im.access
	base := opName + "Body"
	if mediaType != "application/json" {
		base += "_" + mediaType
	}
	base = modelName(base)
	name := base
	for i := 2; ai.reserved[name] || ai.modelFrom[name] != ""; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	doc, ok := im.modelSchema(f, schema, "")
	if !ok {
		return "", false
	}
	ai.models[name], ai.modelFrom[name] = doc, f
	return name, true
}

// componentModel returns the model made of components.schemas.<comp>.
func (im *importer) componentModel(f, comp string) (string, bool) {
	ai := im.access
	name, src := modelName(comp), schemaRefPrefix+comp
	if prev, ok := ai.modelFrom[name]; ok {
		if prev != src {
			im.p.add(f, "schema %q would be model %q, which %s is already", comp, name, prev)
			return "", false
		}
		return name, true
	}
	raw, ok := im.componentSchemas()[comp]
	if !ok {
		im.p.add(f, "no schema %q in components.schemas", comp)
		return "", false
	}
	doc, ok := im.modelSchema("components.schemas."+comp, raw, comp)
	if !ok {
		return "", false
	}
	ai.models[name], ai.modelFrom[name] = doc, src
	return name, true
}

// modelSchema makes a self-contained model of schema, which is
// components.schemas.<root> or, with root "", an inline schema. Every
// schema it refers to, directly or not, is copied into its "definitions"
// and references are rewritten: #/components/schemas/X… becomes
// #/definitions/X…, and # for the root itself.
func (im *importer) modelSchema(f string, schema any, root string) (json.RawMessage, bool) {
	schemas := im.componentSchemas()
	before := len(*im.p)
	seen := map[string]bool{}
	var queue []string
	ref := func(s string) string {
		rest, ok := strings.CutPrefix(s, schemaRefPrefix)
		if !ok {
			im.p.add(f, "reference %q: a model can only refer to %s…", s, schemaRefPrefix)
			return s
		}
		seg, tail, _ := strings.Cut(rest, "/")
		if tail != "" {
			tail = "/" + tail
		}
		name := unescapePointer(seg)
		if name == root {
			return "#" + tail
		}
		if _, ok := schemas[name]; !ok {
			im.p.add(f, "reference %q: no schema %q in components.schemas", s, name)
			return s
		}
		if !seen[name] {
			seen[name] = true
			queue = append(queue, name)
		}
		return "#/definitions/" + escapePointer(name) + tail
	}
	out := withoutDraft4(rewriteRefs(schema, ref))
	defs := map[string]any{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		defs[name] = withoutDraft4(rewriteRefs(schemas[name], ref))
	}
	if len(defs) > 0 {
		m := rawObject(out)
		own, isObj := m["definitions"].(map[string]any)
		switch {
		case m == nil:
			im.p.add(f, "must be an object")
		case m["definitions"] != nil && !isObj:
			im.p.add(f+".definitions", "must be an object")
		default:
			merged := maps.Clone(own)
			if merged == nil {
				merged = map[string]any{}
			}
			for _, name := range slices.Sorted(maps.Keys(defs)) {
				if _, dup := merged[name]; dup {
					im.p.add(f+".definitions."+name, "clashes with the referenced schema %q: rename one", name)
				}
				merged[name] = defs[name]
			}
			m["definitions"] = merged
		}
	}
	if len(*im.p) > before {
		return nil, false
	}
	b, err := json.Marshal(out)
	if err != nil {
		im.p.add(f, "%s", err)
		return nil, false
	}
	return b, true
}

// readModelList adds the models x-portico-models names.
func (im *importer) readModelList() {
	var names []string
	if !im.extension(im.raw, extModels, &names) {
		return
	}
	for i, name := range names {
		im.componentModel(fmt.Sprintf("%s[%d]", extModels, i), name)
	}
}

// schemaData are schema keywords whose values are data, not schemas.
var schemaData = map[string]bool{"enum": true, "const": true, "default": true, "example": true, "examples": true}

// schemaMaps are schema keywords whose values map names to schemas.
var schemaMaps = map[string]bool{"properties": true, "patternProperties": true, "definitions": true, "$defs": true, "dependentSchemas": true}

// rewriteRefs copies a schema, passing every "$ref" through ref. Values
// of data keywords and extensions are kept as they are.
func rewriteRefs(v any, ref func(string) string) any {
	return rewriteSchema(v, false, ref)
}

func rewriteSchema(v any, nameMap bool, ref func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, isString := e.(string)
			switch {
			case nameMap:
				out[k] = rewriteSchema(e, false, ref)
			case k == "$ref" && isString:
				out[k] = ref(s)
			case schemaData[k] || strings.HasPrefix(k, "x-"):
				out[k] = e
			default:
				out[k] = rewriteSchema(e, schemaMaps[k], ref)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rewriteSchema(e, false, ref)
		}
		return out
	}
	return v
}

// withoutDraft4 drops a "$schema" naming draft-04: models are read as
// draft-04 without one, and OpenAPI 3.0 has no "$schema".
func withoutDraft4(v any) any {
	if m := rawObject(v); m != nil {
		if s, ok := m["$schema"].(string); ok && strings.TrimSuffix(s, "#") == draft4 {
			delete(m, "$schema")
		}
	}
	return v
}

// modelName turns a name into a model name: letters, digits and _.
func modelName(s string) string {
	var b strings.Builder
	gap := false
	for _, r := range s {
		if r < 128 && (r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			gap = false
		} else {
			gap = true
		}
	}
	out := b.String()
	if out == "" {
		out = "Model"
	}
	if len(out) > 120 { // room for a counter below the 128 limit
		out = out[:120]
	}
	return out
}

// JSON Pointer escaping (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// exportModels returns components.schemas for the API's models. A model's
// "definitions" are lifted out beside it (OpenAPI has no such keyword and
// refers to schemas by #/components/schemas/), which the import undoes. A
// definition keeps its name unless a different schema has it; then all
// definitions of that model are named MODEL_NAME.
func exportModels(models map[string]json.RawMessage) (map[string]any, error) {
	type split struct {
		root  any
		defs  map[string]any
		names map[string]string // definition → schema name in the document
	}
	plans := map[string]*split{}
	for name, raw := range models {
		v, err := decodeNumbers(raw)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		s := &split{root: withoutDraft4(v), names: map[string]string{}}
		if m := rawObject(v); m != nil {
			if defs, ok := m["definitions"].(map[string]any); ok {
				root := maps.Clone(m)
				delete(root, "definitions")
				s.root, s.defs = root, defs
				for d := range defs {
					s.names[d] = d
				}
			}
		}
		plans[name] = s
	}
	forms := func(model string, s *split) (any, map[string]any) {
		ref := func(r string) string {
			if r != "#" && !strings.HasPrefix(r, "#/") {
				return r
			}
			p := r[1:]
			if rest, ok := strings.CutPrefix(p, "/definitions/"); ok {
				seg, tail, _ := strings.Cut(rest, "/")
				if tail != "" {
					tail = "/" + tail
				}
				if n, ok := s.names[unescapePointer(seg)]; ok {
					return schemaRefPrefix + escapePointer(n) + tail
				}
			}
			return schemaRefPrefix + escapePointer(model) + p
		}
		defs := map[string]any{}
		for d, v := range s.defs {
			defs[s.names[d]] = withoutDraft4(rewriteRefs(v, ref))
		}
		return rewriteRefs(s.root, ref), defs
	}
	out := map[string]any{}
	fits := func(defs map[string]any) bool {
		for n, v := range defs {
			if have, ok := out[n]; ok && !reflect.DeepEqual(have, v) {
				return false
			}
		}
		return true
	}
	names := slices.Sorted(maps.Keys(plans))
	for _, m := range names {
		out[m], _ = forms(m, plans[m])
	}
	for _, m := range names {
		s := plans[m]
		_, defs := forms(m, s)
		if !fits(defs) {
			taken := map[string]bool{}
			for n := range out {
				taken[n] = true
			}
			for _, d := range slices.Sorted(maps.Keys(s.defs)) {
				s.names[d] = freeName(m+"_"+d, taken)
				taken[s.names[d]] = true
			}
			out[m], defs = forms(m, s)
		}
		for n, v := range defs {
			if _, ok := out[n]; !ok {
				out[n] = v
			}
		}
	}
	// A model renamed late may no longer match a schema another model
	// shared: check every model against what was written.
	for _, m := range names {
		root, defs := forms(m, plans[m])
		if !reflect.DeepEqual(out[m], root) {
			return nil, fmt.Errorf("model %s: another model defines %q differently", m, m)
		}
		for _, n := range slices.Sorted(maps.Keys(defs)) {
			if !reflect.DeepEqual(out[n], defs[n]) {
				return nil, fmt.Errorf("model %s: definition %q clashes with another schema of that name", m, n)
			}
		}
	}
	return out, nil
}

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
