package testutil

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// update is the -update flag of every test binary that imports testutil.
// `make golden-update` sets it for every package with golden files.
var update = flag.Bool("update", false, "rewrite the golden files instead of comparing with them (make golden-update)")

// Updating reports whether golden files are being rewritten (-update).
func Updating() bool { return *update }

// Golden compares got with the golden file at path or, with -update,
// rewrites the file.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		writeGolden(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("golden file: %v (make golden-update if the output is new)", err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (make golden-update if intended):\ngot:\n%.2000s\nwant:\n%.2000s", path, got, want)
	}
}

func writeGolden(t testing.TB, path string, got []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, got, 0o644); err != nil {
		t.Fatal(err)
	}
}

// GoldenDir is a folder of golden files that a test's outputs must match
// as a set: every output equals its golden copy, and every golden file is
// still produced. With -update, Check rewrites the golden copies and
// Finish removes those no longer produced.
type GoldenDir struct {
	t       testing.TB
	dir     string
	checked map[string]bool
}

// NewGoldenDir returns the golden set held in dir.
func NewGoldenDir(t testing.TB, dir string) *GoldenDir {
	return &GoldenDir{t: t, dir: dir, checked: map[string]bool{}}
}

// Check compares an output with its golden copy, name (a slash-separated
// path) inside the folder.
func (g *GoldenDir) Check(name string, got []byte) {
	g.t.Helper()
	g.checked[filepath.ToSlash(name)] = true
	Golden(g.t, filepath.Join(g.dir, filepath.FromSlash(name)), got)
}

// Finish fails the test for every golden file in the folder that no Check
// named: an output that is no longer produced. Call it once all outputs
// are checked (not in a cleanup: a test stopped early has not checked
// them all).
func (g *GoldenDir) Finish() {
	g.t.Helper()
	var stale []string
	err := filepath.WalkDir(g.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(g.dir, path)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); !g.checked[name] {
			stale = append(stale, name)
		}
		return nil
	})
	if err != nil && !(*update && os.IsNotExist(err)) {
		g.t.Fatalf("golden folder: %v", err)
	}
	slices.Sort(stale)
	for _, name := range stale {
		path := filepath.Join(g.dir, filepath.FromSlash(name))
		if *update {
			if err := os.Remove(path); err != nil {
				g.t.Error(err)
			}
			continue
		}
		g.t.Errorf("golden file %s is no longer produced (make golden-update if intended)", path)
	}
}
