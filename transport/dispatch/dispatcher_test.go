package dispatch_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch/dispatchtest"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

const dest = "esr"

// quiet keeps expected retries and rejections out of the test output.
var quiet = dispatchtest.Quiet

// eventually polls cond until it holds or the deadline passes.
var eventually = testutil.Eventually

// status and hangUp answer a test request.
var (
	status = testutil.Status
	hangUp = testutil.HangUp
)

func openLedger(t *testing.T) *ledger.Ledger { return dispatchtest.OpenLedger(t) }

// enqueue queues n records of file for dest, with distinct assignments.
func enqueue(t *testing.T, l *ledger.Ledger, file string, first, n int) {
	t.Helper()
	dispatchtest.Enqueue(t, l, dest, file, first, n)
}

func counts(t *testing.T, l *ledger.Ledger) map[ledger.DeliveryState]int {
	t.Helper()
	return dispatchtest.Counts(t, l, dest)
}

// start runs a dispatcher for dest until the test ends.
func start(t *testing.T, l *ledger.Ledger, sink dispatch.Deliverer, cfg dispatch.Config) *dispatch.Dispatcher {
	t.Helper()
	cfg.Destination = dest
	return dispatchtest.Start(t, l, sink, cfg)
}

func newSink(t *testing.T, cfg httpsink.Config) *httpsink.Sink {
	t.Helper()
	s, err := httpsink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recorder answers every request with respond, counting them.
type recorder struct {
	mu      sync.Mutex
	n       int
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.n++
	n := rec.n
	rec.mu.Unlock()
	rec.respond(w, r, n)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.n
}

// flakyESR accepts each idempotency key once and answers repeats with 409.
// It fails often, in the ways real outages do.
type flakyESR struct {
	mu       sync.Mutex
	rnd      *rand.Rand
	accepted map[string]int
	repeats  int
	failures int
}

func (f *flakyESR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	roll := f.rnd.IntN(100)
	switch {
	case roll < 25: // overloaded before doing anything
		f.failures++
		f.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case roll < 30: // connection dropped before doing anything
		f.failures++
		f.mu.Unlock()
		hangUp(w, r)
		return
	}
	if f.accepted[key] > 0 {
		f.repeats++
		f.mu.Unlock()
		w.WriteHeader(http.StatusConflict)
		return
	}
	f.accepted[key]++
	f.mu.Unlock()
	if roll < 40 {
		// Stored, but the response is lost: the retry must come back as
		// a 409, not as a second record.
		hangUp(w, r)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func TestDispatcherDeliversEveryRecordExactlyOnceToAFlakyReceiver(t *testing.T) {
	l := openLedger(t)
	esr := &flakyESR{rnd: rand.New(rand.NewPCG(1, 2)), accepted: make(map[string]int)}
	srv := httptest.NewServer(esr)
	defer srv.Close()
	sink := newSink(t, httpsink.Config{URL: srv.URL})

	const n = 150
	enqueue(t, l, "a.csv", 0, n/2)
	d := start(t, l, sink, dispatch.Config{PollInterval: time.Hour})
	enqueue(t, l, "b.csv", n/2, n/2)
	d.Wake()

	eventually(t, "every record delivered", func() bool {
		c := counts(t, l)
		return c[ledger.Delivered]+c[ledger.Duplicate] == n
	})
	c := counts(t, l)
	if c[ledger.Pending] != 0 || c[ledger.Rejected] != 0 {
		t.Errorf("ledger counts %v", c)
	}
	esr.mu.Lock()
	defer esr.mu.Unlock()
	if len(esr.accepted) != n {
		t.Errorf("receiver holds %d records, want %d", len(esr.accepted), n)
	}
	for key, times := range esr.accepted {
		if times != 1 {
			t.Errorf("key %s accepted %d times", key, times)
		}
	}
	if esr.failures == 0 || esr.repeats == 0 {
		t.Errorf("receiver was not flaky enough to test anything: %d failures, %d repeats", esr.failures, esr.repeats)
	}
	if c[ledger.Duplicate] != esr.repeats {
		t.Errorf("ledger has %d duplicates, receiver answered %d repeats with 409", c[ledger.Duplicate], esr.repeats)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	l := openLedger(t)
	t0 := time.Now().Truncate(time.Millisecond)
	clock := &fakeClock{now: t0}
	var mu sync.Mutex
	var seen []time.Time // the fake time of each request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, clock.Now())
		first := len(seen) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	enqueue(t, l, "a.csv", 0, 1)
	d := start(t, l, newSink(t, httpsink.Config{URL: srv.URL}),
		dispatch.Config{PollInterval: time.Hour, Now: clock.Now})

	var retryAt time.Time
	eventually(t, "the first attempt to be recorded", func() bool {
		due, err := l.Due(t.Context(), dest, t0.Add(24*time.Hour), 1)
		if err != nil || len(due) != 1 || due[0].Attempts != 1 {
			return false
		}
		retryAt = due[0].NextAttemptAt
		return true
	})
	if min := t0.Add(120 * time.Second); retryAt.Before(min) {
		t.Fatalf("retry scheduled at +%v, want at least +120s", retryAt.Sub(t0))
	}
	if !strings.Contains(lastError(t, l), "503") {
		t.Errorf("last error %q does not mention the 503", lastError(t, l))
	}

	clock.Set(retryAt)
	d.Wake()
	eventually(t, "delivery after Retry-After", func() bool { return counts(t, l)[ledger.Delivered] == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d requests, want 2", len(seen))
	}
	if gap := seen[1].Sub(seen[0]); gap < 120*time.Second {
		t.Errorf("retried after %v of clock time, want at least 120s", gap)
	}
}

func lastError(t *testing.T, l *ledger.Ledger) string {
	t.Helper()
	st, err := l.Stats(t.Context())
	if err != nil || len(st.Destinations) == 0 || len(st.Destinations[0].RecentErrors) == 0 {
		return ""
	}
	return st.Destinations[0].RecentErrors[0].Error
}

func TestDispatcherRejectsPermanentFailuresWithoutRetrying(t *testing.T) {
	l := openLedger(t)
	rec := &recorder{respond: status(http.StatusBadRequest, `{"error":"dcc must be a number"}`)}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	enqueue(t, l, "a.csv", 0, 1)
	start(t, l, newSink(t, httpsink.Config{URL: srv.URL}), dispatch.Config{PollInterval: 10 * time.Millisecond})

	eventually(t, "rejection", func() bool { return counts(t, l)[ledger.Rejected] == 1 })
	st, _ := l.Stats(t.Context())
	e := st.Destinations[0].RecentErrors[0]
	if e.Attempts != 1 || !strings.Contains(e.Error, "dcc must be a number") {
		t.Errorf("rejection recorded as %+v", e)
	}
	// Nothing is scheduled for another attempt, however far ahead.
	if due, _ := l.Due(t.Context(), dest, time.Now().AddDate(10, 0, 0), 10); len(due) != 0 {
		t.Errorf("rejected record still due: %+v", due)
	}
	if n := rec.count(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestDispatcherRetriesDroppedConnections(t *testing.T) {
	l := openLedger(t)
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 {
			hangUp(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	enqueue(t, l, "a.csv", 0, 1)
	start(t, l, newSink(t, httpsink.Config{URL: srv.URL}), dispatch.Config{})

	eventually(t, "delivery", func() bool { return counts(t, l)[ledger.Delivered] == 1 })
	if n := rec.count(); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
	due, _ := l.Due(t.Context(), dest, time.Now().Add(time.Hour), 1)
	if len(due) != 0 {
		t.Errorf("still due: %+v", due)
	}
}

func TestDispatcherMarksConflictAsDuplicate(t *testing.T) {
	l := openLedger(t)
	srv := httptest.NewServer(&recorder{respond: status(http.StatusConflict, "")})
	defer srv.Close()
	enqueue(t, l, "a.csv", 0, 3)
	start(t, l, newSink(t, httpsink.Config{URL: srv.URL}), dispatch.Config{})
	eventually(t, "duplicates recorded", func() bool { return counts(t, l)[ledger.Duplicate] == 3 })
}

func TestWakePicksUpNewRecordsWithoutPolling(t *testing.T) {
	l := openLedger(t)
	rec := &recorder{respond: status(http.StatusOK, "")}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	// The poll interval is far beyond the test's deadline, so only Wake
	// can explain a delivery.
	d := start(t, l, newSink(t, httpsink.Config{URL: srv.URL}), dispatch.Config{PollInterval: time.Hour})
	enqueue(t, l, "a.csv", 0, 5)
	d.Wake()
	eventually(t, "delivery after Wake", func() bool { return counts(t, l)[ledger.Delivered] == 5 })
}

// slowDeliverer counts concurrent calls and blocks until released or ctx
// ends.
type slowDeliverer struct {
	mu           sync.Mutex
	active, peak int
	calls        int
	release      chan struct{}
}

func (s *slowDeliverer) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	s.mu.Lock()
	s.active++
	s.calls++
	s.peak = max(s.peak, s.active)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}()
	select {
	case <-s.release:
		return dispatch.Receipt{Result: dispatch.Delivered}, nil
	case <-ctx.Done():
		return dispatch.Receipt{}, ctx.Err()
	}
}

func (s *slowDeliverer) snapshot() (active, peak, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active, s.peak, s.calls
}

func TestDispatcherLimitsConcurrencyAndStopsOnCancel(t *testing.T) {
	l := openLedger(t)
	enqueue(t, l, "a.csv", 0, 20)
	sink := &slowDeliverer{release: make(chan struct{})}
	d, err := dispatch.New(l, sink, dispatch.Config{Destination: dest, Concurrency: 3, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	eventually(t, "three deliveries in flight", func() bool {
		active, _, _ := sink.snapshot()
		return active == 3
	})
	// Let some finish; the limit must hold while the queue drains.
	for range 5 {
		sink.release <- struct{}{}
	}
	eventually(t, "five delivered", func() bool { return counts(t, l)[ledger.Delivered] == 5 })
	eventually(t, "workers busy again", func() bool {
		active, _, _ := sink.snapshot()
		return active == 3
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	active, peak, calls := sink.snapshot()
	if peak != 3 || active != 0 {
		t.Errorf("peak concurrency %d, active after Run %d; want 3 and 0", peak, active)
	}
	c := counts(t, l)
	if c[ledger.Delivered] != 5 || c[ledger.Pending] != 15 {
		t.Errorf("counts after cancel %v, want 5 delivered and 15 pending", c)
	}
	// Attempts cut off by shutdown are not counted against the record.
	due, _ := l.Due(t.Context(), dest, time.Now(), 100)
	for _, dl := range due {
		if dl.Attempts != 0 {
			t.Errorf("delivery %d has %d attempts after shutdown", dl.ID, dl.Attempts)
		}
	}
	if calls != 8 {
		t.Errorf("%d calls, want 8 (5 delivered, 3 cut off)", calls)
	}
}

// connRequests counts the requests served on one connection.
type connRequests struct{ n int }

type connKey struct{}

// TestEveryRequestTheReceiverSeesIsCounted: a receiver that reads a
// request and then drops the connection, on every connection's second
// request, makes Go's transport re-send a request that carries an
// Idempotency-Key by itself if it may (it deems such a POST replayable).
// Every request the receiver sees must show in the ledger's attempt
// counts and in what the observer is told.
func TestEveryRequestTheReceiverSeesIsCounted(t *testing.T) {
	l := openLedger(t)
	var mu sync.Mutex
	seen := 0
	accepted := map[string]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		c := r.Context().Value(connKey{}).(*connRequests)
		mu.Lock()
		seen++
		c.n++
		drop := c.n == 2
		repeat := accepted[r.Header.Get("Idempotency-Key")]
		if !drop {
			accepted[r.Header.Get("Idempotency-Key")] = true
		}
		mu.Unlock()
		switch {
		case drop: // read, not answered
			hangUp(w, r)
		case repeat:
			w.WriteHeader(http.StatusConflict)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &connRequests{})
	}
	srv.Start()
	defer srv.Close()

	const n = 40
	enqueue(t, l, "a.csv", 0, n)
	obs := &outcomes{n: map[string]int{}}
	start(t, l, newSink(t, httpsink.Config{URL: srv.URL, Connections: 2}),
		dispatch.Config{Concurrency: 2, Observer: obs, PollInterval: 10 * time.Millisecond,
			Backoff: retry.Backoff{Base: time.Microsecond, Max: time.Microsecond}})
	eventually(t, "every record delivered", func() bool {
		c := counts(t, l)
		return c[ledger.Delivered]+c[ledger.Duplicate] == n
	})

	attempts := 0
	for id := int64(1); id <= n; id++ {
		d, err := l.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		attempts += d.Attempts
	}
	mu.Lock()
	defer mu.Unlock()
	if seen <= n {
		t.Fatalf("the receiver saw %d requests for %d records: it dropped none", seen, n)
	}
	if attempts != seen {
		t.Errorf("the ledger counts %d attempts, the receiver saw %d requests", attempts, seen)
	}
	told := obs.get(dispatch.OutcomeDelivered) + obs.get(dispatch.OutcomeDuplicate) + obs.get(dispatch.OutcomeRetried)
	if told != seen {
		t.Errorf("the observer was told of %d attempts (%v), the receiver saw %d requests", told, obs.n, seen)
	}
}
