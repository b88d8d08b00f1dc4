package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
)

// progressInterval is how often the status line is redrawn.
const progressInterval = time.Second

// hubProgress is the status line of run and watch on a terminal, for bulk
// loads: files done, records delivered and their rate, what is pending
// and when it should be done. Log lines are written above it.
type hubProgress struct {
	mu  sync.Mutex // orders log lines and redraws
	out io.Writer
	bar *progressbar.ProgressBar

	dests atomic.Pointer[[]string] // destinations whose queues count as pending
}

func newHubProgress(out io.Writer) *hubProgress {
	return &hubProgress{out: out, bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(0),
		progressbar.OptionSetDescription("waiting for files"),
	)}
}

// Write is the log's writer: it clears the status line, writes the log
// line and draws the status line again below it.
func (p *hubProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Clear()
	n, err := p.out.Write(b)
	p.bar.RenderBlank()
	return n, err
}

// setDestinations names the destinations of the running configuration.
func (p *hubProgress) setDestinations(cfg *hubConfig) {
	names := make([]string, len(cfg.Destinations))
	for i, d := range cfg.Destinations {
		names[i] = d.Name
	}
	p.dests.Store(&names)
}

// run redraws the line every progressInterval until ctx ends, then
// clears it. It returns when it is done.
func (p *hubProgress) run(ctx context.Context, rec *observe.Recorder, l *ledger.Ledger) {
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	var rate rateMeter
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.bar.Clear()
			p.mu.Unlock()
			return
		case now := <-t.C:
			totals := rec.Totals()
			pending := 0
			if names := p.dests.Load(); names != nil {
				for _, d := range *names {
					n, err := l.Pending(ctx, d)
					if err != nil {
						pending = -1 // unknown
						break
					}
					pending += n
				}
			}
			line := progressLine(totals, pending, rate.add(now, totals.Delivered))
			p.mu.Lock()
			p.bar.Describe(line)
			p.bar.Add(1) // turns the spinner
			p.mu.Unlock()
		}
	}
}

// rateMeter is an exponentially weighted records-per-second rate.
type rateMeter struct {
	last     time.Time
	lastSeen int64
	perSec   float64
}

// add takes the running total at now and returns the smoothed rate.
func (m *rateMeter) add(now time.Time, total int64) float64 {
	if !m.last.IsZero() {
		if dt := now.Sub(m.last).Seconds(); dt > 0 {
			sample := float64(total-m.lastSeen) / dt
			if m.perSec == 0 {
				m.perSec = sample
			} else {
				m.perSec = 0.3*sample + 0.7*m.perSec
			}
		}
	}
	m.last, m.lastSeen = now, total
	return m.perSec
}

// progressLine is the text of the status line. pending < 0 means unknown.
func progressLine(t observe.Totals, pending int, perSec float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s processed", plural(t.FilesProcessed, "file"))
	if t.FilesQuarantined > 0 {
		fmt.Fprintf(&b, ", %d quarantined", t.FilesQuarantined)
	}
	if t.FilesSkipped > 0 {
		fmt.Fprintf(&b, ", %d already seen", t.FilesSkipped)
	}
	fmt.Fprintf(&b, " · %s delivered (%.0f/s)", plural(t.Delivered, "record"), perSec)
	if pending >= 0 {
		fmt.Fprintf(&b, " · %d pending", pending)
		if pending > 0 && perSec >= 1 {
			eta := time.Duration(float64(pending) / perSec * float64(time.Second)).Round(time.Second)
			fmt.Fprintf(&b, ", about %s to go", eta)
		}
	}
	if t.RecordsRejected > 0 || t.DeliveriesRejected > 0 {
		fmt.Fprintf(&b, " · rejected: %d by the rules, %d by the destination", t.RecordsRejected, t.DeliveriesRejected)
	}
	if t.Retries > 0 {
		fmt.Fprintf(&b, " · %d retries", t.Retries)
	}
	return b.String()
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
