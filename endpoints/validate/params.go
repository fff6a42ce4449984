package validate

import (
	"net/http"
	"net/url"
	"strings"
)

// location is where a required parameter lives.
type location uint8

const (
	inPath location = iota
	inQuery
	inHeader
)

func (l location) String() string {
	switch l {
	case inPath:
		return "path"
	case inQuery:
		return "query"
	default:
		return "header"
	}
}

// param is one required parameter.
type param struct {
	in   location
	name string
	rule string // Failure.Rule when missing: "query.q"
}

// checkParameters reports every missing parameter in one Failure.
func (v *Validator) checkParameters(r *http.Request, pathParams func(string) string) *Failure {
	var (
		query   url.Values
		missing []string
		rule    string
	)
	for _, p := range v.params {
		var ok bool
		switch p.in {
		case inPath:
			ok = pathParams != nil && !blank(pathParams(p.name))
		case inQuery:
			if query == nil && r.URL != nil {
				// ParseQuery keeps the pairs it could parse; a malformed
				// pair only makes its own name missing.
				query, _ = url.ParseQuery(r.URL.RawQuery)
			}
			ok = anyPresent(query[p.name])
		case inHeader:
			ok = anyPresent(r.Header.Values(p.name))
		}
		if !ok {
			if rule == "" {
				rule = p.rule
			}
			missing = append(missing, p.name)
		}
	}
	if missing == nil {
		return nil
	}
	return &Failure{
		Kind:    KindBadRequestParameters,
		Message: "Missing required request parameters: [" + strings.Join(missing, ", ") + "]",
		Rule:    rule,
	}
}

// anyPresent reports whether one of values is not blank.
func anyPresent(values []string) bool {
	for _, s := range values {
		if !blank(s) {
			return true
		}
	}
	return false
}

// blank reports whether s is empty or only whitespace.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
