package auth

import (
	"errors"
	"net/http"
)

// Kind says how the gateway answers a failed authorization. Each kind maps
// to one of Amazon API Gateway's gateway responses (status, message and
// x-amzn-ErrorType), so clients written against API Gateway see the same
// answers from Portico.
type Kind int

// The kinds, in the order the gateway response table of API Gateway lists
// them. The zero Kind is not used: KindOf reports KindAuthorizerFailure for
// an error that is not an *Error.
const (
	// KindUnauthorized: credentials are missing or invalid (bad, expired
	// or not-yet-valid JWT; external authorizer said "Unauthorized" or an
	// identity source is missing). UNAUTHORIZED, 401.
	KindUnauthorized Kind = iota + 1
	// KindMissingAuthenticationToken: a SigV4 route got a request with
	// neither an Authorization header nor a presigned query.
	// MISSING_AUTHENTICATION_TOKEN, 403.
	KindMissingAuthenticationToken
	// KindAccessDenied: the caller is known but not allowed here (no
	// required scope, external authorizer denied). ACCESS_DENIED, 403.
	KindAccessDenied
	// KindInvalidAPIKey: the x-api-key header is missing, unknown or the
	// key is disabled. INVALID_API_KEY, 403 "Forbidden".
	KindInvalidAPIKey
	// KindInvalidSignature: a SigV4 signature is malformed, does not
	// match, is outside the time window or was already used.
	// INVALID_SIGNATURE, 403.
	KindInvalidSignature
	// KindUnrecognizedClient: the SigV4 access key id is not known.
	// API Gateway answers 403 UnrecognizedClientException.
	KindUnrecognizedClient
	// KindAuthorizerFailure: the external authorizer answered with
	// something unusable (bad status, bad JSON, no decision).
	// AUTHORIZER_CONFIGURATION_ERROR, 500.
	KindAuthorizerFailure
	// KindAuthorizerUnavailable: an authorizer dependency could not be
	// reached in time: the external authorizer timed out or refused the
	// connection, or no JWKS key set was ever loaded. AUTHORIZER_FAILURE;
	// API Gateway answers 500, Portico 503 so that clients retry.
	KindAuthorizerUnavailable
)

var kindInfo = [...]struct {
	status    int
	message   string
	errorType string
	name      string
}{
	KindUnauthorized:               {http.StatusUnauthorized, "Unauthorized", "UnauthorizedException", "unauthorized"},
	KindMissingAuthenticationToken: {http.StatusForbidden, "Missing Authentication Token", "MissingAuthenticationTokenException", "missing authentication token"},
	KindAccessDenied:               {http.StatusForbidden, "User is not authorized to access this resource", "AccessDeniedException", "access denied"},
	KindInvalidAPIKey:              {http.StatusForbidden, "Forbidden", "ForbiddenException", "invalid api key"},
	KindInvalidSignature:           {http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", "InvalidSignatureException", "invalid signature"},
	KindUnrecognizedClient:         {http.StatusForbidden, "The security token included in the request is invalid.", "UnrecognizedClientException", "unrecognized client"},
	KindAuthorizerFailure:          {http.StatusInternalServerError, "Internal server error", "AuthorizerConfigurationException", "authorizer failure"},
	KindAuthorizerUnavailable:      {http.StatusServiceUnavailable, "Service Unavailable", "AuthorizerFailureException", "authorizer unavailable"},
}

func (k Kind) info() int {
	if k <= 0 || int(k) >= len(kindInfo) {
		return int(KindAuthorizerFailure)
	}
	return int(k)
}

// Status is the HTTP status the gateway answers with.
func (k Kind) Status() int { return kindInfo[k.info()].status }

// Message is the client-facing message for the kind, as API Gateway words it.
func (k Kind) Message() string { return kindInfo[k.info()].message }

// ErrorType is the value for the x-amzn-ErrorType response header, which
// AWS SDK clients read to name the error.
func (k Kind) ErrorType() string { return kindInfo[k.info()].errorType }

// String names the kind for logs.
func (k Kind) String() string { return kindInfo[k.info()].name }

// Error is the one error type the authorizers return. Kind and Message are
// for the client; Reason and Err are for logs only and may name keys,
// claims or upstream addresses, so they must never reach a response body.
type Error struct {
	Kind Kind
	// Message replaces Kind.Message() in the response when set. It is only
	// set to text that is safe to show (the SigV4 scope and expiry messages
	// AWS itself sends).
	Message string
	// Reason is the internal explanation for logs.
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns the internal description: kind, reason and cause. It is
// meant for logs; render PublicMessage for clients.
func (e *Error) Error() string {
	s := "auth: " + e.Kind.String()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded)
// works for a timed-out authorizer.
func (e *Error) Unwrap() error { return e.Err }

// PublicMessage is the message to put in the client's response body.
func (e *Error) PublicMessage() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Kind.Message()
}

// KindOf returns the Kind of err, or KindAuthorizerFailure when err is not
// (and does not wrap) an *Error. It returns 0 for a nil err.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindAuthorizerFailure
}

func fail(k Kind, reason string) *Error { return &Error{Kind: k, Reason: reason} }

func failErr(k Kind, reason string, err error) *Error {
	return &Error{Kind: k, Reason: reason, Err: err}
}
