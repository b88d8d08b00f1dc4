// Command benchdelivery is `make bench-delivery`: the delivery dispatcher
// (transport/dispatch) against a loopback receiver, in two parts.
//
// Outage: a queue of records (200) meets a receiver that is down (its
// port refusing connections, or answering 503) for a while (40 s) and
// then comes back. It counts the attempts and the log lines at INFO and
// above during the outage, and times the drain from the moment the
// receiver answers again until the ledger holds every record delivered.
// It runs with the destination-level breaker and, side by side, without
// it (every record backing off on its own, as before the breaker). Target:
// with the breaker the queue is empty within 10 s of the receiver
// answering.
//
// Lost answers: a receiver that ignores Idempotency-Key stores every
// request and then, for one request in ten, drops the connection instead
// of answering (the answer is lost after it committed). It reports the
// copies such a receiver ends up holding and checks that the ledger's
// attempt counts add up to the requests it saw.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

const destination = "esr"

func main() {
	records := flag.Int("records", 200, "records queued")
	outage := flag.Duration("outage", 40*time.Second, "how long the receiver is down")
	mode := flag.String("mode", "refuse", "how the receiver is down: refuse (connections refused) or 503")
	concurrency := flag.Int("concurrency", dispatch.DefaultConcurrency, "deliveries in flight")
	target := flag.Duration("target", 10*time.Second, "drain time target with the breaker")
	lostRecords := flag.Int("lost-records", 2000, "records sent to the receiver that loses answers")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up a drain after")
	flag.Parse()
	if *mode != "refuse" && *mode != "503" {
		fmt.Fprintln(os.Stderr, "benchdelivery: -mode refuse or 503")
		os.Exit(2)
	}

	fmt.Printf("bench-delivery, outage: %d records queued, receiver down (%s) for %v, %d in flight\n", *records, *mode, *outage, *concurrency)
	verdict := "PASS"
	var drains []time.Duration
	for _, withBreaker := range []bool{true, false} {
		r, err := runOutage(*records, *outage, *mode, *concurrency, withBreaker, *timeout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchdelivery:", err)
			os.Exit(1)
		}
		name := "with the breaker   "
		if !withBreaker {
			name = "without the breaker"
		}
		fmt.Printf("  %s: %5d attempts and %5d log lines at INFO+ (%6d bytes) during the outage; queue empty %6.2fs after the receiver answered (%d attempts in all)\n",
			name, r.outageAttempts, r.outageLogLines, r.outageLogBytes, r.drain.Seconds(), r.attempts)
		drains = append(drains, r.drain)
		if withBreaker && r.drain > *target {
			verdict = "FAIL"
		}
	}
	fmt.Printf("  drain with the breaker %.2fs, without %.2fs; target <= %v: %s\n", drains[0].Seconds(), drains[1].Seconds(), *target, verdict)

	fmt.Printf("bench-delivery, lost answers: %d records to a receiver that ignores Idempotency-Key and loses one answer in ten after storing the record\n", *lostRecords)
	lr, err := runLostAnswers(*lostRecords, *concurrency, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdelivery:", err)
		os.Exit(1)
	}
	counted := "equal"
	if lr.ledgerAttempts != lr.requests {
		counted, verdict = "DIFFERENT", "FAIL"
	}
	fmt.Printf("  the receiver saw %d requests and holds %d copies of %d records (%d re-sends); the ledger counts %d attempts: %s\n",
		lr.requests, lr.stored, *lostRecords, lr.stored-*lostRecords, lr.ledgerAttempts, counted)
	if verdict != "PASS" {
		os.Exit(1)
	}
}

type outageResult struct {
	outageAttempts, attempts       int64
	outageLogLines, outageLogBytes int64
	drain                          time.Duration
}

// counting passes deliveries on and counts them.
type counting struct {
	next  dispatch.Deliverer
	calls atomic.Int64
}

func (c *counting) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	c.calls.Add(1)
	return c.next.Deliver(ctx, p)
}

// logMeter counts the lines and bytes written to it.
type logMeter struct{ lines, bytes atomic.Int64 }

func (m *logMeter) Write(p []byte) (int, error) {
	m.lines.Add(1)
	m.bytes.Add(int64(len(p)))
	return len(p), nil
}

