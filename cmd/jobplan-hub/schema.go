package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print the JSON Schema of the ESR job-plan record (or of mapping files)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "mapping", Usage: "print the schema of mapping files instead"},
		},
		Action: func(c *cli.Context) error {
			doc := record.SchemaJSON
			if c.Bool("mapping") {
				doc = mapping.SchemaJSON
			}
			_, err := c.App.Writer.Write(doc)
			return err
		},
	}
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
