package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

func TestRunReloadsOnSIGHUPAndKeepsConfigWithProblems(t *testing.T) {
	bin, root, drop := hubDirs(t)
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(root, "hub.yaml")
	config := func(pattern, extra string) string { return dropHubFile(pattern, mappingFile, extra) }
	testutil.WriteFile(t, hubFile, config("*.csv", ""))
	sample, err := os.ReadFile("../../samples/sard-wide/jobplans-2026-04.csv")
	if err != nil {
		t.Fatal(err)
	}
	archived := func(name string) func() bool {
		return func() bool {
			_, err := os.Stat(filepath.Join(drop, localdir.ArchiveDir, name))
			return err == nil
		}
	}

	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "run", "--config", hubFile, "--listen", "127.0.0.1:0")
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	// A second hub on the same state folder is refused.
	code, _, stderr := runCLI(t, "run", "--config", hubFile)
	if code != 2 || !strings.Contains(stderr, "another hub is running") {
		t.Errorf("second hub: exit %d, stderr %q; want 2 and a refusal", code, stderr)
	}

	// A file with a problem is reported and the running config kept.
	testutil.WriteFile(t, hubFile, config("*.csv", "unexpected: true\n"))
	hub.cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, "the reload to be refused", func() bool {
		return strings.Contains(log.String(), "keeping the running one") &&
			strings.Contains(log.String(), `unknown key \"unexpected\"`)
	})
	testutil.WriteFile(t, filepath.Join(drop, "a.csv"), string(sample))
	testutil.Eventually(t, "a.csv archived under the old config", archived("a.csv"))

	// A sound file is applied: now *.txt files are taken.
	testutil.WriteFile(t, hubFile, config("*.txt", ""))
	hub.cmd.Process.Signal(syscall.SIGHUP)
	// (Saving the file reloads it too; the signal may restart it again.)
	testutil.Eventually(t, "the new config to start", func() bool { return strings.Count(log.String(), "hub started") >= 2 })
	testutil.WriteFile(t, filepath.Join(drop, "b.txt"), strings.Replace(string(sample), "20000001,20000001", "20000101,20000101", 1))
	testutil.Eventually(t, "b.txt archived under the new config", archived("b.txt"))

	hub.stop(t, syscall.SIGTERM, 0)
	if !strings.Contains(log.String(), "stopped by signal") {
		t.Errorf("no clean stop in the log:\n%s", log.String())
	}
}

func TestLockStateDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockStateDir(dir); err == nil || !strings.Contains(err.Error(), "another hub is running") {
		t.Errorf("second lock: %v, want a refusal", err)
	}
	unlock()
	unlock2, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestWatchRefusesBadSources(t *testing.T) {
	drop := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"password in URL", []string{"sftp://user:secret@example.org/in"}, "do not put the password in the URL"},
		{"no host key", []string{"--password", "pw", "sftp://user@example.org/in"}, "no host key verification configured"},
		{"no credentials", []string{"--host-key-fingerprint", "SHA256:" + strings.Repeat("A", 43), "sftp://user@example.org/in"}, "set password or key_file"},
		{"state inside the folder", []string{"--state", filepath.Join(drop, "state"), drop}, "inside the watched folder"},
		{"missing folder", []string{filepath.Join(drop, "nope")}, "no such file or directory"},
		{"token over plain http", []string{"--forward", "http://esr.example.org/api", "--token", "t0k3n", drop}, "refusing to send a bearer token over plain http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"watch", "--mapping", "../../mappings/sard-wide.yaml", "--state", filepath.Join(t.TempDir(), ".state")}, tc.args...)
			code, _, stderr := runCLI(t, args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "secret") || strings.Contains(stderr, "t0k3n") {
				t.Errorf("a secret is printed: %q", stderr)
			}
		})
	}
}

// TestRunReloadsWhenTheHubFileChanges: saving the hub file is enough; no
// signal is sent.
func TestRunReloadsWhenTheHubFileChanges(t *testing.T) {
	bin, root, drop := hubDirs(t)
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(root, "hub.yaml")
	config := func(pattern string) string { return dropHubFile(pattern, mappingFile, "") }
	testutil.WriteFile(t, hubFile, config("*.csv"))
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "run", "--listen", "", "--config", hubFile)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })
	testutil.WriteFile(t, hubFile, config("*.txt"))
	testutil.Eventually(t, "the saved file to be applied", func() bool {
		s := log.String()
		return strings.Contains(s, `cause="file changed"`) && strings.Count(s, "hub started") == 2
	})
	testutil.WriteFile(t, filepath.Join(drop, "b.txt"), testutil.ReadFile(t, "../../samples/sard-wide/jobplans-2026-04.csv"))
	testutil.Eventually(t, "b.txt archived under the saved config", func() bool {
		return testutil.Exists(filepath.Join(drop, localdir.ArchiveDir, "b.txt"))
	})
	hub.stop(t, syscall.SIGTERM, 0)
}

