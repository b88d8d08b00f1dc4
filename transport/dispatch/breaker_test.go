package dispatch_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

var errDown = errors.New("connection refused")

func TestBreakerOpensOnFailuresInARowOnly(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	b := dispatch.NewBreaker(dispatch.BreakerConfig{Failures: 3, ProbeInterval: time.Second, ProbeIntervalMax: 4 * time.Second})
	fail := func(at time.Duration) dispatch.Transition {
		change, _ := b.Record(t0.Add(at), false, false, 0, errDown)
		return change
	}
	// A refusal of one record (up) breaks the run of failures.
	fail(0)
	fail(time.Second)
	if change, _ := b.Record(t0.Add(2*time.Second), true, false, 0, nil); change != dispatch.Unchanged || b.Open() {
		t.Fatalf("an answer opened the breaker")
	}
	fail(3 * time.Second)
	fail(4 * time.Second)
	if b.Open() {
		t.Fatal("open after two failures in a row, want three")
	}
	if change := fail(5 * time.Second); change != dispatch.Opened || !b.Open() {
		t.Fatalf("third failure in a row: %v, open %v", change, b.Open())
	}
	st := b.State()
	if !st.Since.Equal(t0.Add(3*time.Second)) || st.LastError != errDown.Error() || !st.NextProbe.Equal(t0.Add(6*time.Second)) {
		t.Errorf("state %+v: want since the first failure of the run, the next probe a second later", st)
	}

	disabled := dispatch.NewBreaker(dispatch.BreakerConfig{Disabled: true, Failures: 1})
	disabled.Record(t0, false, false, 0, errDown)
	if disabled.Open() {
		t.Error("a disabled breaker opened")
	}
}

func TestBreakerProbesOneAtATimeBackingOffAndHonouringRetryAfter(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	b := dispatch.NewBreaker(dispatch.BreakerConfig{Failures: 1, ProbeInterval: time.Second, ProbeIntervalMax: 4 * time.Second})
	if ok, _ := b.Probe(t0); ok {
		t.Fatal("a closed breaker granted a probe")
	}
	b.Record(t0, false, false, 0, errDown)
	if ok, wait := b.Probe(t0.Add(500 * time.Millisecond)); ok || wait != 500*time.Millisecond {
		t.Fatalf("probe before it is due: %v, wait %v", ok, wait)
	}
	// Each failed probe doubles the wait, up to the maximum.
	at := t0.Add(time.Second)
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		if ok, _ := b.Probe(at); !ok {
			t.Fatalf("probe %d not granted at %v", i+1, at.Sub(t0))
		}
		if ok, _ := b.Probe(at); ok {
			t.Fatalf("a second probe granted while probe %d is in flight", i+1)
		}
		if change, _ := b.Record(at, false, true, 0, errDown); change != dispatch.ProbeFailed {
			t.Fatalf("failed probe %d: %v", i+1, change)
		}
		if next := b.State().NextProbe; next.Sub(at) != want {
			t.Errorf("after probe %d the next is in %v, want %v", i+1, next.Sub(at), want)
		}
		at = b.State().NextProbe
	}
	// A Retry-After longer than the interval is honoured.
	b.Probe(at)
	b.Record(at, false, true, 90*time.Second, errDown)
	if next := b.State().NextProbe; next.Sub(at) != 90*time.Second {
		t.Errorf("after Retry-After: 90 the next probe is in %v", next.Sub(at))
	}
	// A failure of a request sent before the breaker opened is no probe.
	if change, _ := b.Record(at, false, false, 0, errDown); change != dispatch.Unchanged || b.State().Probes != 4 {
		t.Errorf("a straggler's failure: %v, %d probes; want unchanged, 4", change, b.State().Probes)
	}
	at = b.State().NextProbe
	b.Probe(at)
	change, ended := b.Record(at, true, true, 0, nil)
	if change != dispatch.Closed || b.Open() || ended.Probes != 4 || !ended.Since.Equal(t0) {
		t.Errorf("good probe: %v, open %v, ended %+v", change, b.Open(), ended)
	}
}

// countingDeliverer passes deliveries on and keeps, for each call in the
// order they began, whether another call was in flight and whether the
// receiver was up when it began.
type countingDeliverer struct {
	next dispatch.Deliverer
	up   *atomic.Bool

	mu     sync.Mutex
	active int
	calls  []deliveryCall
}

type deliveryCall struct {
	alone, up, failed bool
}

