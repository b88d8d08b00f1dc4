package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// Defaults for Config.
const (
	DefaultGrace   = 10 * time.Second
	DefaultWorkers = 1
)

// Names of the hub's folders inside its state directory.
const (
	// FilesDir holds one folder per claimed file, named by its ledger id,
	// with the processor's outputs (records, reports).
	FilesDir = "files"
	// SkippedDir holds the reports of inputs that were already processed.
	SkippedDir = "skipped"
)

// Destination is where a source's accepted records go. Exactly one of
// Records and Files is set.
type Destination struct {
	// Name identifies the destination in the ledger and in logs.
	Name string
	// Records takes one record per delivery, with its idempotency key (the
	// ESR API: *httpsink.Sink).
	Records dispatch.Deliverer
	// Files takes each input's accepted records as one JSON Lines file
	// named after the input (<input base>.jobplans.jsonl), one delivery
	// per file: outbox folders (*outbox.Sink), SFTP servers (*sftp.Sink).
	Files dispatch.Deliverer
	// Dispatch tunes the destination's dispatcher (concurrency, backoff,
	// attempts). Destination, Logger and Files are filled in by the hub.
	// File destinations default to a concurrency of 1, so files arrive in
	// the order they were processed.
	Dispatch dispatch.Config
}

// SourceSpec is one configured source and what to do with its files.
type SourceSpec struct {
	// Name identifies the source in the ledger and in logs.
	Name string
	// Source yields claimed files. The hub closes it when Run returns.
	Source Source
	// Processor converts the source's files (its mapping).
	Processor Processor
	// Destinations name the Config.Destinations that receive the records.
	Destinations []string
	// Workers is how many files of this source are processed at once.
	// Default 1.
	Workers int
}

// Config configures a Hub.
type Config struct {
	// StateDir holds FilesDir and SkippedDir. Usually the ledger's
	// directory too.
	StateDir string
	// Ledger is the hub's durable state.
	Ledger *ledger.Ledger
	// Sources and Destinations: every name must be unique, and every
	// destination a source names must exist.
	Sources      []SourceSpec
	Destinations []Destination
	// Grace is how long files in flight may go on after Run's context ends
	// before they are cut off and left claimed, to be processed again on
	// the next start. Default 10s.
	Grace time.Duration
	// Backoff spaces retries of a file whose handling failed for a reason
	// outside the file (ledger, disk, source trouble). Default 1s to 1m.
	Backoff retry.Backoff
	// Logger receives one line per file and every problem. Default
	// slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told about files, records and source polls
	// (metrics, health). Destinations' dispatchers take their own
	// observer in Destination.Dispatch.
	Observer Observer
	// StorageProbe spaces the checks of a hub paused because its storage
	// is full (see Run). Default 1s to 30s.
	StorageProbe retry.Backoff
	// FileMode is the permission of the reports the hub writes itself
	// ("already processed" reports of processors without a SkipReporter);
	// 0 means atomicfile.DefaultMode (0600).
	FileMode fs.FileMode
	// Heartbeat is how often the hub reports its loop alive to an
	// Observer that is a LoopObserver. Default DefaultHeartbeat.
	Heartbeat time.Duration
}

// Hub moves files from sources through their processor into the ledger
// and on to destinations. For each file it (handle.go):
//
//  1. obtains the content's SHA-256 (Hasher, or by reading it);
//  2. decides from what the ledger knows of that content: content
//     processed before is acknowledged at once with a small "already
//     processed" report pointing at the earlier one; a file finished but
//     not acknowledged before a restart is acknowledged as it was then;
//     otherwise the file is claimed in the ledger (or, after a crash, its
//     claim resumed);
//  3. converts it with the source's Processor into <state>/files/<id>/
//     and reads back what to queue: the accepted records for every record
//     destination, and one file delivery (ledger.KindFile: the whole JSON
//     Lines file) per file destination, so that a crash neither loses nor
//     repeats it;
//  4. checks that the file is unchanged since it was read, queues it all
//     and marks the file processed (or quarantined) in one ledger
//     transaction, and only then acknowledges the item, which archives it
//     beside its reports.
//
// Each destination has a dispatcher (transport/dispatch) that drains its
// queue concurrently with the sources and is woken after every enqueue.
//
// The loops, from the top:
//
//	Hub.Run                    the hub: starts the loops below and stops them
//	├─ Hub.runDestination      one per destination: its dispatcher, stopped
//	│                          while the hub is paused (pause.go)
//	├─ Hub.probeStorage        while the hub is paused: can it resume?
//	├─ Hub.beat                with a LoopObserver: reports the hub alive
//	└─ Hub.sourceWorker        SourceSpec.Workers per source: takes its files
//	   └─ Hub.handleUntilDone  one file: handles it again (backing off)
//	      │                    until it is done or the hub stops
//	      └─ Hub.handle        one attempt: decide, convertAndQueue, finish
//
// Crash safety: every step is either a ledger transaction or an atomic
// file operation, and every step can be repeated. After a kill at any
// moment, the next start finds the file again (local folders hand out
// work/ first; SFTP files are still on the server), sees the ledger's
// claim and processes it again under the same id: records already queued
// are recognised by their idempotency keys. (A copy of the content that
// finds the claim first finishes it under the claimed file's name, so a
// file destination never gets the same records under two names.) A file
// the ledger shows finished but not yet acknowledged is acknowledged with
// its original reports. Records are marked delivered only after the
// receiver accepted them, so a request in flight at the crash is sent
// again, with the same Idempotency-Key.
//
// Content is deduplicated across all sources: identical bytes are
// processed once, by whichever source got them first.
type Hub struct {
	stateDir string
	ledger   *ledger.Ledger
	log      *slog.Logger
	grace    time.Duration
	backoff  retry.Backoff
	sources  []*sourceRun
	dests    []*destRun
	locks    keyLock
	running  atomic.Bool
	obs      Observer // nil: nothing observed
	// filesDirSync makes new file folders' names durable, one sync of
	// FilesDir for all the files being converted at the time.
	filesDirSync *atomicfile.DirSyncer
	gate         *storageGate
	probe        retry.Backoff
	fileMode     fs.FileMode
	loops        LoopObserver // nil: not observed
	heartbeat    time.Duration
}

