package relay_test

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/outbox"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

const waitLimit = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// csvProcessor is a stand-in for the transform side: each input line is
// "assignment,effective date,dcc"; a line "BROKEN" fails the whole file.
// If block is set, Process waits on it (or ctx) first.
type csvProcessor struct {
	block chan struct{}
	calls atomic.Int32
}

func (p *csvProcessor) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	p.calls.Add(1)
	name := in.Name
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return relay.Output{}, ctx.Err()
		}
	}
	base := strings.TrimSuffix(name, filepath.Ext(name))
	out := relay.Output{Report: filepath.Join(dir, base+".report.json")}
	out.Reports = []string{out.Report}
	var lines []string
	sc := bufio.NewScanner(in.Content)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if line == "BROKEN" {
			out.Failed, out.Reason = true, "line "+fmt.Sprint(len(lines)+1)+": the file is broken"
			break
		}
		f := strings.Split(line, ",")
		if len(f) != 3 {
			return relay.Output{}, fmt.Errorf("bad test input %q", line)
		}
		rec := fmt.Sprintf(`{"assignment_number":%q,"effective_date":%q,"dcc":%s}`, f[0], f[1], f[2])
		lines = append(lines, rec)
		// What transform hands over beside each record it writes.
		payload, err := ledger.Canonical([]byte(rec))
		if err != nil {
			return relay.Output{}, err
		}
		key, _ := ledger.Key(payload)
		out.Plans = append(out.Plans, relay.Plan{AssignmentNumber: f[0], EffectiveDate: f[1], Payload: payload, Key: key})
	}
	out.Counts.Accepted = len(lines)
	status := "accepted"
	if out.Failed {
		status = "failed"
	} else {
		out.Records = filepath.Join(dir, base+".jobplans.jsonl")
		records := []byte(strings.Join(lines, "\n") + "\n")
		if err := os.WriteFile(out.Records, records, 0o644); err != nil {
			return relay.Output{}, err
		}
		sum := sha256.Sum256(records)
		out.RecordsSHA256 = hex.EncodeToString(sum[:])
	}
	report := fmt.Sprintf(`{"input":%q,"status":%q,"reason":%q}`, name, status, out.Reason)
	// A second report, as the real processor writes report.html.
	page := filepath.Join(dir, base+".report.html")
	if err := os.WriteFile(page, []byte("<p>"+status+"</p>"), 0o644); err != nil {
		return relay.Output{}, err
	}
	out.Reports = append(out.Reports, page)
	return out, os.WriteFile(out.Report, []byte(report), 0o644)
}

