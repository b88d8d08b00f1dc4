package reference

import (
	"errors"
	"os"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
)

// Formats of a staff extract.
const (
	FormatCSV   = "csv"    // a CSV with named columns (Columns)
	FormatESRGO = "esr-go" // an ESR generic outbound file (see esrgo.go)
)

// Config describes a staff extract: its format, its columns (CSV) and the
// check settings. It is written in YAML (mappings/staff-extract.yaml is the
// worked example). The job-plan mapping language is not used: its fields
// are the job-plan record's, and a staff extract has different ones.
type Config struct {
	Version     int    `yaml:"version"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Format is csv or esr-go; empty means: esr-go when the file starts
	// with an HDR~ record, otherwise csv.
	Format string `yaml:"format"`
	// CSV is the dialect of a CSV extract, as for job-plan mappings.
	CSV decode.Dialect `yaml:"csv"`
	// ESRGO holds the GO file's encoding (default utf-8; ESR files are
	// often windows-1252).
	ESRGO struct {
		Encoding string `yaml:"encoding"`
	} `yaml:"esr_go"`
	// Columns names the CSV columns (ignoring case). Only the assignment
	// number is required; a check whose column is not given is not made.
	Columns Columns `yaml:"columns"`
	Checks  Checks  `yaml:"checks"`

	// builtIn: the organisation and end-date columns of DefaultConfig may
	// be absent (a configuration file's columns must all be present).
	builtIn bool
}

// Columns are the CSV column names of a staff extract.
type Columns struct {
	EmployeeNumber   string `yaml:"employee_number"`
	AssignmentNumber string `yaml:"assignment_number"`
	Surname          string `yaml:"surname"`
	Forenames        string `yaml:"forenames"`
	StaffGroup       string `yaml:"staff_group"`
	AssignmentStatus string `yaml:"assignment_status"`
	Organisation     string `yaml:"organisation"`
	// EndDate is the assignment's end date; EndDateFormats are Go layouts
	// (default 2006-01-02 and 02/01/2006).
	EndDate        string   `yaml:"end_date"`
	EndDateFormats []string `yaml:"end_date_formats"`
}

// DefaultConfig is the configuration used when none is given: a UTF-8
// comma-separated CSV with the column names of samples/reference/input/staff.csv
// (of which Organisation and Effective End Date may be absent), and the
// default checks.
func DefaultConfig() Config {
	var c Config
	c.Version = 1
	c.Name = "staff-extract (built-in)"
	c.Columns = Columns{
		EmployeeNumber:   "Employee Number",
		AssignmentNumber: "Assignment Number",
		Surname:          "Surname",
		Forenames:        "Forenames",
		StaffGroup:       "Staff Group",
		AssignmentStatus: "Assignment Status",
		Organisation:     "Organisation",
		EndDate:          "Effective End Date",
	}
	c.builtIn = true
	return c
}

// LoadConfig reads a staff-extract configuration. Every problem, an
// unknown key among them (a typo must not silently turn a check off), is
// reported at file:line:col (lint.Problems).
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on data already read.
func ParseConfig(name string, data []byte) (Config, error) {
	var c Config
	doc, err := lint.Decode(name, data, &c)
	if err != nil {
		return Config{}, err
	}
	if c.Version != 1 {
		doc.Addf("version", "version must be 1 (got %d)", c.Version)
	}
	switch c.Format {
	case "", FormatCSV, FormatESRGO:
	default:
		doc.Addf("format", "format %q is not csv or esr-go", c.Format)
	}
	if c.Format != FormatESRGO && c.Columns.AssignmentNumber == "" {
		doc.Addf("columns.assignment_number", "columns.assignment_number is required for a CSV extract")
	}
	var de *decode.DialectError
	if _, err := c.CSV.Options(); errors.As(err, &de) {
		doc.Addf("csv."+de.Key, "csv.%v", de)
	}
	c.Checks.check(doc.Addf)
	if err := doc.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// csvOptions are the reader options of a checked configuration.
func (c *Config) csvOptions() decode.CSVOptions {
	opts, _ := c.CSV.Options()
	return opts
}
