package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestReconcileScripts runs the command-line scenarios of `reconcile`
// (testdata/reconcile) and of the staff-record checks, `convert --staff`
// and `reference check` (testdata/reference).
func TestReconcileScripts(t *testing.T) {
	for _, dir := range []string{"testdata/reconcile", "testdata/reference"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			testscript.Run(t, testscript.Params{
				Dir:                 dir,
				RequireExplicitExec: true,
				RequireUniqueNames:  true,
				Setup: func(env *testscript.Env) error {
					// $SAMPLES and $MAPPINGS are the bundled samples and mappings.
					samples, err := filepath.Abs("../../samples")
					if err != nil {
						return err
					}
					mappings, err := filepath.Abs("../../mappings")
					env.Setenv("SAMPLES", samples)
					env.Setenv("MAPPINGS", mappings)
					return err
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					// status N PROG ARGS... runs PROG and requires exit status N.
					"status": func(ts *testscript.TestScript, neg bool, args []string) {
						if neg || len(args) < 2 {
							ts.Fatalf("usage: status N PROG ARGS...")
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
					},
				},
			})
		})
	}
}
