package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressTick is how often convert's progress label is redrawn.
const progressTick = 500 * time.Millisecond

// convertProgress is convert's progress bar for one input: the bar counts
// bytes (and so knows the time to go), its label the rows and their
// rate. It owns its line: the line ends (finish) before anything else is
// written, however the conversion ended. progressbar's own DefaultBytes
// writes to os.Stderr and ends the line only when every byte was read,
// and a label redrawn after that starts a new, unended line.
type convertProgress struct {
	w     io.Writer
	name  string
	rows  atomic.Int64
	bar   atomic.Pointer[progressbar.ProgressBar]
	start time.Time
	stop  chan struct{}
	done  chan struct{}
}

// newConvertProgress starts the label's redraws; call finish.
func newConvertProgress(w io.Writer, name string) *convertProgress {
	p := &convertProgress{w: w, name: name, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressTick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				p.describe(now)
			}
		}
	}()
	return p
}

// wrap is outdir.Options.Wrap: it draws the bar as r is read; size < 0
// is unknown (standard input: a spinner).
func (p *convertProgress) wrap(r io.Reader, size int64) io.Reader {
	if size <= 0 {
		size = -1
	}
	b := progressbar.NewOptions64(size,
		progressbar.OptionSetDescription("converting "+p.name),
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(10),
		progressbar.OptionThrottle(65*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetRenderBlankState(true),
	)
	p.bar.Store(b)
	rd := progressbar.NewReader(r, b)
	return &rd
}

func (p *convertProgress) describe(now time.Time) {
	if b := p.bar.Load(); b != nil {
		n := p.rows.Load()
		b.Describe(fmt.Sprintf("converting %s · %d rows (%.0f/s)", p.name, n, float64(n)/max(now.Sub(p.start).Seconds(), 0.001)))
	}
}

// finish stops the redraws, draws the last count and ends the bar's line.
func (p *convertProgress) finish() {
	close(p.stop)
	<-p.done
	if p.bar.Load() != nil {
		p.describe(time.Now())
		fmt.Fprintln(p.w)
	}
}