func (c *countingDeliverer) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	c.mu.Lock()
	i := len(c.calls)
	// A call that begins while another is in flight is not alone; the
	// other then was not alone either, and its successor's flag says so.
	c.calls = append(c.calls, deliveryCall{alone: c.active == 0, up: c.up.Load()})
	c.active++
	c.mu.Unlock()
	rc, err := c.next.Deliver(ctx, p)
	c.mu.Lock()
	c.active--
	c.calls[i].failed = err != nil
	c.mu.Unlock()
	return rc, err
}

func (c *countingDeliverer) snapshot() (calls []deliveryCall, active int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]deliveryCall(nil), c.calls...), c.active
}

// switchableESR is a loopback receiver that can be taken down and brought
// back on the same address: down, it refuses connections (its listener
// and every connection closed) or answers 503, as mode says.
type switchableESR struct {
	t    *testing.T
	addr string
	up   atomic.Bool
	mode string // "refuse" or "503"

	mu  sync.Mutex
	srv *http.Server
}

func newSwitchableESR(t *testing.T, mode string) *switchableESR {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchableESR{t: t, addr: ln.Addr().String(), mode: mode}
	s.serve(ln)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

func (s *switchableESR) serve(ln net.Listener) {
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.up.Load() {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})}
	go s.srv.Serve(ln)
}

func (s *switchableESR) set(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up.Store(up)
	if s.mode != "refuse" {
		return
	}
	if !up {
		s.srv.Close()
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// logCapture keeps every log record.
type logCapture struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCapture) WithGroup(string) slog.Handler      { return h }

// count counts the records at level whose message starts with msg, and
// returns the attributes of the last.
func (h *logCapture) count(level slog.Level, msg string) (n int, attrs map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Level == level && strings.HasPrefix(r.Message, msg) {
			n++
			attrs = map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		}
	}
	return n, attrs
}

// availability records what an AvailabilityObserver is told.
type availability struct {
	outcomes
	toldMu sync.Mutex
	told   []bool
}

func (a *availability) DestinationAvailable(destination string, available bool) {
	a.toldMu.Lock()
	a.told = append(a.told, available)
	a.toldMu.Unlock()
}

// newHTTPServer serves h on loopback until the test ends and returns its
// URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func health(t *testing.T, l *ledger.Ledger) (ledger.Health, bool) {
	t.Helper()
	h, ok, err := l.Health(t.Context(), dest)
	if err != nil {
		t.Fatal(err)
	}
	return h, ok
}

