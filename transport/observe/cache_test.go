package observe

import (
	"errors"
	"testing"
	"time"
)

func TestCachedReadsAgainAfterTTLOrNewGeneration(t *testing.T) {
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	c := cached[int]{now: func() time.Time { return now }}
	loads := 0
	load := func() (int, error) {
		loads++
		if loads == 2 {
			return 0, errors.New("ledger busy")
		}
		return loads, nil
	}
	for _, step := range []struct {
		advance   time.Duration
		gen       uint64
		want      int
		wantErr   bool
		wantLoads int
	}{
		{0, 0, 1, false, 1},
		{time.Second, 0, 1, false, 1},           // within the TTL: cached
		{CacheTTL - time.Second, 0, 0, true, 2}, // CacheTTL old: read again (and it fails)
		{time.Second, 0, 0, true, 2},            // the error is kept too
		{0, 1, 3, false, 3},                     // a new generation: read again
		{-time.Minute, 1, 4, false, 4},          // the clock went back: read again
	} {
		now = now.Add(step.advance)
		got, err := c.get(step.gen, load)
		if got != step.want || (err != nil) != step.wantErr || loads != step.wantLoads {
			t.Errorf("after %v at gen %d: got %d, %v after %d loads; want %d, error %v after %d loads",
				step.advance, step.gen, got, err, loads, step.want, step.wantErr, step.wantLoads)
		}
	}
}
