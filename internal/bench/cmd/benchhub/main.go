// Command benchhub is `make bench-hub`: it drops many small exports at once
// into a folder watched by the built jobplan-hub binary and times them
// until every record has been delivered to a loopback HTTP receiver and
// marked delivered in the ledger (which syncs every change to disk). It
// prints records/s against the target.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

func main() {
	o := options{}
	flag.IntVar(&o.files, "files", 1000, "files to drop")
	flag.IntVar(&o.plans, "plans", 5, "plans per file")
	flag.StringVar(&o.bin, "bin", "bin/jobplan-hub", "jobplan-hub binary")
	flag.StringVar(&o.mapping, "mapping", "mappings/sard-wide.yaml", "mapping of the generated files")
	flag.StringVar(&o.dir, "dir", ".bench/hub", "work directory: each run gets a new run-* folder in it (make clean removes them)")
	flag.IntVar(&o.workers, "workers", 4, "files processed at once")
	flag.IntVar(&o.concurrency, "concurrency", 16, "records in flight to the receiver")
	flag.DurationVar(&o.settle, "settle-time", 100*time.Millisecond, "watcher settle time")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after")
	flag.Float64Var(&o.minRate, "min-records-per-sec", 2000, "target throughput")
	runs := flag.Int("runs", 3, "runs, each on new files; the verdict is on their median (the machine is shared and noisy)")
	flag.Parse()
	fmt.Printf("bench-hub: %d runs of %d files x %d plans = %d records dropped at once (settle time %v, %d workers, %d in flight)\n",
		*runs, o.files, o.plans, o.files*o.plans, o.settle, o.workers, o.concurrency)
	var rates []float64
	for i := range max(*runs, 1) {
		fmt.Printf("  run %d:\n", i+1)
		rate, err := run(o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchhub:", err)
			os.Exit(1)
		}
		rates = append(rates, rate)
	}
	slices.Sort(rates)
	median := rates[len(rates)/2]
	verdict := "PASS"
	if median < o.minRate {
		verdict = "FAIL"
	}
	fmt.Printf("  median %.0f records/s (lowest %.0f, highest %.0f); target >= %.0f records/s: %s\n",
		median, rates[0], rates[len(rates)-1], o.minRate, verdict)
}

type options struct {
	files, plans         int
	bin, mapping, dir    string
	workers, concurrency int
	settle, timeout      time.Duration
	minRate              float64
}

