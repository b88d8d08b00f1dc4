package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/workbench"
)

// The mapping workbench: commands that help a hub operator write and test
// a supplier mapping (see README.md, "Mapping workbench and HTML reports").

// workbenchCommands are the mapping subcommands beside check.
func workbenchCommands() []*cli.Command {
	return []*cli.Command{previewCommand(), inferCommand(), casesCommand()}
}

func previewCommand() *cli.Command {
	return &cli.Command{
		Name:      "preview",
		Usage:     "show how a mapping reads the first plans of an export: source rows, mapped record, findings",
		ArgsUsage: "INPUT",
		Description: `Converts the first --rows plans of INPUT exactly as convert does and shows,
for each plan, its source rows, the record fields it fills (with the ESR label
and the column each comes from) and the findings. Rows that are filtered out or
cannot be read are shown where they occur. Reading stops after the last plan
shown, so a preview of a large export is quick. Duplicates and superseded plans
are decided by convert over the whole file, so preview only shows those among
the plans it read.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mapping", TakesFile: true, Aliases: []string{"m"}, Usage: "supplier mapping `FILE`", Required: true},
			&cli.IntFlag{Name: "rows", Aliases: []string{"n"}, Value: 5, Usage: "how many plans to show"},
			&cli.IntFlag{Name: "width", Value: 80, Usage: "wrap output at `COLUMNS`"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) != 1 {
				return usageError("give one INPUT file")
			}
			if c.Int("rows") < 1 {
				return usageError("--rows must be at least 1")
			}
			input := args[0]
			if input == stdinName {
				// It reads the plans, then their findings: two passes.
				return usageError("preview reads INPUT twice, so it cannot be standard input; save it to a file first")
			}
			for _, f := range []string{c.String("mapping"), input} {
				if err := checkInputFile(f); err != nil {
					return err
				}
			}
			m, err := mapping.LoadFile(c.String("mapping"))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			pv, err := runPreview(ctx, m, input, c.Int("rows"))
			if err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			printPreview(c.App.Writer, pv, input, max(c.Int("width"), 40))
			return nil
		},
	}
}

// inferSampleBytes is how much of an export infer reads.
const inferSampleBytes = 32 << 20

func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "draft a mapping from a sample export",
		ArgsUsage: "INPUT",
		Description: `Reads a sample export and writes a draft mapping: the format (CSV, JSON,
JSON Lines or an .xlsx workbook), encoding, CSV delimiter and header row, the
JSON records path or the workbook's sheet and title rows, and a field for every
column whose name matches a record field. Values are translated only when
their meaning is sure (contract codes, staff groups, plan statuses, activity
codes); matches it is unsure of, date formats it had to assume and values it
could not read are written as comments with the reason. The draft passes
mapping check, but for one whose amounts are a year's: it needs
units.working_weeks, which the export does not say and infer does not
guess, so it leaves it out and mapping check refuses the draft until it is
set (exit status 1). Run mapping preview on it next. INPUT - reads
standard input.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", TakesFile: true, Aliases: []string{"o"}, Usage: "write the draft to `FILE`", DefaultText: "standard output"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite --out if it exists"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) != 1 {
				return usageError("give one INPUT sample file")
			}
			input := args[0]
			in := c.App.Reader
			if input != stdinName {
				if err := checkInputFile(input); err != nil {
					return err
				}
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			sample, err := io.ReadAll(io.LimitReader(in, inferSampleBytes))
			if err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			name := input
			if input == stdinName {
				name = "stdin"
			}
			d, err := mapping.Infer(name, sample)
			if err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			draft := d.YAML()
			// The draft is only useful if it loads: check it as mapping
			// check would, and say so rather than write a broken file. A
			// draft with amounts a year's is refused by mapping check
			// until the operator gives units.working_weeks, which infer
			// leaves out rather than guess: it must pass once given them.
			if err := d.Check(); err != nil {
				return fmt.Errorf("%s: the draft does not pass mapping check (a bug in infer):\n%v", input, err)
			}
			out := c.String("out")
			if out != "" && !c.Bool("force") {
				if _, err := os.Stat(out); err == nil {
					return usageError(out + " exists; use --force to overwrite it")
				}
			}
			if out == "" {
				if _, err := c.App.Writer.Write(draft); err != nil {
					return err
				}
			} else if err := os.WriteFile(out, draft, 0o644); err != nil {
				return err
			}
			where := cmp.Or(out, "the draft")
			if needs := d.NeedsWorkingWeeks(); needs != "" {
				fmt.Fprintf(c.App.ErrWriter, "%s needs units.working_weeks, which it leaves out: %s. mapping check refuses it until you set it to the supplier system's working weeks a year.\n", where, needs)
				return exitError{code: exitProblems}
			}
			if out != "" {
				fmt.Fprintf(c.App.ErrWriter, "%s: %d fields, %d suggestions to review; next: jobplan-hub mapping preview --mapping %s %s\n",
					out, len(d.Matches), len(d.Suggestions), out, input)
			}
			return nil
		},
	}
}

func casesCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "run mapping test cases (NAME.cases.yaml beside NAME.yaml)",
		ArgsUsage: "[FILE|DIR...]",
		Description: `Runs the test cases of each mapping: FILE is a mapping or its .cases.yaml,
DIR runs every mapping in it that has cases (default: mappings). Each case
converts its input with the mapping, as convert does, and compares the records
and findings with what it expects. Prints PASS or FAIL per case with the
differences; exit status 1 when any case fails, 2 when a file cannot be read.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "run", Usage: "only run cases whose name contains `TEXT`"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show what each case produced"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				args = []string{"mappings"}
			}
			suites, err := workbench.FindSuites(args)
			if err != nil {
				return err
			}
			res := runCaseFiles(c.Context, c.App.Writer, suites, c.String("run"), c.Bool("verbose"))
			switch {
			case res.broken > 0:
				return exitError{code: exitCannot}
			case res.failed > 0:
				return exitError{code: exitProblems}
			}
			return nil
		},
	}
}
