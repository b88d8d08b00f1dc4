package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

// The crash test runs the real binary over a drop folder, kills it with
// SIGKILL at random moments, restarts it each time, and then lets it
// finish, against a receiver that fails in every way a network can.
//
// What the receiver is allowed to see. It honours Idempotency-Key (as the
// README requires of ESR): the first request with a key is applied, later
// ones get 409. So "exactly once" is judged as the ledger sees it:
//
//   - every expected record is applied exactly once, and nothing else is;
//   - a key is never sent again by the same hub process after that process
//     got a clean answer (201 or 409, written at once) for it: a re-send is
//     legitimate only after a crash, a timeout or a dropped connection,
//     when the hub cannot know the outcome;
//   - the ledger ends with every record delivered (201 seen) or duplicate
//     (409 seen), none pending or rejected, and the receiver agrees.
//
// Environment: JOBPLAN_HUB_CRASH_SEED replays a run; JOBPLAN_HUB_CRASH_KILLS
// sets the number of kills (default 4 to 6) for a longer soak.
const (
	crashGoodFiles     = 40
	crashPlansPerFile  = 5
	crashClientTimeout = 1500 * time.Millisecond
	crashSlowResponse  = 1800 * time.Millisecond
	crashDeadline      = 60 * time.Second
)

func TestHubSurvivesKillsAndDeliversExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it for several seconds")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("JOBPLAN_HUB_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	t.Logf("seed %d (JOBPLAN_HUB_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	bin := buildBinary(t)
	root := t.TempDir()
	drop, state, out := filepath.Join(root, "drop"), filepath.Join(root, "state"), filepath.Join(root, "outbox")
	stage := filepath.Join(root, "stage")
	for _, d := range []string{drop, stage} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}

	// Inputs: 40 good files with distinct assignments, one broken file and
	// one copy of a good file under another name.
	inputs := map[string][]byte{}
	for f := range crashGoodFiles {
		inputs[fmt.Sprintf("plans-%02d.csv", f)] = sardFile(31000000+f*crashPlansPerFile, crashPlansPerFile)
	}
	inputs["broken.csv"] = []byte("foo,bar\r\n1,2\r\n")
	inputs["plans-00-again.csv"] = inputs["plans-00.csv"]
	wantKeys, wantOutbox := expectedOutputs(t, mappingFile, inputs)
	if len(wantKeys) != crashGoodFiles*crashPlansPerFile {
		t.Fatalf("generated %d distinct records, want %d", len(wantKeys), crashGoodFiles*crashPlansPerFile)
	}
	// The deadline is for the runs, not for building and converting.
	deadline := time.Now().Add(crashDeadline)
	names := slices.Sorted(maps.Keys(inputs))
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })

	recv := newFlakyReceiver(t, rand.New(rand.NewPCG(seed, 2)))
	t.Setenv("HUB_CRASH_TOKEN", "crash-test-token")
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, fmt.Sprintf(`state_dir: %s
sources:
  - name: drop
    type: local
    dir: %s
    settle_time: 30ms
    rescan_interval: 100ms
    workers: 2
    mapping: %s
    destinations: [esr, outbox]
destinations:
  - name: esr
    type: esr_api
    url: %s/jobplans
    token_env: HUB_CRASH_TOKEN
    timeout: %s
    concurrency: 4
    backoff_base: 20ms
    backoff_max: 200ms
  - name: outbox
    type: outbox
    dir: %s
`, state, drop, mappingFile, recv.srv.URL, crashClientTimeout, out))

	logPath := filepath.Join(root, "hub.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("hub log (last 6000 bytes):\n%s", tail(b, 6000))
		}
	})

	// Drop the files in batches, one per run, killing each run at a random
	// moment; the last run finds whatever is left. Each kill aims at one
	// of two moments, and what it hit is checked once the process is
	// dead: mid-file (an input claimed, not yet finished: it is still in
	// work/) and mid-delivery (a request at the receiver, and records not
	// yet delivered in the ledger). A kill that missed its moment aims at
	// it again the next run; by the end each must have been hit.
	kills := 4 + rng.IntN(3)
	if s := os.Getenv("JOBPLAN_HUB_CRASH_KILLS"); s != "" {
		if kills, err = strconv.Atoi(s); err != nil || kills < 2 {
			t.Fatalf("JOBPLAN_HUB_CRASH_KILLS=%q: want 2 or more", s)
		}
	}
	batches := make([][]string, kills+1)
	for i, n := range names {
		batches[i*len(batches)/len(names)] = append(batches[i*len(batches)/len(names)], n)
	}
	hits := map[killAim]int{}
	aim := killAim(rng.IntN(2))
	for run := 0; run <= kills; run++ {
		recv.epoch.Store(int32(run))
		for _, n := range batches[run] {
			dropAtomically(t, drop, stage, n, inputs[n])
		}
		hub := startHub(t, bin, logFile, "run", "--config", hubFile, "--listen", "127.0.0.1:0")
		if run == kills {
			waitUntilDone(t, bin, state, drop, hub, deadline)
			hub.stop(t, syscall.SIGTERM, 0)
			break
		}
		// Mid-file moments come early in a run, deliveries later.
		delay := time.Duration(rng.IntN(100)) * time.Millisecond
		if aim == midDelivery {
			delay = time.Duration(20+rng.IntN(300)) * time.Millisecond
		}
		select {
		case <-time.After(delay):
		case <-hub.exited:
			t.Fatalf("run %d: hub exited by itself: %v", run, hub.err)
		}
		// Kill at the first such moment; if none comes (the run's work
		// is done), kill anyway: the check below then says it missed.
		aimedAt := aim.moment(drop, recv)
		for give := time.Now().Add(5 * time.Second); !aimedAt() && time.Now().Before(give); {
			select {
			case <-hub.exited:
				t.Fatalf("run %d: hub exited by itself: %v", run, hub.err)
			case <-time.After(time.Millisecond):
			}
		}
		hub.stop(t, syscall.SIGKILL, -1)
		hit := aim.hit(t, drop, state)
		t.Logf("run %d: killed %s after %v (hit: %v); receiver has %d of %d records", run, aim, delay, hit, recv.appliedCount(), len(wantKeys))
		if hit {
			hits[aim]++
		}
		// Aim next at what has not been hit yet; once both have, at random.
		switch {
		case hits[midFile] == 0 && (aim != midFile || !hit):
			aim = midFile
		case hits[midDelivery] == 0:
			aim = midDelivery
		default:
			aim = killAim(rng.IntN(2))
		}
	}
	for _, a := range []killAim{midFile, midDelivery} {
		if hits[a] == 0 {
			t.Errorf("no kill landed %s in %d kills: the test did not test a crash there", a, kills)
		}
	}

	if b, err := os.ReadFile(logPath); err == nil {
		t.Logf("recovery paths taken: %d files resumed from a claim, %d finished files acknowledged after a restart, %d skipped as already processed",
			bytes.Count(b, []byte("resuming a file claimed")), bytes.Count(b, []byte("acknowledging a file finished")),
			bytes.Count(b, []byte("file already processed")))
	}

	// The receiver's view.
	rep := recv.report()
	t.Logf("receiver: %d requests, %d re-sends of applied keys (%d after a crash, timeout or drop), %d answered 503, %d slow, %d dropped",
		rep.requests, rep.resends, rep.resends-rep.violations, rep.unavailable, rep.slow, rep.dropped)
	for _, v := range rep.problems {
		t.Error(v)
	}
	for key := range wantKeys {
		if rep.applied[key] != 1 {
			t.Errorf("record %s applied %d times, want once", key[:12], rep.applied[key])
		}
	}
	for key := range rep.applied {
		if !wantKeys[key] {
			t.Errorf("receiver got unexpected record %s", key[:12])
		}
	}

	// The ledger's view.
	l, err := ledger.Open(t.Context(), state)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stats := ledgerStats(t, l)
	if stats.Files[ledger.FileProcessed] != crashGoodFiles || stats.Files[ledger.FileQuarantined] != 1 || stats.Files[ledger.FileClaimed] != 0 {
		t.Errorf("ledger files %v, want %d processed and 1 quarantined", stats.Files, crashGoodFiles)
	}
	var delivered, duplicate int
	for id := int64(1); ; id++ {
		d, err := l.Delivery(t.Context(), id)
		if errors.Is(err, ledger.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Destination != "esr" {
			if d.State != ledger.Delivered {
				t.Errorf("%s delivery %d is %s, want delivered", d.Destination, d.ID, d.State)
			}
			continue
		}
		switch d.State {
		case ledger.Delivered:
			delivered++
			if !rep.created[d.Key] {
				t.Errorf("ledger says record %s delivered, but the receiver never answered 201 for it", d.Key[:12])
			}
		case ledger.Duplicate:
			duplicate++
			if !rep.conflicted[d.Key] {
				t.Errorf("ledger says record %s duplicate, but the receiver never answered 409 for it", d.Key[:12])
			}
		default:
			t.Errorf("record %s is %s after the final run, want delivered", d.Key[:12], d.State)
		}
	}
	if delivered+duplicate != len(wantKeys) {
		t.Errorf("ledger has %d delivered + %d duplicate records, want %d", delivered, duplicate, len(wantKeys))
	}
	t.Logf("ledger: %d records delivered, %d found already delivered (409) after a lost answer", delivered, duplicate)

	// The folders: every input archived (the broken one quarantined),
	// nothing left in the drop folder or work/.
	left, _ := os.ReadDir(drop)
	for _, e := range left {
		if !e.IsDir() {
			t.Errorf("%s left in the drop folder", e.Name())
		}
	}
	if work, _ := os.ReadDir(filepath.Join(drop, localdir.WorkDir)); len(work) != 0 {
		t.Errorf("work/ still holds %d files", len(work))
	}
	for _, n := range names {
		dir := localdir.ArchiveDir
		if n == "broken.csv" {
			dir = localdir.QuarantineDir
		}
		if _, err := os.Stat(filepath.Join(drop, dir, n)); err != nil {
			t.Errorf("%s not in %s/: %v", n, dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(drop, localdir.QuarantineDir, "broken.csv.reason.txt")); err != nil {
		t.Errorf("no reason beside the quarantined file: %v", err)
	}

	// The outbox: each good file's records once, under its own name; of
	// the two copies, whichever came first. A kill during a put can leave
	// a hidden temporary file, which readers of the outbox skip.
	entries, _ := os.ReadDir(out)
	var got, hidden []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			hidden = append(hidden, e.Name())
		} else {
			got = append(got, e.Name())
		}
	}
	if len(hidden) > 0 {
		t.Logf("outbox: %d temporary files left by kills: %v", len(hidden), hidden)
	}
	if len(got) != crashGoodFiles {
		t.Errorf("outbox holds %d files, want %d: %v", len(got), crashGoodFiles, got)
	}
	copies := 0
	for name, want := range wantOutbox {
		b, err := os.ReadFile(filepath.Join(out, name))
		if strings.HasPrefix(name, "plans-00") && errors.Is(err, os.ErrNotExist) {
			copies++
			continue
		}
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("outbox %s: %v, content differs: %v", name, err, !bytes.Equal(b, want))
		}
	}
	if copies != 1 {
		t.Errorf("outbox holds %d of the two copies' records files, want one", 2-copies)
	}
}

