// Package mapping reads a supplier's declarative mapping file, checks it
// (every problem at once, with file:line:col), compiles it once, and applies
// it to each row of an export to build ESR job-plan records.
package mapping

import (
	"gopkg.in/yaml.v3"

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
	// Duplicates: keep_latest (default) keeps only the latest effective plan
	// per assignment; keep_all keeps every distinct plan.
	Duplicates string           `yaml:"duplicates"`
	Rules      *validate.Config `yaml:"-"`
	RulesNode  yaml.Node        `yaml:"rules"`
}

// CSVSpec is the CSV dialect.
type CSVSpec struct {
	Delimiter  string `yaml:"delimiter"` // one character, or "tab"
	Encoding   string `yaml:"encoding"`
	HeaderRow  int    `yaml:"header_row"`
	NoHeader   bool   `yaml:"no_header"`
	SkipRows   int    `yaml:"skip_rows"`
	LazyQuotes bool   `yaml:"lazy_quotes"`
	Comment    string `yaml:"comment"`
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
	Type string `yaml:"type"`
	// Formats are date formats, as dd/mm/yyyy notation or Go layouts.
	Formats []string `yaml:"formats"`
	// TwoDigitYearsFrom is the first of the 100 years a two-digit year (yy)
	// is read in: 2000 reads 26 as 2026. Required with a yy format.
	TwoDigitYearsFrom int                `yaml:"two_digit_years_from"`
	Lookup            map[string]*string `yaml:"lookup"`
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