// dropHubFile is a hub file with one local source, drop/, taking files
// matching pattern with mappingFile, and an outbox; extra goes before the
// destinations.
func dropHubFile(pattern, mappingFile, extra string) string {
	return fmt.Sprintf(`state_dir: state
sources:
  - name: drop
    type: local
    dir: drop
    pattern: %q
    settle_time: 30ms
    rescan_interval: 100ms
    mapping: %s
    destinations: [box]
%sdestinations:
  - name: box
    type: outbox
    dir: outbox
`, pattern, mappingFile, extra)
}

// TestWatchCrossChecksStaff runs watch with the sample staff extract: the
// hub must reject and report exactly what convert --staff does, so its
// outbox file and archived errors.csv equal the staff-check golden files.
func TestWatchCrossChecksStaff(t *testing.T) {
	bin, root, drop := hubDirs(t)
	outbox := filepath.Join(root, "outbox")
	const name = "jobplans-2026-04"
	sample, err := os.ReadFile("../../samples/sard-wide/" + name + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "watch", "--mapping", "../../mappings/sard-wide.yaml",
		"--staff", "../../samples/reference/input/staff.csv",
		"--staff-format", "../../samples/reference/input/staff-extract.yaml",
		"--out", outbox, "--state", filepath.Join(root, "state"), "--settle-time", "30ms", drop)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })
	if !strings.Contains(log.String(), "staff extract loaded") {
		t.Errorf("no staff extract in the log:\n%s", log.String())
	}
	testutil.WriteFile(t, filepath.Join(drop, name+".csv"), string(sample))
	records := filepath.Join(outbox, name+".jobplans.jsonl")
	testutil.Eventually(t, "the outbox file", func() bool { _, err := os.Stat(records); return err == nil })
	archivedErrors := filepath.Join(drop, localdir.ArchiveDir, name+".csv."+name+".errors.csv")
	testutil.Eventually(t, "the archived errors.csv", func() bool { _, err := os.Stat(archivedErrors); return err == nil })
	hub.stop(t, syscall.SIGTERM, 0)

	for got, want := range map[string]string{
		records:        "../../samples/reference/expected/sard-wide/" + name + ".jobplans.jsonl",
		archivedErrors: "../../samples/reference/expected/sard-wide/" + name + ".errors.csv",
	} {
		g, err := os.ReadFile(got)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s differs from %s:\n%s", filepath.Base(got), want, g)
		}
	}
	if !strings.Contains(testutil.ReadFile(t, archivedErrors), ",R") {
		t.Errorf("the archived errors.csv has no staff-record (R) findings")
	}
}

// TestWatchReloadsOnSIGHUP: a signal alone, with no file changed,
// reloads.
func TestWatchReloadsOnSIGHUP(t *testing.T) {
	bin, root, drop := hubDirs(t)
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "watch", "--listen", "", "--mapping", "../../mappings/sard-wide.yaml",
		"--out", filepath.Join(root, "outbox"), "--state", filepath.Join(root, "state"), drop)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })
	hub.cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, "the reload", func() bool {
		s := log.String()
		return strings.Contains(s, "cause=SIGHUP") && strings.Count(s, "hub started") == 2
	})
	if strings.Contains(log.String(), "file changed") {
		t.Errorf("a file change was seen, but none was made:\n%s", log.String())
	}
	hub.stop(t, syscall.SIGTERM, 0)
}

// TestWatchReloadsANewStaffExtract: a trust replaces its staff extract
// (a daily export); the hub loads the new one without a restart.
func TestWatchReloadsANewStaffExtract(t *testing.T) {
	bin, root, drop := hubDirs(t)
	staff := filepath.Join(root, "staff.csv")
	extract := testutil.ReadFile(t, "../../samples/reference/input/staff.csv")
	testutil.WriteFile(t, staff, extract)
	format, _ := filepath.Abs("../../samples/reference/input/staff-extract.yaml")
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "watch", "--listen", "", "--mapping", "../../mappings/sard-wide.yaml",
		"--staff", staff, "--staff-format", format,
		"--out", filepath.Join(root, "outbox"), "--state", filepath.Join(root, "state"), "--settle-time", "30ms", drop)
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })
	// Tomorrow's extract, saved the way export jobs do: a new file renamed
	// over the old one.
	tmp := staff + ".new"
	testutil.WriteFile(t, tmp, extract+"\n")
	if err := os.Rename(tmp, staff); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the new extract to be loaded", func() bool {
		s := log.String()
		return strings.Contains(s, `cause="file changed"`) && strings.Count(s, "staff extract loaded") == 2 &&
			strings.Count(s, "hub started") == 2
	})
	hub.stop(t, syscall.SIGTERM, 0)
}