// sardFile is a layout-(a) export of n good plans for assignments first,
// first+1, ...
func sardFile(first, n int) []byte {
	var b bytes.Buffer
	b.WriteString("\ufeff" + bench.SardHeader + "\r\n")
	for i := range n {
		emp := strconv.Itoa(first + i)
		fmt.Fprintf(&b, "%s,%s,Testperson,Alpha,Medical and Dental,Consultant (2003),Signed Off,01/04/2026,10,0,7.5,2.5,0,0,0,0,1 in 6,Cat A,5,2,1.5,0.5,2,1.5,0.5,0,0,0,0.5,0.5,1.5,0.25,0,0.75,0,0,0,123\r\n", emp, emp)
	}
	return b.Bytes()
}

// expectedOutputs converts the inputs in-process: the idempotency keys the
// receiver must get, and each input's records file for the outbox.
func expectedOutputs(t *testing.T, mappingFile string, inputs map[string][]byte) (map[string]bool, map[string][]byte) {
	t.Helper()
	m, err := mapping.LoadFile(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	files := map[string][]byte{}
	for name, data := range inputs {
		res, err := outdir.Convert(t.Context(), m, name, bytes.NewReader(data), int64(len(data)), t.TempDir(), outdir.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Err != nil {
			continue
		}
		b, err := os.ReadFile(res.Paths.Records)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(res.Paths.Records)] = b
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			key, err := ledger.Key(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			keys[key] = true
		}
	}
	return keys, files
}

func dropAtomically(t *testing.T, drop, stage, name string, data []byte) {
	t.Helper()
	p := filepath.Join(stage, name)
	testutil.WriteFile(t, p, string(data))
	if err := os.Rename(p, filepath.Join(drop, name)); err != nil {
		t.Fatal(err)
	}
}

// killAim is the moment a kill of the crash test aims at.
type killAim int

const (
	midFile     killAim = iota // an input claimed and not yet finished
	midDelivery                // a record's request at the receiver
)

func (a killAim) String() string {
	if a == midFile {
		return "mid-file"
	}
	return "mid-delivery"
}

// moment returns the condition the kill waits for.
func (a killAim) moment(drop string, recv *flakyReceiver) func() bool {
	if a == midFile {
		return func() bool { return filesIn(filepath.Join(drop, localdir.WorkDir)) > 0 }
	}
	return func() bool { return recv.inFlight.Load() > 0 }
}

// hit reports, once the hub is dead, whether the kill landed at the
// moment it aimed at: an input still claimed in work/; or, the kill having
// been sent while the receiver answered a request, records the ledger has
// not seen delivered.
func (a killAim) hit(t *testing.T, drop, state string) bool {
	t.Helper()
	if a == midFile {
		return filesIn(filepath.Join(drop, localdir.WorkDir)) > 0
	}
	l, err := ledger.Open(t.Context(), state)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, d := range ledgerStats(t, l).Destinations {
		if d.Destination == "esr" {
			return d.Counts[ledger.Pending] > 0
		}
	}
	return false
}

func ledgerStats(t *testing.T, l *ledger.Ledger) *ledger.Stats {
	t.Helper()
	stats, err := l.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// filesIn counts the files (not folders) in dir.
func filesIn(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			n++
		}
	}
	return n
}

