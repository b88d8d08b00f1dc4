package dispatch_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// idGiver accepts every record with a large id of the receiver's, so that
// recording the outcome grows the ledger, and counts the calls per key.
type idGiver struct {
	mu    sync.Mutex
	calls map[string]int
}

func (g *idGiver) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	g.mu.Lock()
	g.calls[p.Key]++
	g.mu.Unlock()
	return dispatch.Receipt{Result: dispatch.Delivered, Requests: 1, RemoteID: "ESR-" + strings.Repeat("9", 8000)}, nil
}

func (g *idGiver) snapshot() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.calls))
	for k, v := range g.calls {
		out[k] = v
	}
	return out
}

// TestOutcomeWithoutRoomIsRecordedNotSentAgain: records delivered while
// the ledger is full (LimitGrowth: a real SQLITE_FULL) cannot be marked.
// The dispatcher stops handing out more, returns the storage-full error,
// and when it runs again (the hub resumed, there is room) it records
// those outcomes rather than sending the records a second time.
func TestOutcomeWithoutRoomIsRecordedNotSentAgain(t *testing.T) {
	l := openLedger(t)
	const n = 12
	enqueue(t, l, "a.csv", 0, n)
	if err := l.LimitGrowth(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	sink := &idGiver{calls: map[string]int{}}
	obs := &outcomes{n: map[string]int{}}
	d, err := dispatch.New(l, sink, dispatch.Config{Destination: dest, Logger: quiet, Observer: obs, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(t.Context()) }()
	select {
	case err := <-done:
		if !ledger.IsStorageFull(err) {
			t.Fatalf("Run on a full ledger returned %v, want a storage-full error", err)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("Run did not return on a full ledger")
	}
	first := sink.snapshot()
	if len(first) == 0 || len(first) >= n {
		t.Fatalf("%d records sent before the ledger was found full, want some and not all", len(first))
	}
	if c := counts(t, l); c[ledger.Pending] != n {
		t.Fatalf("ledger counts %v while full, want all %d pending", c, n)
	}
	if got := obs.get(dispatch.OutcomeDelivered); got != 0 {
		t.Errorf("the observer was told of %d deliveries not recorded", got)
	}

	// The same dispatcher runs again, as the hub's does once it resumes.
	l.LiftLimit()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// The observer is told after the mark: wait for both.
	eventually(t, "every record delivered", func() bool {
		return counts(t, l)[ledger.Delivered] == n && obs.get(dispatch.OutcomeDelivered) == n
	})
	calls := sink.snapshot()
	if len(calls) != n {
		t.Errorf("%d records sent, want %d", len(calls), n)
	}
	for key, c := range calls {
		if c != 1 {
			t.Errorf("record %s sent %d times, want once", key[:8], c)
		}
	}
	for id := int64(1); id <= n; id++ {
		dl, err := l.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if dl.Attempts != 1 || !strings.HasPrefix(dl.RemoteID, "ESR-") {
			t.Errorf("delivery %d: %d attempts, remote id %.8q; want 1 and the receiver's id", id, dl.Attempts, dl.RemoteID)
		}
	}
	if got := obs.get(dispatch.OutcomeDelivered); got != n {
		t.Errorf("the observer was told of %d deliveries, want %d", got, n)
	}
}

// TestStopLetsRequestsInFlightEnd: closing RunUntil's stop (the hub
// pauses) hands nothing more out but lets the requests in flight end and
// records their outcomes, where cancelling its context (shutdown) cuts
// them off.
func TestStopLetsRequestsInFlightEnd(t *testing.T) {
	l := openLedger(t)
	enqueue(t, l, "a.csv", 0, 20)
	sink := &slowDeliverer{release: make(chan struct{})}
	d, err := dispatch.New(l, sink, dispatch.Config{Destination: dest, Concurrency: 3, Logger: quiet, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.RunUntil(t.Context(), stop) }()
	eventually(t, "three deliveries in flight", func() bool {
		active, _, _ := sink.snapshot()
		return active == 3
	})
	close(stop)
	endAfterStop(t, sink, 3, done)
	_, _, calls := sink.snapshot()
	c := counts(t, l)
	if calls != 3 || c[ledger.Delivered] != 3 || c[ledger.Pending] != 17 {
		t.Errorf("%d calls, counts %v; want the 3 in flight delivered and recorded, 17 pending", calls, c)
	}
}

// TestStopAnnouncesTheWaitForRequestsInFlight: while requests are in
// flight and the dispatcher's loop waits for its next poll, it announces
// the poll (and the slack) to its Heartbeat; once stop closes (the hub
// pauses), it waits for those requests only, however long they take, and
// announces that (0), so that a liveness check does not take the pause
// for a stall.
func TestStopAnnouncesTheWaitForRequestsInFlight(t *testing.T) {
	l := openLedger(t)
	enqueue(t, l, "a.csv", 0, 3)
	sink := &slowDeliverer{release: make(chan struct{})}
	var mu sync.Mutex
	var beats []time.Duration
	last := func() (time.Duration, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(beats) == 0 {
			return -1, 0
		}
		return beats[len(beats)-1], len(beats)
	}
	// Four workers for three records: the loop is not busy, so it waits
	// for its poll with the three in flight.
	d, err := dispatch.New(l, sink, dispatch.Config{Destination: dest, Concurrency: 4, Logger: quiet, PollInterval: time.Hour,
		Heartbeat: func(within time.Duration) {
			mu.Lock()
			beats = append(beats, within)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.RunUntil(t.Context(), stop) }()
	polling := time.Hour + dispatch.HeartbeatSlack
	eventually(t, "three deliveries in flight and the loop waiting for its poll", func() bool {
		active, _, _ := sink.snapshot()
		b, _ := last()
		return active == 3 && b == polling
	})
	_, before := last()
	close(stop)
	eventually(t, "the wait for the requests in flight announced", func() bool {
		b, n := last()
		return n > before && b == 0
	})
	if active, _, _ := sink.snapshot(); active != 3 {
		t.Errorf("%d requests in flight after the stop, want the 3 still going", active)
	}
	endAfterStop(t, sink, 3, done)
}

// endAfterStop lets n requests held by sink end and waits for the
// RunUntil whose stop was closed, reporting its error on done, to return
// nil.
func endAfterStop(t *testing.T, sink *slowDeliverer, n int, done <-chan error) {
	t.Helper()
	for range n {
		sink.release <- struct{}{}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunUntil returned %v", err)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("RunUntil did not return after stop")
	}
}

// TestCloseRecordsWhatWasKept: a dispatcher that will not run again (the
// hub stops during a pause) records the outcomes it kept, if there is room
// by then; the rest of the queue stays pending.
func TestCloseRecordsWhatWasKept(t *testing.T) {
	l := openLedger(t)
	const n = 12
	enqueue(t, l, "a.csv", 0, n)
	if err := l.LimitGrowth(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	sink := &idGiver{calls: map[string]int{}}
	d, err := dispatch.New(l, sink, dispatch.Config{Destination: dest, Logger: quiet, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(t.Context()); !ledger.IsStorageFull(err) {
		t.Fatalf("Run on a full ledger returned %v, want a storage-full error", err)
	}
	sent := len(sink.snapshot())
	d.Close() // still no room: kept
	if c := counts(t, l); c[ledger.Pending] != n {
		t.Fatalf("counts %v after Close without room, want all pending", c)
	}
	l.LiftLimit()
	d.Close()
	if c := counts(t, l); c[ledger.Delivered] != sent || c[ledger.Pending] != n-sent {
		t.Errorf("counts %v after Close, want the %d sent delivered and the rest pending", c, sent)
	}
	if got := len(sink.snapshot()); got != sent {
		t.Errorf("Close sent %d more", got-sent)
	}
}
