// Command jobplan-hub converts NHS doctors' job-plan exports into ESR
// job-plan records and moves them from drop folders and SFTP servers to
// ESR. This package only wires the transform and transport packages
// together; see README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

func main() {
	// A soft heap limit keeps a bulk load of millions of rows within a
	// small container; GOMEMLIMIT overrides it. Under the limit the GC just
	// runs more often; it never fails an allocation.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// defaultMemoryLimit is the soft Go heap limit (see main).
const defaultMemoryLimit = 48 << 20

// exitError carries an exit status without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run is main without os.Exit, so testscript can run the command in-process.
func run(args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "jobplan-hub",
		Usage:     "get consultant and SAS job plans from supplier exports into ESR",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			convertCommand(),
			schemaCommand(),
			mappingCommand(),
			runCommand(),
			watchCommand(),
			statusCommand(),
			deliveriesCommand(),
			pruneCommand(),
			configCommand(),
			referenceCommand(),
			reconcileCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run decides the status
	}
	err := app.Run(args)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintf(stderr, "jobplan-hub: %v\n", err)
	return 2
}
