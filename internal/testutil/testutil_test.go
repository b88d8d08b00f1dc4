package testutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.failures = append(r.failures, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, "fatal: "+fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.failures = append(r.failures, "fatal: "+fmt.Sprint(args...)) }

// TestGoldenDir: an output equal to its golden copy passes, one that
// differs fails, and a golden file no output named fails Finish.
func TestGoldenDir(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, filepath.Join(dir, "a.csv"), "a\n")
	WriteFile(t, filepath.Join(dir, "sub", "b.json"), "{}\n")
	WriteFile(t, filepath.Join(dir, "gone.csv"), "old\n")

	r := &recorder{TB: t}
	g := NewGoldenDir(r, dir)
	g.Check("a.csv", []byte("a\n"))
	g.Check("sub/b.json", []byte("{}\n"))
	if len(r.failures) != 0 {
		t.Fatalf("equal outputs failed: %q", r.failures)
	}
	g.Finish()
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "gone.csv is no longer produced") {
		t.Errorf("Finish reported %q, want gone.csv as no longer produced", r.failures)
	}

	r.failures = nil
	g = NewGoldenDir(r, dir)
	g.Check("a.csv", []byte("b\n"))
	g.Check("new.csv", []byte("new\n"))
	if len(r.failures) != 2 || !strings.Contains(r.failures[0], "output differs") || !strings.Contains(r.failures[1], "new.csv") {
		t.Errorf("a changed and a new output reported %q", r.failures)
	}
}

// TestGoldenDirUpdate: with -update, outputs are written and golden files
// no longer produced are removed.
func TestGoldenDirUpdate(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, filepath.Join(dir, "gone.csv"), "old\n")
	defer func(was bool) { *update = was }(*update)
	*update = true
	r := &recorder{TB: t}
	g := NewGoldenDir(r, dir)
	g.Check("sub/new.csv", []byte("new\n"))
	g.Finish()
	if len(r.failures) != 0 {
		t.Fatalf("update failed: %q", r.failures)
	}
	if got := ReadFile(t, filepath.Join(dir, "sub", "new.csv")); got != "new\n" {
		t.Errorf("new.csv holds %q", got)
	}
	if Exists(filepath.Join(dir, "gone.csv")) {
		t.Error("gone.csv was not removed")
	}
}

// TestGoldenUpdateCoversEveryGoldenSet: every package whose tests use
// golden files is in the Makefile's GOLDEN_PACKAGES, which `make
// golden-update` runs with -update; and no test declares an -update flag
// of its own, which that run would not set.
func TestGoldenUpdateCoversEveryGoldenSet(t *testing.T) {
	const root = "../.."
	makefile := ReadFile(t, filepath.Join(root, "Makefile"))
	m := regexp.MustCompile(`(?m)^GOLDEN_PACKAGES\s*:=(.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile has no GOLDEN_PACKAGES line")
	}
	listed := strings.Fields(m[1])
	uses := regexp.MustCompile(`testutil\.(Golden|NewGoldenDir|Updating)\(`)
	ownFlag := regexp.MustCompile(`flag\.Bool\("update`)
	var golden []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := "./" + filepath.ToSlash(rel)
		if uses.Match(b) && !slices.Contains(golden, pkg) {
			golden = append(golden, pkg)
		}
		if ownFlag.Match(b) {
			t.Errorf("%s declares its own -update flag; use testutil.Golden", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(golden) < 4 {
		t.Fatalf("found golden files in %v only", golden)
	}
	for _, pkg := range golden {
		if !slices.Contains(listed, pkg) {
			t.Errorf("%s has golden files but is not in the Makefile's GOLDEN_PACKAGES", pkg)
		}
	}
}
