// Package mapping reads a supplier's declarative mapping file, checks it
// (every problem at once, with file:line:col), compiles it once, and applies
// it to each row of an export to build ESR job-plan records.
package mapping

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// Version is the mapping-file format version this build reads.
const Version = 1

// Spec is a mapping file as written by an interface hub operator.
type Spec struct {
	Version     int                  `yaml:"version"`
	Name        string               `yaml:"name"`
	Description string               `yaml:"description"`
	Format      string               `yaml:"format"` // csv, json or jsonl
	CSV         CSVSpec              `yaml:"csv"`
	JSON        JSONSpec             `yaml:"json"`
	Units       UnitsSpec            `yaml:"units"`
	Numbers     NumbersSpec          `yaml:"numbers"`
	Filters     []FilterSpec         `yaml:"filters"`
	Fields      map[string]FieldSpec `yaml:"fields"`
	Group       *GroupSpec           `yaml:"group"`
	Activities  *ActivitiesSpec      `yaml:"activities"`
	Duplicates  DuplicatesSpec       `yaml:"duplicates"`
	Rules       *validate.Config     `yaml:"-"`
	RulesNode   yaml.Node            `yaml:"rules"`
}

// DuplicatesSpec says what is sent of several plans for one assignment in
// a file: {keep: latest|all, same_date: refuse|last_wins}. The string
// keep_latest or keep_all is short for {keep: latest} or {keep: all}.
type DuplicatesSpec struct {
	// Keep: latest (default) sends only the latest effective plan per
	// assignment; all sends every distinct plan.
	Keep string `yaml:"keep"`
	// SameDate: two different plans for one assignment and date. refuse
	// (default): neither is sent (D3 error); last_wins: the later row is
	// sent (D3 warning), for a supplier that documents that row order
	// means something.
	SameDate string `yaml:"same_date"`
}

// UnmarshalYAML reads the object or the keep_latest/keep_all shorthand (the
// schema has checked the values).
func (d *DuplicatesSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		d.Keep = strings.TrimPrefix(n.Value, "keep_")
		return nil
	}
	type plain DuplicatesSpec
	return n.Decode((*plain)(d))
}

// CSVSpec is the CSV dialect: the settings every CSV configuration
// shares (delimiter, encoding, skip_rows, header_row, lazy_quotes), and
// those of mapping files only.
type CSVSpec struct {
	decode.Dialect `yaml:",inline"`
	NoHeader       bool   `yaml:"no_header"`
	Comment        string `yaml:"comment"`
}

// JSONSpec locates the records in a JSON export.
type JSONSpec struct {
	Records  string `yaml:"records"` // dotted path to the array; empty for a top-level array
	Encoding string `yaml:"encoding"`
}

// UnitsSpec converts hours and annual counts to PAs per week.
type UnitsSpec struct {
	HoursPerPA        string `yaml:"hours_per_pa"`         // default 4
	PremiumHoursPerPA string `yaml:"premium_hours_per_pa"` // default 3
	// WorkingWeeks divides annual values into weekly ones; no default, as
	// it is a contract setting of the supplier system (often 42).
	WorkingWeeks string `yaml:"working_weeks"`
}

// NumbersSpec is how numbers are written.
type NumbersSpec struct {
	DecimalComma bool `yaml:"decimal_comma"` // "7,5" as written by European-locale Excel
}

// FilterSpec keeps only rows that match. A row must pass every filter.
type FilterSpec struct {
	Column     string   `yaml:"column"`
	Path       string   `yaml:"path"`
	Equals     *string  `yaml:"equals"`
	In         []string `yaml:"in"`
	NotIn      []string `yaml:"not_in"`
	Matches    string   `yaml:"matches"`
	IgnoreCase bool     `yaml:"ignore_case"`
	Expr       string   `yaml:"expr"`
}

// FieldSpec fills one record field.
type FieldSpec struct {
	Column string  `yaml:"column"` // CSV header
	Path   string  `yaml:"path"`   // JSON dotted path
	Value  *string `yaml:"value"`  // a constant
	Expr   string  `yaml:"expr"`   // computed from other fields
	// Type overrides the parser: text, decimal, integer, date, frequency, band.
	Type    string             `yaml:"type"`
	Formats []string           `yaml:"formats"` // Go date layouts, e.g. 02/01/2006
	Lookup  map[string]*string `yaml:"lookup"`
	// Unmatched says what to do with a value not in Lookup: keep (default)
	// or error.
	Unmatched string  `yaml:"unmatched"`
	Default   *string `yaml:"default"`
	Required  bool    `yaml:"required"`
	Unit      string  `yaml:"unit"` // pa (default), hours, premium_hours, sessions
	Per       string  `yaml:"per"`  // week (default) or year
}

// GroupSpec gathers several rows into one plan (long-to-wide).
type GroupSpec struct {
	By []string `yaml:"by"` // record fields whose values identify a plan
}

// ActivitiesSpec sums per-activity values into the form's categories.
type ActivitiesSpec struct {
	// Path is the array of activities inside each JSON record; empty when
	// each CSV row is one activity.
	Path        string              `yaml:"path"`
	Category    FieldSpec           `yaml:"category"`
	Amount      FieldSpec           `yaml:"amount"`
	Occurrences *FieldSpec          `yaml:"occurrences"`
	Premium     *BoolSpec           `yaml:"premium"`
	Categories  map[string][]string `yaml:"categories"`
}

// BoolSpec reads a yes/no source value.
type BoolSpec struct {
	Column      string   `yaml:"column"`
	Path        string   `yaml:"path"`
	TrueValues  []string `yaml:"true_values"`
	FalseValues []string `yaml:"false_values"`
}
