package auth

import "net/http"

// Method names the authorizer that produced an Identity.
type Method string

// The authorizer methods.
const (
	MethodAPIKey   Method = "api_key"
	MethodJWT      Method = "jwt"
	MethodSigV4    Method = "sigv4"
	MethodExternal Method = "external"
)

// Identity is who a request was authorized as. The authorizers return it
// by value; its maps may be shared between calls (an external authorizer's
// cached answer) and must be treated as read-only.
type Identity struct {
	// Method is the authorizer that accepted the request.
	Method Method
	// Principal names the caller: the API key id, the JWT "sub", the
	// SigV4 credential's principal or the external authorizer's principal.
	Principal string
	// CacheKey is stable per caller and distinct across methods and
	// issuers ("jwt:<iss> <sub>", "api_key:<id>", ...). It is meant for
	// per-caller throttling and for response cache keys that vary by
	// caller.
	CacheKey string
	// KeyID is the API key id or the SigV4 access key id.
	KeyID string
	// PlanID is the usage plan of an API key.
	PlanID string
	// Scopes are the JWT's scopes ("scope" or "scp").
	Scopes []string
	// Claims are the JWT claims chosen in ClaimsToHeaders (by claim name),
	// or the external authorizer's context.
	Claims map[string]string
	// Headers are header name → value to set on the request to the
	// backend (from JWTConfig.ClaimsToHeaders or
	// ExternalConfig.ContextToHeaders). Values that are not valid in a
	// header field are left out. The pipeline must delete every
	// configured header name from the client's request first (HeaderNames
	// on the authorizer lists them), so a client cannot supply its own.
	Headers map[string]string
}

// SetHeaders deletes names from h and then sets id.Headers on it. Pass the
// authorizer's HeaderNames() as names so a client can never inject a value
// the authorizer did not produce.
func (id Identity) SetHeaders(h http.Header, names []string) {
	for _, n := range names {
		h.Del(n)
	}
	for n, v := range id.Headers {
		h.Set(n, v)
	}
}

// validHeaderValue reports whether v may be sent as a header field value:
// no control characters other than horizontal tab (RFC 9110 §5.5).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderName reports whether n is an RFC 9110 token.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}
