package httpsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// Defaults for DispatcherConfig.
const (
	DefaultConcurrency  = 4
	DefaultPollInterval = 10 * time.Second
)

// markTimeout bounds recording an outcome once the dispatcher is stopping.
const markTimeout = 10 * time.Second

// Deliverer delivers one record. *Sink is the production implementation.
type Deliverer interface {
	Deliver(ctx context.Context, key string, body []byte) (Receipt, error)
}

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	// Destination is the ledger destination whose queue is drained.
	Destination string
	// Concurrency is the number of deliveries in flight at once. Default 4.
	Concurrency int
	// PollInterval is how often the ledger is checked when nothing is
	// known to be due and no Wake arrives. Default 10s.
	PollInterval time.Duration
	// Backoff spaces retries of temporary failures. A server's
	// Retry-After is honoured as a minimum.
	Backoff retry.Backoff
	// MaxAttempts rejects a record after this many temporary failures.
	// Zero, the default, retries for as long as an outage lasts.
	MaxAttempts int
	// Now is the clock for scheduling retries. Default time.Now.
	Now func() time.Time
	// Logger receives rejections and retries. Default slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told each recorded outcome (metrics), and,
	// if it is an AvailabilityObserver, each outage.
	Observer DeliveryObserver
	// Breaker tunes how the destination is held and probed when it fails
	// as a whole.
	Breaker BreakerConfig
	// Heartbeat, if set, is called each time the dispatcher's loop waits,
	// with how long it will wait at most when all is well (0: until a
	// delivery in flight ends, however long that takes): a liveness check
	// sees a loop that misses it as stalled.
	Heartbeat func(within time.Duration)
}

// HeartbeatSlack is added to each wait the dispatcher announces (see
// DispatcherConfig.Heartbeat): time for its next look at the ledger.
const HeartbeatSlack = 30 * time.Second

// Dispatcher drains one destination's queue in the ledger into a
// Deliverer. At most one Dispatcher may run per destination, because which
// deliveries are in flight is known only in memory.
type Dispatcher struct {
	ledger  *ledger.Ledger
	sink    Deliverer
	dest    string
	workers int
	poll    time.Duration
	backoff retry.Backoff
	maxTry  int
	now     func() time.Time
	log     *slog.Logger
	obs     DeliveryObserver
	avail   AvailabilityObserver // nil unless obs is one
	breaker *Breaker
	beat    func(within time.Duration)

	wake     chan struct{} // Wake requests
	finished chan struct{} // a delivery has left the in-flight set
	running  atomic.Bool

	mu       sync.Mutex
	inflight map[int64]string // delivery id → assignment number
	busy     map[string]int   // assignment number → deliveries in flight
}

// NewDispatcher returns a Dispatcher for cfg.Destination.
func NewDispatcher(l *ledger.Ledger, sink Deliverer, cfg DispatcherConfig) (*Dispatcher, error) {
	if l == nil || sink == nil {
		return nil, errors.New("httpsink: dispatcher needs a ledger and a deliverer")
	}
	if cfg.Destination == "" {
		return nil, errors.New("httpsink: dispatcher needs a destination")
	}
	d := &Dispatcher{
		ledger:   l,
		sink:     sink,
		dest:     cfg.Destination,
		workers:  cfg.Concurrency,
		poll:     cfg.PollInterval,
		backoff:  cfg.Backoff,
		maxTry:   cfg.MaxAttempts,
		now:      cfg.Now,
		log:      cfg.Logger,
		obs:      cfg.Observer,
		breaker:  NewBreaker(cfg.Breaker),
		beat:     cfg.Heartbeat,
		wake:     make(chan struct{}, 1),
		finished: make(chan struct{}, 1),
	}
	d.avail, _ = cfg.Observer.(AvailabilityObserver)
	if d.workers <= 0 {
		d.workers = DefaultConcurrency
	}
	if d.poll <= 0 {
		d.poll = DefaultPollInterval
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.beat == nil {
		d.beat = func(time.Duration) {}
	}
	d.log = d.log.With("destination", d.dest)
	return d, nil
}

// Wake makes a running dispatcher look for due deliveries now instead of
// at its next poll; call it after enqueueing. It never blocks, and is safe
// to call from any goroutine, running or not.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is already pending; one is enough
	}
}

