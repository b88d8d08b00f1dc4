package observe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
)

// scrape fetches /metrics and parses it as Prometheus does.
func (f *fixture) scrape(t *testing.T, bearer string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := f.get(t, "/metrics", bearer)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return mf
}

// series is a family's series as "label=value,..." → value.
func series(mf map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := mf[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.GetCounter().GetValue()
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

func equalSeries(t *testing.T, name string, got, want map[string]float64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// TestBuildReloadAndRejectedMetrics scrapes the build info, the reload
// counter and gauge and the rejected deliveries gauge, exactly.
func TestBuildReloadAndRejectedMetrics(t *testing.T) {
	f := newFixture(t, "")
	f.rec.Configure([]string{"trust-a"}, []string{"esr", "copies"})
	mf := f.scrape(t, "")

	// The build: what runtime/debug says of this (test) binary.
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	b := observe.ReadBuildInfo()
	if b.Version != bi.Main.Version && !(bi.Main.Version == "" && b.Version == "unknown") || b.GoVersion != runtime.Version() {
		t.Errorf("ReadBuildInfo = %+v; main module version %q, Go %s", b, bi.Main.Version, runtime.Version())
	}
	equalSeries(t, observe.MetricBuildInfo, series(mf, observe.MetricBuildInfo), map[string]float64{
		"goversion=" + runtime.Version() + ",revision=" + b.Revision + ",version=" + b.Version: 1,
	})
	if got := mf[observe.MetricBuildInfo].GetType(); got != dto.MetricType_GAUGE {
		t.Errorf("%s is a %v", observe.MetricBuildInfo, got)
	}

	// Reloads: none yet, then two refused and one that ran.
	equalSeries(t, observe.MetricReloads, series(mf, observe.MetricReloads), map[string]float64{"outcome=failure": 0, "outcome=success": 0})
	equalSeries(t, observe.MetricReloadOK, series(mf, observe.MetricReloadOK), map[string]float64{"": 1})
	f.rec.Reloaded(errors.New("hub.yaml:3:5: source \"a\": no destination is named \"b\""))
	mf = f.scrape(t, "")
	equalSeries(t, observe.MetricReloadOK, series(mf, observe.MetricReloadOK), map[string]float64{"": 0})
	f.rec.Reloaded(nil)
	f.rec.Reloaded(errors.New("destination outbox: permission denied"))
	mf = f.scrape(t, "")
	equalSeries(t, observe.MetricReloads, series(mf, observe.MetricReloads), map[string]float64{"outcome=failure": 2, "outcome=success": 1})
	equalSeries(t, observe.MetricReloadOK, series(mf, observe.MetricReloadOK), map[string]float64{"": 0})
	f.rec.Reloaded(nil)
	mf = f.scrape(t, "")
	equalSeries(t, observe.MetricReloads, series(mf, observe.MetricReloads), map[string]float64{"outcome=failure": 2, "outcome=success": 2})
	equalSeries(t, observe.MetricReloadOK, series(mf, observe.MetricReloadOK), map[string]float64{"": 1})

	// Rejected deliveries: 2 of esr's 3, none of copies'; a destination
	// no longer configured is left out.
	equalSeries(t, observe.MetricQueueRejected, series(mf, observe.MetricQueueRejected), map[string]float64{"destination=copies": 0, "destination=esr": 0})
	enqueue := func(dest string, n int) []ledger.Delivery {
		var recs []ledger.Record
		for i := range n {
			recs = append(recs, ledger.Record{AssignmentNumber: fmt.Sprintf("2000000%d", i),
				EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Payload: fmt.Appendf(nil, `{"n":%d}`, i)})
		}
		if _, err := f.l.EnqueueFile(t.Context(), 1, dest, recs); err != nil {
			t.Fatal(err)
		}
		due, err := f.l.Due(t.Context(), dest, time.Now().Add(time.Hour), 10)
		if err != nil || len(due) != n {
			t.Fatalf("due for %s: %d, %v", dest, len(due), err)
		}
		return due
	}
	esr := enqueue("esr", 3)
	for _, d := range esr[:2] {
		if err := f.l.MarkRejected(t.Context(), d.ID, "422 Unprocessable Entity: plan refused"); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("copies", 1)
	gone := enqueue("old", 1)
	if err := f.l.MarkRejected(t.Context(), gone[0].ID, "refused"); err != nil {
		t.Fatal(err)
	}
	mf = f.scrape(t, "")
	equalSeries(t, observe.MetricQueueRejected, series(mf, observe.MetricQueueRejected), map[string]float64{"destination=copies": 0, "destination=esr": 2})
	equalSeries(t, observe.MetricQueuePending, series(mf, observe.MetricQueuePending), map[string]float64{"destination=copies": 1, "destination=esr": 1})
}

// TestLivezSeesAStalledLoopOnly: a loop that misses the time it gave
// makes /livez (and /readyz) 503 until it shows itself alive again;
// loops without a bound, a failing source and a paused hub do not.
func TestLivezSeesAStalledLoopOnly(t *testing.T) {
	const token = "s3cret-t0ken"
	f := newFixture(t, token)
	f.rec.SourcePolled("trust-a", nil)
	for _, path := range []string{"/livez", "/readyz", "/healthz"} {
		if code, body := f.get(t, path, ""); code != http.StatusOK || body != "ok\n" {
			t.Errorf("all well: %s %d %q", path, code, body)
		}
	}
	f.rec.LoopAlive("hub", time.Hour)
	f.rec.LoopAlive("dispatcher esr", 0) // waiting for deliveries in flight
	f.rec.LoopAlive("dispatcher copies", 20*time.Millisecond)
	f.rec.SourcePolled("trust-a", errors.New("open /srv/drop: no such file or directory"))
	f.rec.StoragePaused(errors.New("ledger: database or disk is full"))
	var body string
	testutil.Eventually(t, "/livez to name the stalled dispatcher", func() bool {
		var code int
		code, body = f.get(t, "/livez", "")
		return code == http.StatusServiceUnavailable
	})
	if body != "loop dispatcher copies: stalled\n" {
		t.Errorf("/livez without the token: %q", body)
	}
	_, body = f.get(t, "/livez", token)
	if !strings.HasPrefix(body, "loop dispatcher copies: stalled: last alive ") || !strings.Contains(body, "due again within 20ms") || strings.Count(body, "\n") != 1 {
		t.Errorf("/livez with the token: %q", body)
	}
	code, body := f.get(t, "/readyz", "")
	want := "hub: storage full; intake and deliveries paused\nloop dispatcher copies: stalled\nsource trust-a: failing\n"
	if code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/readyz: %d %q, want 503 %q", code, body, want)
	}
	// Alive again, with a bound it keeps.
	f.rec.LoopAlive("dispatcher copies", time.Hour)
	if code, body := f.get(t, "/livez", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("the loop alive again: /livez %d %q", code, body)
	}
	// A stopped loop is expected no more.
	f.rec.LoopAlive("dispatcher old", time.Nanosecond)
	f.rec.LoopStopped("dispatcher old")
	if code, body := f.get(t, "/livez", ""); code != http.StatusOK {
		t.Errorf("a stopped loop: /livez %d %q", code, body)
	}
}

// TestReadyzSaysTheLedgerDoesNotAnswer: a closed ledger fails /readyz,
// not /livez.
func TestReadyzSaysTheLedgerDoesNotAnswer(t *testing.T) {
	f := newFixture(t, "")
	f.rec.SourcePolled("trust-a", nil)
	f.l.Close()
	code, body := f.get(t, "/readyz", "")
	if code != http.StatusServiceUnavailable || body != "ledger: not answering: read the schema version: sql: database is closed\n" {
		t.Errorf("/readyz with the ledger closed: %d %q", code, body)
	}
	if code, body := f.get(t, "/livez", ""); code != http.StatusOK {
		t.Errorf("/livez with the ledger closed: %d %q", code, body)
	}
}

// TestHealthFileShowsAStalledLoop: a loop that misses its time is in
// the health file for status, with no other event to prompt a write.
func TestHealthFileShowsAStalledLoop(t *testing.T) {
	dir := t.TempDir()
	rec := observe.NewRecorder(nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.WriteHealth(ctx, filepath.Join(dir, observe.HealthFile))
	}()
	defer func() { cancel(); <-done }()
	rec.LoopAlive("hub", 50*time.Millisecond)
	testutil.Eventually(t, "the health file to name the stalled loop", func() bool {
		h, err := observe.ReadHealth(dir)
		return err == nil && h != nil && len(h.Problems) == 1 && h.Problems[0].Line(false) == "loop hub: stalled"
	})
	rec.LoopAlive("hub", time.Hour)
	testutil.Eventually(t, "the health file to clear", func() bool {
		h, err := observe.ReadHealth(dir)
		return err == nil && h != nil && len(h.Problems) == 0
	})
}
