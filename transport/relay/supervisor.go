package relay

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/filewatch"
)

// Setup is one reading of a hub's configuration: how to start its hub,
// and the files it was read from.
type Setup struct {
	// Files are the files the configuration was read from: a change to
	// the content of any of them reloads it.
	Files []string
	// Start builds the hub; its sources may start watching at once, until
	// ctx ends. release frees what the hub does not own (connections of
	// sinks); the Supervisor calls it once the hub's Run has returned.
	Start func(ctx context.Context) (hub *Hub, release func(), err error)
}

// Defaults of Supervisor.
const (
	// DefaultQuiet is as long as a source's default settle time: an export
	// job may pause while writing a staff extract.
	DefaultQuiet   = 2 * time.Second
	DefaultRecheck = 30 * time.Second
)

// Supervisor runs the hub of a configuration and replaces it when the
// configuration changes. A reload, asked for on Signals or by a change to
// the content of a file the running configuration was read from, reads
// the configuration again with Load:
//
//   - a configuration with problems is logged, and the running hub goes
//     on;
//   - a sound one stops the running hub (files in flight finish within
//     its grace period, or stay claimed for the new hub) and starts the
//     new one;
//   - a new hub that cannot be started is logged, and the previous
//     configuration's is started again.
//
// What outlives the hubs (the ledger, a status page) is the caller's.
type Supervisor struct {
	// Load reads the configuration again. Without it, nothing reloads.
	Load func() (*Setup, error)
	// Signals, if set, asks for a reload with each value (SIGHUP).
	Signals <-chan os.Signal
	// Quiet is how long the files must be left alone after a change
	// before they are read again; Recheck is how often they are looked
	// at without an event (network mounts, replaced folders). Defaults
	// DefaultQuiet and DefaultRecheck.
	Quiet, Recheck time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told how each reload went (metrics, the
	// status page's banner).
	Observer ReloadObserver
	// Notify, if set, is told when a hub is running (Ready: the first
	// one, or again after a reload, whichever way the reload ended) and
	// when a reload begins (Reloading), for a service manager's readiness
	// protocol (systemd's sd_notify). It must not block.
	Notify func(State)
}

// State is what Supervisor.Notify is told.
type State int

const (
	// Ready: a hub runs, with its sources watching.
	Ready State = iota
	// Reloading: the configuration is being read again; Ready follows.
	Reloading
)

func (s *Supervisor) notify(st State) {
	if s.Notify != nil {
		s.Notify(st)
	}
}

// Run runs first's hub, and after each reload the new one, until ctx
// ends (it returns nil) or a hub stops by itself (it returns the hub's
// error). Every goroutine it starts has ended when it returns.
func (s *Supervisor) Run(ctx context.Context, first *Setup) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	setup, previous := first, (*Setup)(nil) // previous: the one to fall back to
	// sums is the content of the files the running setup was read from.
	sums := filewatch.SumsOf(first.Files)
	// changed carries a file whose content changed; one pending reload is
	// enough.
	changed := make(chan string, 1)
	for {
		hub, release, err := setup.Start(ctx)
		if err != nil {
			if previous == nil {
				return err
			}
			log.Error("reloaded configuration could not be started; going back to the previous one", "err", err)
			s.reloaded(err)
			setup, previous = previous, nil
			continue
		}
		if previous != nil {
			s.reloaded(nil)
		}
		select {
		case <-changed: // seen by the last watcher, and read since
		default:
		}
		stopWatching := s.watch(ctx, sums, changed, log)
		runCtx, stopHub := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- hub.Run(runCtx) }()
		s.notify(Ready)

		next, nextSums, err := s.waitForReload(ctx, done, changed, sums, log)
		stopWatching()
		stopHub()
		if next == nil {
			// The hub has stopped: done was read.
			release()
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("relay: hub stopped unexpectedly")
			}
			return err
		}
		log.Info("reloading configuration")
		err = <-done
		release()
		if err != nil {
			return err
		}
		setup, previous = next, setup
		sums = nextSums
	}
}

// watch watches the files of sums (each with the content the running
// configuration was read from) and sends each one that changes on
// changed, without waiting: one pending reload is enough. The returned
// stop waits for the watcher to exit.
func (s *Supervisor) watch(ctx context.Context, sums map[string]filewatch.Sum, changed chan<- string, log *slog.Logger) (stop func()) {
	if s.Load == nil || len(sums) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := filewatch.Watch(ctx, sums, filewatch.Options{
			Quiet:   cmp.Or(s.Quiet, DefaultQuiet),
			Recheck: cmp.Or(s.Recheck, DefaultRecheck),
			Changed: func(path string) {
				select {
				case changed <- path:
				default:
				}
			},
			Error: func(err error) { log.Warn("watching configuration files", "err", err) },
		})
		if err != nil {
			log.Warn("not watching the configuration files for changes; reload with SIGHUP", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// waitForReload waits until the hub stops (returning its error and a nil
// setup), or a signal or a changed file brings a sound new configuration,
// which it returns with the content of its files. The files are hashed
// before they are read again, so that a save made meanwhile is seen as a
// change by the next watch rather than lost.
func (s *Supervisor) waitForReload(ctx context.Context, done <-chan error, changed <-chan string,
	sums map[string]filewatch.Sum, log *slog.Logger) (*Setup, map[string]filewatch.Sum, error) {
	for {
		var why []any
		select {
		case err := <-done:
			return nil, nil, err
		case sig := <-s.Signals:
			why = []any{"cause", signalName(sig)}
		case f := <-changed:
			why = []any{"cause", "file changed", "file", f}
		}
		if ctx.Err() != nil || s.Load == nil {
			continue // stopping: the hub's exit comes next
		}
		log.Info("reading the configuration again", why...)
		s.notify(Reloading)
		before := filewatch.SumsOf(slices.Collect(maps.Keys(sums)))
		next, err := s.Load()
		if err != nil {
			log.Error("reload: the configuration has problems; keeping the running one", append(why, "problems", err.Error())...)
			s.reloaded(err)
			s.notify(Ready)
			continue
		}
		nextSums := make(map[string]filewatch.Sum, len(next.Files))
		for _, f := range next.Files {
			if sum, ok := before[f]; ok {
				nextSums[f] = sum
			} else {
				nextSums[f] = filewatch.SumOf(f) // new to this configuration
			}
		}
		return next, nextSums, nil
	}
}

// reloaded tells the observer, if any, how a reload went.
func (s *Supervisor) reloaded(err error) {
	if s.Observer != nil {
		s.Observer.Reloaded(err)
	}
}

// signalName names a signal as the operator sent it.
func signalName(sig os.Signal) string {
	if sig == syscall.SIGHUP {
		return "SIGHUP"
	}
	return sig.String()
}
