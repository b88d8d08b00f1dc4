package relay

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// Defaults for Config.StorageProbe.
const (
	DefaultStorageProbeBase = time.Second
	DefaultStorageProbeMax  = 30 * time.Second
)

// storageProbeBytes is how much room the state folder must have for the
// hub to resume: enough for the outputs of a small file.
const storageProbeBytes = 256 << 10

// storageGate pauses the hub's intake and deliveries while its storage
// is full (ledger.IsStorageFull): a full ledger or state folder cannot
// record what happens, so taking more files or sending more records would
// only fail, or send records whose delivery cannot be recorded. While
// paused, the hub probes the ledger and the state folder with growing
// delays and resumes once both can be written. Nothing is lost: files in
// flight stay claimed and are handled again, deliveries stay pending.
type storageGate struct {
	mu      sync.Mutex
	paused  bool
	cause   error
	since   time.Time
	resumed chan struct{} // closed when the pause ends
	pausing chan struct{} // closed when the next pause begins
	start   chan struct{} // wakes the prober: a pause began
	// strikes counts pauses that began within flapWindow of the end of
	// the one before: room enough for the probe but not for the work. The
	// first probe of a pause waits longer with each.
	strikes    int
	lastResume time.Time
}

// flapWindow is how soon after a resume a new pause counts as the same
// shortage of room.
const flapWindow = time.Minute

func newStorageGate() *storageGate {
	return &storageGate{pausing: make(chan struct{}), start: make(chan struct{}, 1)}
}

// pause pauses the hub because of err, unless it is paused already. It
// reports whether this call began the pause.
func (g *storageGate) pause(err error) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.cause = err
		return false
	}
	g.paused, g.cause, g.since = true, err, time.Now()
	if g.since.Sub(g.lastResume) > flapWindow {
		g.strikes = 0
	}
	g.strikes++
	g.resumed = make(chan struct{})
	close(g.pausing)
	select {
	case g.start <- struct{}{}:
	default:
	}
	return true
}

// resume ends the pause and returns how long it lasted.
func (g *storageGate) resume() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		return 0
	}
	g.paused = false
	g.pausing = make(chan struct{})
	close(g.resumed)
	g.lastResume = time.Now()
	return g.lastResume.Sub(g.since)
}

// wait returns nil at once if the hub is not paused, else once it
// resumes, or ctx's error.
func (g *storageGate) wait(ctx context.Context) error {
	g.mu.Lock()
	if !g.paused {
		g.mu.Unlock()
		return nil
	}
	resumed := g.resumed
	g.mu.Unlock()
	select {
	case <-resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// untilPause returns a context that ends with ctx or when the next pause
// begins, whichever comes first. The caller must call cancel.
func (g *storageGate) untilPause(ctx context.Context) (context.Context, context.CancelFunc) {
	g.mu.Lock()
	pausing, paused := g.pausing, g.paused
	g.mu.Unlock()
	pctx, cancel := context.WithCancel(ctx)
	if paused {
		cancel()
		return pctx, cancel
	}
	go func() {
		// Exits when pctx ends: cancelled by the caller, with ctx, or
		// here when a pause begins.
		select {
		case <-pausing:
			cancel()
		case <-pctx.Done():
		}
	}()
	return pctx, cancel
}

// isPaused reports whether the hub is paused, and how many pauses in a
// row the current one is (see strikes).
func (g *storageGate) isPaused() (paused bool, strikes int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused, g.strikes
}

// storageFull pauses the hub if err says its storage is full, and reports
// whether it did (or the hub was paused already for that reason).
func (h *Hub) storageFull(err error) bool {
	if !ledger.IsStorageFull(err) {
		return false
	}
	if h.gate.pause(err) {
		h.log.Error("storage full: intake and deliveries paused until the ledger and the state folder can be written again", "err", err)
		if ho, ok := h.obs.(HealthObserver); ok {
			ho.StoragePaused(err)
		}
	}
	return true
}

// probeStorage runs until ctx ends: whenever the hub pauses, it checks the
// ledger and the state folder with growing delays (Config.StorageProbe)
// and resumes the hub once both can be written.
func (h *Hub) probeStorage(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.gate.start:
		}
		_, strikes := h.gate.isPaused()
		for attempt := strikes; ; attempt++ {
			if !sleep(ctx, h.probe.Delay(attempt, 0)) {
				return
			}
			err := h.checkStorage(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			h.gate.pause(err) // the latest reason
			if ho, ok := h.obs.(HealthObserver); ok {
				ho.StoragePaused(err)
			}
		}
		if took := h.gate.resume(); took > 0 {
			h.log.Warn("storage writable again: intake and deliveries resumed", "paused_for", took.Round(time.Millisecond))
			if ho, ok := h.obs.(HealthObserver); ok {
				ho.StoragePaused(nil)
			}
		}
	}
}

// checkStorage reports whether the ledger can grow and the state folder
// has room for storageProbeBytes, written and synced.
func (h *Hub) checkStorage(ctx context.Context) error {
	if err := h.ledger.CheckWritable(ctx); err != nil {
		return err
	}
	f, err := atomicfile.Create(filepath.Join(h.stateDir, ".storage-probe"))
	if err != nil {
		return err
	}
	defer f.Abort() // never published: only the room matters
	if _, err := f.Write(make([]byte, storageProbeBytes)); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	return nil
}