// receiver is an ESR API stand-in that honours Idempotency-Key.
type receiver struct {
	srv  *httptest.Server
	fail atomic.Bool // answer 503 to everything
	// failBody is the body of those answers.
	failBody string
	// hold, if set before the hub starts, holds every request until it
	// is closed; held counts the requests that waited on it.
	hold chan struct{}
	held atomic.Int64

	mu       sync.Mutex
	accepted map[string]string // key → body, accepted with 201
	posts    map[string]int    // key → requests
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{accepted: map[string]string{}, posts: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		body, _ := io.ReadAll(r.Body)
		if rc.hold != nil {
			rc.held.Add(1)
			<-rc.hold
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.posts[key]++
		switch {
		case rc.fail.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, rc.failBody)
		case rc.accepted[key] != "":
			w.WriteHeader(http.StatusConflict)
		default:
			rc.accepted[key] = string(body)
			w.WriteHeader(http.StatusCreated)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// bodies returns the accepted records as "assignment@date" strings, sorted.
func (rc *receiver) bodies() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, b := range rc.accepted {
		var rec struct {
			A string `json:"assignment_number"`
			D string `json:"effective_date"`
		}
		json.Unmarshal([]byte(b), &rec)
		out = append(out, rec.A+"@"+rec.D)
	}
	slices.Sort(out)
	return out
}

func (rc *receiver) maxPosts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for k, v := range rc.posts {
		if rc.accepted[k] != "" {
			n = max(n, v)
		}
	}
	return n
}

// env is a hub over a local drop folder, delivering to a receiver and an
// outbox folder.
type env struct {
	t                   *testing.T
	drop, state, outDir string
	ledger              *ledger.Ledger
	recv                *receiver
	proc                *csvProcessor
	wrapProc            func(relay.Processor) relay.Processor
	marker              string        // the local source's ready marker
	settle              time.Duration // the local source's settle time; default 20ms
	pollOnly            bool          // the local source's PollOnly
	logger              *slog.Logger  // the hub's; default quiet
	apiTimeout          time.Duration // of a request to the receiver; default 2s
	scans               atomic.Int64  // full scans of the drop folder
	onScan              func(error)   // told each scan, if set
	wrap                func(relay.Source) relay.Source
	obs                 relay.Observer
	cancel              context.CancelFunc
	done                chan error
}

func newEnv(t *testing.T) *env {
	root := t.TempDir()
	e := &env{
		t:      t,
		drop:   filepath.Join(root, "drop"),
		state:  filepath.Join(root, "state"),
		outDir: filepath.Join(root, "outbox"),
		recv:   newReceiver(t),
		proc:   &csvProcessor{},
	}
	if err := os.MkdirAll(e.drop, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(t.Context(), e.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e.ledger = l
	return e
}

// start runs a hub until stop or the end of the test.
func (e *env) start() {
	t := e.t
	t.Helper()
	// The hub closes the source when it stops. Were the source to stop
	// with t.Context, whose end reaches the hub's context (a child of it)
	// a moment later, the hub could see it closed first and fail the test
	// with "closed by itself".
	src, err := localdir.New(context.WithoutCancel(t.Context()), localdir.Options{
		Dir: e.drop, SettleTime: cmp.Or(e.settle, 20*time.Millisecond), RescanInterval: 50 * time.Millisecond, Logger: quiet,
		PollOnly: e.pollOnly, ReadyMarker: e.marker, OnScan: func(err error) {
			e.scans.Add(1)
			if e.onScan != nil {
				e.onScan(err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.startWith(src)
}

// startWith runs a hub over src until stop or the end of the test.
func (e *env) startWith(src relay.Source) {
	t := e.t
	t.Helper()
	var source relay.Source = src
	if e.wrap != nil {
		source = e.wrap(src)
	}
	api, err := httpsink.New(httpsink.Config{URL: e.recv.srv.URL, Timeout: cmp.Or(e.apiTimeout, 2*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(e.outDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	fast := dispatch.Config{
		Backoff:      retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		PollInterval: 50 * time.Millisecond,
	}
	var proc relay.Processor = e.proc
	if e.wrapProc != nil {
		proc = e.wrapProc(proc)
	}
	hub, err := relay.New(relay.Config{
		StateDir: e.state,
		Ledger:   e.ledger,
		Sources: []relay.SourceSpec{{
			Name: "drop", Source: source, Processor: proc, Destinations: []string{"esr", "outbox"}, Workers: 2,
		}},
		Destinations: []relay.Destination{
			{Name: "esr", Records: api, Dispatch: fast},
			{Name: "outbox", Files: ob, Dispatch: fast},
		},
		Grace:        50 * time.Millisecond,
		Backoff:      retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		StorageProbe: retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		Logger:       cmp.Or(e.logger, quiet),
		Observer:     e.obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- hub.Run(ctx) }()
	t.Cleanup(func() { e.stop() })
}

// runHub makes a hub of cfg and runs it until the test ends, failing the
// test if Run fails.
func runHub(t *testing.T, cfg relay.Config) {
	t.Helper()
	hub, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// holdRequests makes the receiver hold every request until release is
// called (when the test ends at the latest).
func holdRequests(t *testing.T, e *env) (release func()) {
	e.recv.hold = make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(e.recv.hold) }) }
	t.Cleanup(release)
	return release
}

// stop stops the hub and fails the test if Run failed or hung.
func (e *env) stop() {
	e.t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		e.t.Fatal("Run did not return after cancel")
	}
}

func (e *env) dropFile(name, content string) {
	e.t.Helper()
	// Write under a hidden name and rename, as a careful supplier does.
	tmp := filepath.Join(e.drop, "."+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.drop, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) status() *relay.Status {
	e.t.Helper()
	s, err := relay.ReadStatus(e.t.Context(), e.ledger)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) dest(name string) relay.DestinationStatus {
	for _, d := range e.status().Destinations {
		if d.Name == name {
			return d
		}
	}
	return relay.DestinationStatus{Name: name}
}

// The file helpers every package's tests share.
var (
	exists = testutil.Exists
	read   = testutil.ReadFile
	names  = testutil.Names
)

const planA = "10000001,2026-04-01,7.5\n10000002,2026-04-01,8\n10000003-2,2026-04-01,6\n"

func TestFileArchivedWithReportAndDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.dropFile("a.csv", planA)

	archived := filepath.Join(e.drop, localdir.ArchiveDir, "a.csv")
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(archived) && e.dest("esr").Delivered == 3 && e.dest("outbox").Delivered == 1
	}, "a.csv archived and delivered; status %+v", e.status())

	report := read(t, filepath.Join(e.drop, localdir.ArchiveDir, "a.csv.a.report.json"))
	if !strings.Contains(report, `"status":"accepted"`) {
		t.Errorf("archived report = %s, want the accepted report", report)
	}
	want := []string{"10000001@2026-04-01", "10000002@2026-04-01", "10000003-2@2026-04-01"}
	if got := e.recv.bodies(); !slices.Equal(got, want) {
		t.Errorf("receiver got %v, want %v", got, want)
	}
	if n := e.recv.maxPosts(); n != 1 {
		t.Errorf("a record was posted %d times, want once", n)
	}
	staged := read(t, filepath.Join(e.outDir, "a.jobplans.jsonl"))
	if got := strings.Count(staged, "\n"); got != 3 {
		t.Errorf("outbox file has %d lines, want 3:\n%s", got, staged)
	}
	if left := names(t, filepath.Join(e.drop, localdir.WorkDir)); len(left) != 0 {
		t.Errorf("work/ still holds %v", left)
	}
	s := e.status()
	if s.Files[ledger.FileProcessed] != 1 || !s.Idle {
		t.Errorf("status %+v, want one processed file and idle", s)
	}
}

func TestIdenticalFileRecognisedAsAlreadyProcessed(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(filepath.Join(e.drop, localdir.ArchiveDir, "a.csv")) && e.dest("esr").Delivered == 3
	}, "first drop delivered")

	// The same content under another name, then under the same name.
	e.dropFile("b.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(filepath.Join(e.drop, localdir.ArchiveDir, "b.csv"))
	}, "b.csv archived")
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return len(names(t, filepath.Join(e.drop, localdir.WorkDir))) == 0 &&
			!exists(filepath.Join(e.drop, "a.csv")) && e.proc.calls.Load() == 1
	}, "second a.csv archived")

	report := read(t, filepath.Join(e.drop, localdir.ArchiveDir, "b.csv.b.report.json"))
	for _, want := range []string{`"status": "already_processed"`, `"see_report":`, "a.report.json", "already processed"} {
		if !strings.Contains(report, want) {
			t.Errorf("skip report lacks %q:\n%s", want, report)
		}
	}
	var skipped int
	for _, n := range names(t, filepath.Join(e.drop, localdir.ArchiveDir)) {
		if strings.HasPrefix(n, "a.") && strings.HasSuffix(n, ".csv") && n != "a.csv" {
			skipped++ // the second a.csv, renamed with a timestamp
		}
	}
	if skipped != 1 {
		t.Errorf("archive = %v, want the second a.csv under a timestamped name", names(t, filepath.Join(e.drop, localdir.ArchiveDir)))
	}
	if n := e.proc.calls.Load(); n != 1 {
		t.Errorf("processor ran %d times, want once", n)
	}
	if s := e.status(); s.Files[ledger.FileProcessed] != 1 || e.dest("esr").Delivered != 3 || e.recv.maxPosts() != 1 {
		t.Errorf("after re-drops: files %v, esr %+v, max posts %d; want 1 file, 3 records, each posted once", s.Files, e.dest("esr"), e.recv.maxPosts())
	}
}

func TestNewerPlanSupersedesPendingOne(t *testing.T) {
	e := newEnv(t)
	e.recv.fail.Store(true)
	e.start()
	e.dropFile("april.csv", "10000001,2026-04-01,7.5\n")
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("esr").Retrying == 1 },
		"April plan failing and pending")

	e.dropFile("may.csv", "10000001,2026-05-01,8\n10000002,2026-05-01,8\n")
	transporttest.Eventually(t, waitLimit, func() bool { return e.status().Files[ledger.FileProcessed] == 2 },
		"may.csv processed")
	if d := e.dest("esr"); d.Superseded != 1 || d.Pending != 2 {
		t.Errorf("esr %+v, want the April plan superseded and two pending", d)
	}
	e.recv.fail.Store(false)
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("esr").Delivered == 2 }, "May plans delivered")

	want := []string{"10000001@2026-05-01", "10000002@2026-05-01"}
	if got := e.recv.bodies(); !slices.Equal(got, want) {
		t.Errorf("receiver accepted %v, want only the newer plans %v", got, want)
	}
}

