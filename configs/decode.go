package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// Format is what a definition file holds.
type Format int

const (
	FormatNative  Format = iota // Portico's own API definition
	FormatOpenAPI               // an OpenAPI 3.0 document
)

// ToJSON turns YAML or JSON bytes into JSON. JSON is a subset of YAML, so
// every input goes through the same path; sigs.k8s.io/yaml keeps the JSON
// tags authoritative so one set of struct tags serves both formats.
// A key given twice, a second YAML document or anything after the first
// JSON value is an error.
func ToJSON(data []byte) ([]byte, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the document is empty")
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	if string(j) == "null" {
		return nil, errors.New("the document is empty")
	}
	// The converter reads only the first document and stops quietly at
	// trailing text such as `{"a": 1} junk`; read on to catch both.
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil || (i > 0 && doc != nil) {
			return nil, errors.New("unexpected data after the document")
		}
	}
	return j, nil
}

// DecodeStrict decodes YAML or JSON into v; an unknown field is an error
// naming the field.
func DecodeStrict(data []byte, v any) error {
	j, err := ToJSON(data)
	if err != nil {
		return err
	}
	// encoding/json names only the last key of an unknown field, matches
	// keys case-insensitively and stops at the first problem; walk the
	// document beside the type first to report every problem with its path.
	var p problems
	checkFields(&p, "", j, reflect.TypeOf(v), true)
	if err := p.err(); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return errors.New("unexpected data after the document")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the document")
	}
	return nil
}

// decodeError turns encoding/json errors into FieldErrors with a path.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &ValidationError{Errors: []FieldError{{
			Field:   typeErr.Field,
			Message: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value),
		}}}
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &ValidationError{Errors: []FieldError{{
			Field:   strings.Trim(rest, `"`),
			Message: "unknown field",
		}}}
	}
	return fmt.Errorf("decode: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "a list"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	default:
		return "a number"
	}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkFields reports type mismatches in the JSON value raw, which will be
// decoded into a value of type t, with the full path of each
// ("resources[0].methods.GET.integration.timeout"). When strict, a key
// that does not match a json tag exactly is reported as unknown.
func checkFields(p *problems, path string, raw json.RawMessage, t reflect.Type, strict bool) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return // encoding/json leaves the value as it is
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		checkLeaf(p, path, raw, t)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			p.add(fieldOrDoc(path), "must be an object, not %s", jsonValueKind(raw))
			return
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			f, ok := fields[k]
			if !ok {
				if strict {
					p.add(joinField(path, k), "unknown field")
				}
				continue
			}
			checkFields(p, joinField(path, k), obj[k], f.Type, strict)
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if t.Key().Kind() != reflect.String || json.Unmarshal(raw, &obj) != nil {
			checkLeaf(p, path, raw, t)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			checkFields(p, joinField(path, k), obj[k], t.Elem(), strict)
		}
	case reflect.Slice, reflect.Array:
		var list []json.RawMessage
		if t.Elem().Kind() == reflect.Uint8 || json.Unmarshal(raw, &list) != nil {
			checkLeaf(p, path, raw, t)
			return
		}
		for i, item := range list {
			checkFields(p, fmt.Sprintf("%s[%d]", path, i), item, t.Elem(), strict)
		}
	default:
		checkLeaf(p, path, raw, t)
	}
}

// checkLeaf decodes raw into a fresh value of type t and reports a failure.
func checkLeaf(p *problems, path string, raw json.RawMessage, t reflect.Type) {
	err := json.Unmarshal(raw, reflect.New(t).Interface())
	if err == nil {
		return
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field == "" {
		p.add(fieldOrDoc(path), "must be %s, not %s", jsonKind(t.Kind().String()), strings.TrimPrefix(typeErr.Value, "number "))
		return
	}
	p.add(fieldOrDoc(path), "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonFields maps the JSON names of a struct's fields, as encoding/json
// sees them, to the fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			for k, v := range jsonFields(f.Type) {
				if _, shadowed := fields[k]; !shadowed {
					fields[k] = v
				}
			}
			continue
		case name == "":
			name = f.Name
		}
		fields[name] = f
	}
	return fields
}

func jsonValueKind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func joinField(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldOrDoc names the whole document when the problem is at its root.
func fieldOrDoc(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// DetectFormat tells a native definition from an OpenAPI document: an
// OpenAPI document has a top-level "openapi" (or "swagger") key.
func DetectFormat(data []byte) (Format, error) {
	j, err := ToJSON(data)
	if err != nil {
		return 0, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil {
		return 0, errors.New("the document must be an object")
	}
	if _, ok := top["openapi"]; ok {
		return FormatOpenAPI, nil
	}
	if _, ok := top["swagger"]; ok {
		return 0, errors.New("swagger 2.0 documents are not supported; convert to OpenAPI 3.0")
	}
	return FormatNative, nil
}

// ParseAPI decodes a native API definition strictly. It does not apply
// defaults or validate.
func ParseAPI(data []byte) (*API, error) {
	var a API
	if err := DecodeStrict(data, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// LoadAPI reads either format: a native definition or an OpenAPI 3.0
// document (imported with ImportOpenAPI). It does not apply defaults or
// validate.
func LoadAPI(data []byte) (*API, Format, error) {
	f, err := DetectFormat(data)
	if err != nil {
		return nil, 0, err
	}
	if f == FormatOpenAPI {
		a, err := ImportOpenAPI(data)
		return a, f, err
	}
	a, err := ParseAPI(data)
	return a, f, err
}
