package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
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
Exit status: 0 every plan accepted, 1 some rejected, 2 a file could not be processed.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mapping", Aliases: []string{"m"}, Usage: "supplier mapping `FILE` (YAML or JSON)", Required: true},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "out", Usage: "output `DIR`"},
			&cli.BoolFlag{Name: "progress", Usage: "show a progress bar (default: when stderr is a terminal)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary lines"},
			&cli.StringFlag{Name: "staff", Usage: "cross-check every plan against the trust's ESR staff extract `FILE` (rules R1-R6)"},
			&cli.StringFlag{Name: "staff-format", Usage: staffFormatUsage},
			fileModeFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(c, "give at least one INPUT file")
			}
			var mode fs.FileMode
			if m := c.String("file-mode"); m != "" {
				var err error
				if mode, err = hubconfig.ParseFileMode(m); err != nil {
					return usageError(c, "--file-mode "+err.Error())
				}
			}
			m, err := mapping.LoadFile(c.String("mapping"))
			if err != nil {
				fmt.Fprintln(c.App.ErrWriter, err)
				return exitError{2}
			}
			checks, err := staffChecks(c)
			if err != nil {
				fmt.Fprintln(c.App.ErrWriter, err)
				return exitError{2}
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			showProgress := c.Bool("progress") || (!c.IsSet("progress") && isTerminal(c.App.ErrWriter))
			worst := 0
			for _, input := range c.Args().Slice() {
				code, err := convertOne(ctx, c, m, checks, mode, input, showProgress)
				if err != nil {
					return err
				}
				worst = max(worst, code)
			}
			if worst != 0 {
				return exitError{worst}
			}
			return nil
		},
	}
}

func convertOne(ctx context.Context, c *cli.Context, m *mapping.Mapping, checks []transform.PlanChecker, mode fs.FileMode, input string, showProgress bool) (int, error) {
	opts := outdir.Options{Checks: checks, FileMode: mode}
	if showProgress {
		// The bar counts bytes (and so knows the time to go); its label,
		// redrawn twice a second, the rows and their rate.
		var bar atomic.Pointer[progressbar.ProgressBar]
		name := filepath.Base(input)
		opts.Wrap = func(r io.Reader, size int64) io.Reader {
			b := progressbar.DefaultBytes(size, "converting "+name)
			bar.Store(b)
			rd := progressbar.NewReader(r, b)
			return &rd
		}
		opts.Rows = new(atomic.Int64)
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			start := time.Now()
			for {
				select {
				case <-stop:
					return
				case now := <-t.C:
					if b := bar.Load(); b != nil {
						n := opts.Rows.Load()
						b.Describe(fmt.Sprintf("converting %s · %d rows (%.0f/s)", name, n, float64(n)/now.Sub(start).Seconds()))
					}
				}
			}
		}()
		defer func() { close(stop); <-done }()
	}
	res, err := outdir.ConvertFile(ctx, m, input, c.String("out"), opts)
	if err != nil {
		return 2, fmt.Errorf("%s: %w", input, err)
	}
	if res.Err != nil {
		fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", input, res.Report.Reason)
	}
	if !c.Bool("quiet") {
		fmt.Fprintln(c.App.ErrWriter, summary(input, &res.Report, res.Paths))
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

func usageError(c *cli.Context, msg string) error {
	fmt.Fprintf(c.App.ErrWriter, "jobplan-hub %s: %s\n", c.Command.Name, msg)
	return exitError{2}
}
