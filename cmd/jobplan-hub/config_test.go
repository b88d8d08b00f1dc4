package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateHub = flag.Bool("update-hub", false, "rewrite the hub tests' golden files")

// runCLI runs the command in-process and returns its exit status and
// output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"jobplan-hub"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/hub/<name>, or rewrites it with
// -update-hub.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "hub", name)
	if *updateHub {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update-hub to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

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
	golden(t, "bad.want", strings.ReplaceAll(stderr, dir, "$DIR"))
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
		{"testdata/hub/syntax.yaml", "testdata/hub/syntax.yaml:2:1: YAML syntax: "},
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

func TestParseHubConfigResolvesPathsAndSecrets(t *testing.T) {
	env := map[string]string{"STATE": "/var/lib/hub", "TOKEN": "xyzzy-42"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	data := []byte(`state_dir: ${STATE}
sources:
  - name: a
    type: local
    dir: drop
    mapping: maps/a.yaml
    destinations: [esr, box]
destinations:
  - name: esr
    type: esr_api
    url: https://esr.example/api
    token: ${TOKEN}
    concurrency: 8
  - name: box
    type: outbox
    dir: out
`)
	cfg, err := parseHubConfig("/etc/hub/hub.yaml", data, getenv, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/hub" || cfg.Sources[0].Dir != "/etc/hub/drop" ||
		cfg.Sources[0].Mapping != "/etc/hub/maps/a.yaml" || cfg.Destinations[1].Dir != "/etc/hub/out" {
		t.Errorf("paths not resolved against the hub file's folder: %+v", cfg)
	}
	if cfg.Destinations[0].Token != "xyzzy-42" || cfg.Destinations[0].Concurrency != 8 {
		t.Errorf("esr destination %+v", cfg.Destinations[0])
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg.Destinations[0], cfg.Destinations[0], cfg.Destinations[0]); strings.Contains(s, "xyzzy-42") {
		t.Errorf("formatting the destination shows its token: %s", s)
	}
}

func TestInterpolate(t *testing.T) {
	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "EMPTY": ""}[k]
		return v, ok
	}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-${A}", want: "x-alpha-alpha"},
		{in: "${EMPTY}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${not a name}", err: "${not a name}: not an environment variable name"},
		{in: "${A", err: `"${" without a closing "}"`},
	} {
		got, err := interpolate(tc.in, getenv)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("interpolate(%q) error = %v, want %q", tc.in, err, tc.err)
			}
		case err != nil || got != tc.want:
			t.Errorf("interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestProblemsIsAnError(t *testing.T) {
	var err error = Problems{{File: "h.yaml", Line: 3, Col: 5, Message: "one"}, {File: "h.yaml", Message: "two"}, {Message: "three"}}
	var ps Problems
	if !errors.As(err, &ps) || err.Error() != "h.yaml:3:5: one\nh.yaml: two\nthree" {
		t.Errorf("Problems.Error() = %q", err.Error())
	}
}

// TestConfigCheckReadsStaffExtracts: a staff extract that exists but
// cannot be used is reported at the source naming it.
func TestConfigCheckReadsStaffExtracts(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "staff.csv"), "nothing,here\n1,2\n")
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(dir, "hub.yaml")
	writeFile(t, hubFile, `state_dir: state
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

// TestHubFilePinsBackoffAndFileMode: several pinned host keys, the login
// back-off and file_mode are read, and bad values are reported where
// they are written.
func TestHubFilePinsBackoffAndFileMode(t *testing.T) {
	const pin1, pin2 = "SHA256:q/5h09pwtg+uCtVxzzNzhVbr4j6So91NIKd1j4Jr4AA", "SHA256:Ej0kFx4vNDnzLvy4rBfZrWn2fWubkGKSz3xeVmkE1AA"
	hub := func(fileMode, pins, backoff string) []byte {
		return []byte(`state_dir: /var/lib/hub
file_mode: ` + fileMode + `
sources:
  - name: b
    type: sftp
    dir: /out
    sftp:
      addr: sftp.example:22
      user: hub
      password: pw
      host_key_fingerprint: ` + pins + `
` + backoff + `    mapping: maps/b.yaml
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: out
`)
	}
	cfg, err := parseHubConfig("/etc/hub/hub.yaml", hub(`"0640"`, "["+pin1+", "+pin2+"]",
		"      login_backoff: 1m\n      login_backoff_max: 30m\n"), os.LookupEnv, false)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Sources[0].SFTP
	if cfg.FileMode != 0o640 || len(c.HostKeyFingerprints) != 2 || c.HostKeyFingerprints[1] != pin2 ||
		c.LoginBackoff != time.Minute || c.LoginBackoffMax != 30*time.Minute {
		t.Errorf("file mode %v, sftp %+v", cfg.FileMode, c)
	}
	cfg, err = parseHubConfig("/etc/hub/hub.yaml", hub("0600", pin1, ""), os.LookupEnv, false)
	if err != nil || cfg.FileMode != 0o600 || len(cfg.Sources[0].SFTP.HostKeyFingerprints) != 1 {
		t.Errorf("one pin, file_mode 0600: %v, %+v", err, cfg)
	}

	_, err = parseHubConfig("/etc/hub/hub.yaml", hub(`"0666"`, "[MD5:aa:bb]", "      login_backoff: 2h\n      login_backoff_max: 1h\n"), os.LookupEnv, false)
	for _, want := range []string{
		`hub.yaml:2:12: file_mode 0666: only the hub may write`,
		`hub.yaml:7:5: source "b": sftp: host_key_fingerprint "MD5:aa:bb"`,
		`source "b": sftp: login_backoff_max is shorter than login_backoff`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems %v; want one saying %q", err, want)
		}
	}
}
