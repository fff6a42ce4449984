package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// check validates body against the model.
func (m *model) check(body []byte) *Failure {
	doc, f := decode(body)
	if f != nil {
		return f
	}
	err := m.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return bodyFailure("body:schema", "") // not produced by the library today
	}
	return schemaFailure(ve)
}

// decode parses body as one JSON value with numbers as json.Number. An
// empty or whitespace-only body is null.
func decode(body []byte) (any, *Failure) {
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, nil
	}
	if f := scanLimits(body); f != nil {
		return nil, f
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, syntaxFailure(err, len(body))
	}
	if end := skipSpace(body, int(dec.InputOffset())); end < len(body) {
		return nil, bodyFailure("body:json", "invalid JSON at offset "+strconv.Itoa(end)+
			": invalid character "+strconv.QuoteRune(firstRune(body[end:]))+" after top-level value")
	}
	return doc, nil
}

// syntaxFailure reports a decoder error with the offset of the byte it
// stopped at (the input length for a truncated document).
func syntaxFailure(err error, n int) *Failure {
	off, msg := n, "unexpected end of JSON input"
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off, msg = int(se.Offset)-1, se.Error()
		if off < 0 {
			off = 0
		}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	default:
		msg = err.Error()
	}
	return bodyFailure("body:json", "invalid JSON at offset "+strconv.Itoa(off)+": "+msg)
}

// skipSpace returns the index of the first non-whitespace byte of b at
// or after i (JSON whitespace, RFC 8259 section 2), or len(b).
func skipSpace(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// firstRune is the first character of b, or the replacement character
// for a byte that does not start valid UTF-8.
func firstRune(b []byte) rune {
	r, _ := utf8.DecodeRune(b)
	return r
}

// bodyFailure is a BAD_REQUEST_BODY failure with detail after the
// standard message.
func bodyFailure(rule, detail string) *Failure {
	msg := invalidBody
	if detail != "" {
		msg += ": " + detail
	}
	return &Failure{Kind: KindBadRequestBody, Message: msg, Rule: rule}
}
