package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

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
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "watch", "--progress", "--listen", "", "--mapping", "../../mappings/sard-wide.yaml",
		"--out", filepath.Join(root, "outbox"), "--state", filepath.Join(root, "state"), "--settle-time", "30ms", drop)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })
	testutil.WriteFile(t, filepath.Join(drop, "a.csv"), testutil.ReadFile(t, "../../samples/sard-wide/jobplans-2026-04.csv"))
	testutil.Eventually(t, "a.csv archived", func() bool { return testutil.Exists(filepath.Join(drop, localdir.ArchiveDir, "a.csv")) })
	// The outbox gets one file delivery for the file.
	testutil.Eventually(t, "the status line to count the file and its delivery", func() bool {
		s := log.String()
		return strings.Contains(s, "1 file processed") && strings.Contains(s, "1 record delivered") && strings.Contains(s, "0 pending")
	})
	hub.stop(t, syscall.SIGTERM, 0)
}
