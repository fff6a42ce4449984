package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != APIKeyLength || strings.Trim(k, keyAlphabet) != "" {
			t.Fatalf("key %q is not %d letters and digits", k, APIKeyLength)
		}
		if seen[k] {
			t.Fatalf("key %q generated twice", k)
		}
		seen[k] = true
	}
	if h := HashKey("abc"); h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashKey(abc) = %s, want SHA-256 hex", h)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	good, _ := GenerateKey()
	off, _ := GenerateKey()
	keys, err := NewAPIKeys([]APIKey{
		{ID: "k1", Hash: HashKey(good), PlanID: "gold", Enabled: true},
		{ID: "k2", Hash: strings.ToUpper(HashKey(off)), PlanID: "gold"}, // disabled
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		values []string
		want   Kind
	}{
		{"valid", []string{good}, 0},
		{"disabled", []string{off}, KindInvalidAPIKey},
		{"unknown", []string{good[:39] + "x"}, KindInvalidAPIKey},
		{"the hash instead of the key", []string{HashKey(good)}, KindInvalidAPIKey},
		{"missing", nil, KindInvalidAPIKey},
		{"empty", []string{""}, KindInvalidAPIKey},
		{"two headers", []string{good, good}, KindInvalidAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header["X-Api-Key"] = tt.values
			id, err := keys.Verify(r)
			wantKind(t, err, tt.want)
			if tt.want == 0 && (id.KeyID != "k1" || id.PlanID != "gold" || id.Method != MethodAPIKey || id.CacheKey != "api_key:k1") {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestNewAPIKeysValidates(t *testing.T) {
	t.Parallel()
	h := HashKey("x")
	for _, tt := range []struct {
		keys []APIKey
		want string
	}{
		{[]APIKey{{Hash: h}}, "empty id"},
		{[]APIKey{{ID: "a", Hash: "zz"}}, "64 hex"},
		{[]APIKey{{ID: "a", Hash: h + "00"}}, "64 hex"},
		{[]APIKey{{ID: "a", Hash: h}, {ID: "a", Hash: HashKey("y")}}, "duplicate id"},
		{[]APIKey{{ID: "a", Hash: h}, {ID: "b", Hash: h}}, "duplicate hash"},
	} {
		if _, err := NewAPIKeys(tt.keys); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewAPIKeys(%v) = %v, want %q", tt.keys, err, tt.want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		k         Kind
		status    int
		message   string
		errorType string
	}{
		{KindUnauthorized, 401, "Unauthorized", "UnauthorizedException"},
		{KindMissingAuthenticationToken, 403, "Missing Authentication Token", "MissingAuthenticationTokenException"},
		{KindAccessDenied, 403, "User is not authorized to access this resource", "AccessDeniedException"},
		{KindInvalidAPIKey, 403, "Forbidden", "ForbiddenException"},
		{KindInvalidSignature, 403, "The request signature we calculated does not match", "InvalidSignatureException"},
		{KindUnrecognizedClient, 403, "The security token included in the request is invalid.", "UnrecognizedClientException"},
		{KindAuthorizerFailure, 500, "Internal server error", "AuthorizerConfigurationException"},
		{KindAuthorizerUnavailable, 503, "Service Unavailable", "AuthorizerFailureException"},
		{Kind(99), 500, "Internal server error", "AuthorizerConfigurationException"},
	} {
		if tt.k.Status() != tt.status || !strings.HasPrefix(tt.k.Message(), tt.message) || tt.k.ErrorType() != tt.errorType {
			t.Errorf("%d: %d %q %q", tt.k, tt.k.Status(), tt.k.Message(), tt.k.ErrorType())
		}
	}
	e := &Error{Kind: KindAccessDenied, Reason: "secret detail"}
	if strings.Contains(e.PublicMessage(), "secret") || !strings.Contains(e.Error(), "secret detail") {
		t.Errorf("public %q, internal %q", e.PublicMessage(), e.Error())
	}
	if KindOf(nil) != 0 || KindOf(e) != KindAccessDenied || KindOf(http.ErrHandlerTimeout) != KindAuthorizerFailure {
		t.Error("KindOf")
	}
}
