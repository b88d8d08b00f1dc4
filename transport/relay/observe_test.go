package relay_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// tally is a relay.Observer that counts what it is told.
type tally struct {
	mu       sync.Mutex
	files    map[string]int // source/outcome
	accepted int
	heldBack int
	polls    int
	badCalls []string
}

func (o *tally) FileDone(source, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d <= 0 {
		o.badCalls = append(o.badCalls, "FileDone with duration "+d.String())
	}
	o.files[source+"/"+outcome]++
}

func (o *tally) RecordsCounted(source string, c relay.RecordCounts) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.accepted += c.Accepted
	o.heldBack += c.HeldBack
}

func (o *tally) SourcePolled(source string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil || source != "drop" {
		o.badCalls = append(o.badCalls, "SourcePolled "+source)
	}
	o.polls++
}

func (o *tally) file(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.files[key]
}

func TestObserverIsToldEachFileOutcome(t *testing.T) {
	e := newEnv(t)
	obs := &tally{files: map[string]int{}}
	e.obs = obs
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool { return obs.file("drop/processed") == 1 }, "a.csv processed")
	e.dropFile("broken.csv", "BROKEN\n")
	transporttest.Eventually(t, waitLimit, func() bool { return obs.file("drop/quarantined") == 1 }, "broken.csv quarantined")
	e.dropFile("b.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return obs.file("drop/skipped") == 1 && exists(filepath.Join(e.drop, localdir.ArchiveDir, "b.csv"))
	}, "b.csv skipped")

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.files) != 3 {
		t.Errorf("file outcomes %v, want one each of processed, quarantined, skipped", obs.files)
	}
	if obs.accepted != 3 {
		t.Errorf("records accepted %d, want planA's 3", obs.accepted)
	}
	if obs.polls < 3 {
		t.Errorf("source polls %d, want one per file at least", obs.polls)
	}
	if len(obs.badCalls) > 0 {
		t.Errorf("unexpected calls: %v", obs.badCalls)
	}
}

// heldBack is a processor whose plans are all held back but the last
// (finding D4: a later plan of their assignment was refused).
type heldBack struct{ relay.Processor }

func (p heldBack) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	out, err := p.Processor.Process(ctx, in, dir)
	out.Counts.HeldBack, out.Counts.Accepted = out.Counts.Accepted-1, 1
	return out, err
}

// TestHeldBackPlansAreCountedAndLogged: the plans a processor held back
// reach the Observer and the "file processed" line with the other
// counts, so that the hub's counts add up to the plans built.
func TestHeldBackPlansAreCountedAndLogged(t *testing.T) {
	e := newEnv(t)
	obs := &tally{files: map[string]int{}}
	e.obs = obs
	var log testutil.Buffer
	e.logger = slog.New(slog.NewJSONHandler(&log, nil))
	e.wrapProc = func(p relay.Processor) relay.Processor { return heldBack{p} }
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool { return obs.file("drop/processed") == 1 }, "a.csv processed")
	obs.mu.Lock()
	accepted, held := obs.accepted, obs.heldBack
	obs.mu.Unlock()
	if accepted != 1 || held != 2 {
		t.Errorf("the observer was told %d accepted and %d held back, want 1 and 2", accepted, held)
	}
	var line map[string]any
	for l := range strings.Lines(log.String()) {
		if strings.Contains(l, `"msg":"file processed"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	for key, n := range map[string]int{"accepted": 1, "rejected": 0, "duplicates": 0, "superseded": 0, "held_back": 2} {
		if got, ok := line[key].(float64); !ok || int(got) != n {
			t.Errorf("file processed: %s = %v, want %d:\n%s", key, line[key], n, log.String())
		}
	}
}
