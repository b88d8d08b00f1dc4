package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

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
			Usage:     "check mapping files, reporting every problem as file:line:col",
			ArgsUsage: "FILE...",
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return usageError(c, "give at least one mapping FILE")
				}
				bad := false
				for _, path := range c.Args().Slice() {
					m, err := mapping.LoadFile(path)
					if err != nil {
						fmt.Fprintln(c.App.ErrWriter, err)
						bad = true
						continue
					}
					fmt.Fprintf(c.App.Writer, "%s: ok (%s, %s)\n", path, m.Name, m.Format)
					if m.Description != "" {
						fmt.Fprintf(c.App.Writer, "  %s\n", m.Description)
					}
				}
				if bad {
					return exitError{1}
				}
				return nil
			},
		}}, workbenchCommands()...),
	}
}
