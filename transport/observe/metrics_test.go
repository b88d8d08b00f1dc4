package observe_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// gauges gathers r's metric name into label value → value, keyed by the
// metric's only label.
func gauges(t *testing.T, r *observe.Recorder, name string) map[string]float64 {
	t.Helper()
	mfs, err := r.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 {
				t.Fatalf("%s has labels %v, want one", name, m.GetLabel())
			}
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestQueueGaugeCountsPendingOfConfiguredDestinations(t *testing.T) {
	f := newFixture(t, "") // configured destination: esr
	ctx := t.Context()
	var recs []ledger.Record
	for i := range 4 {
		recs = append(recs, ledger.Record{
			AssignmentNumber: fmt.Sprintf("1000000%d", i),
			EffectiveDate:    time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
			Line:             i + 2,
			Payload:          []byte(fmt.Sprintf(`{"assignment_number":"1000000%d"}`, i)),
		})
	}
	if _, err := f.l.EnqueueFile(ctx, 1, "esr", recs); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.EnqueueFile(ctx, 1, "old-destination", recs[:2]); err != nil {
		t.Fatal(err)
	}
	due, err := f.l.Due(ctx, "esr", time.Now().Add(time.Hour), 10)
	if err != nil || len(due) != 4 {
		t.Fatalf("due for esr: %d, %v; want 4", len(due), err)
	}
	// One delivered, one rejected, one retrying (still pending), one
	// never tried.
	if err := f.l.MarkDelivered(ctx, due[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := f.l.MarkRejected(ctx, due[1].ID, "plan refused"); err != nil {
		t.Fatal(err)
	}
	if err := f.l.MarkRetry(ctx, due[2].ID, 1, time.Now().Add(time.Minute), "503"); err != nil {
		t.Fatal(err)
	}

	got := gauges(t, f.rec, observe.MetricQueuePending)
	if len(got) != 1 || got["esr"] != 2 {
		t.Errorf("%s = %v, want only esr at 2 (pending and retrying; an unconfigured destination left out)", observe.MetricQueuePending, got)
	}

	// A destination configured by a reload shows, at its own count.
	f.rec.Configure([]string{"trust-a"}, []string{"esr", "old-destination"})
	got = gauges(t, f.rec, observe.MetricQueuePending)
	if len(got) != 2 || got["esr"] != 2 || got["old-destination"] != 2 {
		t.Errorf("after configuring old-destination: %s = %v, want esr 2, old-destination 2", observe.MetricQueuePending, got)
	}
}

func TestFilesGaugeIsReadAgainAfterAFinishedFile(t *testing.T) {
	f := newFixture(t, "")
	if got := gauges(t, f.rec, observe.MetricLedgerFiles); got["processed"] != 1 || got["claimed"] != 0 {
		t.Fatalf("%s = %v, want 1 processed", observe.MetricLedgerFiles, got)
	}
	id, err := f.l.ClaimFile(t.Context(), ledger.FileInfo{Source: "trust-a", Name: "second.csv", Size: 1, ModTime: time.Now(), SHA256: "def"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.l.MarkFile(t.Context(), id, ledger.FileQuarantined, "no header", ""); err != nil {
		t.Fatal(err)
	}
	// The hub reports the file once the ledger has it; the next scrape
	// reads the ledger again rather than the cached counts.
	f.rec.FileDone("trust-a", relay.FileQuarantined, time.Millisecond)
	if got := gauges(t, f.rec, observe.MetricLedgerFiles); got["processed"] != 1 || got["quarantined"] != 1 {
		t.Errorf("after a finished file: %s = %v, want 1 processed, 1 quarantined", observe.MetricLedgerFiles, got)
	}
}

// TestOutageShowsInMetricsAndOnThePage: a destination whose breaker is
// open reads 0 in the availability gauge and "unavailable" on the page,
// with the next probe as its next attempt.
func TestOutageShowsInMetricsAndOnThePage(t *testing.T) {
	f := newFixture(t, "")
	if got := gauges(t, f.rec, observe.MetricDestinationUp); len(got) != 1 || got["esr"] != 1 {
		t.Errorf("%s = %v before an outage, want esr 1", observe.MetricDestinationUp, got)
	}
	f.rec.DestinationAvailable("esr", false)
	if got := gauges(t, f.rec, observe.MetricDestinationUp); got["esr"] != 0 {
		t.Errorf("%s = %v during an outage, want esr 0", observe.MetricDestinationUp, got)
	}
	if _, err := f.l.EnqueueFile(t.Context(), 1, "esr", []ledger.Record{{AssignmentNumber: "10000001",
		EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Payload: []byte(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(4 * time.Second)
	if err := f.l.SetHealth(t.Context(), ledger.Health{Destination: "esr", Since: time.Now().Add(-time.Minute),
		Probes: 3, NextProbeAt: next, LastError: "dial tcp: connection refused"}); err != nil {
		t.Fatal(err)
	}
	_, page := f.get(t, "/", "")
	want := `<span class="bad">unavailable</span> since`
	if !strings.Contains(page, want) || !strings.Contains(page, "3 probe(s) failed") || !strings.Contains(page, "connection refused") ||
		!strings.Contains(page, "<td>"+strings.ReplaceAll(observe.FormatTime(next), "+", "&#43;")+"</td>") || strings.Contains(page, "due now") {
		t.Errorf("the page does not show the outage, with the next probe as next attempt:\n%s", page)
	}
}
