package configs

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/portico-gw/portico/configs/field"
)

// FieldError is one problem in a definition, with the path of the field.
type FieldError = field.Error

// ValidationError lists every problem found at once.
type ValidationError = field.Errors

// problems collects field errors.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Errors: p}
}

var (
	idRE         = regexp.MustCompile(`^[a-z0-9]{10}$`)
	regionRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	stageNameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	stageVarKey  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	stageVarVal  = regexp.MustCompile(`^[A-Za-z0-9\-._~:/?#&=,]*$`)
	placeholder  = regexp.MustCompile(`\$\{stageVariables\.([^}]*)\}|\{([^{}]*)\}`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// Validate reports every problem in the API at once. Call ApplyDefaults
// first: Validate checks the definition as it will be stored.
func (a *API) Validate() error {
	var p problems
	if a.ID != "" && !idRE.MatchString(a.ID) {
		p.add("id", "must be 10 lowercase letters or digits")
	}
	switch {
	case strings.TrimSpace(a.Name) == "":
		p.add("name", "is required")
	case len(a.Name) > MaxNameLength:
		p.add("name", "must be at most %d characters", MaxNameLength)
	}
	if len(a.Description) > MaxDescriptionLength {
		p.add("description", "must be at most %d characters", MaxDescriptionLength)
	}
	if !regionRE.MatchString(a.HomeRegion) {
		p.add("home_region", "must be a region name of lowercase letters, digits and dashes")
	}
	seenType := map[EndpointType]bool{}
	for i, t := range a.EndpointTypes {
		f := fmt.Sprintf("endpoint_types[%d]", i)
		switch t {
		case EndpointEdge, EndpointRegional, EndpointPrivate:
		default:
			p.add(f, "must be EDGE, REGIONAL or PRIVATE, not %q", t)
		}
		if seenType[t] {
			p.add(f, "%s is listed twice", t)
		}
		seenType[t] = true
	}
	switch a.Kind {
	case KindREST:
		if len(a.Routes) > 0 {
			p.add("routes", "a REST API uses resources, not routes")
		}
		if len(a.Resources) == 0 {
			p.add("resources", "a REST API needs at least one resource")
		}
	case KindHTTP:
		if len(a.Resources) > 0 {
			p.add("resources", "an HTTP API uses routes, not resources")
		}
		if len(a.Routes) == 0 {
			p.add("routes", "an HTTP API needs at least one route")
		}
	default:
		p.add("kind", "must be REST or HTTP, not %q", a.Kind)
	}
	a.validateCORS(&p)
	a.validatePolicy(&p)
	if n := a.MinimumCompressionSize; n != nil && (*n < 0 || *n > MaxCompressionSize) {
		p.add("minimum_compression_size", "must be between 0 and %d bytes", MaxCompressionSize)
	}
	a.validateOperations(&p)
	a.validateAccess(&p)
	return p.err()
}

func (a *API) validateOperations(p *problems) {
	seenPath := map[string]int{}
	for i, r := range a.Resources {
		f := fmt.Sprintf("resources[%d]", i)
		t, err := ParseTemplate(r.Path)
		if err != nil {
			p.add(f+".path", "%s", err)
		} else if j, dup := seenPath[t.Shape()]; dup {
			p.add(f+".path", "%q duplicates resources[%d] (%q)", r.Path, j, a.Resources[j].Path)
		} else {
			seenPath[t.Shape()] = i
		}
		if len(r.Methods) == 0 {
			p.add(f+".methods", "at least one method is required")
		}
	}
	seenOp := map[string]Operation{}
	for _, op := range a.Operations() {
		isRoute := strings.HasPrefix(op.Field, "routes")
		pathField := op.Field + ".key"
		var tmpl Template
		if !op.Default {
			if !slices.Contains(Methods, op.Method) {
				p.add(methodField(op), "unsupported method %q (use one of %s)", op.Method, strings.Join(Methods, ", "))
			}
			var err error
			if tmpl, err = ParseTemplate(op.Path); err != nil {
				// A resource's path is reported once, above, not per method.
				if isRoute {
					if op.Path == "" {
						err = fmt.Errorf("must be \"METHOD /path\" or %q", DefaultRouteKey)
					}
					p.add(pathField, "%s", err)
				}
				// Still check the integration; its placeholders cannot be
				// checked against a path that does not parse.
				op.Integration.validate(p, op.Field+".integration", nil)
				continue
			}
			key := op.Method + " " + tmpl.Shape()
			if prev, dup := seenOp[key]; dup {
				if isRoute {
					p.add(pathField, "route %q duplicates %s", op.Key(), prev.Field)
				}
			} else {
				seenOp[key] = op
			}
		} else if prev, dup := seenOp[DefaultRouteKey]; dup {
			p.add(pathField, "duplicates %s", prev.Field)
		} else {
			seenOp[DefaultRouteKey] = op
		}
		op.Integration.validate(p, op.Field+".integration", &tmpl)
	}
}

func methodField(op Operation) string {
	if strings.HasPrefix(op.Field, "routes") {
		return op.Field + ".key"
	}
	return op.Field
}

// validate checks an integration; tmpl is the operation's path template,
// or nil when the path did not parse.
func (in *Integration) validate(p *problems, f string, tmpl *Template) {
	switch in.Type {
	case IntegrationHTTPProxy:
		in.validateURI(p, f+".uri", tmpl)
		if in.Method != "" && (in.Method == "ANY" || !slices.Contains(Methods, in.Method)) {
			p.add(f+".method", "unsupported method %q", in.Method)
		}
		if d := in.Timeout.D(); d < MinIntegrationTimeout || d > MaxIntegrationTimeout {
			p.add(f+".timeout", "must be between %s and %s, not %s", MinIntegrationTimeout, MaxIntegrationTimeout, d)
		}
		if in.StatusCode != 0 || in.Body != "" || len(in.Headers) > 0 {
			p.add(f, "status_code, headers and body belong to MOCK integrations")
		}
	case IntegrationMock:
		if in.URI != "" {
			p.add(f+".uri", "a MOCK integration has no uri")
		}
		if in.Method != "" || in.Timeout != 0 {
			p.add(f, "method and timeout belong to HTTP_PROXY integrations")
		}
		if in.StatusCode < 100 || in.StatusCode > 599 {
			p.add(f+".status_code", "must be between 100 and 599")
		}
		for _, k := range slices.Sorted(maps.Keys(in.Headers)) {
			if !headerNameRE.MatchString(k) {
				p.add(f+".headers."+k, "is not a valid header name")
			} else if strings.ContainsAny(in.Headers[k], "\r\n\x00") {
				p.add(f+".headers."+k, "value must not contain line breaks")
			}
		}
		if len(in.Body) > 1<<20 {
			p.add(f+".body", "must be at most 1 MiB")
		}
	case "":
		p.add(f+".type", "is required (HTTP_PROXY or MOCK)")
	default:
		p.add(f+".type", "must be HTTP_PROXY or MOCK, not %q", in.Type)
	}
}

func (in *Integration) validateURI(p *problems, f string, tmpl *Template) {
	if in.URI == "" {
		p.add(f, "is required for HTTP_PROXY")
		return
	}
	params := map[string]bool{}
	if tmpl != nil {
		for _, n := range tmpl.Params() {
			params[n] = true
		}
	}
	bad := false
	probe := placeholder.ReplaceAllStringFunc(in.URI, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		switch {
		case strings.HasPrefix(m, "${"):
			if !stageVarKey.MatchString(sub[1]) {
				p.add(f, "stage variable %q: name must be letters, digits or _", sub[1])
				bad = true
			}
			return "stagevar"
		case tmpl != nil && !params[sub[2]]:
			p.add(f, "placeholder {%s} is not a parameter of the path", sub[2])
			bad = true
		}
		return "param"
	})
	if bad {
		return
	}
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		p.add(f, "must be an absolute http or https URL")
	}
}