func TestBrokenFileQuarantinedWithReason(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.dropFile("bad.csv", "10000001,2026-04-01,7.5\nBROKEN\n")
	quarantined := filepath.Join(e.drop, localdir.QuarantineDir, "bad.csv")
	transporttest.Eventually(t, waitLimit, func() bool { return exists(quarantined) }, "bad.csv quarantined")

	reason := read(t, filepath.Join(e.drop, localdir.QuarantineDir, "bad.csv.reason.txt"))
	if !strings.Contains(reason, "line 2: the file is broken") {
		t.Errorf("reason.txt = %q", reason)
	}
	if !exists(filepath.Join(e.drop, localdir.QuarantineDir, "bad.csv.bad.report.json")) {
		t.Error("no report beside the quarantined file")
	}
	s := e.status()
	if s.Files[ledger.FileQuarantined] != 1 || len(s.Destinations) != 0 {
		t.Errorf("status %+v, want one quarantined file and nothing queued", s)
	}
}

// failingDone makes the first Done of each item fail, as a crash between
// marking a file and acknowledging it would.
type failingDone struct {
	relay.Source
	failed sync.Map
}

func (s *failingDone) Next(ctx context.Context) (relay.Item, error) {
	it, err := s.Source.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &doneOnce{Item: it, src: s}, nil
}

