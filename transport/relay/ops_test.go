package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// countingProcessor wraps the test processor and reports counts of every
// kind, as the real processor does.
type countingProcessor struct {
	relay.Processor
	counts relay.RecordCounts
}

func (p countingProcessor) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	out, err := p.Processor.Process(ctx, in, dir)
	out.Counts = p.counts
	return out, err
}

func TestFileProcessedLogLineGivesEveryCount(t *testing.T) {
	e := newEnv(t)
	log := &testutil.Buffer{}
	e.logger = slog.New(slog.NewJSONHandler(log, nil))
	want := relay.RecordCounts{Accepted: 3, Rejected: 2, Warnings: 4, HeldBack: 1, Duplicates: 5, Superseded: 6}
	e.wrapProc = func(p relay.Processor) relay.Processor { return countingProcessor{p, want} }
	e.start()
	e.dropFile("a.csv", planA)
	var line map[string]any
	testutil.Eventually(t, "the file processed line", func() bool {
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "file processed" {
				line = l
				return true
			}
		}
		return false
	})
	for key, n := range map[string]int{"accepted": 3, "rejected": 2, "warnings": 4, "held_back": 1, "duplicates": 5, "superseded": 6, "records": 3} {
		if got, ok := line[key].(float64); !ok || int(got) != n {
			t.Errorf("file processed: %s = %v, want %d (line %v)", key, line[key], n, line)
		}
	}
}

// reloads records what a Supervisor tells its ReloadObserver.
type reloads struct {
	mu  sync.Mutex
	got []string // "ok" or the error
}

func (r *reloads) Reloaded(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.got = append(r.got, "ok")
	} else {
		r.got = append(r.got, err.Error())
	}
}

func (r *reloads) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestSupervisorTellsItsObserverHowEachReloadWent: a reload that runs the
// new configuration, one refused for its problems, and one whose hub
// cannot start (the previous one runs again) are each told once, in
// order, with their reason.
func TestSupervisorTellsItsObserverHowEachReloadWent(t *testing.T) {
	s := newSupervised(t, "10000001\n")
	obs := &reloads{}
	s.observer = obs
	s.run()
	if got := obs.list(); len(got) != 0 {
		t.Fatalf("the first start was told as a reload: %q", got)
	}
	s.signals <- syscall.SIGHUP
	testutil.Eventually(t, "a reload told", func() bool { return len(obs.list()) == 1 })
	s.failLoad.Store(true)
	s.signals <- syscall.SIGHUP
	testutil.Eventually(t, "a refused reload told", func() bool { return len(obs.list()) == 2 })
	s.failLoad.Store(false)
	s.failStart.Store(true)
	s.signals <- syscall.SIGHUP
	testutil.Eventually(t, "a reload whose hub cannot start told", func() bool { return len(obs.list()) == 3 })
	// The previous configuration's hub runs again: not a reload.
	testutil.Eventually(t, "the previous hub to run again", func() bool { return s.starts.Load() == 3 })
	want := []string{"ok", "allowed.txt: line 1: not an assignment", "destination outbox: permission denied"}
	if got := obs.list(); !slices.Equal(got, want) {
		t.Errorf("reloads told: %q, want %q", got, want)
	}
}

// loops records what a hub tells a LoopObserver, in order.
type loops struct {
	mu     sync.Mutex
	events []string // "alive <loop> <d>" or "stopped <loop>"
	last   map[string]time.Duration
}

func (l *loops) FileDone(string, string, time.Duration)    {}
func (l *loops) RecordsCounted(string, relay.RecordCounts) {}
func (l *loops) SourcePolled(string, error)                {}

func (l *loops) LoopAlive(loop string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("alive %s %v", loop, d))
	if l.last == nil {
		l.last = map[string]time.Duration{}
	}
	l.last[loop] = d
}

func (l *loops) LoopStopped(loop string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, "stopped "+loop)
	delete(l.last, loop)
}

func (l *loops) snapshot() ([]string, map[string]time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events), maps.Clone(l.last)
}

// TestHubReportsItsLoopsAlive: a running hub reports its own loop every
// heartbeat and each dispatcher's at each wait, with a bound; once
// stopped, the dispatchers are stopped and the hub gives the time for
// the next one.
func TestHubReportsItsLoopsAlive(t *testing.T) {
	e := newEnv(t)
	obs := &loops{}
	e.obs = obs
	e.start()
	testutil.Eventually(t, "beats from the hub and both dispatchers", func() bool {
		events, _ := obs.snapshot()
		hub := 0
		for _, ev := range events {
			if ev == "alive hub 15s" {
				hub++
			}
		}
		// esr and outbox poll every 50ms: each wait is announced with
		// the poll and the slack.
		return hub >= 1 && slices.Contains(events, "alive dispatcher esr 30.05s") &&
			slices.Contains(events, "alive dispatcher outbox 30.05s")
	})
	// A file delivered goes through the same loops.
	e.dropFile("a.csv", planA)
	testutil.Eventually(t, "the records delivered", func() bool { return len(e.recv.bodies()) == 3 })
	e.stop()
	events, last := obs.snapshot()
	if want := map[string]time.Duration{"hub": relay.NextHubWithin}; !maps.Equal(last, want) {
		t.Errorf("after the stop the loops expected are %v, want %v", last, want)
	}
	// The stopping hub gave its grace (50ms) and the margin before it
	// stopped.
	i := slices.Index(events, fmt.Sprintf("alive hub %v", 50*time.Millisecond+relay.StopMargin))
	j := slices.Index(events, fmt.Sprintf("alive hub %v", relay.NextHubWithin))
	if i < 0 || j < i {
		t.Errorf("the stopping hub's bounds are missing or out of order: %q", events)
	}
	for _, d := range []string{"esr", "outbox"} {
		if !slices.Contains(events, "stopped dispatcher "+d) {
			t.Errorf("dispatcher %s not told stopped: %q", d, events)
		}
	}
}

