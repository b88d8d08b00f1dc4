// Package dispatchtest holds what the tests of the dispatcher and of its
// Deliverers share: a ledger with records queued, their counts, and a
// dispatcher run for the length of a test.
package dispatchtest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// Quiet keeps expected retries and rejections out of the test output.
var Quiet = slog.New(slog.DiscardHandler)

// OpenLedger opens a ledger in a new folder, closed when the test ends.
func OpenLedger(t testing.TB) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Enqueue claims an input file called file and queues n records of it
// for dest, with the distinct assignments 10000000+first onwards.
func Enqueue(t testing.TB, l *ledger.Ledger, dest, file string, first, n int) {
	t.Helper()
	ctx := context.Background()
	id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "drop", Name: file, SHA256: file})
	if err != nil {
		t.Fatal(err)
	}
	var recs []ledger.Record
	for i := first; i < first+n; i++ {
		a := fmt.Sprintf("%08d", 10000000+i)
		recs = append(recs, ledger.Record{
			AssignmentNumber: a, EffectiveDate: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), Line: i + 2,
			Payload: fmt.Appendf(nil, `{"assignment_number":%q,"dcc":7.5,"effective_date":"2025-04-01"}`, a),
		})
	}
	res, err := l.EnqueueFile(ctx, id, dest, recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Enqueued != n {
		t.Fatalf("enqueued %d of %d", res.Enqueued, n)
	}
}

// Counts returns dest's deliveries by state.
func Counts(t testing.TB, l *ledger.Ledger, dest string) map[ledger.DeliveryState]int {
	t.Helper()
	st, err := l.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Destinations {
		if d.Destination == dest {
			return d.Counts
		}
	}
	return nil
}

// Start runs a dispatcher of cfg.Destination into sink until the test
// ends, and checks that Run returns cleanly once its context is
// cancelled. Unless cfg says otherwise, it logs nothing, backs off and
// probes within milliseconds.
func Start(t testing.TB, l *ledger.Ledger, sink dispatch.Deliverer, cfg dispatch.Config) *dispatch.Dispatcher {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = Quiet
	}
	if cfg.Backoff == (retry.Backoff{}) {
		cfg.Backoff = retry.Backoff{Base: time.Millisecond, Max: 10 * time.Millisecond}
	}
	if cfg.Breaker == (dispatch.BreakerConfig{}) {
		cfg.Breaker = dispatch.BreakerConfig{ProbeInterval: time.Millisecond, ProbeIntervalMax: 10 * time.Millisecond}
	}
	d, err := dispatch.New(l, sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return d
}