type doneOnce struct {
	relay.Item
	src *failingDone
}

func (it *doneOnce) Done(ctx context.Context, ack relay.Ack) error {
	if _, loaded := it.src.failed.LoadOrStore(it.Name(), true); !loaded {
		return errors.New("simulated failure")
	}
	return it.Item.Done(ctx, ack)
}

func TestFinishedButUnacknowledgedFileKeepsItsReport(t *testing.T) {
	e := newEnv(t)
	e.wrap = func(s relay.Source) relay.Source { return &failingDone{Source: s} }
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(filepath.Join(e.drop, localdir.ArchiveDir, "a.csv")) && e.dest("esr").Delivered == 3
	}, "a.csv archived after a failed acknowledgement")

	report := read(t, filepath.Join(e.drop, localdir.ArchiveDir, "a.csv.a.report.json"))
	if !strings.Contains(report, `"status":"accepted"`) {
		t.Errorf("archived report = %s, want the original report, not an already-processed one", report)
	}
	// Every report, not just report.json, is acknowledged again from the
	// ledger.
	if page := read(t, filepath.Join(e.drop, localdir.ArchiveDir, "a.csv.a.report.html")); page != "<p>accepted</p>" {
		t.Errorf("archived report.html = %q", page)
	}
	if n := e.proc.calls.Load(); n != 1 {
		t.Errorf("processor ran %d times, want once", n)
	}
}

func TestStopParksFileInFlightAndRestartFinishesIt(t *testing.T) {
	e := newEnv(t)
	e.proc.block = make(chan struct{}) // never released: cut off by the grace period
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool { return e.proc.calls.Load() == 1 }, "processing started")
	e.stop()

	if !exists(filepath.Join(e.drop, localdir.WorkDir, "a.csv")) {
		t.Fatalf("a.csv not parked in work/: drop %v, work %v", names(t, e.drop), names(t, filepath.Join(e.drop, localdir.WorkDir)))
	}
	if s := e.status(); s.Files[ledger.FileClaimed] != 1 {
		t.Fatalf("files %v, want one claimed", s.Files)
	}

	e.proc = &csvProcessor{}
	e.start()
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(filepath.Join(e.drop, localdir.ArchiveDir, "a.csv")) && e.dest("esr").Delivered == 3
	}, "parked file finished after the restart")
	s := e.status()
	if s.Files[ledger.FileProcessed] != 1 || s.Files[ledger.FileClaimed] != 0 {
		t.Errorf("files %v, want the same claim finished, not a second one", s.Files)
	}
	if n := e.recv.maxPosts(); n != 1 {
		t.Errorf("a record was posted %d times, want once", n)
	}
}

