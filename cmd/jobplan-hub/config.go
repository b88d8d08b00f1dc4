package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/internal/lint"
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
and ${ENV} references. Exit status 1 if there is any problem, 2 if the
hub file cannot be read. Secrets are never printed.`,
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError("give one hub FILE")
				}
				file := c.Args().First()
				if err := checkInputFile(file); err != nil {
					return err
				}
				cfg, err := hubconfig.Load(file)
				if err != nil {
					return failed(problemsOr(err), err)
				}
				if ps := cfg.ReadStaffExtracts(); len(ps) > 0 {
					return failed(exitProblems, ps)
				}
				fmt.Fprintf(c.App.Writer, "%s: ok (%d sources, %d destinations)\n", file, len(cfg.Sources), len(cfg.Destinations))
				return nil
			},
		}},
	}
}

// problemsOr is the exit status of a file that did not load: 1 when it
// was read and has problems (lint.Problems), 2 when it could not be read.
func problemsOr(err error) int {
	var ps lint.Problems
	if errors.As(err, &ps) {
		return exitProblems
	}
	return exitCannot
}