// TestBreakerHoldsAnUnavailableDestinationAndDrainsOnTheFirstGoodProbe
// takes the receiver down before 200 records are sent, probes it three
// times, brings it back and lets one more probe through. The dispatcher's
// clock moves only when the test moves it, so every probe is one the test
// let through, and the queue must drain after the first good probe
// without the clock moving again, although the records that failed
// before the breaker opened are an hour into their backoff.
func TestBreakerHoldsAnUnavailableDestinationAndDrainsOnTheFirstGoodProbe(t *testing.T) {
	for _, mode := range []string{"refuse", "503"} {
		t.Run(mode, func(t *testing.T) {
			const n, failures, workers, probes = 200, 5, 4, 3
			l := openLedger(t)
			enqueue(t, l, "a.csv", 0, n)
			esr := newSwitchableESR(t, mode)
			esr.set(false)
			sink := &countingDeliverer{next: newSink(t, httpsink.Config{URL: "http://" + esr.addr + "/jobplans"}), up: &esr.up}
			clock := &fakeClock{now: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
			logs := &logCapture{}
			obs := &availability{outcomes: outcomes{n: map[string]int{}}}
			d, err := dispatch.New(l, sink, dispatch.Config{
				Destination: dest, Concurrency: workers, PollInterval: time.Hour, Now: clock.Now,
				Backoff:  retry.Backoff{Base: time.Hour, Max: time.Hour},
				Breaker:  dispatch.BreakerConfig{Failures: failures, ProbeInterval: 20 * time.Millisecond, ProbeIntervalMax: 20 * time.Millisecond},
				Logger:   slog.New(logs),
				Observer: obs,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()

			settled := func(what string, want int) {
				t.Helper()
				eventually(t, what, func() bool {
					calls, active := sink.snapshot()
					return active == 0 && len(calls) >= want
				})
			}
			eventually(t, "the breaker to open", func() bool { h, ok := health(t, l); return ok && !h.Available })
			settled("requests sent before it opened to end", failures)
			calls, _ := sink.snapshot()
			tripped := len(calls)
			if tripped > failures+workers-1 {
				t.Errorf("%d requests before the breaker held the queue, want at most %d", tripped, failures+workers-1)
			}
			for i := 1; i <= probes; i++ {
				h, _ := health(t, l)
				if mode == "503" && h.NextProbeAt.Sub(clock.Now()) < time.Minute {
					t.Errorf("next probe in %v after a 503 with Retry-After: 60", h.NextProbeAt.Sub(clock.Now()))
				}
				clock.Set(h.NextProbeAt)
				d.Wake()
				eventually(t, "a probe", func() bool { h, _ := health(t, l); return h.Probes == i })
				settled("the probe to end", tripped+i)
			}
			calls, _ = sink.snapshot()
			if len(calls) != tripped+probes {
				t.Fatalf("%d requests while the receiver was down, want %d before the breaker opened and %d probes", len(calls), tripped, probes)
			}
			for i, c := range calls[tripped:] {
				if !c.alone || c.up || !c.failed {
					t.Errorf("probe %d: %+v, want alone and failed", i+1, c)
				}
			}

			esr.set(true)
			h, _ := health(t, l)
			clock.Set(h.NextProbeAt)
			d.Wake()
			eventually(t, "the queue to drain", func() bool { return counts(t, l)[ledger.Delivered] == n })
			calls, _ = sink.snapshot()
			if len(calls) != tripped+probes+n {
				t.Errorf("%d requests in all, want %d: one for each record once the receiver was up", len(calls), tripped+probes+n)
			}
			if first := calls[tripped+probes]; !first.alone || !first.up || first.failed {
				t.Errorf("first request after the outage %+v, want a lone good probe", first)
			}
			if h, _ := health(t, l); !h.Available {
				t.Errorf("health after the outage %+v", h)
			}

			// The outage is logged once as it starts and once as it ends;
			// only the failures before it each have a line.
			if n, _ := logs.count(slog.LevelWarn, "destination unavailable"); n != 1 {
				t.Errorf("%d outage lines, want 1", n)
			}
			ended, attrs := logs.count(slog.LevelInfo, "destination available again")
			if ended != 1 || attrs["waiting"] != "199" || attrs["probes"] != "3" {
				t.Errorf("%d lines at the end of the outage, the last with %v; want 1 with waiting=199 probes=3", ended, attrs)
			}
			if n, _ := logs.count(slog.LevelInfo, "delivery will be retried"); n != failures-1 {
				t.Errorf("%d retry lines at INFO, want %d (the failures before the outage was known)", n, failures-1)
			}
			obs.toldMu.Lock()
			if len(obs.told) != 2 || obs.told[0] || !obs.told[1] {
				t.Errorf("observer told %v, want unavailable then available", obs.told)
			}
			obs.toldMu.Unlock()
		})
	}
}

// TestBreakerIgnoresRefusedRecords: a destination that refuses every
// record (4xx) answers, so it is not unavailable: each record is tried
// once and rejected, and no probe is sent.
func TestBreakerIgnoresRefusedRecords(t *testing.T) {
	l := openLedger(t)
	rec := &recorder{respond: status(http.StatusUnprocessableEntity, `{"error":"unknown assignment"}`)}
	srv := newHTTPServer(t, rec)
	enqueue(t, l, "a.csv", 0, 20)
	start(t, l, newSink(t, httpsink.Config{URL: srv}), dispatch.Config{
		Breaker: dispatch.BreakerConfig{Failures: 2, ProbeInterval: time.Hour}})
	eventually(t, "every record rejected", func() bool { return counts(t, l)[ledger.Rejected] == 20 })
	if got := rec.count(); got != 20 {
		t.Errorf("%d requests, want 20", got)
	}
	if h, ok := health(t, l); ok {
		t.Errorf("health recorded %+v, want none", h)
	}
}

// TestDispatcherProbesFirstAfterRestartDuringAnOutage: a hub stopped
// during an outage starts with one probe, then drains.
func TestDispatcherProbesFirstAfterRestartDuringAnOutage(t *testing.T) {
	l := openLedger(t)
	enqueue(t, l, "a.csv", 0, 30)
	since := time.Now().Add(-time.Minute)
	if err := l.SetHealth(t.Context(), ledger.Health{Destination: dest, Since: since, Probes: 7, LastError: "connection refused"}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{respond: status(http.StatusCreated, "")}
	up := &atomic.Bool{}
	up.Store(true)
	sink := &countingDeliverer{next: newSink(t, httpsink.Config{URL: newHTTPServer(t, rec)}), up: up}
	start(t, l, sink, dispatch.Config{Concurrency: 4})
	eventually(t, "the queue to drain", func() bool { return counts(t, l)[ledger.Delivered] == 30 })
	calls, _ := sink.snapshot()
	if len(calls) != 30 || !calls[0].alone {
		t.Errorf("%d requests, the first %+v; want 30, the first alone", len(calls), calls[0])
	}
	if h, _ := health(t, l); !h.Available {
		t.Errorf("health after the probe %+v", h)
	}
}