func TestCopyOfAClaimedFileIsFinishedUnderTheClaim(t *testing.T) {
	// A previous run claimed a.csv, queued its records, put its records
	// file into the outbox, and died before marking it processed; a.csv
	// itself is gone. b.csv, a copy, arrives: it must finish the claim as
	// a.csv, so the outbox does not get the same records again as
	// b.jobplans.jsonl.
	e := newEnv(t)
	ctx := t.Context()
	sum := sha256.Sum256([]byte(planA))
	id, err := e.ledger.ClaimFile(ctx, ledger.FileInfo{
		Source: "drop", Name: "a.csv", Size: int64(len(planA)), ModTime: time.Now(), SHA256: hex.EncodeToString(sum[:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(e.state, relay.FilesDir, fmt.Sprint(id))
	if err := os.MkdirAll(staged, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := e.proc.Process(ctx, relay.Input{Name: "a.csv", Content: strings.NewReader(planA), Size: int64(len(planA))}, staged)
	if err != nil {
		t.Fatal(err)
	}
	records, err := os.ReadFile(out.Records)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.outDir, "a.jobplans.jsonl"), records, 0o644); err != nil {
		t.Fatal(err)
	}
	recSum := sha256.Sum256(records)
	payload := fmt.Sprintf(`{"kind":"file","file_id":%d,"name":"a.jobplans.jsonl","sha256":%q,"records":3}`, id, hex.EncodeToString(recSum[:]))
	if _, err := e.ledger.Enqueue(ctx, id, ledger.Queue{Destination: "outbox", File: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	due, err := e.ledger.Due(ctx, "outbox", time.Now(), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("outbox queue %v, %v", due, err)
	}
	if err := e.ledger.MarkDelivered(ctx, due[0].ID); err != nil {
		t.Fatal(err)
	}

	e.dropFile("b.csv", planA)
	e.start()
	archive := filepath.Join(e.drop, localdir.ArchiveDir)
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(filepath.Join(archive, "b.csv")) && e.dest("esr").Delivered == 3
	}, "b.csv archived and the records delivered; status %+v", e.status())

	if got := names(t, e.outDir); !slices.Equal(got, []string{"a.jobplans.jsonl"}) {
		t.Errorf("outbox holds %v, want only a.jobplans.jsonl", got)
	}
	if d := e.dest("outbox"); d.Delivered != 1 || d.Pending != 0 {
		t.Errorf("outbox deliveries %+v, want the one put before the crash", d)
	}
	if r := read(t, filepath.Join(archive, "b.csv.b.report.json")); !strings.Contains(r, "already_processed") || !strings.Contains(r, "a.report.json") {
		t.Errorf("b.csv report = %s, want already processed, pointing at a.csv's report", r)
	}
	if s := e.status(); s.Files[ledger.FileProcessed] != 1 || s.Files[ledger.FileClaimed] != 0 || e.recv.maxPosts() != 1 {
		t.Errorf("files %v, max posts %d; want the one claim processed and each record posted once", s.Files, e.recv.maxPosts())
	}
}

func TestNewRejectsBadWiring(t *testing.T) {
	e := newEnv(t)
	ob, _ := outbox.New(e.outDir, 0)
	for _, tc := range []struct {
		name string
		cfg  relay.Config
		want string
	}{
		{"unknown destination", relay.Config{StateDir: e.state, Ledger: e.ledger, Sources: []relay.SourceSpec{
			{Name: "s", Source: nopSource{}, Processor: e.proc, Destinations: []string{"nope"}}}}, `unknown destination "nope"`},
		{"both kinds", relay.Config{StateDir: e.state, Ledger: e.ledger, Destinations: []relay.Destination{
			{Name: "d", Files: ob, Records: deliverFunc(nil)}}}, "exactly one"},
		{"twice", relay.Config{StateDir: e.state, Ledger: e.ledger, Destinations: []relay.Destination{
			{Name: "d", Files: ob}, {Name: "d", Files: ob}}}, "configured twice"},
		{"no ledger", relay.Config{StateDir: e.state}, "needs a state directory and a ledger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

type nopSource struct{}

func (nopSource) Next(ctx context.Context) (relay.Item, error) { <-ctx.Done(); return nil, ctx.Err() }
func (nopSource) Close() error                                 { return nil }

type deliverFunc func(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error)

func (f deliverFunc) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	return f(ctx, p)
}
