package limit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Spec is one limit: either a rate limit (Rate, Burst) or a quota (Limit,
// Period, Offset). A Spec with a Period is a quota; any other is a rate
// limit. Build one with RateSpec or QuotaSpec.
type Spec struct {
	// Rate is the steady rate in requests per second.
	Rate float64 `json:"r,omitempty"`
	// Burst is the bucket's capacity. A burst of 0 admits nothing.
	Burst int `json:"b,omitempty"`
	// Limit is the number of requests a quota allows per window.
	Limit int `json:"l,omitempty"`
	// Period and Offset pick the quota window (see Window).
	Period Period `json:"p,omitempty"`
	Offset int    `json:"o,omitempty"`
}

// RateSpec is a token-bucket limit of rate requests per second with
// capacity burst.
func RateSpec(rate float64, burst int) Spec { return Spec{Rate: rate, Burst: burst} }

// QuotaSpec is a quota of limit requests per window of period p.
func QuotaSpec(limit int, p Period, offset int) Spec {
	return Spec{Limit: limit, Period: p, Offset: offset}
}

// IsQuota reports whether s is a quota rather than a rate limit.
func (s Spec) IsQuota() bool { return s.Period != "" }

// Validate reports every problem of s.
func (s Spec) Validate() error {
	if s.IsQuota() {
		err := ValidateQuota(s.Limit, s.Period, s.Offset)
		if s.Rate != 0 || s.Burst != 0 {
			err = errors.Join(err, errors.New("spec sets both a quota and a rate; use one spec per limit"))
		}
		return err
	}
	var errs []error
	if s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate must be a finite number >= 0, got %v", s.Rate))
	}
	if s.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst must be >= 0, got %d", s.Burst))
	}
	if s.Limit != 0 || s.Offset != 0 {
		errs = append(errs, errors.New("rate spec sets a quota limit or offset without a period"))
	}
	return errors.Join(errs...)
}

// Status is the outcome of Limiter.Allow.
type Status uint8

// Statuses. API Gateway answers 429 for both denials, with the messages
// "Too Many Requests" (throttled) and "Limit Exceeded" (quota).
const (
	Allowed       Status = iota // the request may proceed
	Throttled                   // over the rate, or no budget at hand yet; retry soon
	QuotaExceeded               // the quota of the current window is used up
)

func (s Status) String() string {
	switch s {
	case Allowed:
		return "allowed"
	case Throttled:
		return "throttled"
	case QuotaExceeded:
		return "quota exceeded"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Decision is the answer of Limiter.Allow.
type Decision struct {
	Status Status
	// RetryAfter is a hint for the Retry-After header when the request is
	// denied: the time until the local bucket holds a token, the renewal
	// interval when waiting for a lease, or the time until the quota
	// window ends. It is Never when the request can never be admitted.
	RetryAfter time.Duration
	// Degraded says the decision was made without a current lease: from
	// the node's local share (a first request, or the coordinator is
	// unreachable) or from a lease that has outlived its lifetime.
	Degraded bool
	// Err is set when the spec is invalid or the limiter holds too many
	// keys (ErrFull); the request is denied (Status Throttled).
	Err error
}

// OK reports whether the request may proceed.
func (d Decision) OK() bool { return d.Status == Allowed }

// Never is the RetryAfter of a request that can never be admitted (more
// tokens than the burst, or a rate of 0 with the bucket empty).
const Never = time.Duration(math.MaxInt64)

// Errors callers branch on.
var (
	// ErrFull: a new key would pass the limiter's or coordinator's key cap.
	ErrFull = errors.New("limit: too many keys")
	// ErrBatchTooLarge: a lease request carries more items than allowed.
	ErrBatchTooLarge = errors.New("limit: lease request has too many items")
)
