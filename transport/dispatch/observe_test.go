package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// scripted answers by assignment number: 10000000 delivered, 10000001
// already there, 10000002 refused, 10000003 fails once then delivered.
type scripted struct {
	mu    sync.Mutex
	tried map[string]int
}

func (s *scripted) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	var rec struct {
		A string `json:"assignment_number"`
	}
	if err := json.Unmarshal(p.Record, &rec); err != nil {
		return dispatch.Receipt{}, retry.Permanent(err)
	}
	s.mu.Lock()
	s.tried[rec.A]++
	n := s.tried[rec.A]
	s.mu.Unlock()
	switch {
	case rec.A == "10000001":
		return dispatch.Receipt{Result: dispatch.AlreadyDelivered}, nil
	case rec.A == "10000002":
		return dispatch.Receipt{}, retry.Permanent(errors.New("422 refused"))
	case rec.A == "10000003" && n == 1:
		return dispatch.Receipt{}, retry.Temporary(errors.New("503 busy"), 0)
	}
	return dispatch.Receipt{Result: dispatch.Delivered}, nil
}

// outcomes counts what a DeliveryObserver is told.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) Delivered(destination, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if destination != dest || d < 0 {
		outcome = "bad call: " + destination
	}
	o.n[outcome]++
}

func (o *outcomes) get(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

func TestDispatcherTellsItsObserverEveryOutcome(t *testing.T) {
	l := openLedger(t)
	enqueue(t, l, "a.csv", 0, 4)
	obs := &outcomes{n: map[string]int{}}
	start(t, l, &scripted{tried: map[string]int{}}, dispatch.Config{Observer: obs, PollInterval: 10 * time.Millisecond})
	eventually(t, "four final outcomes", func() bool {
		return obs.get(dispatch.OutcomeDelivered) == 2 && obs.get(dispatch.OutcomeDuplicate) == 1 &&
			obs.get(dispatch.OutcomeRejected) == 1
	})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := map[string]int{dispatch.OutcomeDelivered: 2, dispatch.OutcomeDuplicate: 1, dispatch.OutcomeRejected: 1, dispatch.OutcomeRetried: 1}
	if len(obs.n) != len(want) {
		t.Errorf("outcomes %v, want %v", obs.n, want)
	}
	for k, v := range want {
		if obs.n[k] != v {
			t.Errorf("outcome %s told %d times, want %d (all: %v)", k, obs.n[k], v, obs.n)
		}
	}
}
