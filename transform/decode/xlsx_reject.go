package decode

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// A workbook row's Raw is its cells as one CSV line, so that previews can
// show it and the rejected workbook can be rebuilt from it with each
// cell's type: a text cell is always quoted ("Consultant", """"), a
// number, a percentage (5%), a date (2026-04-01 or 2026-04-01T09:30:00)
// and TRUE/FALSE are bare, a formula with no stored result is ="…" and
// a blank cell is empty.

// encodeCells writes the Raw line of a row's cells.
func encodeCells(cells []cell) []byte {
	last := len(cells)
	for last > 0 && cells[last-1].text == "" && !cells[last-1].noValue {
		last--
	}
	var b []byte
	for i, c := range cells[:last] {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case c.noValue:
			b = append(b, '=')
			b = appendQuoted(b, c.formula)
		case c.text == "":
		case c.kind == CellText:
			b = appendQuoted(b, c.text)
		default:
			b = append(b, c.text...)
		}
	}
	return b
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

// rawCell is one cell of a Raw line.
type rawCell struct {
	text    string
	quoted  bool // a text cell
	formula bool
}

var errRawCell = errors.New("not a workbook row as the reader writes it")

// decodeCells splits a Raw line back into its cells.
func decodeCells(raw []byte) ([]rawCell, error) {
	var cells []rawCell
	s := string(raw)
	if s == "" {
		return nil, nil
	}
	for {
		var c rawCell
		if strings.HasPrefix(s, "=\"") {
			c.formula = true
			s = s[1:]
		}
		if strings.HasPrefix(s, `"`) {
			c.quoted = !c.formula
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return nil, errRawCell
				}
				b.WriteString(s[i : i+j])
				i += j + 1
				if i < len(s) && s[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			c.text, s = b.String(), s[i:]
		} else {
			j := strings.IndexByte(s, ',')
			if j < 0 {
				j = len(s)
			}
			c.text, s = s[:j], s[j:]
			if strings.ContainsRune(c.text, '"') {
				return nil, errRawCell
			}
		}
		cells = append(cells, c)
		if s == "" {
			return cells, nil
		}
		if s[0] != ',' {
			return nil, errRawCell
		}
		s = s[1:]
	}
}

// NewRejectWriter writes the rejected rows as an .xlsx workbook of one
// sheet with the source sheet's name: its title rows and header as they
// were (as text), then each rejected row with its cells' types (numbers,
// percentages, dates, TRUE/FALSE and text; a formula without a stored
// result as its text), so that the supplier can fix
// the rows and send the workbook again through the same mapping. A
// workbook is not text, so the rows cannot be kept byte for byte as a
// CSV's are. The workbook is written when Close is called.
func (x *XLSXReader) NewRejectWriter(w io.Writer) RejectWriter {
	return &xlsxRejects{w: w, sheet: x.sheet, preamble: x.preamble, tempDir: x.opts.TempDir}
}

type xlsxRejects struct {
	w        io.Writer
	sheet    string
	preamble [][]string
	tempDir  string

	f                            *excelize.File
	sw                           *excelize.StreamWriter
	row                          int
	date, dateTime, percent, txt int
}

func (r *xlsxRejects) start() error {
	r.f = excelize.NewFile(excelize.Options{TmpDir: r.tempDir})
	if r.sheet != "" && r.sheet != "Sheet1" {
		if err := r.f.SetSheetName("Sheet1", r.sheet); err != nil {
			return fmt.Errorf("rejected workbook: %w", err)
		}
	}
	name := r.f.GetSheetName(0)
	sw, err := r.f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("rejected workbook: %w", err)
	}
	r.sw = sw
	dateFmt, dateTimeFmt := "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
	for _, s := range []struct {
		id    *int
		style excelize.Style
	}{
		{&r.date, excelize.Style{CustomNumFmt: &dateFmt}},
		{&r.dateTime, excelize.Style{CustomNumFmt: &dateTimeFmt}},
		{&r.percent, excelize.Style{NumFmt: 10}},
		{&r.txt, excelize.Style{NumFmt: 49}}, // "@": text stays text when edited
	} {
		if *s.id, err = r.f.NewStyle(&s.style); err != nil {
			return fmt.Errorf("rejected workbook: %w", err)
		}
	}
	for _, texts := range r.preamble {
		vals := make([]any, len(texts))
		for i, t := range texts {
			if t != "" {
				vals[i] = excelize.Cell{StyleID: r.txt, Value: t}
			}
		}
		if err := r.next(vals); err != nil {
			return err
		}
	}
	return nil
}

func (r *xlsxRejects) next(vals []any) error {
	r.row++
	cell, err := excelize.CoordinatesToCellName(1, r.row)
	if err != nil {
		return err
	}
	if err := r.sw.SetRow(cell, vals); err != nil {
		return fmt.Errorf("rejected workbook row %d: %w", r.row, err)
	}
	return nil
}

func (r *xlsxRejects) WriteRow(raw []byte) error {
	if r.f == nil {
		if err := r.start(); err != nil {
			return err
		}
	}
	cells, err := decodeCells(raw)
	if err != nil {
		return fmt.Errorf("rejected workbook row: %w", err)
	}
	vals := make([]any, len(cells))
	for i, c := range cells {
		vals[i] = r.value(c)
	}
	return r.next(vals)
}

// value turns a Raw cell back into a typed workbook cell.
func (r *xlsxRejects) value(c rawCell) any {
	switch {
	case c.formula:
		// As text: the formula named cells of the row where it was, and
		// its result was never stored, so a supplier fixing the row types
		// the value in.
		return excelize.Cell{StyleID: r.txt, Value: "=" + c.text}
	case c.quoted:
		return excelize.Cell{StyleID: r.txt, Value: c.text}
	case c.text == "":
		return nil
	case c.text == "TRUE":
		return true
	case c.text == "FALSE":
		return false
	case strings.HasSuffix(c.text, "%"):
		if v, err := strconv.ParseFloat(strings.TrimSuffix(c.text, "%"), 64); err == nil {
			return excelize.Cell{StyleID: r.percent, Value: v / 100}
		}
	}
	if v, err := strconv.ParseFloat(c.text, 64); err == nil {
		return v
	}
	if t, err := time.Parse("2006-01-02", c.text); err == nil {
		return excelize.Cell{StyleID: r.date, Value: t}
	}
	if t, err := time.Parse("2006-01-02T15:04:05", c.text); err == nil {
		return excelize.Cell{StyleID: r.dateTime, Value: t}
	}
	return excelize.Cell{StyleID: r.txt, Value: c.text}
}

// Close writes the workbook: the title rows and header alone when no row
// was rejected, so the file is still a template for the supplier.
func (r *xlsxRejects) Close() error {
	if r.f == nil {
		if err := r.start(); err != nil {
			return err
		}
	}
	defer r.f.Close()
	if err := r.sw.Flush(); err != nil {
		return fmt.Errorf("rejected workbook: %w", err)
	}
	if err := r.f.Write(r.w); err != nil {
		return fmt.Errorf("write rejected workbook: %w", err)
	}
	return nil
}
