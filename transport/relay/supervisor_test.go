package relay_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/outbox"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// allowProcessor stands in for a mapping with a staff extract: a file
// whose lines ("assignment,date,dcc") all name an allowed assignment is
// processed, any other is quarantined. The allowed assignments come from
// a configuration file read when the hub is set up.
type allowProcessor struct {
	csvProcessor
	allowed map[string]bool
}

func (p *allowProcessor) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	name := in.Name
	b, err := io.ReadAll(in.Content)
	if err != nil {
		return relay.Output{}, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if a, _, _ := strings.Cut(line, ","); !p.allowed[a] {
			out := relay.Output{Report: filepath.Join(dir, name+".report.json"), Failed: true, Reason: "assignment " + a + " is not allowed"}
			out.Reports = []string{out.Report}
			return out, os.WriteFile(out.Report, []byte(`{"status":"failed"}`), 0o644)
		}
	}
	in.Content = strings.NewReader(string(b))
	return p.csvProcessor.Process(ctx, in, dir)
}

// supervised is a hub over a drop folder delivering to an outbox, whose
// configuration is the file allowed (one allowed assignment a line).
type supervised struct {
	t                   *testing.T
	drop, state, outbox string
	allowed             string
	ledger              *ledger.Ledger
	log                 *testutil.Buffer
	starts              atomic.Int32 // hubs started
	failStart, failLoad atomic.Bool  // the next setup cannot start, the next load fails
	signals             chan os.Signal
	observer            relay.ReloadObserver
	notified            testutil.Buffer // what Notify was told, one letter a state
	cancel              context.CancelFunc
	done                chan error
}

func newSupervised(t *testing.T, allowed string) *supervised {
	root := t.TempDir()
	s := &supervised{
		t: t, drop: filepath.Join(root, "drop"), state: filepath.Join(root, "state"), outbox: filepath.Join(root, "outbox"),
		allowed: filepath.Join(root, "allowed.txt"), log: &testutil.Buffer{}, signals: make(chan os.Signal, 1),
	}
	testutil.WriteFile(t, filepath.Join(s.drop, ".keep"), "")
	testutil.WriteFile(t, s.allowed, allowed)
	l, err := ledger.Open(t.Context(), s.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s.ledger = l
	return s
}

// load reads the configuration file into a Setup.
func (s *supervised) load() (*relay.Setup, error) {
	if s.failLoad.Load() {
		return nil, errors.New("allowed.txt: line 1: not an assignment")
	}
	b, err := os.ReadFile(s.allowed)
	if err != nil {
		return nil, err
	}
	proc := &allowProcessor{allowed: map[string]bool{}}
	for _, a := range strings.Fields(string(b)) {
		proc.allowed[a] = true
	}
	fail := s.failStart.Load()
	return &relay.Setup{Files: []string{s.allowed}, Start: func(ctx context.Context) (*relay.Hub, func(), error) {
		if fail {
			return nil, nil, errors.New("destination outbox: permission denied")
		}
		s.starts.Add(1)
		src, err := localdir.New(ctx, localdir.Options{Dir: s.drop, SettleTime: 20 * time.Millisecond, RescanInterval: 50 * time.Millisecond, Logger: quiet})
		if err != nil {
			return nil, nil, err
		}
		ob, err := outbox.New(s.outbox, 0)
		if err != nil {
			return nil, nil, err
		}
		hub, err := relay.New(relay.Config{
			StateDir: s.state, Ledger: s.ledger, Logger: quiet, Grace: 50 * time.Millisecond,
			Sources:      []relay.SourceSpec{{Name: "drop", Source: src, Processor: proc, Destinations: []string{"outbox"}}},
			Destinations: []relay.Destination{{Name: "outbox", Files: ob}},
		})
		return hub, func() {}, err
	}}, nil
}

// run starts the supervisor; stop (also at the end of the test) cancels
// it and returns what Run returned.
func (s *supervised) run() {
	s.t.Helper()
	first, err := s.load()
	if err != nil {
		s.t.Fatal(err)
	}
	sup := relay.Supervisor{
		Load: s.load, Signals: s.signals, Quiet: 30 * time.Millisecond, Recheck: time.Second,
		Logger: slog.New(slog.NewTextHandler(s.log, nil)), Observer: s.observer,
		Notify: func(st relay.State) { s.notified.Write([]byte{"RL"[st]}) },
	}
	ctx, cancel := context.WithCancel(s.t.Context())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- sup.Run(ctx, first) }()
	s.t.Cleanup(func() {
		if err := s.stop(); err != nil {
			s.t.Errorf("Run: %v", err)
		}
	})
	testutil.Eventually(s.t, "the hub to start", func() bool { return s.starts.Load() == 1 })
}

func (s *supervised) stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		return err
	case <-time.After(testutil.Wait):
		s.t.Fatal("Run did not return after its context ended")
		return nil
	}
}

// verdict drops a file and waits for it to be archived or quarantined.
func (s *supervised) verdict(name, content string) string {
	s.t.Helper()
	testutil.WriteFile(s.t, filepath.Join(s.drop, "."+name), content)
	if err := os.Rename(filepath.Join(s.drop, "."+name), filepath.Join(s.drop, name)); err != nil {
		s.t.Fatal(err)
	}
	var v string
	testutil.Eventually(s.t, name+" to be archived or quarantined", func() bool {
		switch {
		case testutil.Exists(filepath.Join(s.drop, localdir.ArchiveDir, name)):
			v = "processed"
		case testutil.Exists(filepath.Join(s.drop, localdir.QuarantineDir, name)):
			v = "quarantined"
		}
		return v != ""
	})
	return v
}

