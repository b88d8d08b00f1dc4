package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

func TestConfigCheckReportsEveryProblemWithItsPosition(t *testing.T) {
	const token = "s3cr3t-token-value"
	t.Setenv("HUB_TEST_TOKEN", token)
	os.Unsetenv("HUB_TEST_UNSET")
	code, stdout, stderr := runCLI(t, "config", "check", "testdata/hub/bad.yaml")
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	if strings.Contains(stderr, token) {
		t.Errorf("the problems print the token:\n%s", stderr)
	}
	dir, err := filepath.Abs("testdata/hub")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "hub", "bad.want"), []byte(strings.ReplaceAll(stderr, dir, "$DIR")))
}

func TestConfigCheckAcceptsSoundFile(t *testing.T) {
	t.Setenv("HUB_TEST_STATE", t.TempDir())
	t.Setenv("HUB_TEST_TOKEN", "x")
	code, stdout, stderr := runCLI(t, "config", "check", "testdata/hub/good.yaml")
	if code != 0 || stdout != "testdata/hub/good.yaml: ok (1 sources, 2 destinations)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Without the token variable, the same file has a problem.
	os.Unsetenv("HUB_TEST_TOKEN")
	code, _, stderr = runCLI(t, "config", "check", "testdata/hub/good.yaml")
	if want := "testdata/hub/good.yaml:20:5: destination \"esr\": environment variable HUB_TEST_TOKEN is not set\n"; code != 1 || stderr != want {
		t.Errorf("without the token: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}

func TestConfigCheckPositions(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		// Where the list that lacks an entry starts (yaml.v3 counts
		// those lines from 0; this said 2:1).
		{"testdata/hub/syntax.yaml", "testdata/hub/syntax.yaml:3:1: YAML syntax: "},
		// A mapping's problems are reported in the mapping file's
		// positions (the wording is the mapping package's).
		{"testdata/hub/broken-mapping-hub.yaml", "testdata/hub/broken-mapping.yaml:6:3: "},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			code, _, stderr := runCLI(t, "config", "check", tc.file)
			if code != 1 || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr:\n%s\nwant 1 and one line starting %q", code, stderr, tc.want)
			}
		})
	}
}

// TestConfigCheckReadsStaffExtracts: a staff extract that exists but
// cannot be used is reported at the source naming it.
func TestConfigCheckReadsStaffExtracts(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "staff.csv"), "nothing,here\n1,2\n")
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(dir, "hub.yaml")
	testutil.WriteFile(t, hubFile, `state_dir: state
sources:
  - name: trust-a
    type: local
    dir: drop
    mapping: `+mappingFile+`
    staff: staff.csv
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: outbox
`)
	code, stdout, stderr := runCLI(t, "config", "check", hubFile)
	if code != 1 || stdout != "" || !strings.Contains(stderr, hubFile+`:7:5: source "trust-a": staff: `) ||
		!strings.Contains(stderr, `"Assignment Number"`) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the extract's problem at line 7", code, stdout, stderr)
	}
}
