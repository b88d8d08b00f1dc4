package dispatch

import (
	"sync"
	"time"
)

// Defaults for BreakerConfig.
const (
	DefaultBreakerFailures  = 5
	DefaultProbeInterval    = time.Second
	DefaultProbeIntervalMax = 5 * time.Second
)

// BreakerConfig tunes a destination's breaker.
type BreakerConfig struct {
	// Failures is how many attempts in a row must fail with a temporary
	// error (no connection, a timeout, 408, 429, 5xx, 401) before the
	// destination counts as unavailable as a whole. An answer that
	// refuses one record (another 4xx) shows the destination is up and
	// ends the run. Default 5.
	Failures int
	// ProbeInterval is the wait before the first probe of an unavailable
	// destination; it doubles after each failed probe up to
	// ProbeIntervalMax. A longer Retry-After is honoured. Defaults 1s and
	// 5s: a probe is one request, and the wait after the destination
	// comes back is at most ProbeIntervalMax.
	ProbeInterval    time.Duration
	ProbeIntervalMax time.Duration
	// Disabled turns the breaker off: every record then backs off on its
	// own, however many fail (benchoutage compares the two).
	Disabled bool
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Failures <= 0 {
		c.Failures = DefaultBreakerFailures
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeIntervalMax <= 0 {
		c.ProbeIntervalMax = max(DefaultProbeIntervalMax, c.ProbeInterval)
	}
	return c
}

// BreakerState is what a Breaker knows of its destination.
type BreakerState struct {
	// Open means the destination is unavailable as a whole: nothing is
	// sent but one probe at a time.
	Open bool
	// Since is when the outage began (the first failure of the run that
	// opened the breaker); zero while closed.
	Since time.Time
	// Probes counts the failed probes of this outage.
	Probes int
	// NextProbe is when the next probe may be sent.
	NextProbe time.Time
	// LastError is the latest failure of this outage.
	LastError string
}

// Transition is a change of a Breaker's state that its owner acts on
// (logs, persists, reports).
type Transition int

// Transitions returned by Breaker.Record.
const (
	// Unchanged: nothing to report.
	Unchanged Transition = iota
	// Opened: the destination has just become unavailable.
	Opened
	// ProbeFailed: a probe failed; the next probe is later.
	ProbeFailed
	// Closed: the destination answered again.
	Closed
)

// Breaker decides, for one destination, whether records are sent at full
// speed (closed) or the destination is unavailable as a whole and only
// probed, one request at a time (open). It does no I/O and keeps no
// goroutine: the Dispatcher asks it before sending and tells it each
// outcome. It is safe for concurrent use.
type Breaker struct {
	cfg BreakerConfig

	mu       sync.Mutex
	failures int       // temporary failures in a row
	first    time.Time // when the current run of failures began
	st       BreakerState
	probing  bool // a probe is in flight
}

// NewBreaker returns a closed Breaker.
func NewBreaker(cfg BreakerConfig) *Breaker {
	return &Breaker{cfg: cfg.withDefaults()}
}

// State returns a snapshot of the breaker.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// Restore opens the breaker as a previous run left it (st.Open must be
// set), with the next probe at once: the destination was unavailable
// when the hub last stopped, and one request shows whether it still is.
func (b *Breaker) Restore(st BreakerState, now time.Time) {
	if b.cfg.Disabled || !st.Open {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st = st
	b.st.NextProbe = now
	b.probing = false
}

// Open reports whether the destination counts as unavailable.
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.Open
}

// Probe asks, while the breaker is open, to send one probe now. It says
// yes at most once per probe interval and never while a probe is in
// flight; otherwise it returns how long to wait before asking again (zero
// while a probe is in flight: its outcome is the next event). Closed, it
// returns false and zero.
func (b *Breaker) Probe(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.st.Open || b.probing:
		return false, 0
	case now.Before(b.st.NextProbe):
		return false, b.st.NextProbe.Sub(now)
	}
	b.probing = true
	return true, 0
}

// CancelProbe gives back a probe that was granted but not sent (nothing
// was due, or shutdown began).
func (b *Breaker) CancelProbe() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// Record tells the breaker the outcome of one attempt. up means the
// destination answered (a success, or a refusal of this record); else the
// attempt failed with a temporary error err, after which the peer asked
// for retryAfter (zero if not). probe says whether the attempt was the
// probe Probe granted. It returns the change, if any, and the state after
// it; for Closed, the state of the outage that ended.
func (b *Breaker) Record(now time.Time, up, probe bool, retryAfter time.Duration, err error) (Transition, BreakerState) {
	if b.cfg.Disabled {
		return Unchanged, BreakerState{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if up {
		b.failures = 0
		if !b.st.Open {
			return Unchanged, b.st
		}
		// Any answer ends the outage, a probe's or that of a request
		// still in flight when the breaker opened.
		ended := b.st
		b.st = BreakerState{}
		b.probing = false
		return Closed, ended
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if b.st.Open {
		b.st.LastError = msg
		if !probe {
			return Unchanged, b.st // a straggler sent before the breaker opened
		}
		b.st.Probes++
		b.st.NextProbe = now.Add(max(b.interval(b.st.Probes), retryAfter))
		return ProbeFailed, b.st
	}
	if b.failures == 0 {
		b.first = now
	}
	b.failures++
	if b.failures < b.cfg.Failures {
		return Unchanged, b.st
	}
	b.failures = 0
	b.st = BreakerState{Open: true, Since: b.first, LastError: msg,
		NextProbe: now.Add(max(b.cfg.ProbeInterval, retryAfter))}
	return Opened, b.st
}

// interval is the wait after the nth failed probe.
func (b *Breaker) interval(n int) time.Duration {
	d := b.cfg.ProbeInterval
	for i := 0; i < n && d < b.cfg.ProbeIntervalMax; i++ {
		d *= 2
	}
	return min(d, b.cfg.ProbeIntervalMax)
}
