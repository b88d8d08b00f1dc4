package dispatch

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

// Defaults for Config.
const (
	DefaultConcurrency  = 4
	DefaultPollInterval = 10 * time.Second
)

// markTimeout bounds recording an outcome once the dispatcher is stopping.
const markTimeout = 10 * time.Second

// Config configures a Dispatcher.
type Config struct {
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
	// MaxAttempts rejects a delivery after this many temporary failures.
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
	// Files opens the staged files of file deliveries; a destination
	// that takes files needs it.
	Files FileOpener
	// Heartbeat, if set, is called each time the dispatcher's loop waits,
	// with how long it will wait at most when all is well (0: until a
	// delivery in flight ends, however long that takes), and with 0 once
	// it stops handing deliveries out and waits for those in flight (a
	// pause, a shutdown): a liveness check sees a loop that misses it as
	// stalled.
	Heartbeat func(within time.Duration)
}

// HeartbeatSlack is added to each wait the dispatcher announces (see
// Config.Heartbeat): time for its next look at the ledger.
const HeartbeatSlack = 30 * time.Second

// Dispatcher drains one destination's queue in the ledger into a
// Deliverer. At most one Dispatcher may run per destination, because which
// deliveries are in flight is known only in memory.
//
// An outcome that cannot be recorded because the ledger or its disk is
// full (ledger.IsStorageFull) is kept in memory, its delivery still in
// flight, and recorded when the dispatcher runs again (once the hub has
// room again) or is closed: the request is not sent a second time.
type Dispatcher struct {
	ledger  *ledger.Ledger
	sink    Deliverer
	files   FileOpener
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
	inflight map[int64]lane // delivery id → its lane
	busy     map[lane]int   // lane → deliveries in flight
	// unrecorded are outcomes the ledger had no room for (see
	// Dispatcher); their deliveries stay in inflight until recorded.
	unrecorded []outcome
}

// lane is what deliveries in flight never share: a record's assignment
// (two plans for one doctor never race), or a file delivery's input file.
type lane struct {
	assignment string
	file       int64
}

func laneOf(job ledger.Delivery) lane {
	if job.Kind == ledger.KindFile {
		return lane{file: job.FileID}
	}
	return lane{assignment: job.AssignmentNumber}
}