// inputsLeft counts files in the drop folder and its work/.
func inputsLeft(drop string) int {
	return filesIn(drop) + filesIn(filepath.Join(drop, localdir.WorkDir))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitUntilDone polls `status --json` until every file is done and nothing
// is pending. A file claimed in the ledger while no input is left to
// process is a lost file; it fails the test early.
func waitUntilDone(t *testing.T, bin, state, drop string, hub *hubProcess, deadline time.Time) {
	t.Helper()
	var last string
	var stuckSince time.Time
	for {
		select {
		case <-hub.exited:
			t.Fatalf("hub exited by itself: %v", hub.err)
		default:
		}
		out, err := exec.Command(bin, "status", "--state", state, "--json").Output()
		if err == nil {
			last = string(out)
			var st struct {
				Idle         bool           `json:"idle"`
				Files        map[string]int `json:"files"`
				Destinations []struct {
					Name    string `json:"name"`
					Pending int    `json:"pending"`
				} `json:"destinations"`
			}
			if json.Unmarshal(out, &st) == nil && st.Idle && len(st.Destinations) == 2 &&
				st.Files["processed"] == crashGoodFiles && st.Files["quarantined"] == 1 {
				return
			}
			switch {
			case st.Files["claimed"] == 0 || inputsLeft(drop) > 0:
				stuckSince = time.Time{}
			case stuckSince.IsZero():
				stuckSince = time.Now()
			case time.Since(stuckSince) > 5*time.Second:
				t.Fatalf("the ledger holds %d claimed files but no input is left to process; status:\n%s", st.Files["claimed"], out)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done by the deadline; last status:\n%s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// flakyReceiver is an ESR API stand-in on loopback that honours
// Idempotency-Key and fails at random: 503s, answers slower than the
// client waits, and connections dropped without an answer (before or
// after applying the record).
type flakyReceiver struct {
	srv      *httptest.Server
	epoch    atomic.Int32 // which hub process is running
	inFlight atomic.Int32 // requests being answered

	mu          sync.Mutex
	rng         *rand.Rand
	applied     map[string]int            // key → times applied (must end at 1)
	cleanAcked  map[string]map[int32]bool // key → epochs that got a clean 201/409
	created     map[string]bool           // key → a 201 was written
	conflicted  map[string]bool           // key → a 409 was written
	requests    int
	resends     int
	unavailable int
	slow        int
	dropped     int
	problems    []string
	stop        chan struct{}
}

func newFlakyReceiver(t *testing.T, rng *rand.Rand) *flakyReceiver {
	r := &flakyReceiver{
		rng: rng, applied: map[string]int{}, cleanAcked: map[string]map[int32]bool{},
		created: map[string]bool{}, conflicted: map[string]bool{}, stop: make(chan struct{}),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		close(r.stop)
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

func (r *flakyReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	epoch := r.epoch.Load()
	key := req.Header.Get("Idempotency-Key")
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the client went away mid-request
	}
	r.mu.Lock()
	r.requests++
	if req.Header.Get("Authorization") != "Bearer crash-test-token" {
		r.problems = append(r.problems, "request without the bearer token")
	}
	if k, err := ledger.Key(body); err != nil || k != key {
		r.problems = append(r.problems, fmt.Sprintf("Idempotency-Key %q does not match the body's key %q (%v)", key, k, err))
	}
	if r.applied[key] > 0 {
		r.resends++
		if r.cleanAcked[key][epoch] {
			r.problems = append(r.problems, fmt.Sprintf(
				"record %s sent again by hub run %d after that run got a clean answer for it", key[:12], epoch))
		}
	}
	roll := r.rng.Float64()
	apply := func() bool {
		r.applied[key]++
		return r.applied[key] == 1
	}
	switch {
	case roll < 0.12:
		r.unavailable++
		r.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	case roll < 0.15:
		// Applied, but the answer comes after the client gave up.
		r.slow++
		fresh := r.applied[key] == 0
		if fresh {
			apply()
		}
		r.mu.Unlock()
		select {
		case <-time.After(crashSlowResponse):
		case <-r.stop:
		}
		if fresh {
			w.WriteHeader(http.StatusCreated)
		} else {
			w.WriteHeader(http.StatusConflict)
		}
	case roll < 0.19:
		// The connection drops: after applying the record half the time.
		r.dropped++
		if roll < 0.17 && r.applied[key] == 0 {
			apply()
		}
		r.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	default:
		code := http.StatusConflict
		if r.applied[key] == 0 {
			apply()
			code = http.StatusCreated
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		err := http.NewResponseController(w).Flush()
		r.mu.Lock()
		if err == nil {
			if r.cleanAcked[key] == nil {
				r.cleanAcked[key] = map[int32]bool{}
			}
			r.cleanAcked[key][epoch] = true
		}
		if code == http.StatusCreated {
			r.created[key] = true
		} else {
			r.conflicted[key] = true
		}
		r.mu.Unlock()
	}
}

func (r *flakyReceiver) appliedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

type receiverReport struct {
	applied                       map[string]int
	created, conflicted           map[string]bool
	requests, resends, violations int
	unavailable, slow, dropped    int
	problems                      []string
}

func (r *flakyReceiver) report() receiverReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := receiverReport{
		applied: maps.Clone(r.applied), created: maps.Clone(r.created), conflicted: maps.Clone(r.conflicted),
		requests: r.requests, resends: r.resends, unavailable: r.unavailable, slow: r.slow, dropped: r.dropped,
		problems: slices.Clone(r.problems),
	}
	for _, p := range r.problems {
		if strings.Contains(p, "sent again") {
			rep.violations++
		}
	}
	return rep
}
