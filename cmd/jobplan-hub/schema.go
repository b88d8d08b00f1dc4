package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print the JSON Schema of the ESR job-plan record (or of mapping files, or the fields a mapping fills)",
		Description: `Prints the JSON Schema of the records sent to ESR. --fields lists every
field a mapping may fill, including the aux fields (surname, forenames,
unpredictable_on_call) that checks use and that are not sent to ESR.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "mapping", Usage: "print the schema of mapping files instead"},
			&cli.BoolFlag{Name: "fields", Usage: "list the fields a mapping fills, and what the aux fields are for"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("fields") {
				return printFields(c.App.Writer)
			}
			doc := record.SchemaJSON
			if c.Bool("mapping") {
				doc = mapping.SchemaJSON
			}
			_, err := c.App.Writer.Write(doc)
			return err
		},
	}
}

// printFields lists the record's fields for `schema --fields`.
func printFields(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPE\tESR FORM LABEL\tSENT TO ESR")
	kinds := map[record.Kind]string{record.Text: "text", record.Date: "date", record.Decimal: "number", record.Band: "band"}
	for _, f := range record.Fields {
		sent := "yes"
		if f.Aux {
			sent = "no: used by " + f.Use
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Key, kinds[f.Kind], f.Label, sent)
	}
	return tw.Flush()
}

func mappingCommand() *cli.Command {
	return &cli.Command{
		Name:  "mapping",
		Usage: "work with supplier mapping files",
		Subcommands: append([]*cli.Command{{
			Name:      "check",
			Usage:     "check mapping files (and their case files), reporting every problem as file:line:col",
			ArgsUsage: "FILE...",
			Description: `Checks each mapping FILE (YAML or JSON; - reads standard input) and
prints "ok" with its name and format, or every problem at its line and
column. A case file (NAME.cases.yaml, as mappings/*.yaml also matches) is
checked as a case file: its cases are read and checked, and its mapping
NAME.yaml must be beside it; mapping test runs them. Exit status: 0 no
problems, 1 problems, 2 a file could not be read.`,
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return usageError("give at least one mapping FILE")
				}
				worst := 0
				for _, path := range c.Args().Slice() {
					worst = max(worst, checkMappingFile(c, path))
				}
				if worst != 0 {
					return exitError{code: worst}
				}
				return nil
			},
		}}, workbenchCommands()...),
	}
}

// checkMappingFile checks one argument of mapping check and returns its
// exit status.
func checkMappingFile(c *cli.Context, path string) int {
	report := func(err error) int {
		code := problemsOr(err)
		if code == exitProblems {
			fmt.Fprintln(c.App.ErrWriter, err)
		} else {
			fmt.Fprintf(c.App.ErrWriter, "%s: %v\n", c.Command.HelpName, err)
		}
		return code
	}
	switch {
	case path == stdinName:
		data, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return report(fmt.Errorf("read standard input: %w", err))
		}
		m, err := mapping.Load("stdin", data)
		if err != nil {
			return report(err)
		}
		fmt.Fprintf(c.App.Writer, "stdin: ok (%s, %s)\n", m.Name, m.Format)
	case checkInputFile(path) != nil:
		return report(checkInputFile(path))
	case mapping.IsCasesFile(path):
		cases, err := mapping.LoadCases(path)
		if err != nil {
			return report(err)
		}
		of := mapping.MappingPathOf(path)
		if _, err := os.Stat(of); err != nil {
			return report(lint.Problems{{File: path, Message: fmt.Sprintf("a case file needs its mapping beside it: %s", of)}})
		}
		fmt.Fprintf(c.App.Writer, "%s: ok (%d cases of %s; run them with mapping test)\n", path, len(cases), filepath.Base(of))
	default:
		m, err := mapping.LoadFile(path)
		if err != nil {
			return report(err)
		}
		fmt.Fprintf(c.App.Writer, "%s: ok (%s, %s)\n", path, m.Name, m.Format)
		if m.Description != "" {
			fmt.Fprintf(c.App.Writer, "  %s\n", m.Description)
		}
	}
	return 0
}