func (a *API) validateCORS(p *problems) {
	c := a.CORS
	if c == nil {
		return
	}
	for i, o := range c.AllowOrigins {
		if o == "*" {
			if c.AllowCredentials {
				p.add(fmt.Sprintf("cors.allow_origins[%d]", i), "\"*\" cannot be combined with allow_credentials")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p.add(fmt.Sprintf("cors.allow_origins[%d]", i), "must be \"*\" or an origin such as https://example.com")
		}
	}
	for i, m := range c.AllowMethods {
		if m != "*" && !slices.Contains(Methods, m) {
			p.add(fmt.Sprintf("cors.allow_methods[%d]", i), "unsupported method %q", m)
		}
	}
	for i, h := range append(append([]string{}, c.AllowHeaders...), c.ExposeHeaders...) {
		if h != "*" && !headerNameRE.MatchString(h) {
			field := fmt.Sprintf("cors.allow_headers[%d]", i)
			if i >= len(c.AllowHeaders) {
				field = fmt.Sprintf("cors.expose_headers[%d]", i-len(c.AllowHeaders))
			}
			p.add(field, "%q is not a valid header name", h)
		}
	}
	if c.MaxAge < 0 {
		p.add("cors.max_age", "must not be negative")
	}
}

// ValidateStageName checks a stage name (it is the first path segment of
// every invoke URL).
func ValidateStageName(name string) error {
	if !stageNameRE.MatchString(name) {
		return &ValidationError{Errors: []FieldError{{Field: "stage", Message: "must be 1-128 letters, digits, - or _"}}}
	}
	return nil
}

// ValidateStageVariables checks stage variables against API Gateway's
// limits: at most 100, keys of letters, digits and _ up to 64 characters,
// values up to 512 characters of A-Za-z0-9-._~:/?#&=,
func ValidateStageVariables(vars map[string]string) error {
	var p problems
	if len(vars) > MaxStageVariables {
		p.add("variables", "at most %d stage variables are allowed, got %d", MaxStageVariables, len(vars))
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		f := "variables." + k
		switch {
		case len(k) > MaxStageVariableKey:
			p.add(f, "key must be at most %d characters", MaxStageVariableKey)
		case !stageVarKey.MatchString(k):
			p.add(f, "key must be letters, digits or _")
		}
		v := vars[k]
		switch {
		case len(v) > MaxStageVariableValue:
			p.add(f, "value must be at most %d characters, got %d", MaxStageVariableValue, len(v))
		case !stageVarVal.MatchString(v):
			p.add(f, "value may only use letters, digits and -._~:/?#&=,")
		}
	}
	return p.err()
}
