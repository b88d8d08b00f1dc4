package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

// regexpNote is status's note of a file taken again.
var regexpNote = regexp.MustCompile(`notes on recent files:\n  drop  "slow\.csv"  file 2  .*?: taken again: it grew after it was archived \(\d+ bytes when archived at \S+, \d+ when taken again\)`)

// writeSlowExport writes data into path under its final name as a
// database query streaming rows does: the header and the first row, a
// pause of pause with the file open, then the rest; then it closes it.
func writeSlowExport(t *testing.T, path string, data []byte, pause time.Duration) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bytes.SplitAfter(data, []byte("\r\n"))
	if _, err := f.Write(bytes.Join(lines[:2], nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause) // the writer pauses on purpose
	if _, err := f.Write(bytes.Join(lines[2:], nil)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWatchTakesASlowExportWhole: watch, with no ready marker, over a
// supplier export that writes its header and one row, pauses for three
// settle times with the file open, and writes two more rows. The hub
// takes it once its writer has closed it: the outbox holds what convert
// makes of the whole file, from one conversion.
func TestWatchTakesASlowExportWhole(t *testing.T) {
	bin, root, drop := hubDirs(t)
	outbox := filepath.Join(root, "outbox")
	const settle = 100 * time.Millisecond
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "watch", "--mapping", "../../mappings/sard-wide.yaml",
		"--out", outbox, "--state", filepath.Join(root, "state"), "--settle-time", settle.String(), "--listen", "off", drop)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	data := sardFile(22000001, 3)
	writeSlowExport(t, filepath.Join(drop, "slow.csv"), data, 3*settle)
	records := filepath.Join(outbox, "slow.jobplans.jsonl")
	testutil.Eventually(t, "the file archived and its records staged", func() bool {
		return testutil.Exists(filepath.Join(drop, localdir.ArchiveDir, "slow.csv")) && testutil.Exists(records)
	})
	hub.stop(t, syscall.SIGTERM, 0)

	_, want := expectedOutputs(t, "../../mappings/sard-wide.yaml", map[string][]byte{"slow.csv": data})
	if got := testutil.ReadFile(t, records); got != string(want["slow.jobplans.jsonl"]) || strings.Count(got, "\n") != 3 {
		t.Errorf("outbox records:\n%s\nwant what convert gives on the whole file:\n%s", got, want["slow.jobplans.jsonl"])
	}
	if n := strings.Count(log.String(), "file processed"); n != 1 || strings.Contains(log.String(), "grew after") {
		t.Errorf("%d files processed, want one, taken once:\n%s", n, log.String())
	}
}

// TestRunTakesAGrownExportAgain: the same export in a folder the hub
// only polls (poll_only, as for a network share): the hub cannot see the
// writer, takes the file at its pause, and takes it again when the
// archived file grows. The outbox ends with what convert makes of the
// whole file, and status notes the file taken again.
func TestRunTakesAGrownExportAgain(t *testing.T) {
	bin, root, drop := hubDirs(t)
	const settle = 100 * time.Millisecond
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hubFile := filepath.Join(root, "hub.yaml")
	text := strings.Replace(dropHubFile("*.csv", mappingFile, ""), "    settle_time: 30ms\n    rescan_interval: 100ms\n",
		"    settle_time: 100ms\n    rescan_interval: 50ms\n    poll_only: true\n", 1)
	testutil.WriteFile(t, hubFile, text)
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "run", "--listen", "", "--config", hubFile)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	data := sardFile(22000001, 3)
	writeSlowExport(t, filepath.Join(drop, "slow.csv"), data, 3*settle)
	_, want := expectedOutputs(t, mappingFile, map[string][]byte{"slow.csv": data})
	records := filepath.Join(root, "outbox", "slow.jobplans.jsonl")
	testutil.Eventually(t, "the whole file's records staged", func() bool {
		b, _ := os.ReadFile(records)
		return bytes.Equal(b, want["slow.jobplans.jsonl"]) && strings.Count(log.String(), "file processed") == 2
	})
	hub.stop(t, syscall.SIGTERM, 0)
	if !strings.Contains(log.String(), "file grew after it was archived") {
		t.Errorf("no warning of the file that grew:\n%s", log.String())
	}

	code, stdout, stderr := runCLI(t, "status", "--state", filepath.Join(root, "state"))
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	note := regexpNote.FindString(stdout)
	if note == "" {
		t.Errorf("status does not note the file taken again:\n%s", stdout)
	}
}
