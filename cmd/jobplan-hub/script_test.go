package main

import (
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

func TestMain(m *testing.M) {
	testscript.Main(binaryCleanup{m}, map[string]func(){
		"jobplan-hub": func() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each
// bundles an export, a mapping and the expected outputs.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

// TestReconcileScripts runs the command-line scenarios of `reconcile`
// (testdata/reconcile) and of the staff-record checks, `convert --staff`
// and `reference check` (testdata/reference).
func TestReconcileScripts(t *testing.T) {
	for _, dir := range []string{"testdata/reconcile", "testdata/reference"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			testscript.Run(t, scriptParams(dir))
		})
	}
}

// scriptParams runs the scripts in dir with $SAMPLES and $MAPPINGS set to
// the bundled samples and mappings. With -update (make golden-update), a
// cmp against a file of the archive rewrites that file.
func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       testutil.Updating(),
		Setup: func(env *testscript.Env) error {
			for name, rel := range map[string]string{"SAMPLES": "../../samples", "MAPPINGS": "../../mappings"} {
				abs, err := filepath.Abs(rel)
				if err != nil {
					return err
				}
				env.Setenv(name, abs)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exitcode N PROG ARGS... (or status N ...) runs PROG as exec
			// does and requires exit status N, as ! exec cannot tell
			// status 1 from 2.
			"exitcode": scriptExitStatus,
			"status":   scriptExitStatus,
			// writehex FILE HEX... writes the bytes the hex digits spell,
			// for binary inputs a txtar archive cannot hold.
			"writehex": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: writehex FILE HEX...")
				}
				data, err := hex.DecodeString(strings.Join(args[1:], ""))
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
			},
		},
	}
}

func scriptExitStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
