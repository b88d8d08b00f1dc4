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
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/cliconv"
	"github.com/nhs-esr/jobplan-hub/internal/lint"
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

// Exit statuses, the same for every command (README.md, "Exit status").
const (
	exitProblems = 1 // the command did its work and found problems
	exitCannot   = 2 // it could not: a usage mistake, an input missing or unusable, a failure
)

// exitError ends a command with status code; err, if not nil, is printed
// once by run (a command that printed its own output leaves it nil).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitError) Unwrap() error { return e.err }

// failed ends a command with status code and err.
func failed(code int, err error) error { return exitError{code: code, err: err} }

// usageError is a mistake in the command line (exit status 2).
func usageError(msg string) error { return cliconv.Usagef("%s", msg) }

// run is main without os.Exit, so testscript can run the command in-process.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	line := cliconv.Read(app, args)
	err := line.Err
	if err == nil {
		err = app.Run(line.Args)
	}
	return exitStatus(stderr, strings.Join(append([]string{app.Name}, line.Path...), " "), err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "jobplan-hub",
		Usage:     "get consultant and SAS job plans from supplier exports into ESR",
		Writer:    stdout,
		ErrWriter: stderr,
		// The version flag is the app's own, without urfave/cli's -v
		// alias: -v is --verbose in the commands that have it.
		HideVersion: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Usage: "print the version and build information (as the version command)"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				return printVersion(c)
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			convertCommand(),
			schemaCommand(),
			mappingCommand(),
			runCommand(),
			watchCommand(),
			statusCommand(),
			deliveriesCommand(),
			pruneCommand(),
			ledgerCommand(),
			configCommand(),
			referenceCommand(),
			reconcileCommand(),
			versionCommand(),
			completionCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run decides the status
	}
	// Flag values that do not parse are usage mistakes, told in one line
	// rather than with the command's whole help.
	onUsageError := func(_ *cli.Context, err error, _ bool) error { return &cliconv.UsageError{Err: err} }
	app.OnUsageError = onUsageError
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsageError
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	cliconv.EnableCompletion(app)
	return app
}

// exitStatus prints err, if it needs printing, and returns the exit
// status. Problems found in a file are printed as they are (file:line:col:
// ...); any other error after the name of the command.
func exitStatus(stderr io.Writer, command string, err error) int {
	if err == nil {
		return 0
	}
	code := exitCannot
	var ee exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
		err = ee.err
	}
	var problems lint.Problems
	switch {
	case errors.As(err, &problems):
		fmt.Fprintln(stderr, problems)
	case cliconv.IsUsage(err):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", command, err, command)
	default:
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
	}
	return code
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and build information: module version, commit, Go toolchain",
		Description: `The module version is v1.2.3 for a binary installed as
github.com/nhs-esr/jobplan-hub/cmd/jobplan-hub@v1.2.3, and a pseudo-version
or (devel) for one built from a checkout; the commit and its time are
recorded when it was built in a git checkout (go build does so by default
where git is installed).`,
		Action: printVersion,
	}
}

func printVersion(c *cli.Context) error {
	info, _ := debug.ReadBuildInfo()
	_, err := io.WriteString(c.App.Writer, cliconv.VersionOf(info).Format(c.App.Name))
	return err
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `Commands, subcommands and flags complete with TAB; after a flag that
takes a file (and where a command takes files), file names do. Install:
  bash:  jobplan-hub completion bash > /etc/bash_completion.d/jobplan-hub
         (or: source <(jobplan-hub completion bash) in ~/.bashrc)
  zsh:   source <(jobplan-hub completion zsh) in ~/.zshrc, after compinit
  fish:  jobplan-hub completion fish > ~/.config/fish/completions/jobplan-hub.fish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("give the shell: bash, zsh or fish")
			}
			script, err := cliconv.Completion(c.App, c.Args().First())
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.App.Writer, script)
			return err
		},
	}
}
