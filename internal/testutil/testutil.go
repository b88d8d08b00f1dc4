// Package testutil holds the helpers the tests of every package share:
// polling for an event with a deadline instead of sleeping, small file
// helpers, and golden files with one -update flag (make golden-update).
package testutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Wait is how long Eventually waits. It is generous: the test machines
// are shared, and a condition that holds returns at once anyway.
const Wait = 15 * time.Second

// pollEvery is how often a condition is tried again.
const pollEvery = 5 * time.Millisecond

// Eventually polls cond until it holds, failing the test if it has not
// within Wait; what names the awaited event in the failure.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Wait, cond, "timed out waiting for %s", what)
}

// EventuallyWithin polls cond until it holds, failing the test with the
// message if it has not within timeout.
func EventuallyWithin(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(pollEvery)
	}
}

// WriteFile writes content to path, creating its folder if needed.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadFile returns the content of path.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// Exists reports whether path names anything (a link is not followed).
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Names returns the names in dir, sorted; a missing dir has none.
func Names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// YAMLLines counts the lines of a YAML text as yaml.v3 does: \r, \n and
// \r\n end a line, and so do NEL, LS and PS.
func YAMLLines(text []byte) int {
	n := 1
	s := strings.ReplaceAll(string(text), "\r\n", "\n")
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}

// Buffer is a bytes.Buffer safe for concurrent use: a log that the code
// under test writes while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// SampleInput returns the export in a folder of samples/: its one file
// that is not a README; "" if there is none.
func SampleInput(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			return f
		}
	}
	return ""
}
