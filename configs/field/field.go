// Package field holds the JSON duration and field-error types shared by
// configs and the packages configs imports (such as waf), so that they are
// written once. It imports only the standard library, so any of them can
// depend on it; configs and waf give the types their usual names with
// aliases.
package field

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written as a string such as "5s" or "250ms".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string ("5m0s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a string such as "5s" or "5m"; "" is zero.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`duration must be a string such as "5s" or "5m"`)
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// Error is one problem in a definition, with the path of the field.
type Error struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error returns "field: message", or only the message when Field is empty.
func (e Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Errors lists every problem found at once.
type Errors struct {
	Errors []Error
}

// Error joins the messages of all problems with "; ".
func (e *Errors) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "; ")
}