// run drops the files once and returns the records delivered a second.
func run(o options) (float64, error) {
	// A new folder for each run, and nothing deleted: on ext4 without a
	// journal (this project's machines) the inodes of files deleted in the
	// last minutes are skipped one by one when new files are created, so
	// deleting an earlier run's thousands of files made the next minutes'
	// creates several times dearer than they are on a steady hub.
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return 0, err
	}
	runDir, err := os.MkdirTemp(o.dir, "run-"+time.Now().UTC().Format("20060102T150405Z")+"-")
	if err != nil {
		return 0, err
	}
	stage, drop, state := filepath.Join(runDir, "stage"), filepath.Join(runDir, "drop"), filepath.Join(runDir, "state")
	for _, d := range []string{stage, drop, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	names, err := generate(stage, o.files, o.plans)
	if err != nil {
		return 0, err
	}
	want := o.files * o.plans

	recv, err := startReceiver()
	if err != nil {
		return 0, err
	}
	defer recv.srv.Close()

	cmd := exec.Command(o.bin, "watch", "--mapping", o.mapping, "--forward", "http://"+recv.addr+"/jobplans",
		"--state", state, "--settle-time", o.settle.String(), "--poll-interval", "1s",
		"--workers", strconv.Itoa(o.workers), "--concurrency", strconv.Itoa(o.concurrency),
		"--listen", "127.0.0.1:0", drop)
	logf, err := os.Create(filepath.Join(runDir, "hub.log"))
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var stopOnce sync.Once
	var exitErr error
	stop := func() error {
		stopOnce.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			exitErr = <-exited
		})
		return exitErr
	}
	defer stop()
	if err := until(10*time.Second, exited, func() bool {
		_, err := os.Stat(filepath.Join(state, ledger.FileName))
		return err == nil
	}); err != nil {
		return 0, fmt.Errorf("hub did not start: %w (see %s)", err, logf.Name())
	}

	start := time.Now()
	for _, n := range names {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(drop, n)); err != nil {
			return 0, err
		}
	}
	if err := until(o.timeout, exited, func() bool { return recv.count() >= want }); err != nil {
		return 0, fmt.Errorf("receiver has %d of %d records: %w (see %s)", recv.count(), want, err, logf.Name())
	}
	received := time.Since(start)

	l, err := ledger.Open(context.Background(), state)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if err := until(o.timeout, exited, func() bool {
		st, err := relay.ReadStatus(context.Background(), l)
		return err == nil && st.Idle && len(st.Destinations) == 1 &&
			st.Destinations[0].Delivered+st.Destinations[0].Duplicate == want &&
			st.Files[ledger.FileProcessed] == o.files
	}); err != nil {
		return 0, fmt.Errorf("ledger never showed every record delivered: %w", err)
	}
	elapsed := time.Since(start)
	if err := stop(); err != nil {
		return 0, fmt.Errorf("hub exit: %w", err)
	}
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	// The hub's CPU time, start and stop included, is steadier than the
	// rate on a shared machine.
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	queued, err := lastProcessed(logf.Name())
	if err != nil {
		return 0, err
	}

	rate := float64(want) / elapsed.Seconds()
	fmt.Printf("    every file converted and its records queued after %.2fs; receiver had every record after %.2fs; ledger showed all delivered after %.2fs\n",
		queued.Sub(start).Seconds(), received.Seconds(), elapsed.Seconds())
	fmt.Printf("    %.0f records/s, %.0f files/s (settle time included); %d requests, %d duplicates; hub peak RSS %.1f MB, CPU %.2fs (%.0f µs a record)\n",
		rate, float64(o.files)/elapsed.Seconds(), recv.requestCount(), recv.duplicates(), rss, cpu.Seconds(), float64(cpu.Microseconds())/float64(want))
	return rate, nil
}

// lastProcessed returns the time of the hub log's last "file processed"
// line: when the last file's records were queued. The log is read once the
// hub has stopped, so that timing it costs the hub nothing.
func lastProcessed(log string) (time.Time, error) {
	b, err := os.ReadFile(log)
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	for _, line := range strings.Split(string(b), "\n") {
		stamp, rest, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if !ok || !strings.Contains(rest, `msg="file processed"`) {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil && t.After(last) {
			last = t
		}
	}
	if last.IsZero() {
		return last, fmt.Errorf("%s has no file processed line", log)
	}
	return last, nil
}

// generate writes n layout-(a) exports of plans plans each, with distinct
// assignments throughout, and returns their names.
func generate(dir string, n, plans int) ([]string, error) {
	var names []string
	for i := range n {
		name := fmt.Sprintf("jobplans-%04d.csv", i)
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(f, "\ufeff%s\r\n", bench.SardHeader)
		for j := range plans {
			emp := strconv.Itoa(30000000 + i*plans + j)
			fmt.Fprintf(f, "%s,%s,Testperson,Alpha,Medical and Dental,Consultant (2003),Signed Off,01/04/2026,10,0,7.5,2.5,0,0,0,0,1 in 6,Cat A,5,2,1.5,0.5,2,1.5,0.5,0,0,0,0.5,0.5,1.5,0.25,0,0.75,0,0,0,123\r\n", emp, emp)
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// until polls cond every 10ms until it holds, the hub exits or d passes.
func until(d time.Duration, exited chan error, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("hub exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// receiver is a loopback ESR API stand-in that honours Idempotency-Key.
type receiver struct {
	srv  *http.Server
	addr string

	mu       sync.Mutex
	keys     map[string]bool
	requests int
	dups     int
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{addr: ln.Addr().String(), keys: map[string]bool{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		key := req.Header.Get("Idempotency-Key")
		r.mu.Lock()
		r.requests++
		seen := r.keys[key]
		r.keys[key] = true
		if seen {
			r.dups++
		}
		r.mu.Unlock()
		if seen {
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

func (r *receiver) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups
}
