package transform

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// DescribeWithoutData is Describe for logs, the ledger and the hub's
// status page: why a file could not be processed, without any value from
// it. A file without its header row has its first row of data taken for
// the header, so "columns found: ..." would quote a person's details; the
// report keeps the full reason. Errors it does not know are described in
// general terms only.
func DescribeWithoutData(err error) string {
	const layout = "not in the layout the mapping expects: "
	var mc *mapping.MissingColumnsError
	var fe *decode.FormatError
	switch {
	case errors.As(err, &mc):
		quoted := make([]string, len(mc.Columns))
		for i, c := range mc.Columns {
			quoted[i] = strconv.Quote(c) // the mapping's names, not the file's
		}
		return fmt.Sprintf("%sthe file has no column %s (%d columns found; the report names them)",
			layout, strings.Join(quoted, ", "), len(mc.Header))
	case errors.As(err, &fe):
		return layout + formatWithoutData(fe)
	case errors.Is(err, decode.ErrUnknownEncoding):
		return Describe(err) // the mapping's encoding name
	case err == nil:
		return ""
	}
	return "the file could not be processed (the report says why)"
}

// formatWithoutData describes a FormatError. Its messages are the decode
// package's own, naming only positions, the mapping's keys and kinds of
// JSON value, except for syntax errors, which quote a character of the
// file.
func formatWithoutData(fe *decode.FormatError) string {
	var syn *json.SyntaxError
	var pe *csv.ParseError
	var msg string
	switch {
	case errors.As(fe.Err, &syn):
		msg = "not valid JSON"
	case errors.As(fe.Err, &pe):
		msg = fmt.Sprintf("cannot read the CSV at line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	default:
		msg = fe.Err.Error()
	}
	if fe.Line > 0 {
		return fmt.Sprintf("line %d: %s", fe.Line, msg)
	}
	return msg
}
