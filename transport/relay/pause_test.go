package relay_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// pauseCounter is the observe.Recorder, counting the hub's reports of a
// pause (one when it begins, one per failed check of the storage).
type pauseCounter struct {
	*observe.Recorder
	reports atomic.Int64
}

func (p *pauseCounter) StoragePaused(err error) {
	if err != nil {
		p.reports.Add(1)
	}
	p.Recorder.StoragePaused(err)
}

func newPauseCounter(e *env) *pauseCounter {
	rec := observe.NewRecorder(e.ledger)
	rec.Configure([]string{"drop"}, []string{"esr", "outbox"})
	return &pauseCounter{Recorder: rec}
}

// plans returns a file of n plans whose assignments start at first.
func plans(first, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d,2026-04-01,7.5\n", first+i)
	}
	return b.String()
}

// paused reports whether the health names the hub paused.
func (p *pauseCounter) paused() bool {
	for _, pr := range p.Health().Problems {
		if pr.Kind == observe.ProblemHub && pr.Condition == observe.ConditionStorageFull {
			return true
		}
	}
	return false
}

// TestFullLedgerPausesIntakeAndResumes fills the ledger for real
// (SQLITE_FULL) while files arrive: the hub pauses instead of stopping,
// takes no new file, says so in its health, and once there is room again
// resumes by itself and delivers every record exactly once.
func TestFullLedgerPausesIntakeAndResumes(t *testing.T) {
	e := newEnv(t)
	obs := newPauseCounter(e)
	e.obs = obs
	e.start()
	e.dropFile("a.csv", plans(10000001, 3))
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("esr").Delivered == 3 && e.dest("outbox").Delivered == 1 }, "a.csv delivered")

	if err := e.ledger.LimitGrowth(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	e.dropFile("b.csv", plans(20000001, 200)) // needs room in the ledger
	transporttest.Eventually(t, waitLimit, obs.paused, "the hub to pause")
	// Paused: several checks of the storage fail, and meanwhile a new file
	// is not taken.
	e.dropFile("c.csv", plans(30000001, 5))
	before := obs.reports.Load()
	transporttest.Eventually(t, waitLimit, func() bool { return obs.reports.Load() >= before+3 }, "three failed checks of the storage")
	if !exists(filepath.Join(e.drop, "c.csv")) || exists(filepath.Join(e.drop, localdir.WorkDir, "c.csv")) {
		t.Errorf("c.csv was taken while the hub was paused: drop holds %q", names(t, e.drop))
	}
	if got := len(e.recv.bodies()); got != 3 {
		t.Errorf("the receiver holds %d records while paused, want a.csv's 3", got)
	}

	e.ledger.LiftLimit()
	defer func() {
		if t.Failed() {
			t.Logf("status %+v; esr %+v; outbox %+v; health %+v; drop %q; work %q", e.status(), e.dest("esr"), e.dest("outbox"),
				obs.Health(), names(t, e.drop), names(t, filepath.Join(e.drop, localdir.WorkDir)))
		}
	}()
	transporttest.Eventually(t, waitLimit, func() bool {
		return !obs.paused() && e.dest("esr").Delivered == 208 && e.dest("outbox").Delivered == 3
	}, "every record delivered after the room came back")
	want := slices.Concat(keys(10000001, 3), keys(20000001, 200), keys(30000001, 5))
	slices.Sort(want)
	if got := e.recv.bodies(); !slices.Equal(got, want) {
		t.Errorf("the receiver holds %d records, want %d, each once", len(got), len(want))
	}
	if n := e.recv.maxPosts(); n != 1 {
		t.Errorf("a record was posted %d times, want once", n)
	}
	if s := e.status(); s.Files[ledger.FileProcessed] != 3 || s.Files[ledger.FileClaimed] != 0 {
		t.Errorf("files %v, want 3 processed", s.Files)
	}
	for _, name := range []string{"a", "b", "c"} {
		if !exists(filepath.Join(e.outDir, name+".jobplans.jsonl")) {
			t.Errorf("outbox lacks %s.jobplans.jsonl: %q", name, names(t, e.outDir))
		}
	}
}

