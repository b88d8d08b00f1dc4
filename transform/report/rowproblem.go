package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
)

// RowProblem says in words a trust's analyst understands why a row could
// not be read (rule M09). Go's parsers say `bare " in non-quoted-field`;
// the cause is found from the error's value (errors.Is, errors.As), never
// from that text, and the position is given as a character of a line.
func RowProblem(e *decode.RowError) string {
	row := e.Row
	var syntax *json.SyntaxError
	switch {
	case errors.Is(e.Err, csv.ErrBareQuote):
		return fmt.Sprintf("Row could not be read: a quotation mark (\") is inside a value that does not itself start with a quotation mark (%s). Put the whole value in quotation marks and write each quotation mark inside it twice, as in \"Dr \"\"Sam\"\" Smith\", or remove the quotation mark.",
			at(row, e.Column))
	case errors.Is(e.Err, csv.ErrQuote):
		spread := ""
		if row.EndLine > row.Line {
			spread = fmt.Sprintf(" The value runs on from line %d to line %d, so a closing quotation mark is probably missing.", row.Line, row.EndLine)
		}
		return fmt.Sprintf("Row could not be read: a value in quotation marks is not closed properly (%s): after its closing quotation mark there must be a delimiter or the end of the line, and a quotation mark inside the value must be written twice (\"\").%s",
			at(row, e.Column), spread)
	case errors.Is(e.Err, csv.ErrFieldCount):
		return "Row could not be read: it has a different number of values from the header row."
	case errors.Is(e.Err, decode.ErrLineTooLong):
		return "Row could not be read: the line is too long to be one job-plan record. Often a line break is missing, so that records have run together."
	case errors.As(e.Err, &syntax):
		return fmt.Sprintf("Row could not be read: the line is not valid JSON (%s), for example a missing comma, quotation mark or bracket.",
			charOf(row.Raw, int(syntax.Offset), row.Line))
	case errors.Is(e.Err, io.ErrUnexpectedEOF):
		return "Row could not be read: the line ends before its JSON record does (a closing bracket or quotation mark is missing)."
	}
	return fmt.Sprintf("Row could not be read: %v.", e.Err)
}

// at is where a CSV parse error is: column is the 1-based byte on the
// row's last line (csv.ParseError), shown as a character count, which is
// what a person counts in an editor.
func at(row decode.Row, column int) string {
	lines := bytes.Split(row.Raw, []byte{'\n'})
	last := lines[len(lines)-1]
	if n := row.EndLine - row.Line; n >= 0 && n < len(lines) {
		last = lines[n]
	}
	if column <= 0 {
		return fmt.Sprintf("line %d", row.EndLine)
	}
	return charOf(last, column, row.EndLine)
}

// charOf names byte offset off+1 (1-based) of text, on line line, as a
// character number.
func charOf(text []byte, off, line int) string {
	off = min(max(off-1, 0), len(text))
	return fmt.Sprintf("character %d of line %d", utf8.RuneCount(text[:off])+1, line)
}
