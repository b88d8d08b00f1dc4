package main

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
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
func (p *hubProgress) setDestinations(cfg *hubconfig.Config) {
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
	var rate observe.RateMeter
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
			line := observe.ProgressLine(totals, pending, rate.Add(now, totals.Delivered))
			p.mu.Lock()
			p.bar.Describe(line)
			p.bar.Add(1) // turns the spinner
			p.mu.Unlock()
		}
	}
}