// TestFullLedgerPausesDeliveries fills the ledger while the dispatcher
// records failed attempts: before, a failed write of an outcome stopped
// the hub for good (exit status 2). Now it pauses and resumes.
func TestFullLedgerPausesDeliveries(t *testing.T) {
	e := newEnv(t)
	obs := newPauseCounter(e)
	e.obs = obs
	e.recv.fail.Store(true)
	e.recv.failBody = strings.Repeat("the service is down for maintenance ", 14) // 504 bytes: each failed attempt grows the ledger
	release := holdRequests(t, e)
	e.start()
	e.dropFile("a.csv", plans(10000001, 100))
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("esr").Pending == 100 }, "a.csv's records queued")
	if err := e.ledger.LimitGrowth(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	release() // the first answers come back: 503, each to be recorded
	transporttest.Eventually(t, waitLimit, obs.paused, "the hub to pause")

	e.recv.fail.Store(false)
	e.ledger.LiftLimit()
	var last relay.DestinationStatus
	defer func() {
		if t.Failed() {
			t.Logf("esr %+v; health %+v", last, obs.Health())
		}
	}()
	transporttest.Eventually(t, waitLimit, func() bool {
		last = e.dest("esr")
		return !obs.paused() && last.Delivered+last.Duplicate == 100
	}, "every record delivered")
	// A request in flight when the pause began may have been applied by
	// the receiver with its answer lost: it was sent again with the same
	// Idempotency-Key, and the receiver, which honours it, answered 409.
	want := keys(10000001, 100)
	if got := e.recv.bodies(); !slices.Equal(got, want) {
		t.Errorf("the receiver holds %d records, want 100, each once", len(got))
	}
	if n := e.recv.maxPosts(); n > 2 {
		t.Errorf("a record was posted %d times", n)
	}
	e.stop() // fails the test if Run returned an error
}

// TestPauseLetsRequestsInFlightEnd: requests in flight when the hub
// pauses (here because a new file finds the ledger full) are not cut off:
// they end, their outcomes are recorded (once there is room, if there is
// none), and nothing is sent twice. Before, the pause cut them off, and
// the receiver, which had acted on them, got each again after the pause.
func TestPauseLetsRequestsInFlightEnd(t *testing.T) {
	e := newEnv(t)
	obs := newPauseCounter(e)
	e.obs = obs
	e.apiTimeout = time.Minute // the requests are held for as long as the test needs
	release := holdRequests(t, e)
	e.start()
	e.dropFile("a.csv", plans(10000001, 20))
	// The dispatcher's four workers each have a request in flight.
	transporttest.Eventually(t, waitLimit, func() bool { return e.recv.held.Load() == dispatch.DefaultConcurrency }, "requests in flight")

	if err := e.ledger.LimitGrowth(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	e.dropFile("b.csv", plans(20000001, 200)) // needs room in the ledger
	transporttest.Eventually(t, waitLimit, obs.paused, "the hub to pause")
	inFlight := e.recv.held.Load()
	release() // the requests in flight are answered while the hub is paused
	transporttest.Eventually(t, waitLimit, func() bool { return len(e.recv.bodies()) >= int(inFlight) }, "the requests in flight to be answered")
	if got := e.recv.held.Load(); got != inFlight {
		t.Errorf("%d requests sent while the hub was paused, want the %d in flight when it began", got, inFlight)
	}

	e.ledger.LiftLimit()
	transporttest.Eventually(t, waitLimit, func() bool {
		d := e.dest("esr")
		return !obs.paused() && d.Delivered+d.Duplicate == 220 && e.dest("outbox").Delivered == 2
	}, "every record delivered after the room came back")
	want := slices.Concat(keys(10000001, 20), keys(20000001, 200))
	slices.Sort(want)
	if got := e.recv.bodies(); !slices.Equal(got, want) {
		t.Errorf("the receiver holds %d records, want %d, each once", len(got), len(want))
	}
	if n := e.recv.maxPosts(); n != 1 {
		t.Errorf("a record was posted %d times, want once", n)
	}
	if d := e.dest("esr"); d.Duplicate != 0 {
		t.Errorf("%d records were sent again and answered as duplicates", d.Duplicate)
	}
	e.stop() // fails the test if Run returned an error
}

// keys are the receiver's names of the records of plans(first, n).
func keys(first, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%d@2026-04-01", first+i))
	}
	return out
}
