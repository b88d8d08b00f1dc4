// Package reconcile compares the job plans sent to ESR with what payroll
// pays: for each assignment's latest plan, the difference in PAs (or Welsh
// sessions) and in on-call supplement, and an estimate in pounds of the
// annual over- or under-payment each implies (domain.md §6). It reads the
// converter's jobplans.jsonl files and a payroll extract described by a
// small YAML column configuration, and writes reconcile.csv and a
// self-contained reconcile.html.
package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

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
	CSV         struct {
		Delimiter    string `yaml:"delimiter"` // one character or "tab"; default ","
		Encoding     string `yaml:"encoding"`  // as for job-plan mappings; default utf-8
		SkipRows     int    `yaml:"skip_rows"`
		HeaderRow    int    `yaml:"header_row"`
		DecimalComma bool   `yaml:"decimal_comma"` // 7,5 and 84.000,00
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
}

// Value bases.
const (
	BasisFullTime = "full_time"
	BasisBasic    = "basic"
)

// LoadConfig reads a payroll configuration. Unknown keys are errors.
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
	if err := replacedKey(data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var ps []string
	switch c.APAReading {
	case "":
		c.APAReading = validate.APAInTotal
	case validate.APAInTotal, validate.APAOutsideTotal:
	default:
		ps = append(ps, fmt.Sprintf("apa_reading %q is not in_total or outside_total", c.APAReading))
	}
	if c.Version != 1 {
		ps = append(ps, fmt.Sprintf("version must be 1 (got %d)", c.Version))
	}
	if c.Columns.AssignmentNumber == "" {
		ps = append(ps, "columns.assignment_number is required")
	}
	if c.Columns.PAsPaid == "" {
		ps = append(ps, "columns.pas_paid is required")
	}
	switch c.PAValueBasis {
	case "":
		c.PAValueBasis = BasisFullTime
	case BasisFullTime, BasisBasic:
	default:
		ps = append(ps, fmt.Sprintf("pa_value_basis %q is not full_time or basic", c.PAValueBasis))
	}
	if c.FullTimePAs == nil {
		ten := decimal.Int(10)
		c.FullTimePAs = &ten
	} else if *c.FullTimePAs <= 0 {
		ps = append(ps, "full_time_pas must be above 0")
	}
	for band, pct := range c.WalesBandPct {
		if pct < 0 {
			ps = append(ps, fmt.Sprintf("wales_band_pct.%d must not be negative", band))
		} else if pct > decimal.Int(100) {
			ps = append(ps, fmt.Sprintf("wales_band_pct.%d must not be above 100", band))
		}
	}
	if _, err := c.delimiter(); err != nil {
		ps = append(ps, err.Error())
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("%s: %s", name, strings.Join(ps, "; "))
	}
	if c.Name == "" {
		c.Name = name
	}
	return c, nil
}

// replacedKey refuses total_includes_apa, whose meaning changed, saying
// what replaced it (an unknown key is refused by the decoder anyway, but
// without the hint).
func replacedKey(data []byte) error {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil // the decoder reports it
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Value == "total_includes_apa" {
			return fmt.Errorf("line %d: total_includes_apa was replaced by apa_reading: in_total (the default: the plans' total includes the APAs) or outside_total (PAs planned = total + APAs)", k.Line)
		}
	}
	return nil
}

func (c *Config) delimiter() (rune, error) {
	d, err := decode.ParseDelimiter(c.CSV.Delimiter)
	if err != nil {
		return 0, fmt.Errorf("csv.delimiter %w", err)
	}
	return d, nil
}

func (c *Config) csvOptions() decode.CSVOptions {
	d, _ := c.delimiter()
	return decode.CSVOptions{Delimiter: d, Encoding: c.CSV.Encoding, SkipRows: c.CSV.SkipRows, HeaderRow: c.CSV.HeaderRow}
}
