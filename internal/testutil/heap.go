package testutil

import (
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// SampleHeap samples the Go heap every 5 ms, from a goroutine, until the
// function it returns is called; that stops the sampler, waits for it to
// exit and returns the peak in MB. Memory tests use it to show that memory
// does not grow with the size of an input.
func SampleHeap() (peakMB func() float64) {
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
	return func() float64 {
		close(stop)
		<-sampled
		return float64(peak.Load()) / (1 << 20)
	}
}
