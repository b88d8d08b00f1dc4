package retry

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// samples is how many delays each case draws: the jitter is random, so
// every draw must be inside the bounds.
const samples = 200

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	custom := Backoff{Base: 100 * ms, Max: time.Second}
	for _, tc := range []struct {
		name       string
		b          Backoff
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration // every delay is within [lo, hi]
	}{
		{"first attempt waits up to base", custom, 1, 0, 50 * ms, 100 * ms},
		{"attempt 0 is the first", custom, 0, 0, 50 * ms, 100 * ms},
		{"second doubles", custom, 2, 0, 100 * ms, 200 * ms},
		{"fourth", custom, 4, 0, 400 * ms, 800 * ms},
		{"fifth would be 1.6s: capped at max", custom, 5, 0, 500 * ms, time.Second},
		{"many attempts stay capped", custom, 60, 0, 500 * ms, time.Second},
		{"a huge attempt number does not overflow", custom, 1 << 20, 0, 500 * ms, time.Second},
		{"defaults: base 500ms", Backoff{}, 1, 0, 250 * ms, 500 * ms},
		{"defaults: max 5m", Backoff{}, 40, 0, 150 * time.Second, 5 * time.Minute},
		{"max below base: max wins", Backoff{Base: time.Second, Max: 200 * ms}, 1, 0, 100 * ms, 200 * ms},
		{"the peer's Retry-After is a floor", custom, 1, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		{"a short Retry-After changes nothing", custom, 2, ms, 100 * ms, 200 * ms},
		{"Retry-After beyond the cap is honoured", custom, 60, time.Minute, time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range samples {
				if d := tc.b.Delay(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
					t.Fatalf("Delay(%d, %v) = %v, want within [%v, %v]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
				}
			}
		})
	}
}

// TestBackoffJitters: delays of the same attempt spread over the upper
// half of the window, so that workers retrying after an outage do not
// all call at once.
func TestBackoffJitters(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	lo, hi := time.Hour, time.Duration(0)
	for range samples {
		d := b.Delay(3, 0)
		seen[d] = true
		lo, hi = min(lo, d), max(hi, d)
	}
	if len(seen) < samples/2 {
		t.Errorf("%d distinct delays in %d draws: not jittered", len(seen), samples)
	}
	// 200 uniform draws over [2s, 4s] leave gaps of well under 500ms at
	// either end, but for a 1 in 10^12 chance.
	if lo > 2500*time.Millisecond || hi < 3500*time.Millisecond {
		t.Errorf("delays span [%v, %v], want most of [2s, 4s]", lo, hi)
	}
}

func TestClassification(t *testing.T) {
	base := io.ErrUnexpectedEOF
	for _, tc := range []struct {
		name      string
		err       error
		retryable bool
		after     time.Duration
	}{
		{"nil", nil, false, 0},
		{"unclassified: retry (I/O)", base, true, 0},
		{"permanent", Permanent(base), false, 0},
		{"temporary", Temporary(base, 0), true, 0},
		{"temporary with Retry-After", Temporary(base, 7*time.Second), true, 7 * time.Second},
		{"wrapped permanent", fmt.Errorf("post record: %w", Permanent(base)), false, 0},
		{"wrapped temporary", fmt.Errorf("post record: %w", Temporary(base, time.Second)), true, time.Second},
		{"joined: the first classification found", errors.Join(errors.New("other"), Permanent(base)), false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRetryable(tc.err); got != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tc.retryable)
			}
			if got := After(tc.err); got != tc.after {
				t.Errorf("After = %v, want %v", got, tc.after)
			}
			if tc.err != nil && !errors.Is(tc.err, base) {
				t.Errorf("%v does not unwrap to its cause", tc.err)
			}
		})
	}
	if Permanent(nil) != nil || Temporary(nil, time.Second) != nil {
		t.Error("classifying nil gives an error")
	}
	if got := Permanent(base).Error(); got != base.Error() {
		t.Errorf("a classified error reads %q, want its cause's text %q", got, base.Error())
	}
}