// TestSupervisorReloadsWhenAConfigurationFileChanges: saving the file the
// configuration was read from starts a hub built from the new content,
// and the same plan gets the new verdict.
func TestSupervisorReloadsWhenAConfigurationFileChanges(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	s.run()
	if got := s.verdict("a.csv", "10000002,2026-04-01,7.5\n"); got != "quarantined" {
		t.Fatalf("a plan of an assignment not allowed was %s", got)
	}
	testutil.WriteFile(t, s.allowed, "10000001\n10000002\n")
	testutil.Eventually(t, "the reload", func() bool { return s.starts.Load() == 2 })
	if !strings.Contains(s.log.String(), `cause="file changed"`) {
		t.Errorf("the reload does not say why:\n%s", s.log)
	}
	// The same plan (other bytes, so it is not recognised as done).
	if got := s.verdict("b.csv", "10000002,2026-04-01,7.5\r\n"); got != "processed" {
		t.Errorf("after the reload the plan was %s, want processed", got)
	}
}

// TestSupervisorReloadsOnASignal: a signal alone, with no file changed,
// reloads, and the log names it.
func TestSupervisorReloadsOnASignal(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	s.run()
	s.signals <- syscall.SIGHUP
	testutil.Eventually(t, "the reload", func() bool { return s.starts.Load() == 2 })
	if log := s.log.String(); !strings.Contains(log, "cause=SIGHUP") || strings.Contains(log, "file changed") {
		t.Errorf("the log does not name SIGHUP alone as the cause:\n%s", log)
	}
}

// TestSupervisorKeepsTheRunningHubWhenTheConfigurationHasProblems.
func TestSupervisorKeepsTheRunningHubWhenTheConfigurationHasProblems(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	s.run()
	s.failLoad.Store(true)
	s.signals <- syscall.SIGHUP
	testutil.Eventually(t, "the refusal", func() bool {
		return strings.Contains(s.log.String(), "keeping the running one") && strings.Contains(s.log.String(), "not an assignment")
	})
	if got := s.verdict("a.csv", "10000001,2026-04-01,7.5\n"); got != "processed" || s.starts.Load() != 1 {
		t.Errorf("after a refused reload: plan %s, %d hubs started; want processed by the first", got, s.starts.Load())
	}
}

// TestSupervisorGoesBackWhenTheNewHubCannotStart: the previous
// configuration's hub is started again.
func TestSupervisorGoesBackWhenTheNewHubCannotStart(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	s.run()
	s.failStart.Store(true)
	testutil.WriteFile(t, s.allowed, "10000001\n10000002\n")
	testutil.Eventually(t, "the previous hub to start again", func() bool {
		return strings.Contains(s.log.String(), "going back to the previous one") && s.starts.Load() == 2
	})
	if got := s.verdict("a.csv", "10000002,2026-04-01,7.5\n"); got != "quarantined" {
		t.Errorf("under the previous configuration the plan was %s, want quarantined", got)
	}
}

// TestSupervisorStopsWithItsContext: Run returns nil once its context
// ends, its hub stopped.
func TestSupervisorStopsWithItsContext(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	s.run()
	if err := s.stop(); err != nil {
		t.Errorf("Run: %v, want nil", err)
	}
	if n := s.starts.Load(); n != 1 {
		t.Errorf("%d hubs started, want 1", n)
	}
}

// TestSupervisorReturnsWhatStopsIt: a first hub that cannot start, and a
// hub that stops by itself, end Run with their error.
func TestSupervisorReturnsWhatStopsIt(t *testing.T) {
	s := newSupervised(t, "")
	s.failStart.Store(true)
	first, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	sup := relay.Supervisor{Load: s.load, Logger: quiet}
	if err := sup.Run(t.Context(), first); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Run with a hub that cannot start: %v", err)
	}

	closing := &relay.Setup{Start: func(ctx context.Context) (*relay.Hub, func(), error) {
		hub, err := relay.New(relay.Config{
			StateDir: s.state, Ledger: s.ledger, Logger: quiet,
			Sources:      []relay.SourceSpec{{Name: "gone", Source: closedSource{}, Processor: &csvProcessor{}, Destinations: []string{"outbox"}}},
			Destinations: []relay.Destination{{Name: "outbox", Files: discardSink{}}},
		})
		return hub, func() {}, err
	}}
	if err := sup.Run(t.Context(), closing); err == nil || !strings.Contains(err.Error(), "closed by itself") {
		t.Errorf("Run with a source that closes by itself: %v", err)
	}
}

type closedSource struct{}

func (closedSource) Next(context.Context) (relay.Item, error) { return nil, relay.ErrSourceClosed }

func (closedSource) Close() error { return nil }

type discardSink struct{}

func (discardSink) Deliver(context.Context, dispatch.Parcel) (dispatch.Receipt, error) {
	return dispatch.Receipt{Result: dispatch.Delivered}, nil
}

// TestSupervisorNotifiesReadiness: Ready once a hub runs, Reloading when a
// reload begins and Ready again however it ends: a new hub, a
// configuration with problems kept out, a hub that could not start
// replaced by the previous one.
func TestSupervisorNotifiesReadiness(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	s.run()
	want := func(what, states string) {
		t.Helper()
		testutil.Eventually(t, what, func() bool { return s.notified.String() == states })
	}
	want("ready", "R")
	s.signals <- syscall.SIGHUP
	want("a reload", "RLR")
	s.failLoad.Store(true)
	s.signals <- syscall.SIGHUP
	want("a refused reload", "RLRLR")
	s.failLoad.Store(false)
	s.failStart.Store(true)
	s.signals <- syscall.SIGHUP
	want("a reload that fell back", "RLRLRLR")
	if n := s.starts.Load(); n != 3 {
		t.Errorf("%d hubs started, want 3 (first, reloaded, previous again)", n)
	}
}
