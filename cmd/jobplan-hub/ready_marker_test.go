package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

func TestConfigCheckReadyMarker(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for marker, want := range map[string]string{
		`".done"`: "",
		`".tmp"`:  `:8:5: source "drop": ready_marker ".tmp": the ready marker ends in .tmp: files named so are always skipped as still being written`,
		`""`:      `:8:5: source "drop": ready_marker "": the ready marker is empty`,
		`"a/b"`:   `:8:5: source "drop": ready_marker "a/b": the ready marker is not part of a plain file name: holds a slash`,
	} {
		hub := filepath.Join(dir, "hub.yaml")
		text := strings.Replace(dropHubFile("*.csv", mappingFile, ""), "    settle_time: 30ms\n", "    settle_time: 30ms\n    ready_marker: "+marker+"\n", 1)
		if err := os.WriteFile(hub, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "config", "check", hub)
		switch {
		case want == "" && code != 0:
			t.Errorf("ready_marker %s: exit %d, %s", marker, code, stderr)
		case want != "" && (code != 1 || !strings.HasPrefix(stderr, hub+want) || strings.Count(stderr, "\n") != 1):
			t.Errorf("ready_marker %s: exit %d, stderr %q; want 1 and %q", marker, code, stderr, hub+want)
		}
	}
}

func TestWatchRefusesABadReadyMarker(t *testing.T) {
	code, _, stderr := runCLI(t, "watch", "--mapping", "../../mappings/sard-wide.yaml", "--state", filepath.Join(t.TempDir(), ".state"),
		"--ready-marker", ".part", t.TempDir())
	if code != 2 || !strings.Contains(stderr, `ready_marker ".part": the ready marker ends in .part`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestWatchReadyMarkerTakesASlowExportWhole runs watch --ready-marker over
// a supplier export written under its final name with pauses of three
// settle times between its rows: the records staged must be what convert
// makes of the whole file, once, and the file and its marker archived.
func TestWatchReadyMarkerTakesASlowExportWhole(t *testing.T) {
	bin, root, drop := hubDirs(t)
	outbox := filepath.Join(root, "outbox")
	const settle = 30 * time.Millisecond
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "watch", "--mapping", "../../mappings/sard-wide.yaml", "--ready-marker", ".done",
		"--out", outbox, "--state", filepath.Join(root, "state"), "--settle-time", settle.String(), "--listen", "off", drop)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	data := sardFile(22000001, 6)
	path := filepath.Join(drop, "slow.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\r\n"))
	for i, line := range lines {
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
		if i < len(lines)-1 {
			time.Sleep(3 * settle) // the writer pauses on purpose
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, path+".done", "")

	records := filepath.Join(outbox, "slow.jobplans.jsonl")
	archive := filepath.Join(drop, localdir.ArchiveDir)
	testutil.Eventually(t, "the file and its marker archived", func() bool {
		_, err1 := os.Stat(filepath.Join(archive, "slow.csv"))
		_, err2 := os.Stat(filepath.Join(archive, "slow.csv.done"))
		_, err3 := os.Stat(records)
		return err1 == nil && err2 == nil && err3 == nil
	})
	hub.stop(t, syscall.SIGTERM, 0)

	_, want := expectedOutputs(t, "../../mappings/sard-wide.yaml", map[string][]byte{"slow.csv": data})
	if got := testutil.ReadFile(t, records); got != string(want["slow.jobplans.jsonl"]) || strings.Count(got, "\n") != 6 {
		t.Errorf("outbox records:\n%s\nwant what convert gives on the whole file:\n%s", got, want["slow.jobplans.jsonl"])
	}
	entries, err := os.ReadDir(outbox)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"slow.jobplans.jsonl"}) {
		t.Errorf("outbox holds %v, want one records file", names)
	}
	if n := strings.Count(log.String(), "file processed"); n != 1 {
		t.Errorf("%d files processed, want one:\n%s", n, log.String())
	}
}
