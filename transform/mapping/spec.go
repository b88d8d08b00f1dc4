// Package mapping reads a supplier's declarative mapping file, checks it
// (every problem at once, with file:line:col), compiles it once, and applies
// it to each row of an export to build ESR job-plan records.
package mapping

import (
	"fmt"
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
	Column   string `yaml:"column"`
	Path     string `yaml:"path"`
	TestSpec `yaml:",inline"`
	Expr     string `yaml:"expr"`
	// Scope is plan (default: the filter keeps or leaves out whole plans)
	// or activity (it leaves out single activities of a plan).
	Scope string `yaml:"scope"`
}

// TestSpec is a test of one value: exactly one of equals, in, not_in or
// matches, optionally ignoring case.
type TestSpec struct {
	Equals     *string  `yaml:"equals"`
	In         []string `yaml:"in"`
	NotIn      []string `yaml:"not_in"`
	Matches    string   `yaml:"matches"`
	IgnoreCase bool     `yaml:"ignore_case"`
}

// FieldSpec fills one record field, or one part of an activity.
type FieldSpec struct {
	Column string `yaml:"column"` // CSV header
	Path   string `yaml:"path"`   // JSON dotted path
	// Columns and Paths give a lookup keyed on several source values: the
	// lookup is nested one level per column.
	Columns []string  `yaml:"columns"`
	Paths   []string  `yaml:"paths"`
	Value   *string   `yaml:"value"` // a constant
	Expr    string    `yaml:"expr"`  // computed from other fields or from the row
	Sum     FieldList `yaml:"sum"`   // the sum of several numeric parts
	// Type overrides the parser: text, decimal, percent, integer, date,
	// frequency, band.
	Type string `yaml:"type"`
	// Formats are date formats, as dd/mm/yyyy notation or Go layouts.
	Formats []string `yaml:"formats"`
	// TwoDigitYearsFrom is the first of the 100 years a two-digit year (yy)
	// is read in: 2000 reads 26 as 2026. Required with a yy format.
	TwoDigitYearsFrom int     `yaml:"two_digit_years_from"`
	Lookup            *Lookup `yaml:"lookup"`
	// Unmatched says what to do with a value not in Lookup: keep (default)
	// or error.
	Unmatched string  `yaml:"unmatched"`
	Default   *string `yaml:"default"`
	Required  bool    `yaml:"required"`
	Unit      string  `yaml:"unit"` // pa (default), hours, premium_hours, sessions
	Per       string  `yaml:"per"`  // week (default) or year
	// When takes the source value only when it passes the test, so that
	// one column can feed several fields by the shape of its values.
	When *TestSpec `yaml:"when"`
}

// FieldList is a list of parts; its own type so that FieldSpec can hold one.
type FieldList []FieldSpec

// Lookup translates source values: a flat table, or for Columns a table
// nested one level per column.
type Lookup struct {
	Entries []LookupItem
}

// LookupItem is one key of a Lookup: a value (nil for null) or, in a
// nested table, the next level.
type LookupItem struct {
	Key  string
	Node *yaml.Node // the key's position
	To   *string
	Next *Lookup
}

// UnmarshalYAML reads a lookup table in file order.
func (l *Lookup) UnmarshalYAML(n *yaml.Node) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a lookup is a table of values", n.Line)
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], n.Content[k+1]
		for val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		e := LookupItem{Key: key.Value, Node: key}
		switch {
		case val.Kind == yaml.MappingNode:
			e.Next = &Lookup{}
			if err := e.Next.UnmarshalYAML(val); err != nil {
				return err
			}
		case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
		case val.Kind == yaml.ScalarNode:
			v := val.Value
			e.To = &v
		default:
			return fmt.Errorf("line %d: a lookup value is a text, a number, null or a nested table", val.Line)
		}
		l.Entries = append(l.Entries, e)
	}
	return nil
}

// GroupSpec gathers several rows into one plan (long-to-wide).
type GroupSpec struct {
	// By lists what identifies a plan: record fields, or source columns
	// such as a supplier's plan reference ({column: Plan Ref}).
	By []GroupKeySpec `yaml:"by"`
	// PlanValues says where a plan's plan-level values are: every_row
	// (default: every row repeats them, and they must agree) or first_row
	// (later rows may leave them blank; any value they give must agree).
	PlanValues string `yaml:"plan_values"`
}

// GroupKeySpec is one entry of group.by: a record field's name, or a
// source column.
type GroupKeySpec struct {
	Field  string
	Column string `yaml:"column"`
}

// UnmarshalYAML reads a field name or {column: NAME}.
func (g *GroupKeySpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		g.Field = n.Value
		return nil
	}
	type plain GroupKeySpec
	return n.Decode((*plain)(g))
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
