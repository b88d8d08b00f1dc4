package decode

import (
	"errors"
	"fmt"
	"io"
)

// Format is an export's file format, as a mapping's format key names it.
type Format string

// The formats Open reads.
const (
	FormatCSV       Format = "csv"
	FormatJSON      Format = "json"  // one document: an array of records, at JSONOptions.RecordsPath
	FormatJSONLines Format = "jsonl" // one record a line
	FormatXLSX      Format = "xlsx"  // an .xlsx workbook, one sheet of it (XLSXOptions)
)

// Options say how to read an export: its format, and the settings of that
// format (the others are ignored).
type Options struct {
	Format Format
	CSV    CSVOptions  // FormatCSV
	JSON   JSONOptions // FormatJSON and FormatJSONLines
	XLSX   XLSXOptions // FormatXLSX
}

// Encoding is the text encoding the options name for their format; ""
// (UTF-8) for a format without one (a workbook's text is UTF-8 inside).
func (o Options) Encoding() string {
	switch o.Format {
	case FormatCSV:
		return o.CSV.Encoding
	case FormatJSON, FormatJSONLines:
		return o.JSON.Encoding
	}
	return ""
}

// ErrUnknownFormat is returned by Open for a format it does not read.
var ErrUnknownFormat = errors.New("unknown format")

// Open returns the reader of r's rows in the format o names, and the
// input's column names when the format has a header row (CSV, a
// workbook), in order; nil for JSON, whose records name their own values.
//
// A reader that holds resources beyond r is an io.Closer (a workbook's
// reader, its temporary files): the caller closes it when done.
//
// This is the one place a decoder is chosen by format: a new format is a
// new case here, and every caller (the converter, the workbench) reads it.
func Open(r io.Reader, o Options) (Reader, []string, error) {
	switch o.Format {
	case FormatCSV:
		cr, err := NewCSVReader(r, o.CSV)
		if err != nil {
			return nil, nil, err
		}
		return cr, cr.Header(), nil
	case FormatJSON:
		jr, err := NewJSONReader(r, o.JSON)
		if err != nil {
			return nil, nil, err
		}
		return jr, nil, nil
	case FormatJSONLines:
		jr, err := NewJSONLinesReader(r, o.JSON)
		if err != nil {
			return nil, nil, err
		}
		return jr, nil, nil
	case FormatXLSX:
		xr, err := NewXLSXReader(r, o.XLSX)
		if err != nil {
			return nil, nil, err
		}
		return xr, xr.Header(), nil
	}
	return nil, nil, fmt.Errorf("%w %q", ErrUnknownFormat, o.Format)
}
