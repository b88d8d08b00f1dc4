package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
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
	fail := func(err error) error {
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
	plans, err := reconcile.ReadPlans(files, validate.APAReading(c.String("plans-apa-reading")))
	if err != nil {
		return fail(err)
	}
	pay, err := reconcile.ReadPayroll(c.String("payroll"), cfg)
	if err != nil {
		return fail(err)
	}
	res, err := reconcile.Reconcile(plans, pay, cfg, opts)
	if err != nil {
		return fail(err)
	}

	dir := c.String("out")
	var csvOut, htmlOut bytes.Buffer
	if err := res.WriteCSV(&csvOut); err != nil {
		return err
	}
	if err := res.WriteHTML(&htmlOut, reconcile.HTMLOptions{}); err != nil {
		return err
	}
	if err := writeOutputs(dir, map[string][]byte{"reconcile.csv": csvOut.Bytes(), "reconcile.html": htmlOut.Bytes()}); err != nil {
		return err
	}
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

// writeOutputs publishes each file atomically (temporary name, fsync,
// rename), so a reader never sees half a report.
func writeOutputs(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	for _, name := range []string{"reconcile.csv", "reconcile.html"} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), files[name]); err != nil {
			return err
		}
	}
	return nil
}