func runOutage(records int, outage time.Duration, mode string, concurrency int, withBreaker bool, timeout time.Duration) (outageResult, error) {
	var r outageResult
	dir, err := os.MkdirTemp("", "benchdelivery-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := ledger.Open(ctx, dir)
	if err != nil {
		return r, err
	}
	defer l.Close()
	if err := enqueue(ctx, l, records); err != nil {
		return r, err
	}
	recv, err := newReceiver(mode)
	if err != nil {
		return r, err
	}
	defer recv.close()
	recv.set(false)

	sink, err := httpsink.New(httpsink.Config{URL: "http://" + recv.addr + "/jobplans", Connections: concurrency})
	if err != nil {
		return r, err
	}
	meter := &logMeter{}
	deliverer := &counting{next: sink}
	d, err := dispatch.New(l, deliverer, dispatch.Config{
		Destination: destination, Concurrency: concurrency,
		Breaker: dispatch.BreakerConfig{Disabled: !withBreaker},
		Logger:  slog.New(slog.NewJSONHandler(meter, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return r, err
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case err := <-done:
		return r, fmt.Errorf("dispatcher stopped: %v", err)
	case <-time.After(outage):
	}
	r.outageAttempts, r.outageLogLines, r.outageLogBytes = deliverer.calls.Load(), meter.lines.Load(), meter.bytes.Load()
	recv.set(true)
	up := time.Now()
	for {
		n, err := l.Pending(ctx, destination)
		if err != nil {
			return r, err
		}
		if n == 0 {
			break
		}
		if time.Since(up) > timeout {
			return r, fmt.Errorf("%d records still pending %v after the receiver came back", n, timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling the ledger, as status --wait does
	}
	r.drain = time.Since(up)
	r.attempts = deliverer.calls.Load()
	cancel()
	return r, <-done
}

func enqueue(ctx context.Context, l *ledger.Ledger, n int) error {
	id, err := l.ClaimFile(ctx, ledger.FileInfo{Source: "bench", Name: "plans.csv", SHA256: fmt.Sprint(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	recs := make([]ledger.Record, n)
	for i := range recs {
		a := fmt.Sprintf("%08d", 10000000+i)
		recs[i] = ledger.Record{AssignmentNumber: a, EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Line: i + 2,
			Payload: []byte(fmt.Sprintf(`{"assignment_number":%q,"effective_date":"2026-04-01","dcc":7.5}`, a))}
	}
	_, err = l.EnqueueFile(ctx, id, destination, recs)
	return err
}

// receiver is a loopback stand-in for ESR that can be taken down and
// brought back on the same address.
type receiver struct {
	addr string
	mode string
	up   atomic.Bool

	mu  sync.Mutex
	srv *http.Server
}

func newReceiver(mode string) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{addr: ln.Addr().String(), mode: mode}
	r.serve(ln)
	return r, nil
}

func (r *receiver) serve(ln net.Listener) {
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		if !r.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})}
	go r.srv.Serve(ln)
}

func (r *receiver) set(up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up.Store(up)
	if r.mode != "refuse" {
		return
	}
	if !up {
		r.srv.Close()
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		panic(fmt.Sprintf("listen again on %s: %v", r.addr, err))
	}
	r.serve(ln)
}

func (r *receiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.Close()
}

type lostResult struct {
	requests, stored, ledgerAttempts int
}

// runLostAnswers sends n records to a receiver that stores every request
// and loses every tenth answer.
func runLostAnswers(n, concurrency int, timeout time.Duration) (lostResult, error) {
	var r lostResult
	dir, err := os.MkdirTemp("", "benchdelivery-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := ledger.Open(ctx, dir)
	if err != nil {
		return r, err
	}
	defer l.Close()
	if err := enqueue(ctx, l, n); err != nil {
		return r, err
	}
	var mu sync.Mutex
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		mu.Lock()
		r.requests++
		r.stored++ // the key is ignored: every request is a record
		lose := r.requests%10 == 0
		mu.Unlock()
		if lose {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusCreated)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	sink, err := httpsink.New(httpsink.Config{URL: "http://" + ln.Addr().String() + "/jobplans", Connections: concurrency})
	if err != nil {
		return r, err
	}
	d, err := dispatch.New(l, sink, dispatch.Config{
		Destination: destination, Concurrency: concurrency,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return r, err
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(timeout)
	for {
		p, err := l.Pending(ctx, destination)
		if err != nil {
			return r, err
		}
		if p == 0 {
			break
		}
		if time.Now().After(deadline) {
			return r, errors.New("records still pending at the deadline")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		return r, err
	}
	for id := int64(1); id <= int64(n); id++ {
		dl, err := l.Delivery(context.Background(), id)
		if err != nil {
			return r, err
		}
		r.ledgerAttempts += dl.Attempts
	}
	mu.Lock()
	defer mu.Unlock()
	return r, nil
}
