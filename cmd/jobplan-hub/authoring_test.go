package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMappingCheckPassesOverTheBundledMappings runs mapping check on
// mappings/*.yaml as a shell expands it: the case files beside the
// mappings are checked as case files, and all pass.
func TestMappingCheckPassesOverTheBundledMappings(t *testing.T) {
	files, err := filepath.Glob("../../mappings/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("glob: %v %v", files, err)
	}
	code, stdout, stderr := runCLI(t, append([]string{"mapping", "check"}, files...)...)
	if code != 0 || stderr != "" || strings.Count(stdout, ": ok (") != len(files) {
		t.Errorf("mapping check mappings/*.yaml: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestInferDraftEndsWithANewline: on standard output and in --out, for
// every bundled sample, the draft ends with one newline.
func TestInferDraftEndsWithANewline(t *testing.T) {
	samples, _ := filepath.Glob("../../samples/*/*.*")
	n := 0
	for _, s := range samples {
		if strings.HasSuffix(s, ".md") {
			continue
		}
		code, stdout, stderr := runCLI(t, "mapping", "infer", s)
		if code != 0 {
			continue // not a job-plan export (payroll, staff extracts)
		}
		n++
		if !strings.HasSuffix(stdout, "\n") || strings.HasSuffix(stdout, "\n\n") {
			t.Errorf("%s: the draft ends %q", s, stdout[max(0, len(stdout)-20):])
		}
		out := filepath.Join(t.TempDir(), "draft.yaml")
		if code, _, _ := runCLI(t, "mapping", "infer", s, "--out", out); code != 0 {
			t.Fatalf("infer --out: %s", stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != stdout {
			t.Errorf("%s: --out differs from standard output", s)
		}
	}
	if n < 3 {
		t.Errorf("only %d samples drafted", n)
	}
}

// TestConvertProgressEndsItsLine: the progress bar's line ends before
// anything else is written, whether the file was read to its end or not,
// and a redraw after the last byte does not start a new line.
func TestConvertProgressEndsItsLine(t *testing.T) {
	dir := t.TempDir()
	// A file refused after its header: the bar never reaches its end.
	var big bytes.Buffer
	big.WriteString("Not,The,Expected,Header\n")
	for big.Len() < 2<<20 {
		big.WriteString("1,2,3,4\n")
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, big.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "convert", "--progress", "-m", "../../mappings/sard-wide.yaml", "-o", filepath.Join(dir, "out"), bad)
	if code != 2 || !strings.Contains(stderr, "converting bad.csv") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, line := range []string{bad + ": not in the layout", bad + ": failed, see"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line)).MatchString(stderr) {
			t.Errorf("%q does not start a line:\n%q", line, stderr)
		}
	}

	// Read to the end, then redrawn (a tick after the last byte), then
	// finished: one line, ended.
	var w bytes.Buffer
	p := newConvertProgress(&w, "x.csv")
	r := p.wrap(strings.NewReader(strings.Repeat("a,b\n", 1000)), 4000)
	if _, err := bytes.NewBuffer(nil).ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	p.rows.Store(1000)
	p.describe(time.Now())
	p.finish()
	out := w.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || !strings.Contains(out, "1000 rows") {
		t.Errorf("bar output %q: want one line, ended, with the last count", out)
	}
}
