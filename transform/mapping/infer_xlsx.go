package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
)

// inferXLSX reads a workbook sample: the sheet that holds a table (the
// one with the most rows under a header, when there are several), its
// title rows and header, and the values under each column as the
// converter reads them (dates as yyyy-mm-dd, percent cells as 5%).
func (d *Draft) inferXLSX(sample []byte) error {
	d.Format = "xlsx"
	f, err := excelize.OpenReader(bytes.NewReader(sample))
	if err != nil {
		return fmt.Errorf("the sample starts like an .xlsx workbook but cannot be read as one: %v", err)
	}
	sheets := f.GetSheetList()
	f.Close()
	type table struct {
		sheet      string
		headerLine int
		header     []string
		rows       [][]string
		dateCells  map[int]bool // columns holding date cells
	}
	var best *table
	for i, sheet := range sheets {
		r, err := decode.NewXLSXReader(bytes.NewReader(sample), decode.XLSXOptions{SheetNumber: i + 1, NoHeader: true})
		if err != nil {
			continue
		}
		var rows []*decode.Row
		dateCells := map[int]bool{}
		for len(rows) < inferSampleRecords+30 {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			var re *decode.RowError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				break
			}
			cp := *row
			cp.Fields = append([]string(nil), row.Fields...)
			for i, k := range row.Kinds {
				// A date cell is a date whatever the field's formats: only
				// dates written as text tell the draft their format.
				if k == decode.CellDate && i < len(cp.Fields) {
					cp.Fields[i] = ""
					dateCells[i] = true
				}
			}
			rows = append(rows, &cp)
		}
		r.Close()
		// The header is the first row, among the first 30, whose names fill
		// most of the widest row's columns.
		widest := 0
		for _, row := range rows[:min(len(rows), 30)] {
			widest = max(widest, filled(row.Fields))
		}
		if widest < 2 {
			continue
		}
		for k, row := range rows[:min(len(rows), 30)] {
			if filled(row.Fields)*10 < widest*6 || !looksLikeHeader(nonBlank(row.Fields)) {
				continue
			}
			t := &table{sheet: sheet, headerLine: row.Line, dateCells: dateCells}
			for _, h := range row.Fields {
				t.header = append(t.header, strings.TrimSpace(h))
			}
			for len(t.header) > 0 && t.header[len(t.header)-1] == "" {
				t.header = t.header[:len(t.header)-1]
			}
			for _, data := range rows[k+1:] {
				t.rows = append(t.rows, data.Fields)
			}
			if best == nil || len(t.rows) > len(best.rows) {
				best = t
			}
			break
		}
	}
	if best == nil {
		return errors.New("no sheet of the workbook has a row of column names over rows of values")
	}
	d.Sheet = best.sheet
	if len(sheets) > 1 {
		d.Notes = append(d.Notes, fmt.Sprintf("The workbook has %d sheets (%s); the table is on %q.", len(sheets), strings.Join(sheets, ", "), best.sheet))
	}
	d.SkipRows = best.headerLine - 1
	d.Sources = best.header
	for i := range d.Sources {
		if best.dateCells[i] {
			d.DateCells = append(d.DateCells, d.Sources[i])
		}
	}
	var recs [][]string
	for _, r := range best.rows {
		if len(r) > len(d.Sources) {
			r = r[:len(d.Sources)]
		}
		for len(r) < len(d.Sources) {
			r = append(r, "")
		}
		recs = append(recs, r)
	}
	d.readValues(recs)
	return nil
}

func filled(fields []string) int {
	n := 0
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			n++
		}
	}
	return n
}

func nonBlank(fields []string) []string {
	var out []string
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			out = append(out, f)
		}
	}
	return out
}