// New returns a Dispatcher for cfg.Destination.
func New(l *ledger.Ledger, sink Deliverer, cfg Config) (*Dispatcher, error) {
	if l == nil || sink == nil {
		return nil, errors.New("dispatch: dispatcher needs a ledger and a deliverer")
	}
	if cfg.Destination == "" {
		return nil, errors.New("dispatch: dispatcher needs a destination")
	}
	d := &Dispatcher{
		ledger:   l,
		sink:     sink,
		files:    cfg.Files,
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
		inflight: make(map[int64]lane),
		busy:     make(map[lane]int),
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

// Run delivers due deliveries until ctx ends: RunUntil without a stop.
func (d *Dispatcher) Run(ctx context.Context) error {
	return d.RunUntil(ctx, nil)
}

// errStopped is the cause of the end of a RunUntil whose stop closed.
var errStopped = errors.New("dispatch: stopped")

// RunUntil delivers due deliveries until ctx ends or stop is closed, then
// waits for its goroutines to exit. It first records the outcomes an
// earlier run had no room for.
//
// When ctx ends (shutdown), requests in flight are cut off and their
// deliveries stay pending; RunUntil returns nil. When stop is closed (the
// hub pauses), nothing more is handed out, but requests in flight go on
// and their outcomes are recorded; RunUntil returns nil. It returns an
// error only if the ledger fails, since it can then neither find work nor
// record outcomes: a storage-full error (ledger.IsStorageFull) once the
// requests in flight have ended, with the outcomes it could not record
// kept for the next run; any other error at once, cutting requests in
// flight off.
func (d *Dispatcher) RunUntil(ctx context.Context, stop <-chan struct{}) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("dispatch: dispatcher already running")
	}
	defer d.running.Store(false)
	d.breaker.CancelProbe() // a probe granted as an earlier run stopped
	if err := d.recordUnrecorded(ctx); err != nil {
		return err
	}
	if err := d.restoreHealth(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	// Requests are sent under wctx, which ends with ctx or when the
	// ledger fails for want of anything but room. Deliveries are handed
	// out under fctx, which ends sooner: when stop closes or the ledger
	// is full.
	wctx, cutOff := context.WithCancel(ctx)
	defer cutOff()
	fctx, stopFeeding := context.WithCancelCause(wctx)
	defer stopFeeding(nil)
	var g errgroup.Group
	if stop != nil {
		g.Go(func() error {
			select {
			case <-stop:
				stopFeeding(errStopped)
			case <-fctx.Done():
			}
			return nil
		})
	}
	jobs := make(chan task)
	g.Go(func() error {
		defer close(jobs) // lets the workers finish
		err := d.feed(fctx, jobs)
		if err != nil {
			cutOff()
		}
		// What is left is the requests in flight, each bounded by its
		// own timeout, and the recording of their outcomes.
		d.beat(0)
		return err
	})
	for range d.workers {
		g.Go(func() error {
			for t := range jobs {
				if fctx.Err() != nil {
					d.notSent(t) // handed out as feeding stopped
					continue
				}
				err := d.deliver(wctx, t.Delivery, t.probe)
				switch {
				case err == nil:
				case ledger.IsStorageFull(err):
					// Nothing more goes out; requests in flight end.
					stopFeeding(err)
				default:
					cutOff()
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if cause := context.Cause(fctx); ledger.IsStorageFull(cause) {
		return cause
	}
	return nil
}

// Close is for when the dispatcher will not run again (the hub stops):
// it records the outcomes kept for want of room if there is room now,
// and logs those it cannot, whose deliveries stay pending, to be sent
// again (with the same idempotency key) by the next run of the hub.
func (d *Dispatcher) Close() {
	if err := d.recordUnrecorded(context.Background()); err != nil {
		d.log.Warn("stopped with outcomes not recorded for want of room: their deliveries are sent again after a restart",
			"deliveries", d.unrecordedCount(), "err", err)
	}
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
		for i, job := range batch {
			select {
			case jobs <- job:
			case <-ctx.Done():
				// Taken but not handed to a worker: out of the in-flight
				// set again, or no later run would ever take them.
				for _, rest := range batch[i:] {
					d.notSent(rest)
				}
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
			if !d.waitUpTo(ctx, timer, hold) {
				return nil
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
		if !d.waitUpTo(ctx, timer, wait) {
			return nil
		}
	}
}

// waitUpTo waits, at most wait (on timer, stopped or fired), for a Wake or
// a delivery leaving the in-flight set, and announces that bound to the
// heartbeat; it reports false if ctx ended meanwhile.
func (d *Dispatcher) waitUpTo(ctx context.Context, timer *time.Timer, wait time.Duration) bool {
	timer.Reset(wait)
	d.beat(wait + HeartbeatSlack)
	select {
	case <-ctx.Done():
		return false
	case <-d.wake:
	case <-d.finished:
	case <-timer.C:
	}
	return true
}

// take fetches due deliveries for the free workers and marks them in
// flight. It skips deliveries already in flight and any whose lane (a
// record's assignment, a file delivery's input file) has a delivery in
// flight, so two plans for one doctor never race. It reports busy,
// without querying, while fewer than a quarter of the workers are free:
// one query per finished delivery would cost more than the deliveries.
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
		ln := laneOf(job)
		if _, ok := d.inflight[job.ID]; ok || d.busy[ln] > 0 {
			continue
		}
		d.inflight[job.ID] = ln
		d.busy[ln]++
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
	ln := laneOf(job)
	d.inflight[job.ID] = ln
	d.busy[ln]++
	return []task{{Delivery: job, probe: true}}, false, 0, nil
}

// release takes delivery id out of the in-flight set, once its outcome
// is recorded or it was not sent.
func (d *Dispatcher) release(id int64) {
	d.mu.Lock()
	ln := d.inflight[id]
	delete(d.inflight, id)
	if d.busy[ln]--; d.busy[ln] <= 0 {
		delete(d.busy, ln)
	}
	d.mu.Unlock()
	select {
	case d.finished <- struct{}{}:
	default:
	}
}

// notSent releases a delivery handed out but not sent.
func (d *Dispatcher) notSent(t task) {
	if t.probe {
		d.breaker.CancelProbe()
	}
	d.release(t.ID)
}

// outcome is what one attempt came to, to be recorded: first its mark in
// the ledger, a final state (final.State set) or a retry; once that is
// done, what the observer is told and the breaker's change, if any.
type outcome struct {
	id     int64 // the delivery's
	final  ledger.Final
	retry  retryMark
	marked bool
	// The observer is told of requests attempts, the last with result
	// (each of the others as retried, or, cutOff, each as retried after
	// took), the last after took.
	result   string
	requests int
	cutOff   bool
	took     time.Duration
	change   Transition
	state    BreakerState
}

// retryMark is the mark of a failed attempt: its delivery's attempts so
// far, when to try again, and why.
type retryMark struct {
	attempts int
	next     time.Time
	reason   string
}

// deliver makes one attempt and records its outcome. probe marks the
// one request that tests an unavailable destination. It returns the
// ledger's error, if recording failed.
func (d *Dispatcher) deliver(ctx context.Context, job ledger.Delivery, probe bool) error {
	if !probe && d.breaker.Open() {
		// Handed out just before the breaker opened: left pending, due,
		// for after the outage.
		d.release(job.ID)
		return nil
	}
	start := time.Now()
	rc, err := d.send(ctx, job)
	o, ok := d.judge(ctx, job, probe, rc, err, start)
	if !ok {
		d.release(job.ID)
		return nil
	}
	// Record the outcome even if shutdown began meanwhile: forgetting a
	// success would only cost a duplicate, but it is cheap to avoid.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	return d.record(mctx, o)
}

// send makes one attempt at job: its record, or its staged file, opened
// for the attempt.
func (d *Dispatcher) send(ctx context.Context, job ledger.Delivery) (Receipt, error) {
	if job.Kind != ledger.KindFile {
		return d.sink.Deliver(ctx, Parcel{Key: job.Key, Record: job.Payload})
	}
	if d.files == nil {
		return Receipt{}, retry.Permanent(fmt.Errorf("delivery %d is a file, and destination %s opens no files", job.ID, d.dest))
	}
	name, f, err := d.files.OpenFile(ctx, job)
	if err != nil {
		return Receipt{}, err
	}
	defer f.Close()
	return d.sink.Deliver(ctx, Parcel{Key: job.Key, Name: name, File: f})
}

// judge decides what an attempt that began at start came to: the ledger
// change, what the observer is told, the breaker's change. It reports
// false for an attempt cut off by shutdown before its request went out:
// nothing to record.
func (d *Dispatcher) judge(ctx context.Context, job ledger.Delivery, probe bool, rc Receipt, err error, start time.Time) (outcome, bool) {
	o := outcome{id: job.ID}
	if err != nil && ctx.Err() != nil {
		// Cut off by shutdown: not the destination's fault. The delivery
		// stays pending for the next run, due at once; requests that
		// reached the receiver count as attempts, since it may have acted
		// on them.
		if probe {
			d.breaker.CancelProbe()
		}
		if rc.Requests == 0 {
			return o, false
		}
		o.retry = retryMark{attempts: job.Attempts + rc.Requests, next: d.now(), reason: "cut off by shutdown after the request was sent"}
		o.result, o.requests, o.cutOff, o.took = OutcomeRetried, rc.Requests, true, time.Since(start)
		return o, true
	}
	// Each request the receiver may have seen is an attempt: a Deliverer
	// that does not count requests made one.
	requests := max(rc.Requests, 1)
	// An answer, even one refusing this record, shows the destination is
	// up; only temporary failures count towards an outage.
	up := err == nil || !retry.IsRetryable(err)
	o.change, o.state = d.breaker.Record(d.now(), up, probe, retry.After(err), err)

	o.result = OutcomeRejected
	switch {
	case err == nil && rc.Result == AlreadyDelivered:
		o.result = OutcomeDuplicate
		o.final = ledger.Final{State: ledger.Duplicate, Requests: requests, RemoteID: rc.RemoteID}
	case err == nil:
		if rc.RemoteIDProblem != "" {
			d.log.Warn("delivered, but the answer carries no id", "id", job.ID, "problem", rc.RemoteIDProblem)
		}
		o.result = OutcomeDelivered
		o.final = ledger.Final{State: ledger.Delivered, Requests: requests, RemoteID: rc.RemoteID}
	case !retry.IsRetryable(err):
		// The assignment number identifies a person: debug only.
		d.log.Warn("delivery rejected", "id", job.ID, "line", job.Line, "err", err)
		d.log.Debug("delivery rejected", "id", job.ID, "assignment", job.AssignmentNumber)
		o.final = ledger.Final{State: ledger.Rejected, Requests: requests, Reason: err.Error()}
	default:
		attempts := job.Attempts + requests
		if d.maxTry > 0 && attempts >= d.maxTry {
			d.log.Warn("delivery given up", "id", job.ID, "attempts", attempts, "err", err)
			o.final = ledger.Final{State: ledger.Rejected, Requests: requests,
				Reason: fmt.Sprintf("gave up after %d attempts: %v", attempts, err)}
			break
		}
		delay := d.backoff.Delay(attempts, retry.After(err))
		// During an outage the outage is logged, once, not each record.
		level := slog.LevelInfo
		if o.change != Unchanged || o.state.Open {
			level = slog.LevelDebug
		}
		d.log.Log(ctx, level, "delivery will be retried", "id", job.ID, "attempts", attempts, "in", delay, "probe", probe, "err", err)
		o.result = OutcomeRetried
		o.retry = retryMark{attempts: attempts, next: d.now().Add(delay), reason: err.Error()}
	}
	o.requests, o.took = requests, time.Since(start)
	return o, true
}

// record records o: its mark in the ledger, then what the observer is
// told and the breaker's change. If the ledger has no room, o is kept,
// its delivery in flight, for recordUnrecorded; otherwise the delivery
// leaves the in-flight set.
func (d *Dispatcher) record(ctx context.Context, o outcome) error {
	err := d.recordSteps(ctx, &o)
	if ledger.IsStorageFull(err) {
		d.mu.Lock()
		d.unrecorded = append(d.unrecorded, o)
		d.mu.Unlock()
		return err
	}
	d.release(o.id)
	return err
}

// recordSteps does what is left of recording o.
func (d *Dispatcher) recordSteps(ctx context.Context, o *outcome) error {
	if !o.marked {
		var err error
		if o.final.State != "" {
			err = d.ledger.Finish(ctx, o.id, o.final)
		} else {
			err = d.ledger.MarkRetry(ctx, o.id, o.retry.attempts, o.retry.next, o.retry.reason)
		}
		if err != nil {
			return fmt.Errorf("dispatch: record outcome of delivery %d: %w", o.id, err)
		}
		o.marked = true
		if o.cutOff {
			d.observe(OutcomeRetried, o.requests, o.took)
		} else {
			// The requests before the last failed (a 401 before a new
			// token): each is told as retried, so the counts add up to
			// the requests.
			d.observe(OutcomeRetried, o.requests-1, 0)
			d.observe(o.result, 1, o.took)
		}
	}
	return d.changed(ctx, o.change, o.state)
}

// recordUnrecorded records the outcomes an earlier run had no room for,
// before anything else is sent.
func (d *Dispatcher) recordUnrecorded(ctx context.Context) error {
	d.mu.Lock()
	kept := d.unrecorded
	d.unrecorded = nil
	d.mu.Unlock()
	if len(kept) == 0 {
		return nil
	}
	// As in deliver: recorded even if shutdown has begun.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	for i, o := range kept {
		if err := d.record(mctx, o); err != nil {
			if ledger.IsStorageFull(err) {
				d.mu.Lock()
				d.unrecorded = append(d.unrecorded, kept[i+1:]...) // o is kept again
				d.mu.Unlock()
				return err
			}
			for _, rest := range kept[i+1:] {
				d.release(rest.id)
			}
			return err
		}
	}
	d.log.Info("recorded the outcomes of deliveries that had no room in the ledger", "deliveries", len(kept))
	return nil
}

// unrecordedCount is how many outcomes wait for room in the ledger.
func (d *Dispatcher) unrecordedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.unrecorded)
}

// changed logs, records and reports a change of the breaker's state.
func (d *Dispatcher) changed(ctx context.Context, change Transition, bs BreakerState) error {
	now := d.now()
	switch change {
	case Opened:
		waiting, err := d.ledger.Pending(ctx, d.dest)
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		d.log.Warn("destination unavailable: holding its deliveries and probing it one request at a time",
			"failures_in_a_row", d.breaker.cfg.Failures, "waiting", waiting, "next_probe_in", bs.NextProbe.Sub(now), "err", bs.LastError)
	case ProbeFailed:
		d.log.Debug("destination still unavailable", "probes", bs.Probes, "next_probe_in", bs.NextProbe.Sub(now), "err", bs.LastError)
	case Closed:
		released, err := d.ledger.MakeDue(ctx, d.dest, now)
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		waiting, err := d.ledger.Pending(ctx, d.dest)
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
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
		return fmt.Errorf("dispatch: %w", err)
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
