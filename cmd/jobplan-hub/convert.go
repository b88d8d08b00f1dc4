package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert supplier exports into ESR job-plan records with a report per file",
		ArgsUsage: "INPUT...",
		Description: `For each INPUT x.ext, writes into --out:
  x.jobplans.jsonl   accepted records, one JSON object a line
  x.rejected.ext     rejected source rows, byte for byte, with the header
                     (a workbook's: an .xlsx of its title rows, header and rows)
  x.report.json      counts and every finding
  x.errors.csv       the findings, for Excel
INPUT - reads standard input, whose outputs are named after --stdin-name.
Exit status: 0 every plan accepted, 1 some rejected, 2 a file could not be
processed (or a usage mistake).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mapping", TakesFile: true, Aliases: []string{"m"}, Usage: "supplier mapping `FILE` (YAML or JSON)", Required: true},
			&cli.StringFlag{Name: "out", TakesFile: true, Aliases: []string{"o"}, Value: "out", Usage: "output `DIR`"},
			&cli.BoolFlag{Name: "progress", Usage: "show a progress bar", DefaultText: "when stderr is a terminal"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary lines"},
			&cli.StringFlag{Name: "staff", TakesFile: true, Usage: "cross-check every plan against the trust's ESR staff extract `FILE` (rules R1-R6)"},
			&cli.StringFlag{Name: "staff-format", TakesFile: true, Usage: staffFormatUsage},
			&cli.StringFlag{Name: "stdin-name", Usage: "the input `NAME` standard input (INPUT -) stands for in outputs and reports", DefaultText: "stdin.csv, stdin.json or stdin.jsonl, as the mapping's format"},
			fileModeFlag,
		},
		Action: func(c *cli.Context) error {
			inputs := c.Args().Slice()
			if len(inputs) == 0 {
				return usageError("give at least one INPUT file (- for standard input)")
			}
			switch n := countOf(inputs, stdinName); {
			case n > 1:
				return usageError("standard input (-) can be read only once")
			case n == 0 && c.IsSet("stdin-name"):
				return usageError("--stdin-name names standard input: give INPUT - too")
			case strings.ContainsAny(c.String("stdin-name"), `/\`) || c.String("stdin-name") == "." || c.String("stdin-name") == "..":
				return usageError("--stdin-name is a file name, not a path")
			}
			if err := checkInputFile(c.String("mapping")); err != nil {
				return err
			}
			var mode fs.FileMode
			if m := c.String("file-mode"); m != "" {
				var err error
				if mode, err = hubconfig.ParseFileMode(m); err != nil {
					return usageError("--file-mode " + err.Error())
				}
			}
			m, err := mapping.LoadFile(c.String("mapping"))
			if err != nil {
				return err
			}
			checks, err := staffChecks(c)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			showProgress := c.Bool("progress") || (!c.IsSet("progress") && isTerminal(c.App.ErrWriter))
			worst := 0
			for _, input := range inputs {
				code, err := convertOne(ctx, c, m, checks, mode, input, showProgress)
				if err != nil {
					return err
				}
				worst = max(worst, code)
			}
			if worst != 0 {
				return exitError{code: worst}
			}
			return nil
		},
	}
}

func countOf(list []string, s string) (n int) {
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// convertOne converts one input and prints its summary; input - is
// standard input.
func convertOne(ctx context.Context, c *cli.Context, m *mapping.Mapping, checks []transform.PlanChecker, mode fs.FileMode, input string, showProgress bool) (int, error) {
	opts := outdir.Options{Checks: checks, FileMode: mode}
	name, label := filepath.Base(input), input
	if input == stdinName {
		name = c.String("stdin-name")
		if name == "" {
			name = "stdin." + m.Format
		}
		label = name + " (standard input)"
	}
	var prog *convertProgress
	if showProgress {
		prog = newConvertProgress(c.App.ErrWriter, name)
		opts.Wrap, opts.Rows = prog.wrap, &prog.rows
	}
	var res *outdir.Result
	var err error
	switch {
	case input == stdinName:
		res, err = outdir.Convert(ctx, m, name, c.App.Reader, -1, c.String("out"), opts)
	case checkInputFile(input) != nil:
		// A folder gets a report saying so, as a missing file does.
		res, err = outdir.Fail(m, input, c.String("out"), errors.New("it is a folder, not a file"), opts)
	default:
		res, err = outdir.ConvertFile(ctx, m, input, c.String("out"), opts)
	}
	if prog != nil {
		prog.finish()
	}
	if err != nil {
		return exitCannot, fmt.Errorf("%s: %w", label, err)
	}
	if res.Err != nil {
		fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", label, res.Report.Reason)
	}
	if !c.Bool("quiet") {
		fmt.Fprintln(c.App.ErrWriter, summary(label, &res.Report, res.Paths))
	}
	return res.ExitCode(), nil
}

func summary(input string, r *report.Report, p outdir.Paths) string {
	n := r.Counts
	if r.Status == report.StatusFailed {
		return fmt.Sprintf("%s: failed, see %s", input, p.Report)
	}
	secs := r.Finished.Sub(r.Started).Seconds()
	rate := ""
	if secs > 0.05 {
		rate = fmt.Sprintf(" in %.1fs (%.0f rows/s)", secs, float64(n.RowsRead)/secs)
	}
	held := ""
	if n.HeldBack > 0 {
		held = fmt.Sprintf(", %d held back", n.HeldBack)
	}
	return fmt.Sprintf("%s: %d rows, %d plans: %d accepted, %d rejected, %d warnings, %d duplicates, %d superseded%s%s; report %s",
		input, n.RowsRead, n.PlansBuilt, n.Accepted, n.Rejected, n.Warnings, n.Duplicates, n.Superseded, held, rate, p.Report)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// fileModeFlag is --file-mode of the commands that write reports.
var fileModeFlag = &cli.StringFlag{Name: "file-mode", Usage: "permission of the reports and records files, in octal (`MODE` 0640: readable by the group too); they hold personal data (default 0600: the owner only)"}