type destRun struct {
	name  string
	files bool
	disp  *dispatch.Dispatcher
}

type sourceRun struct {
	spec    SourceSpec
	dests   []*destRun
	workers int
	log     *slog.Logger
}

// New checks cfg and returns a Hub ready to Run.
func New(cfg Config) (*Hub, error) {
	if cfg.StateDir == "" || cfg.Ledger == nil {
		return nil, errors.New("relay: hub needs a state directory and a ledger")
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	h := &Hub{
		stateDir:  dir,
		ledger:    cfg.Ledger,
		log:       cfg.Logger,
		grace:     cfg.Grace,
		backoff:   cfg.Backoff,
		obs:       cfg.Observer,
		gate:      newStorageGate(),
		probe:     cfg.StorageProbe,
		fileMode:  cfg.FileMode,
		heartbeat: cmp.Or(cfg.Heartbeat, DefaultHeartbeat),
	}
	h.loops, _ = cfg.Observer.(LoopObserver)
	if h.log == nil {
		h.log = slog.Default()
	}
	h.filesDirSync = atomicfile.NewDirSyncer(filepath.Join(dir, FilesDir))
	if h.grace <= 0 {
		h.grace = DefaultGrace
	}
	if h.backoff == (retry.Backoff{}) {
		h.backoff = retry.Backoff{Base: time.Second, Max: time.Minute}
	}
	if h.probe == (retry.Backoff{}) {
		h.probe = retry.Backoff{Base: DefaultStorageProbeBase, Max: DefaultStorageProbeMax}
	}

	byName := make(map[string]*destRun)
	for _, d := range cfg.Destinations {
		if d.Name == "" {
			return nil, errors.New("relay: destination without a name")
		}
		if byName[d.Name] != nil {
			return nil, fmt.Errorf("relay: destination %q configured twice", d.Name)
		}
		if (d.Records == nil) == (d.Files == nil) {
			return nil, fmt.Errorf("relay: destination %q: set exactly one of Records and Files", d.Name)
		}
		dc := d.Dispatch
		dc.Destination = d.Name
		if dc.Logger == nil {
			dc.Logger = h.log
		}
		if h.loops != nil {
			loop := DispatcherLoop(d.Name)
			dc.Heartbeat = func(within time.Duration) { h.loops.LoopAlive(loop, within) }
		}
		deliverer := d.Records
		if d.Files != nil {
			deliverer = reachReporter{hub: h, dest: d.Name, next: d.Files}
			dc.Files = stagedFiles{h}
			if dc.Concurrency <= 0 {
				dc.Concurrency = 1
			}
		}
		disp, err := dispatch.New(cfg.Ledger, deliverer, dc)
		if err != nil {
			return nil, fmt.Errorf("relay: destination %q: %w", d.Name, err)
		}
		dr := &destRun{name: d.Name, files: d.Files != nil, disp: disp}
		byName[d.Name] = dr
		h.dests = append(h.dests, dr)
	}

	seen := make(map[string]bool)
	for _, s := range cfg.Sources {
		if s.Name == "" || s.Source == nil || s.Processor == nil {
			return nil, fmt.Errorf("relay: source %q needs a name, a source and a processor", s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("relay: source %q configured twice", s.Name)
		}
		seen[s.Name] = true
		sr := &sourceRun{spec: s, workers: s.Workers, log: h.log.With("source", s.Name)}
		if sr.workers <= 0 {
			sr.workers = DefaultWorkers
		}
		for _, name := range s.Destinations {
			d := byName[name]
			if d == nil {
				return nil, fmt.Errorf("relay: source %q: unknown destination %q", s.Name, name)
			}
			sr.dests = append(sr.dests, d)
		}
		h.sources = append(h.sources, sr)
	}
	return h, nil
}

// Run processes files and delivers records until ctx ends, then stops:
// dispatchers at once (deliveries cut off stay pending), files in flight
// within the grace period (or they stay claimed, to be processed again on
// the next start). It closes the sources before it returns. Run returns
// nil after ctx ends, and an error only if a dispatcher failed for good
// (the ledger broke) or a source stopped by itself.
//
// A full disk or ledger (ledger.IsStorageFull) is not such a failure: the
// hub pauses, taking no files and making no deliveries, reports it to
// the Observer (HealthObserver), checks with growing delays whether the
// ledger and the state folder can be written again, and then resumes by
// itself. A file being handled when the pause began is handled again
// after it. Requests in flight when it began go on; an outcome the ledger
// has no room for is recorded once the hub resumes, so the request is not
// sent again; nothing else is sent while the hub is paused.
func (h *Hub) Run(ctx context.Context) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("relay: hub already running")
	}
	defer h.running.Store(false)
	defer func() {
		for _, s := range h.sources {
			if err := s.spec.Source.Close(); err != nil {
				s.log.Warn("closing source", "err", err)
			}
		}
	}()

	h.reportRefusals(ctx)

	g, gctx := errgroup.WithContext(ctx)
	// Files in flight finish under wctx, which outlives gctx by the grace
	// period: a file is either done properly or left claimed.
	wctx, cancelWork := context.WithCancel(context.WithoutCancel(gctx))
	defer cancelWork()
	stopGrace := context.AfterFunc(gctx, func() { time.AfterFunc(h.grace, cancelWork) })
	defer stopGrace()

	g.Go(func() error {
		h.probeStorage(gctx)
		return nil
	})
	if h.loops != nil {
		g.Go(func() error {
			h.beat(gctx)
			return nil
		})
		// The supervisor starts the next hub, or the process ends.
		defer h.loops.LoopAlive(LoopHub, NextHubWithin)
	}
	for _, d := range h.dests {
		g.Go(func() error { return h.runDestination(gctx, d) })
	}
	for _, s := range h.sources {
		for range s.workers {
			g.Go(func() error { return h.sourceWorker(gctx, wctx, s) })
		}
	}
	h.log.Info("hub started", "sources", len(h.sources), "destinations", len(h.dests), "state", h.stateDir)
	err := g.Wait()
	if err != nil {
		h.log.Error("hub stopped", "err", err)
	} else {
		h.log.Info("hub stopped")
	}
	return err
}

