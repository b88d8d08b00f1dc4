package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/reconcile"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

func reconcileCommand() *cli.Command {
	return &cli.Command{
		Name:      "reconcile",
		Usage:     "compare the job plans sent to ESR with what payroll pays, with an estimate in pounds",
		ArgsUsage: "[JOBPLANS.jsonl...]",
		Description: `For each assignment's latest plan (from the jobplans.jsonl files convert
writes, given with --jobplans or as arguments) and its row of the payroll
extract: the difference in PAs and in on-call supplement, and the estimated
annual over- or under-payment in pounds; also the assignments on one side
only. Writes into --out:
  reconcile.csv    one row per assignment, then totals and the method
  reconcile.html   a self-contained report: totals, largest discrepancies,
                   their distribution, method and assumptions
and prints the totals. Exit status: 0 nothing misaligned beyond tolerance,
1 something is (including assignments on one side only), 2 an input could
not be read, or the APA readings disagree.

PAs planned depend on what a plan's total holds (the mapping's
rules.apa_reading): the total itself (in_total) or total + APAs
(outside_total). For x.jobplans.jsonl it is read from the x.report.json
beside it; --plans-apa-reading states it for files without one. The payroll
configuration's apa_reading must be the same, or nothing is reconciled.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "jobplans", TakesFile: true, Usage: "job-plan records `FILE` (jobplans.jsonl; repeatable)"},
			&cli.StringFlag{Name: "payroll", TakesFile: true, Usage: "payroll extract `FILE` (CSV)", Required: true},
			&cli.StringFlag{Name: "payroll-mapping", TakesFile: true, Usage: "column configuration `FILE` of the payroll extract (YAML)", Required: true},
			&cli.StringFlag{Name: "out", TakesFile: true, Aliases: []string{"o"}, Value: "out", Usage: "output `DIR`"},
			&cli.StringFlag{Name: "tolerance-pas", Value: "0.01", Usage: "PA differences up to `N` count as aligned"},
			&cli.StringFlag{Name: "tolerance-pct", Value: "0", Usage: "supplement differences up to `N` percentage points count as aligned"},
			&cli.StringFlag{Name: "plans-apa-reading", Usage: "the APA `READING` (in_total or outside_total) the job-plan files were converted under, for files without a report.json beside them that says so"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not print the totals"},
			&cli.BoolFlag{Name: "progress", Usage: "show a progress bar", DefaultText: "when stderr is a terminal"},
		},
		Action: runReconcile,
	}
}

func runReconcile(c *cli.Context) error {
	files := append(c.StringSlice("jobplans"), c.Args().Slice()...)
	if len(files) == 0 {
		return usageError("give at least one job-plan records file (--jobplans FILE)")
	}
	var opts reconcile.Options
	for _, t := range []struct {
		flag string
		dst  *decimal.Dec
	}{{"tolerance-pas", &opts.TolerancePAs}, {"tolerance-pct", &opts.TolerancePct}} {
		v, err := decimal.Parse(c.String(t.flag), false)
		if err != nil || v < 0 {
			return usageError(fmt.Sprintf("--%s %q is not a number of 0 or more", t.flag, c.String(t.flag)))
		}
		*t.dst = v
	}
	var bar *reconcileBar
	fail := func(err error) error {
		bar.stop()
		var ie *reconcile.InputError
		if errors.As(err, &ie) {
			// One line a problem, each naming its file and line.
			fmt.Fprintln(c.App.ErrWriter, err)
			return exitError{code: exitCannot}
		}
		return failed(exitCannot, err)
	}
	for _, f := range append([]string{c.String("payroll"), c.String("payroll-mapping")}, files...) {
		if err := checkInputFile(f); err != nil {
			return err
		}
	}
	cfg, err := reconcile.LoadConfig(c.String("payroll-mapping"))
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Inputs beyond a few megabytes are sorted in runs on disk, in the
	// output folder; one created for them is removed again if nothing is
	// written.
	dir := c.String("out")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		defer os.Remove(dir) // fails, as it should, once the outputs are in it
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	read := reconcile.ReadOptions{TempDir: dir}
	if c.Bool("progress") || (!c.IsSet("progress") && isTerminal(c.App.ErrWriter)) {
		bar = &reconcileBar{out: c.App.ErrWriter}
		defer bar.stop() // after finish, a no-op
		read.Progress, opts.Progress = bar, bar
	}
	plans, err := reconcile.ReadPlans(ctx, files, validate.APAReading(c.String("plans-apa-reading")), read)
	if err != nil {
		return fail(err)
	}
	defer plans.Close()
	pay, err := reconcile.ReadPayroll(ctx, c.String("payroll"), cfg, read)
	if err != nil {
		return fail(err)
	}
	defer pay.Close()
	res, err := reconcile.Write(ctx, dir, plans, pay, cfg, opts, reconcile.HTMLOptions{})
	var rerr *reconcile.ReadingError
	if errors.As(err, &rerr) {
		return fail(err)
	}
	if err != nil {
		bar.stop()
		return err
	}
	bar.finish()
	if !c.Bool("quiet") {
		for _, line := range res.Summary() {
			fmt.Fprintln(c.App.Writer, line)
		}
		fmt.Fprintf(c.App.Writer, "Outputs: %s, %s\n", filepath.Join(dir, "reconcile.csv"), filepath.Join(dir, "reconcile.html"))
	}
	if res.Misaligned() {
		return exitError{code: exitProblems}
	}
	return nil
}

// reconcileBar draws reconcile's stages as progress bars on stderr, as
// convert's: bytes with their rate and time to go while the inputs are
// read, then the records compared.
type reconcileBar struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func (b *reconcileBar) Stage(name string, total int64, bytes bool) {
	b.finish()
	// progressbar.DefaultBytes and Default, written to b.out.
	opts := []progressbar.Option{progressbar.OptionSetWriter(b.out), progressbar.OptionSetDescription(name),
		progressbar.OptionSetWidth(10), progressbar.OptionShowTotalBytes(true), progressbar.OptionThrottle(65 * time.Millisecond),
		progressbar.OptionShowCount(), progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.out) }),
		progressbar.OptionSpinnerType(14), progressbar.OptionFullWidth(), progressbar.OptionSetRenderBlankState(true)}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"))
	}
	b.bar = progressbar.NewOptions64(total, opts...)
}

func (b *reconcileBar) Add(n int64) {
	if b.bar != nil {
		b.bar.Add64(n)
	}
}

// finish completes the current bar, ending its line. b may be nil (no
// bar).
func (b *reconcileBar) finish() {
	if b != nil && b.bar != nil {
		b.bar.Finish()
		b.bar = nil
	}
}

// stop leaves the current bar where it is (the run failed) and ends its
// line.
func (b *reconcileBar) stop() {
	if b != nil && b.bar != nil {
		b.bar.Exit()
		fmt.Fprintln(b.out)
		b.bar = nil
	}
}
