// Package reconcile compares the job plans sent to ESR with what payroll
// pays: for each assignment's latest plan, the difference in PAs (or Welsh
// sessions) and in on-call supplement, and an estimate in pounds of the
// annual over- or under-payment each implies (domain.md §6). It reads the
// converter's jobplans.jsonl files and a payroll extract described by a
// small YAML column configuration, and writes reconcile.csv and a
// self-contained reconcile.html.
package reconcile

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// Config describes a payroll extract (columns, dialect) and the valuation
// settings. It is YAML; samples/payroll/input/payroll-mapping.yaml is the worked
// example. The job-plan mapping language is not used: its fields are the
// job-plan record's.
type Config struct {
	Version     int    `yaml:"version"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// CSV is the extract's dialect, as for job-plan mappings, and how its
	// numbers are written.
	CSV struct {
		decode.Dialect `yaml:",inline"`
		DecimalComma   bool `yaml:"decimal_comma"` // 7,5 and 84.000,00
	} `yaml:"csv"`
	Columns Columns `yaml:"columns"`
	// APAReading declares what the plans' total_contracted_pas holds, as
	// the mappings' rules.apa_reading: in_total (default: PAs planned =
	// total) or outside_total (PAs planned = total + APAs). It must agree
	// with the reading the plans were converted under (ReadPlans), or
	// Reconcile refuses: PAs planned would be wrong.
	APAReading validate.APAReading `yaml:"apa_reading"`
	// PAValueBasis: full_time (default) values a PA at full-time basic ÷
	// FullTimePAs, where full-time basic = basic salary ÷ FTE; basic values
	// it at basic salary ÷ FullTimePAs as paid (the same for a full-timer).
	PAValueBasis string `yaml:"pa_value_basis"`
	// FullTimePAs is the PAs (or Welsh sessions) of a full-time contract.
	// Default 10.
	FullTimePAs *decimal.Dec `yaml:"full_time_pas"`
	// WalesBandPct gives the supplement percentage of each Welsh on-call
	// band. Not published (domain.md §3), so there is no default: without
	// it a band difference is reported but not valued in pounds.
	WalesBandPct map[int]decimal.Dec `yaml:"wales_band_pct"`
}

// Columns are the payroll extract's column names (ignoring case).
type Columns struct {
	AssignmentNumber string `yaml:"assignment_number"` // required
	EmployeeNumber   string `yaml:"employee_number"`
	Name             string `yaml:"name"`
	PAsPaid          string `yaml:"pas_paid"` // required: PAs or sessions a week
	SupplementPct    string `yaml:"supplement_pct"`
	WalesBand        string `yaml:"wales_band"`
	BasicSalary      string `yaml:"basic_salary"` // annual; without it no £ estimate
	FTE              string `yaml:"fte"`
	// Department is a department, cost centre or directorate column: the
	// totals are then broken down by it.
	Department string `yaml:"department"`
}

// Value bases.
const (
	BasisFullTime = "full_time"
	BasisBasic    = "basic"
)

// LoadConfig reads a payroll configuration. Every problem, an unknown key
// among them, is reported at file:line:col (lint.Problems).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on data already read.
func ParseConfig(name string, data []byte) (*Config, error) {
	c := &Config{}
	doc, err := lint.Decode(name, data, c)
	if err != nil {
		return nil, err
	}
	doc.Replaced("total_includes_apa", "apa_reading: in_total (the default: the plans' total includes the APAs) or outside_total (PAs planned = total + APAs)")
	switch c.APAReading {
	case "":
		c.APAReading = validate.APAInTotal
	case validate.APAInTotal, validate.APAOutsideTotal:
	default:
		doc.Addf("apa_reading", "apa_reading %q is not in_total or outside_total", c.APAReading)
	}
	if c.Version != 1 {
		doc.Addf("version", "version must be 1 (got %d)", c.Version)
	}
	if c.Columns.AssignmentNumber == "" {
		doc.Addf("columns.assignment_number", "columns.assignment_number is required")
	}
	if c.Columns.PAsPaid == "" {
		doc.Addf("columns.pas_paid", "columns.pas_paid is required")
	}
	switch c.PAValueBasis {
	case "":
		c.PAValueBasis = BasisFullTime
	case BasisFullTime, BasisBasic:
	default:
		doc.Addf("pa_value_basis", "pa_value_basis %q is not full_time or basic", c.PAValueBasis)
	}
	if c.FullTimePAs == nil {
		ten := decimal.Int(10)
		c.FullTimePAs = &ten
	} else if *c.FullTimePAs <= 0 {
		doc.Addf("full_time_pas", "full_time_pas must be above 0")
	}
	for _, band := range slices.Sorted(maps.Keys(c.WalesBandPct)) {
		if pct := c.WalesBandPct[band]; pct < 0 {
			doc.Addf(fmt.Sprintf("wales_band_pct.%d", band), "wales_band_pct.%d must not be negative", band)
		} else if pct > decimal.Int(100) {
			doc.Addf(fmt.Sprintf("wales_band_pct.%d", band), "wales_band_pct.%d must not be above 100", band)
		}
	}
	var de *decode.DialectError
	if _, err := c.CSV.Options(); errors.As(err, &de) {
		doc.Addf("csv."+de.Key, "csv.%v", de)
	}
	if err := doc.Err(); err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = name
	}
	return c, nil
}

// csvOptions are the reader options of a checked configuration.
func (c *Config) csvOptions() decode.CSVOptions {
	opts, _ := c.CSV.Options()
	return opts
}
