// Package chromiumtest runs real headless Chromium for tests that check a
// page as a person would see it. Install the browser with
//
//	apt-get install -y chromium fonts-liberation
//
// (make test-deps does). Tests are skipped when it is missing, except in
// CI (CI set), where a missing browser fails them.
package chromiumtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Path is where Debian installs Chromium.
const Path = "/usr/bin/chromium"

// Require skips the test when Chromium is missing, or fails it in CI.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing: apt-get install -y chromium fonts-liberation", Path)
		}
		t.Skipf("%s not installed (apt-get install -y chromium fonts-liberation)", Path)
	}
}

// Available reports whether Chromium is installed; in CI a missing
// browser fails the test. For tests that can check less without it.
func Available(t testing.TB) bool {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing: apt-get install -y chromium fonts-liberation", Path)
		}
		t.Logf("%s not installed (apt-get install -y chromium fonts-liberation): checking without it", Path)
		return false
	}
	return true
}

// Run runs headless Chromium with a throwaway profile under dir,
// isolated from the network but for the URLs it is given, and returns
// its standard output (the DOM, with --dump-dom).
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp(dir, "profile-")
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, Path, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium %v timed out", args)
		}
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}
