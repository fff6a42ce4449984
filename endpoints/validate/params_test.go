package validate

import (
	"net/http"
	"testing"
)

func TestCheckParams(t *testing.T) {
	t.Parallel()
	spec := Spec{
		RequiredPath:    []string{"id"},
		RequiredQuery:   []string{"q", "page"},
		RequiredHeaders: []string{"x-api-version", "X-Tenant"},
		ValidateParams:  true,
	}
	v := mustCompile(t, spec)
	all := map[string]string{"id": "42"}
	full := []string{"X-Api-Version", "2", "x-tenant", "acme"}
	tests := []struct {
		name    string
		target  string
		path    map[string]string
		headers []string
		rule    string // "" for success
		message string
	}{
		{name: "all present", target: "/items/42?q=a&page=1", path: all, headers: full},
		{name: "header names match any case", target: "/?q=a&page=1", path: all, headers: []string{"X-API-VERSION", "2", "X-TENANT", "acme"}},
		{name: "one non-blank value among repeats is enough", target: "/?q=&q=b&page=1", path: all, headers: append([]string{"x-tenant", ""}, full...)},
		{
			name: "everything missing, listed in declaration order", target: "/",
			rule:    "path.id",
			message: "Missing required request parameters: [id, q, page, x-api-version, X-Tenant]",
		},
		{
			name: "one query name missing", target: "/?q=a", path: all, headers: full,
			rule: "query.page", message: "Missing required request parameters: [page]",
		},
		{
			name: "blank values count as missing", target: "/?q=&page=%20", path: map[string]string{"id": " "}, headers: []string{"x-api-version", "  ", "x-tenant", "acme"},
			rule: "path.id", message: "Missing required request parameters: [id, q, page, x-api-version]",
		},
		{
			name: "a query name without value is missing", target: "/?q&page=1", path: all, headers: full,
			rule: "query.q", message: "Missing required request parameters: [q]",
		},
		{
			name: "a malformed pair only hides itself", target: "/?q=%zz&page=1", path: all, headers: full,
			rule: "query.q", message: "Missing required request parameters: [q]",
		},
		{
			name: "header missing", target: "/?q=a&page=1", path: all, headers: []string{"x-tenant", "acme"},
			rule: "header.x-api-version", message: "Missing required request parameters: [x-api-version]",
		},
		{
			name: "query names are case-sensitive", target: "/?Q=a&page=1", path: all, headers: full,
			rule: "query.q", message: "Missing required request parameters: [q]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRequest(tt.target, "", "", tt.headers...)
			body, f := v.Check(r, pathParams(tt.path))
			if body != nil {
				t.Errorf("body = %q, want nil: parameters never read the body", body)
			}
			if tt.rule == "" {
				if f != nil {
					t.Fatalf("Check = %s, want success", failureString(f))
				}
				return
			}
			if f == nil {
				t.Fatalf("Check succeeded, want %q", tt.message)
			}
			if f.Kind != KindBadRequestParameters || f.Rule != tt.rule || f.Message != tt.message {
				t.Errorf("Check = %s\nwant %s | %s | %s", failureString(f), KindBadRequestParameters, tt.rule, tt.message)
			}
		})
	}
}

func TestCheckParamsNilPathFunc(t *testing.T) {
	t.Parallel()
	v := mustCompile(t, Spec{RequiredPath: []string{"id"}, ValidateParams: true})
	_, f := v.Check(newRequest("/", "", ""), nil)
	if f == nil || f.Message != "Missing required request parameters: [id]" {
		t.Fatalf("Check = %s, want id missing", failureString(f))
	}
}

// TestCheckSwitches: parameters are checked only with ValidateParams,
// bodies only with ValidateBody, and a parameter failure comes first and
// leaves the body unread.
func TestCheckSwitches(t *testing.T) {
	t.Parallel()
	base := bodySpec()
	base.RequiredQuery = []string{"q"}
	const bad = `{"price": -1}`
	tests := []struct {
		name           string
		params, bodies bool
		kind           string
	}{
		{name: "nothing", kind: ""},
		{name: "params only", params: true, kind: KindBadRequestParameters},
		{name: "body only", bodies: true, kind: KindBadRequestBody},
		{name: "both: params first", params: true, bodies: true, kind: KindBadRequestParameters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := base
			spec.ValidateParams, spec.ValidateBody = tt.params, tt.bodies
			v := mustCompile(t, spec)
			r := newRequest("/", "application/json", bad)
			_, f := v.Check(r, nil)
			got := ""
			if f != nil {
				got = f.Kind
			}
			if got != tt.kind {
				t.Fatalf("Check = %s, want kind %q", failureString(f), tt.kind)
			}
			if tt.kind != KindBadRequestBody {
				if rest := readAll(t, r); rest != bad {
					t.Errorf("r.Body = %q, want the untouched %q", rest, bad)
				}
			}
		})
	}
}

func TestNilValidator(t *testing.T) {
	t.Parallel()
	var v *Validator
	r := newRequest("/", "application/json", "{")
	if body, f := v.Check(r, nil); body != nil || f != nil {
		t.Fatalf("nil Validator: Check = %q, %s; want nil, nil", body, failureString(f))
	}
	if r.Method != http.MethodPost || readAll(t, r) != "{" {
		t.Fatal("nil Validator touched the request")
	}
}
