package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with hub files",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "check a hub file, reporting every problem as file:line:col",
			ArgsUsage: "FILE",
			Description: `Checks the hub file and everything it names: mapping files and
staff-extract configurations (their problems are reported in their own
positions), staff extracts, folders, key, certificate and token files,
and ${ENV} references. Exit status 1 if there is any problem. Secrets are
never printed.`,
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError(c, "give one hub FILE")
				}
				file := c.Args().First()
				cfg, err := hubconfig.Load(file)
				if err != nil {
					fmt.Fprintln(c.App.ErrWriter, err)
					return exitError{1}
				}
				if ps := cfg.ReadStaffExtracts(); len(ps) > 0 {
					fmt.Fprintln(c.App.ErrWriter, ps)
					return exitError{1}
				}
				fmt.Fprintf(c.App.Writer, "%s: ok (%d sources, %d destinations)\n", file, len(cfg.Sources), len(cfg.Destinations))
				return nil
			},
		}},
	}
}