// sourceWorker is one worker of a source: it takes the source's files one
// at a time until ctx ends, retrying a source that failed. Files it has
// taken are handled under wctx.
func (h *Hub) sourceWorker(ctx, wctx context.Context, s *sourceRun) error {
	for failures := 0; ; {
		if h.gate.wait(ctx) != nil {
			return nil
		}
		// A pause cuts a wait for the next file short: the source takes
		// nothing while the hub cannot record it.
		nctx, cancel := h.gate.untilPause(ctx)
		it, err := s.spec.Source.Next(nctx)
		paused := nctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			// A file taken just as ctx ended is still handled, within
			// the grace period.
			failures = 0
			h.polled(s, nil)
			h.handleUntilDone(wctx, s, it)
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if paused || h.storageFull(err) {
			continue
		}
		if errors.Is(err, ErrSourceClosed) {
			return fmt.Errorf("relay: source %s closed by itself", s.spec.Name)
		}
		// A source's permanent failures (host key, login, missing folder)
		// need an operator; keep trying so the hub recovers without a
		// restart once they are fixed.
		h.polled(s, err)
		failures++
		delay := h.backoff.Delay(failures, retry.After(err))
		s.log.Error("source failed; trying again", "err", err, "in", delay.Round(time.Millisecond))
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

// handleUntilDone handles one item, retrying failures that are not the
// file's fault, until it is done or ctx ends (then it stays claimed).
func (h *Hub) handleUntilDone(ctx context.Context, s *sourceRun, it Item) {
	for attempt := 1; ; attempt++ {
		if h.gate.wait(ctx) != nil {
			s.log.Info("file left claimed for the next start", "file", it.Name())
			return
		}
		err := h.handle(ctx, s, it)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			s.log.Info("file left claimed for the next start", "file", it.Name(), "err", err)
			return
		}
		if h.storageFull(err) {
			attempt = 0 // not the file's fault: handled again once resumed
			continue
		}
		delay := h.backoff.Delay(attempt, retry.After(err))
		s.log.Warn("file handling failed; trying again", "file", it.Name(), "attempt", attempt,
			"in", delay.Round(time.Millisecond), "err", err)
		if !sleep(ctx, delay) {
			s.log.Info("file left claimed for the next start", "file", it.Name())
			return
		}
	}
}

// reportRefusals starts the ledger's list of files left alone afresh and
// has every source that refuses files (RefusalReporter) report them to it.
func (h *Hub) reportRefusals(ctx context.Context) {
	if err := h.ledger.ClearRefusals(ctx); err != nil {
		h.log.Warn("clearing the files left alone by the last run", "err", err)
	}
	for _, s := range h.sources {
		if rr, ok := s.spec.Source.(RefusalReporter); ok {
			rr.ReportRefusalsTo(h.refusalRecorder(s))
		}
	}
}

// refusalRecorder returns the function through which source s reports a
// file it leaves alone: logged once, and kept in the ledger for status
// and the status page until the source withdraws it.
func (h *Hub) refusalRecorder(s *sourceRun) func(context.Context, Refusal) {
	return func(ctx context.Context, r Refusal) {
		// Recorded even as the source stops: status should show it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var err error
		if r.Reason == "" {
			s.log.Debug("file no longer left alone", "file", r.Name)
			err = h.ledger.ClearRefusal(ctx, s.spec.Name, r.Name)
		} else {
			s.log.Warn("file left alone", "file", r.Name, "reason", r.Reason)
			err = h.ledger.SetRefusal(ctx, s.spec.Name, r.Name, r.Reason)
		}
		if err != nil {
			s.log.Warn("recording a file left alone", "err", err)
		}
	}
}

// beat reports the hub's loop alive every h.heartbeat until ctx ends,
// then gives the time the hub has to stop. Each beat first takes the
// locks every worker takes, so that a worker wedged holding one stops
// the beats.
func (h *Hub) beat(ctx context.Context) {
	t := time.NewTicker(h.heartbeat)
	defer t.Stop()
	for {
		h.gate.isPaused()
		// Taken and given back at once: a worker wedged holding it stops
		// the beats, which is what /livez is to see.
		h.locks.mu.Lock()
		//lint:ignore SA2001 the empty critical section is the point
		h.locks.mu.Unlock()
		h.loops.LoopAlive(LoopHub, 3*h.heartbeat)
		select {
		case <-ctx.Done():
			// Files in flight have the grace period; then Run returns.
			h.loops.LoopAlive(LoopHub, h.grace+StopMargin)
			return
		case <-t.C:
		}
	}
}

// runDestination runs d's dispatcher until ctx ends, stopping it for as
// long as the hub is paused. A pause lets the requests in flight end and
// their outcomes be recorded; what the ledger had no room for is recorded
// when the dispatcher runs again, so that nothing is sent twice because of
// a pause. It returns an error only if the dispatcher failed for a reason
// other than full storage.
func (h *Hub) runDestination(ctx context.Context, d *destRun) error {
	if h.loops != nil {
		defer h.loops.LoopStopped(DispatcherLoop(d.name))
	}
	defer d.disp.Close()
	for {
		if paused, _ := h.gate.isPaused(); paused && h.loops != nil {
			h.loops.LoopAlive(DispatcherLoop(d.name), 0) // until the storage prober resumes the hub
		}
		if h.gate.wait(ctx) != nil {
			return nil
		}
		pctx, cancel := h.gate.untilPause(ctx)
		err := d.disp.RunUntil(ctx, pctx.Done())
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil, h.storageFull(err):
			// Stopped by a pause, or its own write failed for want of
			// room (which pauses the hub): run again once it resumes.
		default:
			return fmt.Errorf("relay: destination %s: %w", d.name, err)
		}
	}
}

// polled tells the observer, if any, how a look at s went.
func (h *Hub) polled(s *sourceRun, err error) {
	if h.obs != nil {
		h.obs.SourcePolled(s.spec.Name, err)
	}
}

// destinationReached tells the observer, if it cares, how a put to a file
// destination went.
func (h *Hub) destinationReached(dest string, err error) {
	if ho, ok := h.obs.(HealthObserver); ok {
		ho.DestinationReached(dest, err)
	}
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// keyLock serialises work on equal keys (content hashes), so the same
// content dropped into two sources at once is claimed once.
type keyLock struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

// lock waits until key is free or ctx ends, and returns the unlock func.
func (k *keyLock) lock(ctx context.Context, key string) (func(), error) {
	for {
		k.mu.Lock()
		if k.held == nil {
			k.held = make(map[string]chan struct{})
		}
		ch, busy := k.held[key]
		if !busy {
			ch = make(chan struct{})
			k.held[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
