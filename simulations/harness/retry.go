package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// permanentError marks an error that Retry must not retry.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err so that Retry returns it at once.
func Permanent(err error) error { return permanentError{err} }

// Retry calls f every interval until it returns nil, returns a Permanent
// error, ctx ends or timeout passes; it returns f's last error.
func Retry(parent context.Context, timeout, interval time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := f()
		var pe permanentError
		if err == nil || errors.As(err, &pe) {
			return err
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return context.Cause(parent)
			}
			return fmt.Errorf("%w (gave up after %v)", err, timeout)
		case <-tick.C:
		}
	}
}
