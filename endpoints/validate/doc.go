// Package validate checks a request against a method's declared
// requirements before the gateway calls the integration, the way Amazon
// API Gateway's request validators do: required path, query string and
// header parameters, and a JSON Schema model for the body.
//
// It exists so that the schema compiler, the body reader and the limits
// that keep client input from hurting the node live in one small package
// with no dependency on configs/ or cluster/. The config layer converts a
// method's settings into a Spec; Compile turns it into an immutable
// *Validator once per committed configuration (schemas are compiled then,
// never per request); the request pipeline calls Validator.Check and
// renders the *Failure it gets back. CheckSchema lets config validation
// reject a bad model before it is stored.
//
// # Parameters
//
// With Spec.ValidateParams, every name in RequiredPath, RequiredQuery and
// RequiredHeaders must be present and not blank (whitespace only counts
// as blank), as API Gateway words it: "included and not blank". Header
// names match case-insensitively; for a repeated query name or header one
// non-blank value is enough. All missing names are reported at once, path
// names first, then query, then headers, each in declaration order:
//
//	Missing required request parameters: [id, q, x-api-version]
//
// # Body
//
// With Spec.ValidateBody, the model for the request's Content-Type media
// type (parameters such as charset are ignored; the match is
// case-insensitive) is looked up in Spec.Models, then the "$default"
// entry. A request without a Content-Type is treated as application/json,
// as API Gateway does. A content type with no model and no "$default" is
// not validated and passes, again as in API Gateway.
//
// Check reads the whole body (the caller caps it, e.g. with
// http.MaxBytesReader), replaces r.Body with a reader over the bytes it
// read and returns them, so the integration sees the body unchanged and
// the caller needs to do nothing more. r.ContentLength is left as it
// was. When Check does not need the body it does not touch r.Body and
// returns nil.
//
// The body is decoded with numbers kept as decimal text (json.Number), so
// integers beyond 2^53 and long decimals are compared exactly. An empty or
// whitespace-only body is validated as JSON null: a schema that requires
// an object rejects it, as API Gateway does. Before decoding, one pass
// over the bytes enforces limits that protect the node rather than check
// the API contract:
//
//   - nesting deeper than MaxDepth arrays and objects is rejected, so a
//     10 MB "[[[[..." costs one linear scan and never a deep recursion in
//     the decoder or the schema validator (encoding/json alone stops at
//     10000 levels);
//   - a number literal longer than MaxNumberLen bytes, or with an
//     exponent beyond ±MaxExponent, is rejected: the schema library turns
//     numbers into big.Rat, and "1e999999" alone costs tens of
//     milliseconds there. Every float64 fits easily inside these limits.
//
// # Messages
//
// Every failure answers 400 with a message in the API Gateway style,
// with the detail a client needs to fix the request after the colon:
//
//	Missing required request parameters: [q]
//	Invalid request body: invalid JSON at offset 12: invalid character '}' looking for beginning of object key string
//	Invalid request body: invalid JSON at offset 11: unexpected end of JSON input
//	Invalid request body: nesting depth exceeds 512 at offset 512
//	Invalid request body: number at offset 9 exceeds 256 bytes
//	Invalid request body: number at offset 9 has an exponent beyond ±400
//	Invalid request body: /price: minimum: got -1, want 0
//	Invalid request body: (root): required: missing property 'name'; /tags/0: type: got number, want string
//
// Offsets count bytes from the start of the body, 0 for the first byte.
// Schema failures list the leaf causes reported by the schema library
// (instance location as a JSON pointer, "(root)" for the whole body, the
// keyword, the library's message), sorted by location so that the text
// does not change between runs, at most MaxCauses of them followed by
// "(and N more)"; each cause is cut at 200 bytes because the library
// quotes client strings in some messages. Numeric bounds and counts are
// written exactly ("got 9007199254740993, want 9007199254740992"), not
// through float64 or localized digit grouping as the library would. Failure.Rule names the first
// failing rule for logs and metrics: "path.id", "query.q", "header.x-key",
// "body:json", "body:depth", "body:number", "body:read" or
// "body:/price:minimum".
//
// # Schemas
//
// Models are compiled with github.com/santhosh-tekuri/jsonschema/v6.
// A schema without "$schema" is read as draft-04, like API Gateway models
// (so "exclusiveMinimum": true is the boolean form); "$schema" may name
// draft-06, draft-07, 2019-09 or 2020-12 instead. References inside the
// model ("#/definitions/...") work; any other reference, a custom
// "$schema" meta-schema included, is a compile error: the loader refuses
// every URL, so a model can never make the gateway open a file or a
// network connection. Patterns use Go's RE2 syntax, so lookarounds and
// back-references are compile errors. "format" is asserted the way the
// library does for the schema's draft (on for draft-04 to draft-07, off
// for 2019-09 and 2020-12 unless the meta-schema asks for it).
package validate
