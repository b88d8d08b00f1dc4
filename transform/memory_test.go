package transform_test

import (
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// countingDiscard is a records output that keeps nothing, so the test
// measures the converter's memory and not a 900 MB file.
type countingDiscard struct{ n int64 }

func (d *countingDiscard) Write(p []byte) (int, error)           { d.n += int64(len(p)); return len(p), nil }
func (d *countingDiscard) ReadAt(p []byte, _ int64) (int, error) { return 0, io.EOF }
func (d *countingDiscard) WriteAt(p []byte, _ int64) (int, error) {
	return len(p), nil
}
func (d *countingDiscard) Truncate(int64) error { return nil }
func (d *countingDiscard) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekCurrent {
		return d.n + off, nil
	}
	return off, nil
}

// TestLargeFileHeap converts a generated export of about 200 MB (over a
// million plans, streamed from the generator) and checks that the Go heap
// stays under 64 MB throughout: memory must not grow with file size beyond
// the 24 bytes a plan that dedup keeps.
func TestLargeFileHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("converts 200 MB")
	}
	m, err := mapping.LoadFile("../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The command sets the same soft limit (cmd/jobplan-hub/main.go).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	runtime.GC()

	const rows = 1_070_000 // about 200 MB of layout (a)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(bench.WriteSard(pw, rows)) }()
	var input atomic.Int64
	counted := readerFunc(func(p []byte) (int, error) {
		n, err := pr.Read(p)
		input.Add(int64(n))
		return n, err
	})

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sampler: exits when stop is closed
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	out := &countingDiscard{}
	counts, err := transform.Convert(context.Background(), m, counted, transform.Outputs{Records: out, Rejected: io.Discard, Findings: &discardFindings{}, SpoolDir: t.TempDir()})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if input.Load() < 195e6 {
		t.Fatalf("generated only %d bytes", input.Load())
	}
	if counts.PlansBuilt != rows || counts.Accepted != rows*99/100+1 && counts.Accepted != rows*99/100 {
		t.Errorf("counts = %+v", counts)
	}
	peakMB := float64(peak.Load()) / (1 << 20)
	t.Logf("input %.0f MB, records %.0f MB, peak heap %.1f MB", float64(input.Load())/1e6, float64(out.n)/1e6, peakMB)
	if peakMB >= 64 {
		t.Errorf("peak heap %.1f MB, want < 64 MB", peakMB)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
