package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helpers of this package's tests that run the command: in process
// (runCLI) or as the built binary (buildBinary, startHub). Helpers every
// package shares are in internal/testutil.

// runCLI runs the command in-process and returns its exit status and
// output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"jobplan-hub"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// built is the binary the tests run, built once for all of them.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

// buildBinary returns the path of jobplan-hub built from this package,
// building it on first use.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		// go test puts its own GOROOT/bin first on the PATH. -buildvcs=auto
		// records the commit (for the version test) where git is installed,
		// whatever GOFLAGS says.
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "jobplan-hub-test-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "jobplan-hub")
		if out, err := exec.Command(goTool, "build", "-buildvcs=auto", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// binaryCleanup runs the tests, then removes the binary they built.
type binaryCleanup struct{ m *testing.M }

func (b binaryCleanup) Run() int {
	code := b.m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	return code
}

// hubDirs builds the binary and makes a root folder with an empty drop
// folder in it, for tests that run the hub as a process.
func hubDirs(t *testing.T) (bin, root, drop string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin = buildBinary(t)
	root = t.TempDir()
	drop = filepath.Join(root, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, root, drop
}

// hubProcess is a running jobplan-hub.
type hubProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startHub starts the binary with args, its output going to log. The
// process is killed at the end of the test if it still runs.
func startHub(t *testing.T, bin string, log io.Writer, args ...string) *hubProcess {
	t.Helper()
	// run and watch serve HTTP on 127.0.0.1:8080 by default: a test that
	// does not say where takes a free port, so that nothing else holding
	// 8080 (another test process, a developer's hub) fails it.
	if len(args) > 0 && (args[0] == "run" || args[0] == "watch") && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--listen") }) {
		args = append([]string{args[0], "--listen", "127.0.0.1:0"}, args[1:]...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hubProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.exited
	})
	return h
}

// stop sends sig and waits for the exit; wantCode -1 accepts any.
func (h *hubProcess) stop(t *testing.T, sig syscall.Signal, wantCode int) {
	t.Helper()
	h.cmd.Process.Signal(sig)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("hub did not exit after %v", sig)
	}
	if code := h.cmd.ProcessState.ExitCode(); wantCode >= 0 && code != wantCode {
		t.Errorf("hub exited with %d after %v, want %d (%v)", code, sig, wantCode, h.err)
	}
}
