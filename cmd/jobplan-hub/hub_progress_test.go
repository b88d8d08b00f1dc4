package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
)

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		totals  observe.Totals
		pending int
		rate    float64
		want    string
	}{
		{observe.Totals{}, 0, 0, "0 files processed · 0 records delivered (0/s) · 0 pending"},
		{observe.Totals{FilesProcessed: 1, Delivered: 1}, -1, 0, "1 file processed · 1 record delivered (0/s)"},
		{observe.Totals{FilesProcessed: 40, FilesQuarantined: 2, FilesSkipped: 1, Delivered: 900, RecordsRejected: 3, DeliveriesRejected: 1, Retries: 7}, 300, 150,
			"40 files processed, 2 quarantined, 1 already seen · 900 records delivered (150/s) · 300 pending, about 2s to go · rejected: 3 by the rules, 1 by the destination · 7 retries"},
	} {
		if got := progressLine(tc.totals, tc.pending, tc.rate); got != tc.want {
			t.Errorf("progressLine(%+v, %d, %v)\n got %q\nwant %q", tc.totals, tc.pending, tc.rate, got, tc.want)
		}
	}
}

func TestRateMeter(t *testing.T) {
	var m rateMeter
	t0 := time.Unix(1000, 0)
	if r := m.add(t0, 0); r != 0 {
		t.Errorf("first sample gave %v, want 0", r)
	}
	if r := m.add(t0.Add(time.Second), 100); r != 100 {
		t.Errorf("100 in 1s gave %v, want 100", r)
	}
	if r := m.add(t0.Add(2*time.Second), 100); r != 70 {
		t.Errorf("then 0 in 1s gave %v, want 70 (smoothed)", r)
	}
}

// TestLogLinesGoAboveTheStatusLine: each log line clears the status line
// first, so the two never share a line.
func TestLogLinesGoAboveTheStatusLine(t *testing.T) {
	var buf bytes.Buffer
	p := newHubProgress(&buf)
	p.bar.Describe("3 files processed")
	if _, err := p.Write([]byte("time=x level=INFO msg=\"file processed\"\n")); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	i := strings.Index(out, "time=x")
	if i < 0 {
		t.Fatalf("log line missing: %q", out)
	}
	if !strings.Contains(out[:i], "\r") {
		t.Errorf("the status line is not cleared before the log line: %q", out)
	}
	if !strings.Contains(out[i:], "3 files processed") {
		t.Errorf("the status line is not drawn again after the log line: %q", out)
	}
}

// TestWatchShowsProgress runs watch with --progress over the sample and
// waits for the status line to count the file and its records.
func TestWatchShowsProgress(t *testing.T) {
	bin, root, drop := hubDirs(t)
	log := &syncBuffer{}
	hub := startHub(t, bin, log, "watch", "--progress", "--listen", "", "--mapping", "../../mappings/sard-wide.yaml",
		"--out", filepath.Join(root, "outbox"), "--state", filepath.Join(root, "state"), "--settle-time", "30ms", drop)
	eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })
	writeFile(t, filepath.Join(drop, "a.csv"), string(mustRead(t, "../../samples/sard-wide/jobplans-2026-04.csv")))
	eventually(t, "a.csv archived", func() bool { return exists(filepath.Join(drop, localdir.ArchiveDir, "a.csv")) })
	// The outbox gets one file delivery for the file.
	eventually(t, "the status line to count the file and its delivery", func() bool {
		s := log.String()
		return strings.Contains(s, "1 file processed") && strings.Contains(s, "1 record delivered") && strings.Contains(s, "0 pending")
	})
	hub.stop(t, syscall.SIGTERM, 0)
}
