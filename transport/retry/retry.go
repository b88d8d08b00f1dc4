// Package retry classifies errors by what to do about them and computes
// backoff delays. Classification travels with the error value (errors.As),
// never with its text.
package retry

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Error carries a retry decision and an optional server-requested delay.
type Error struct {
	Err        error
	Retryable  bool
	RetryAfter time.Duration // zero when the peer did not ask for a delay
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying (bad request, rejected record).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err}
}

// Temporary marks err as worth retrying, after at least `after` if non-zero.
func Temporary(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Retryable: true, RetryAfter: after}
}

// IsRetryable reports whether err, or an error it wraps, was classified as
// retryable. Unclassified errors are retryable: for I/O (network, disk),
// trying again is the safe default; permanent failures must say so.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return true
}

// After returns the delay the peer asked for, if any.
func After(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Backoff is exponential backoff with full jitter, capped.
type Backoff struct {
	Base time.Duration // first delay, default 500ms
	Max  time.Duration // cap, default 5m
}

// Delay returns the wait before attempt n (n counts from 1), never less than
// the peer's Retry-After.
func (b Backoff) Delay(n int, retryAfter time.Duration) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxd <= 0 {
		maxd = 5 * time.Minute
	}
	d := base
	for i := 1; i < n && d < maxd; i++ {
		d *= 2
	}
	if d > maxd {
		d = maxd
	}
	// Full jitter spreads retries from many workers after an outage.
	d = d/2 + rand.N(d/2+1)
	if d < retryAfter {
		d = retryAfter
	}
	return d
}
