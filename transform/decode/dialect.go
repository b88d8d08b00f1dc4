package decode

import (
	"errors"
	"fmt"
)

// Dialect is a CSV dialect as configuration files write it: the settings
// of the csv block that mapping files, staff-extract configurations and
// payroll configurations share. Each embeds it (yaml ",inline") beside
// the settings of its own.
type Dialect struct {
	Delimiter  string `yaml:"delimiter"` // one character, or "tab"; default ","
	Encoding   string `yaml:"encoding"`  // see Encodings; default utf-8
	SkipRows   int    `yaml:"skip_rows"`
	HeaderRow  int    `yaml:"header_row"`
	LazyQuotes bool   `yaml:"lazy_quotes"`
	// Quote is '"' (the default) or "none": fields are never quoted and a
	// quote character is data.
	Quote string `yaml:"quote"`
}

// DialectError is a setting of a Dialect that cannot be used.
type DialectError struct {
	Key string // as written in the csv block: "delimiter"
	Err error
}

func (e *DialectError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *DialectError) Unwrap() error { return e.Err }

// Options returns the reader options the dialect stands for, or a
// *DialectError naming the setting that cannot be used.
func (d Dialect) Options() (CSVOptions, error) {
	delim, err := ParseDelimiter(d.Delimiter)
	if err != nil {
		return CSVOptions{}, &DialectError{Key: "delimiter", Err: err}
	}
	switch d.Quote {
	case "", `"`, "none":
	default:
		return CSVOptions{}, &DialectError{Key: "quote", Err: fmt.Errorf("%q: want \" (the default) or none", d.Quote)}
	}
	if d.Quote == "none" && d.LazyQuotes {
		return CSVOptions{}, &DialectError{Key: "lazy_quotes", Err: errors.New("with quote: none no field is quoted, so there are no quotes to be lazy about; drop one of them")}
	}
	return CSVOptions{Delimiter: delim, Encoding: d.Encoding, SkipRows: d.SkipRows, HeaderRow: d.HeaderRow,
		LazyQuotes: d.LazyQuotes, NoQuotes: d.Quote == "none"}, nil
}
