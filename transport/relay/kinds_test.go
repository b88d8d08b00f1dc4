package relay_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// fileTaker is a file destination that refuses every file while refuse is
// set, and keeps what it took.
type fileTaker struct {
	refuse atomic.Bool

	mu   sync.Mutex
	took []dispatch.Parcel // File replaced by its content, in Record
}

func (f *fileTaker) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	if f.refuse.Load() {
		return dispatch.Receipt{}, retry.Permanent(errors.New("copies: permission denied"))
	}
	b, err := io.ReadAll(p.File)
	if err != nil {
		return dispatch.Receipt{}, err
	}
	f.mu.Lock()
	f.took = append(f.took, dispatch.Parcel{Key: p.Key, Name: p.Name, Record: b})
	f.mu.Unlock()
	return dispatch.Receipt{Result: dispatch.Delivered}, nil
}

// deliveryMetrics gathers jobplan_hub_deliveries_total as
// "destination/outcome" → count.
func deliveryMetrics(t *testing.T, rec *observe.Recorder) map[string]float64 {
	t.Helper()
	mfs, err := rec.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != observe.MetricDeliveries {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if v := m.GetCounter().GetValue(); v > 0 {
				out[labels["destination"]+"/"+labels["outcome"]] = v
			}
		}
	}
	return out
}

// TestRecordAndFileDeliveries runs a hub with a record destination and a
// file destination that first refuses the file: the ledger holds records
// of kind record and one delivery of kind file; status, metrics, prune
// and `deliveries retry` (Requeue) handle both.
func TestRecordAndFileDeliveries(t *testing.T) {
	e := newEnv(t)
	src, err := localdir.New(t.Context(), localdir.Options{Dir: e.drop, SettleTime: 20 * time.Millisecond, RescanInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpsink.New(httpsink.Config{URL: e.recv.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	copies := &fileTaker{}
	copies.refuse.Store(true)
	rec := observe.NewRecorder(e.ledger)
	rec.Configure([]string{"drop"}, []string{"esr", "copies"})
	fast := dispatch.Config{Backoff: retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}, PollInterval: 20 * time.Millisecond,
		Observer: rec}
	runHub(t, relay.Config{
		StateDir: e.state, Ledger: e.ledger, Logger: quiet, Observer: rec,
		Sources: []relay.SourceSpec{{Name: "drop", Source: src, Processor: e.proc, Destinations: []string{"esr", "copies"}}},
		Destinations: []relay.Destination{
			{Name: "esr", Records: api, Dispatch: fast},
			{Name: "copies", Files: copies, Dispatch: fast},
		},
	})

	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return e.dest("esr").Delivered == 3 && e.dest("copies").Rejected == 1
	}, "the records delivered and the file refused; status %+v", e.status())
	var file ledger.Delivery
	for id := int64(1); id <= 4; id++ {
		d, err := e.ledger.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch d.Destination {
		case "esr":
			if d.Kind != ledger.KindRecord || d.AssignmentNumber == "" || d.EffectiveDate.IsZero() {
				t.Errorf("esr delivery %+v, want a record", d)
			}
		case "copies":
			file = *d
		}
	}
	if file.Kind != ledger.KindFile || file.AssignmentNumber != "" || !file.EffectiveDate.IsZero() || file.FileID == 0 {
		t.Fatalf("copies delivery %+v, want a file", file)
	}

	// Status names the file delivery's file, not an assignment.
	errs := e.dest("copies").Errors
	if len(errs) != 1 || errs[0].Kind != ledger.KindFile || errs[0].File != file.FileID || errs[0].Subject() != "file 1" ||
		errs[0].Assignment != "" || !strings.Contains(errs[0].Error, "permission denied") {
		t.Errorf("copies errors %+v, want the refused file 1", errs)
	}
	// The observer is told after the ledger's mark: wait for it too.
	transporttest.Eventually(t, waitLimit, func() bool {
		m := deliveryMetrics(t, rec)
		return m["esr/delivered"] == 3 && m["copies/rejected"] == 1 && len(m) == 2
	}, "delivery metrics esr/delivered 3 and copies/rejected 1")
	// A file with a rejected delivery is not pruned: it may be retried.
	later := time.Now().Add(time.Minute)
	if r, err := relay.Prune(t.Context(), e.ledger, e.state, later); err != nil || len(r.Files) != 0 {
		t.Errorf("Prune with a file delivery rejected = %+v, %v; want nothing pruned", r, err)
	}

	// deliveries retry --file-id: the file goes again, whole.
	copies.refuse.Store(false)
	if n, err := e.ledger.Requeue(t.Context(), "copies", ledger.RequeueFilter{FileID: file.FileID}); err != nil || n != 1 {
		t.Fatalf("Requeue = %d, %v; want the file delivery", n, err)
	}
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("copies").Delivered == 1 }, "the file delivered after the retry")
	copies.mu.Lock()
	took := slices.Clone(copies.took)
	copies.mu.Unlock()
	records, err := os.ReadFile(filepath.Join(e.state, relay.FilesDir, "1", "a.jobplans.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(took) != 1 || took[0].Name != "a.jobplans.jsonl" || string(took[0].Record) != string(records) || took[0].Key != file.Key {
		t.Errorf("the destination took %+v, want a.jobplans.jsonl whole, with the delivery's key", took)
	}
	if m := deliveryMetrics(t, rec); m["copies/delivered"] != 1 {
		t.Errorf("delivery metrics %v, want copies/delivered 1", m)
	}

	// Everything delivered: the file is pruned, records and file delivery
	// alike, and its staged outputs go.
	r, err := relay.Prune(t.Context(), e.ledger, e.state, later)
	if err != nil || len(r.Files) != 1 || r.Payloads != 4 {
		t.Errorf("Prune = %+v, %v; want file 1 and 4 payloads (3 records, 1 file)", r, err)
	}
	if exists(filepath.Join(e.state, relay.FilesDir, "1")) {
		t.Error("the pruned file's outputs are still there")
	}
	if s := e.status(); !s.Idle {
		t.Errorf("status %+v, want idle", s)
	}
}
