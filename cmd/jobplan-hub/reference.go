package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
)

// Staff-record reference data for convert (--staff, --staff-format) and
// the `reference check` command.

const staffFormatUsage = "`FORMAT` of --staff: csv (built-in column names), esr-go, or a staff-extract configuration FILE (.yaml, .yml or .json); default: esr-go when the file starts with HDR~, else csv"

// staffFormat reads the configuration --staff-format stands for.
func staffFormat(format string) (reference.Config, error) {
	c, err := hubconfig.StaffConfig(format)
	if err != nil && !hubconfig.IsStaffConfigFile(format) {
		err = fmt.Errorf("--staff-format %w", err)
	}
	return c, err
}

// loadStaff reads and indexes a staff extract, reporting its problems on
// w, and raises the soft heap limit by the index's size so that a large
// extract does not make the collector run constantly.
func loadStaff(path, format string, w io.Writer) (*reference.Index, reference.Config, error) {
	cfg, err := staffFormat(format)
	if err != nil {
		return nil, cfg, err
	}
	if err := checkInputFile(path); err != nil {
		return nil, cfg, err
	}
	x, err := reference.LoadFile(path, cfg)
	if err != nil {
		return nil, cfg, err
	}
	if cur := debug.SetMemoryLimit(-1); os.Getenv("GOMEMLIMIT") == "" && cur < math.MaxInt64-x.Bytes() {
		debug.SetMemoryLimit(cur + x.Bytes()) // main's soft limit, plus the index
	}
	const shown = 20
	for i, p := range x.Problems {
		if i == shown {
			fmt.Fprintf(w, "%s: ... and %d more problems (jobplan-hub reference check lists them all)\n", path, len(x.Problems)-shown)
			break
		}
		fmt.Fprintf(w, "%s: %s\n", path, p)
	}
	return x, cfg, nil
}

// staffChecks returns the plan checks convert's flags ask for (none
// without --staff), loading the extract once for all inputs.
func staffChecks(c *cli.Context) ([]transform.PlanChecker, error) {
	path := c.String("staff")
	if path == "" {
		if c.IsSet("staff-format") {
			return nil, fmt.Errorf("--staff-format needs --staff")
		}
		return nil, nil
	}
	x, cfg, err := loadStaff(path, c.String("staff-format"), c.App.ErrWriter)
	if err != nil {
		return nil, err
	}
	k, err := reference.NewChecker(x, cfg.Checks)
	if err != nil {
		return nil, err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, "%s: %d assignments%s%s\n", path, x.Len(), x.Source, nameNote())
	}
	return []transform.PlanChecker{k}, nil
}

func nameNote() string {
	if reference.NamesAvailable() {
		return ""
	}
	return "; names not checked (the job-plan record has no surname/forenames fields)"
}

func referenceCommand() *cli.Command {
	return &cli.Command{
		Name:  "reference",
		Usage: "work with reference data (the trust's ESR staff extract)",
		Subcommands: []*cli.Command{{
			Name:  "check",
			Usage: "read a staff extract and summarise it: assignments, staff groups, statuses, problems",
			Description: `Reads the extract as convert --staff would and prints what it holds and
every problem with it (unreadable lines, repeated assignment numbers).
Exit status: 0 no problems, 1 problems, 2 the extract cannot be used.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "staff", TakesFile: true, Usage: "the staff extract `FILE`", Required: true},
				&cli.StringFlag{Name: "staff-format", TakesFile: true, Usage: staffFormatUsage},
				&cli.StringSliceFlag{Name: "lookup", Usage: "also print the staff record of assignment `NUMBER` (repeatable)"},
			},
			Action: func(c *cli.Context) error {
				cfg, err := staffFormat(c.String("staff-format"))
				if err != nil {
					return err
				}
				if err := checkInputFile(c.String("staff")); err != nil {
					return err
				}
				x, err := reference.LoadFile(c.String("staff"), cfg)
				if err != nil {
					return err
				}
				if _, err := reference.NewChecker(x, cfg.Checks); err != nil {
					return err
				}
				printStaffSummary(c.App.Writer, c.String("staff"), x)
				for _, a := range c.StringSlice("lookup") {
					if s, ok := x.Lookup(a); ok {
						fmt.Fprintf(c.App.Writer, "%s: employee %s, %s, %s; %s; %s; %s", a, s.EmployeeNumber, s.Surname, s.Forenames, s.StaffGroup, s.Status, s.Organisation)
						if s.EndDate != "" {
							fmt.Fprintf(c.App.Writer, "; ends %s", s.EndDate)
						}
						fmt.Fprintf(c.App.Writer, " (line %d)\n", s.Line)
					} else {
						fmt.Fprintf(c.App.Writer, "%s: not in the extract\n", a)
					}
				}
				if len(x.Problems) > 0 {
					return exitError{code: exitProblems}
				}
				return nil
			},
		}},
	}
}

func printStaffSummary(w io.Writer, path string, x *reference.Index) {
	groups, statuses := map[string]int{}, map[string]int{}
	x.Each(func(s reference.Staff) {
		groups[s.StaffGroup]++
		statuses[s.Status]++
	})
	fmt.Fprintf(w, "%s%s: %d lines, %d assignments\n", path, x.Source, x.Lines, x.Len())
	held, missing := x.Holds()
	fmt.Fprintf(w, "holds: %s\n", strings.Join(held, ", "))
	if len(missing) > 0 {
		fmt.Fprintf(w, "not held (those checks are not made): %s\n", strings.Join(missing, ", "))
	}
	for _, t := range []struct {
		title string
		m     map[string]int
	}{{"staff groups", groups}, {"assignment statuses", statuses}} {
		fmt.Fprintf(w, "%s:\n", t.title)
		keys := make([]string, 0, len(t.m))
		for k := range t.m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if t.m[keys[i]] != t.m[keys[j]] {
				return t.m[keys[i]] > t.m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		for _, k := range keys {
			name := k
			if name == "" {
				name = "(blank)"
			}
			fmt.Fprintf(w, "  %6d  %s\n", t.m[k], name)
		}
	}
	for _, n := range x.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "problems: %d\n", len(x.Problems))
	for _, p := range x.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