// probes serves the observe endpoints of a hub's recorder.
type probes struct {
	t     *testing.T
	srv   *httptest.Server
	token string
}

func newProbes(t *testing.T, e *env, rec *observe.Recorder, token string) *probes {
	s, err := observe.NewServer(observe.ServerConfig{StateDir: e.state, Ledger: e.ledger, Recorder: rec, Token: token, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &probes{t: t, srv: srv, token: token}
}

// get returns path's status and body, with the token if auth is set.
func (p *probes) get(path string, auth bool) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest("GET", p.srv.URL+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestProbesOfARunningHub runs a real hub and checks /livez, /readyz and
// /healthz while all is well, while its source cannot be scanned, and
// while its ledger is full (SQLITE_FULL, the hub paused): only /readyz
// and /healthz fail, each with its reason; /livez stays 200, since a
// restart would cure neither.
func TestProbesOfARunningHub(t *testing.T) {
	e := newEnv(t)
	rec := observe.NewRecorder(e.ledger)
	rec.Configure([]string{"drop"}, []string{"esr", "outbox"})
	e.obs = rec
	e.onScan = func(err error) { rec.SourcePolled("drop", err) }
	const token = "t0ken"
	p := newProbes(t, e, rec, token)
	e.start()
	check := func(what string, readyCode int, ready, readyDetail string) {
		t.Helper()
		for _, path := range []string{"/readyz", "/healthz"} {
			if code, body := p.get(path, false); code != readyCode || body != ready {
				t.Errorf("%s: %s %d %q, want %d %q", what, path, code, body, readyCode, ready)
			}
			if code, body := p.get(path, true); code != readyCode || !strings.HasPrefix(body, readyDetail) {
				t.Errorf("%s: %s with the token %d %q, want %d %q...", what, path, code, body, readyCode, readyDetail)
			}
		}
		if code, body := p.get("/livez", false); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s: /livez %d %q, want 200 ok", what, code, body)
		}
	}
	ready := func() bool { code, _ := p.get("/readyz", false); return code == http.StatusOK }
	testutil.Eventually(t, "the hub ready", ready)
	check("all well", http.StatusOK, "ok\n", "ok\n")

	// The source's folder goes away: its scans fail.
	away := e.drop + ".away"
	if err := os.Rename(e.drop, away); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the source failing", func() bool { return !ready() })
	check("source failing", http.StatusServiceUnavailable, "source drop: failing\n", "source drop: open "+e.drop+": no such file or directory\n")
	if err := os.Rename(away, e.drop); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the source back", ready)

	// The ledger is full: the hub pauses.
	if err := e.ledger.LimitGrowth(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	e.dropFile("b.csv", plans(20000001, 200))
	testutil.Eventually(t, "the hub paused", func() bool { return !ready() })
	check("ledger full", http.StatusServiceUnavailable, "hub: storage full; intake and deliveries paused\n",
		"hub: storage full; intake and deliveries paused: ")
	e.ledger.LiftLimit()
	testutil.Eventually(t, "the hub resumed", ready)
	testutil.Eventually(t, "b.csv delivered", func() bool { return e.dest("esr").Delivered == 200 })
	check("resumed", http.StatusOK, "ok\n", "ok\n")
}

// TestDeliveryReasonsAreOperatorText: the reasons the ledger keeps for
// deliveries (shown on the status page and by status) say what happened
// without the name of a Go package.
func TestDeliveryReasonsAreOperatorText(t *testing.T) {
	e := newEnv(t)
	e.recv.fail.Store(true)
	e.recv.failBody = "down for maintenance"
	e.start()
	// The outbox folder goes: its puts fail.
	if err := os.RemoveAll(e.outDir); err != nil {
		t.Fatal(err)
	}
	e.dropFile("a.csv", planA)
	reasons := func() map[string]string {
		out := map[string]string{}
		for _, d := range e.status().Destinations {
			for _, er := range d.Errors {
				out[d.Name] = er.Error
			}
		}
		return out
	}
	testutil.Eventually(t, "both destinations to record a failure", func() bool { return len(reasons()) == 2 })
	got := reasons()
	if want := "the receiver answered 503 Service Unavailable: down for maintenance"; got["esr"] != want {
		t.Errorf("esr's reason %q, want %q", got["esr"], want)
	}
	if want := "create temporary file for " + e.outDir + "/a.jobplans.jsonl: open "; !strings.HasPrefix(got["outbox"], want) || !strings.HasSuffix(got["outbox"], "no such file or directory") {
		t.Errorf("outbox's reason %q, want %q... no such file or directory", got["outbox"], want)
	}
	for dest, reason := range got {
		for _, pkg := range []string{"httpsink:", "relay:", "outbox:", "dispatch:", "localdir:", "ledger:"} {
			if strings.Contains(reason, pkg) {
				t.Errorf("%s's reason %q names the package %s", dest, reason, pkg)
			}
		}
	}
}
