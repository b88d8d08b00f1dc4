package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

// modeOf is the permission bits of path.
func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestConvertFileMode: convert writes owner-only files unless told.
func TestConvertFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		args []string
		want fs.FileMode
	}{{nil, 0o600}, {[]string{"--file-mode", "0640"}, 0o640}} {
		out := t.TempDir()
		args := append([]string{"convert", "--quiet", "--mapping", "../../mappings/sard-wide.yaml", "--out", out}, tc.args...)
		if code, _, stderr := runCLI(t, append(args, sampleCSV)...); code != 1 { // the sample has rejected rows
			t.Fatalf("convert %v: exit %d: %s", tc.args, code, stderr)
		}
		entries, err := os.ReadDir(out)
		if err != nil || len(entries) < 4 {
			t.Fatalf("outputs %v, %v", entries, err)
		}
		for _, e := range entries {
			if got := modeOf(t, filepath.Join(out, e.Name())); got != tc.want {
				t.Errorf("convert %v: %s has mode %v, want %v", tc.args, e.Name(), got, tc.want)
			}
		}
	}
	if code, _, stderr := runCLI(t, "convert", "--file-mode", "0666", "--mapping", "../../mappings/sard-wide.yaml", sampleCSV); code != 2 ||
		!strings.Contains(stderr, "--file-mode 0666: only the hub may write") {
		t.Errorf("a mode others may write: exit %d, %q", code, stderr)
	}
}

// TestRunFileMode runs the hub with file_mode 0640: the reports beside
// the archived and the quarantined input, the reason, the outbox file
// and the outputs in the state folder can be read by the group.
func TestRunFileMode(t *testing.T) {
	bin, root, drop := hubDirs(t)
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, dropHubFile("*.csv", mappingFile, "file_mode: \"0640\"\n"))
	log := &testutil.Buffer{}
	startHub(t, bin, log, "run", "--config", hubFile, "--listen", "off")
	sample, err := os.ReadFile(sampleCSV)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(drop, "jobplans-2026-04.csv"), string(sample))
	_, headerless, _ := strings.Cut(string(sample), "\n")
	testutil.WriteFile(t, filepath.Join(drop, "no-header.csv"), headerless)

	archive, quarantine := filepath.Join(drop, localdir.ArchiveDir), filepath.Join(drop, localdir.QuarantineDir)
	outbox := filepath.Join(root, "outbox", "jobplans-2026-04.jobplans.jsonl")
	testutil.Eventually(t, "both files archived and the records in the outbox", func() bool {
		_, a := os.Stat(filepath.Join(archive, "jobplans-2026-04.csv"))
		_, q := os.Stat(filepath.Join(quarantine, "no-header.csv"))
		_, o := os.Stat(outbox)
		return a == nil && q == nil && o == nil
	})
	var checked []string
	for _, dir := range []string{archive, quarantine, filepath.Join(root, "state", "files", "1"), filepath.Join(root, "state", "files", "2")} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() == "jobplans-2026-04.csv" || e.Name() == "no-header.csv" {
				continue // the inputs keep the supplier's mode
			}
			checked = append(checked, e.Name())
			if got := modeOf(t, filepath.Join(dir, e.Name())); got != 0o640 {
				t.Errorf("%s has mode %v, want 0640", filepath.Join(dir, e.Name()), got)
			}
		}
	}
	if got := modeOf(t, outbox); got != 0o640 {
		t.Errorf("outbox file has mode %v, want 0640", got)
	}
	if !strings.Contains(strings.Join(checked, " "), "no-header.csv.reason.txt") || len(checked) < 8 {
		t.Errorf("checked only %q", checked)
	}
}
