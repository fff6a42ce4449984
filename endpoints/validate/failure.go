package validate

// Failure kinds, named after the API Gateway gateway responses they map
// to. Both answer 400 Bad Request.
const (
	KindBadRequestParameters = "BAD_REQUEST_PARAMETERS"
	KindBadRequestBody       = "BAD_REQUEST_BODY"
)

// invalidBody starts every body failure message, as API Gateway words it.
const invalidBody = "Invalid request body"

// Failure is why a request was refused. It is deliberately not an error
// value, so that a nil *Failure can never turn into a non-nil error
// interface; the request pipeline turns it into the gateway's typed
// error.
type Failure struct {
	// Kind is KindBadRequestParameters or KindBadRequestBody.
	Kind string
	// Message is the client-facing text (see the package doc for the
	// formats). It may quote parts of the request, never configuration
	// other than the schema's own constraints.
	Message string
	// Rule names the first rule that failed, for logs and metrics:
	// "query.q", "header.x-key", "path.id", "body:json", "body:depth",
	// "body:number", "body:read" or "body:/price:minimum".
	Rule string
	// Err is the underlying error when the body could not be read
	// (Rule "body:read"), for logs and for telling an oversized body
	// (errors.As with *http.MaxBytesError, to answer 413) from a client
	// that went away. It is nil otherwise and never shown to the client.
	Err error
}