// Run delivers due records until ctx is done, then waits for its
// goroutines to exit and returns nil. Deliveries cut off by ctx stay
// pending. It returns an error only if the ledger fails, since it can
// then neither find work nor record outcomes.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("httpsink: dispatcher already running")
	}
	defer d.running.Store(false)
	d.mu.Lock()
	d.inflight = make(map[int64]string)
	d.busy = make(map[string]int)
	d.mu.Unlock()
	d.breaker.CancelProbe() // a probe granted as an earlier Run stopped
	if err := d.restoreHealth(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan task)
	g.Go(func() error {
		defer close(jobs) // lets the workers finish
		return d.feed(gctx, jobs)
	})
	for range d.workers {
		g.Go(func() error {
			for t := range jobs {
				if err := d.deliver(gctx, t.Delivery, t.probe); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// task is one delivery handed to a worker; probe marks the one request
// that tests an unavailable destination.
type task struct {
	ledger.Delivery
	probe bool
}

// restoreHealth opens the breaker if the destination was unavailable when
// the hub last stopped, so that one probe goes before the queue does.
func (d *Dispatcher) restoreHealth(ctx context.Context) error {
	if d.breaker.cfg.Disabled {
		return nil
	}
	h, ok, err := d.ledger.Health(ctx, d.dest)
	if err != nil || !ok || h.Available {
		return err
	}
	d.breaker.Restore(BreakerState{Open: true, Since: h.Since, Probes: h.Probes, LastError: h.LastError}, d.now())
	d.log.Warn("destination was unavailable when the hub last ran: probing it before sending",
		"unavailable_since", h.Since, "err", h.LastError)
	if d.avail != nil {
		d.avail.DestinationAvailable(d.dest, false)
	}
	return nil
}

// feed hands due deliveries to the workers, never more than there are free
// workers, so that what it hands out is fresh.
func (d *Dispatcher) feed(ctx context.Context, jobs chan<- task) error {
	timer := time.NewTimer(d.poll)
	defer timer.Stop()
	for {
		batch, busy, hold, err := d.take(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, job := range batch {
			select {
			case jobs <- job:
			case <-ctx.Done():
				return nil
			}
		}
		if len(batch) > 0 {
			continue
		}
		if busy {
			// Too few workers free to be worth a query: a finishing
			// one wakes us.
			d.beat(0)
			select {
			case <-ctx.Done():
				return nil
			case <-d.finished:
			}
			continue
		}
		if hold > 0 {
			// The destination is unavailable and the next probe is not
			// due: nothing else goes, whatever is queued. (A Wake only
			// makes it look at the breaker again.)
			timer.Reset(hold)
			d.beat(hold + HeartbeatSlack)
			select {
			case <-ctx.Done():
				return nil
			case <-d.wake:
			case <-d.finished:
			case <-timer.C:
			}
			continue
		}

		wait := d.poll
		at, ok, err := d.ledger.NextAttempt(ctx, d.dest)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if until := at.Sub(d.now()); ok && until <= 0 {
			// Something is due that take did not hand out. Either it is in
			// flight or blocked behind a delivery in flight, and a
			// finishing worker will wake us; or it fell due just after
			// take looked, and we look again now.
			d.mu.Lock()
			idle := len(d.inflight) == 0
			d.mu.Unlock()
			if idle {
				continue
			}
		} else if ok && until < wait {
			wait = until
		}
		timer.Reset(wait)
		d.beat(wait + HeartbeatSlack)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-d.finished:
		case <-timer.C:
		}
	}
}

// take fetches due deliveries for the free workers and marks them in
// flight. It skips deliveries already in flight and any whose assignment
// has a delivery in flight, so two plans for one doctor never race. It
// reports busy, without querying, while fewer than a quarter of the
// workers are free: one query per finished delivery would cost more than
// the deliveries.
//
// While the breaker is open it hands out at most one delivery, the probe,
// once nothing is in flight and the probe is due: the longest-waiting
// pending delivery, whatever its own next attempt (the breaker sets the
// pace now). Otherwise it returns how long the probe is to be held.
func (d *Dispatcher) take(ctx context.Context) (batch []task, busy bool, hold time.Duration, err error) {
	// The lock is held across the query on purpose. A worker records its
	// outcome in the ledger and only then leaves the in-flight set, and it
	// cannot leave while we hold the lock; so every delivery this query
	// still sees as pending is either really pending or still in the
	// in-flight set. Releasing the lock during the query would let a
	// delivery finish in between and be handed out a second time.
	d.mu.Lock()
	defer d.mu.Unlock()
	free, inflight := d.workers-len(d.inflight), len(d.inflight)
	if d.breaker.Open() {
		return d.takeProbe(ctx)
	}
	if inflight > 0 && free < max(1, d.workers/4) {
		return nil, true, 0, nil
	}
	// In-flight deliveries are still pending in the ledger: leave them
	// out. A few more than free are asked for, to see past any whose
	// assignment is busy (rare: a newer plan arrived while the older one
	// was in flight).
	except := make([]int64, 0, inflight)
	for id := range d.inflight {
		except = append(except, id)
	}
	due, err := d.ledger.Due(ctx, d.dest, d.now(), free+min(free, 4), except...)
	if err != nil {
		return nil, false, 0, err
	}
	for _, job := range due {
		if len(batch) == free {
			break
		}
		if _, ok := d.inflight[job.ID]; ok || d.busy[job.AssignmentNumber] > 0 {
			continue
		}
		d.inflight[job.ID] = job.AssignmentNumber
		d.busy[job.AssignmentNumber]++
		batch = append(batch, task{Delivery: job})
	}
	return batch, false, 0, nil
}

// probeHorizon stands for "whenever due": a probe may take a delivery
// whose own next attempt lies ahead.
var probeHorizon = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// takeProbe is take while the breaker is open; d.mu is held.
func (d *Dispatcher) takeProbe(ctx context.Context) (batch []task, busy bool, hold time.Duration, err error) {
	if len(d.inflight) > 0 {
		// The probe, or requests sent before the breaker opened: their
		// outcome is the next event.
		return nil, true, 0, nil
	}
	ok, wait := d.breaker.Probe(d.now())
	if !ok {
		return nil, false, max(wait, time.Millisecond), nil
	}
	due, err := d.ledger.Due(ctx, d.dest, probeHorizon, 1)
	if err != nil || len(due) == 0 {
		d.breaker.CancelProbe() // nothing to probe with: the next record is the probe
		return nil, false, 0, err
	}
	job := due[0]
	d.inflight[job.ID] = job.AssignmentNumber
	d.busy[job.AssignmentNumber]++
	return []task{{Delivery: job, probe: true}}, false, 0, nil
}

func (d *Dispatcher) release(job ledger.Delivery) {
	d.mu.Lock()
	delete(d.inflight, job.ID)
	if d.busy[job.AssignmentNumber]--; d.busy[job.AssignmentNumber] <= 0 {
		delete(d.busy, job.AssignmentNumber)
	}
	d.mu.Unlock()
	select {
	case d.finished <- struct{}{}:
	default:
	}
}

// deliver makes one attempt and records its outcome. probe marks the
// one request that tests an unavailable destination.
func (d *Dispatcher) deliver(ctx context.Context, job ledger.Delivery, probe bool) error {
	defer d.release(job)
	if !probe && d.breaker.Open() {
		// Handed out just before the breaker opened: left pending, due,
		// for after the outage.
		return nil
	}
	start := time.Now()
	rc, err := d.sink.Deliver(ctx, job.Key, job.Payload)
	// Record the outcome even if shutdown began meanwhile: forgetting a
	// success would only cost a duplicate, but it is cheap to avoid.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err != nil && ctx.Err() != nil {
		// Cut off by shutdown: not the destination's fault. The delivery
		// stays pending for the next run, due at once; requests that
		// reached the receiver count as attempts, since it may have acted
		// on them.
		if probe {
			d.breaker.CancelProbe()
		}
		if rc.Requests == 0 {
			return nil
		}
		if merr := d.ledger.MarkRetry(mctx, job.ID, job.Attempts+rc.Requests, d.now(), "cut off by shutdown after the request was sent"); merr != nil {
			return fmt.Errorf("httpsink: record outcome of delivery %d: %w", job.ID, merr)
		}
		d.observe(OutcomeRetried, rc.Requests, time.Since(start))
		return nil
	}
	// Each request the receiver may have seen is an attempt: a Deliverer
	// that does not count requests made one.
	requests := max(rc.Requests, 1)
	// An answer, even one refusing this record, shows the destination is
	// up; only temporary failures count towards an outage.
	up := err == nil || !retry.IsRetryable(err)
	change, bs := d.breaker.Record(d.now(), up, probe, retry.After(err), err)

	var merr error
	outcome := OutcomeRejected
	switch {
	case err == nil && rc.Result == AlreadyDelivered:
		outcome, merr = OutcomeDuplicate, d.ledger.Finish(mctx, job.ID, ledger.Final{State: ledger.Duplicate, Requests: requests, RemoteID: rc.RemoteID})
	case err == nil:
		if rc.RemoteIDProblem != "" {
			d.log.Warn("delivered, but the answer carries no id", "id", job.ID, "problem", rc.RemoteIDProblem)
		}
		outcome, merr = OutcomeDelivered, d.ledger.Finish(mctx, job.ID, ledger.Final{State: ledger.Delivered, Requests: requests, RemoteID: rc.RemoteID})
	case !retry.IsRetryable(err):
		// The assignment number identifies a person: debug only.
		d.log.Warn("delivery rejected", "id", job.ID, "line", job.Line, "err", err)
		d.log.Debug("delivery rejected", "id", job.ID, "assignment", job.AssignmentNumber)
		merr = d.ledger.Finish(mctx, job.ID, ledger.Final{State: ledger.Rejected, Requests: requests, Reason: err.Error()})
	default:
		attempts := job.Attempts + requests
		if d.maxTry > 0 && attempts >= d.maxTry {
			d.log.Warn("delivery given up", "id", job.ID, "attempts", attempts, "err", err)
			merr = d.ledger.Finish(mctx, job.ID, ledger.Final{State: ledger.Rejected, Requests: requests,
				Reason: fmt.Sprintf("gave up after %d attempts: %v", attempts, err)})
			break
		}
		delay := d.backoff.Delay(attempts, retry.After(err))
		// During an outage the outage is logged, once, not each record.
		level := slog.LevelInfo
		if change != Unchanged || bs.Open {
			level = slog.LevelDebug
		}
		d.log.Log(ctx, level, "delivery will be retried", "id", job.ID, "attempts", attempts, "in", delay, "probe", probe, "err", err)
		outcome, merr = OutcomeRetried, d.ledger.MarkRetry(mctx, job.ID, attempts, d.now().Add(delay), err.Error())
	}
	if merr != nil {
		return fmt.Errorf("httpsink: record outcome of delivery %d: %w", job.ID, merr)
	}
	// The requests before the last failed (a 401 before a new token):
	// each is told as retried, so the counts add up to the requests.
	d.observe(OutcomeRetried, requests-1, 0)
	d.observe(outcome, 1, time.Since(start))
	return d.changed(mctx, change, bs)
}

// changed logs, records and reports a change of the breaker's state.
func (d *Dispatcher) changed(ctx context.Context, change Transition, bs BreakerState) error {
	now := d.now()
	switch change {
	case Opened:
		waiting, err := d.ledger.Pending(ctx, d.dest)
		if err != nil {
			return fmt.Errorf("httpsink: %w", err)
		}
		d.log.Warn("destination unavailable: holding its deliveries and probing it one request at a time",
			"failures_in_a_row", d.breaker.cfg.Failures, "waiting", waiting, "next_probe_in", bs.NextProbe.Sub(now), "err", bs.LastError)
	case ProbeFailed:
		d.log.Debug("destination still unavailable", "probes", bs.Probes, "next_probe_in", bs.NextProbe.Sub(now), "err", bs.LastError)
	case Closed:
		released, err := d.ledger.MakeDue(ctx, d.dest, now)
		if err != nil {
			return fmt.Errorf("httpsink: %w", err)
		}
		waiting, err := d.ledger.Pending(ctx, d.dest)
		if err != nil {
			return fmt.Errorf("httpsink: %w", err)
		}
		d.log.Info("destination available again: sending what waited",
			"unavailable_for", now.Sub(bs.Since).Round(time.Millisecond), "probes", bs.Probes, "waiting", waiting, "released_from_backoff", released)
		d.Wake()
	default:
		return nil
	}
	h := ledger.Health{Destination: d.dest, Available: change == Closed, Since: bs.Since,
		Probes: bs.Probes, NextProbeAt: bs.NextProbe, LastError: bs.LastError}
	if change == Closed {
		h = ledger.Health{Destination: d.dest, Available: true, Since: now}
	}
	if err := d.ledger.SetHealth(ctx, h); err != nil {
		return fmt.Errorf("httpsink: %w", err)
	}
	if d.avail != nil && change != ProbeFailed {
		d.avail.DestinationAvailable(d.dest, change == Closed)
	}
	return nil
}

// observe tells the observer, if any, of n attempts with outcome.
func (d *Dispatcher) observe(outcome string, n int, took time.Duration) {
	if d.obs == nil {
		return
	}
	for range n {
		d.obs.Delivered(d.dest, outcome, took)
	}
}
