package relay_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// tally is a relay.Observer that counts what it is told.
type tally struct {
	mu       sync.Mutex
	files    map[string]int // source/outcome
	accepted int
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
