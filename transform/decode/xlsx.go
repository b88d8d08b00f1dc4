package decode

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// XLSXOptions says which sheet of a workbook holds the export and where
// its header is.
type XLSXOptions struct {
	// Sheet names the sheet; SheetNumber picks it by position (1-based,
	// hidden sheets counted). With neither, the workbook must have one
	// sheet.
	Sheet       string
	SheetNumber int
	SkipRows    int  // sheet rows before the header (titles, notes), blank ones included
	HeaderRow   int  // 1-based row of the column names after SkipRows; 0 means 1
	NoHeader    bool // columns are then named "1", "2", ...
	// DecimalComma writes number cells as 7,5, the notation the mapping
	// reads numbers in, so that a number cell and a text cell "7,5" read
	// alike.
	DecimalComma bool
	// TempDir holds excelize's temporary copies of large sheets (default
	// os.TempDir()).
	TempDir string
}

// CellKind is the type of a workbook cell, for the readers of a Row that
// must tell a number from a text (Row.Kinds).
type CellKind uint8

const (
	// CellText: a text cell, a formula's text result or an error value
	// (#N/A); Fields holds it as stored.
	CellText CellKind = iota
	// CellNumber: Fields holds the number as stored, in the notation of
	// XLSXOptions.DecimalComma, to 15 significant digits as Excel shows it;
	// a number formatted as a percentage is written 5% (for 0.05).
	CellNumber
	// CellDate: a number formatted as a date (or an ISO date cell);
	// Fields holds it as yyyy-mm-dd, or yyyy-mm-ddThh:mm:ss with a time
	// of day.
	CellDate
	// CellBool: TRUE or FALSE.
	CellBool
)

// xlsxMaxSerial is 9999-12-31, the last day Excel can show.
const xlsxMaxSerial = 2958465

// XLSXReader streams the rows of one sheet of a workbook.
//
// excelize's row iterator (File.Rows) gives each cell's value as text,
// with shared strings, inline text, booleans and cached formula results
// resolved. It says nothing of a cell's type or number format, of a
// formula without a stored result, or of merged cells (excelize issues
// #1284 and #1613). A second, light pass over the same sheet XML, in step
// with it, reads those from each cell's attributes; merged ranges, which a
// sheet lists after its rows, are read by a scan of the sheet first.
// Memory holds one row, not the sheet or the file: the workbook is copied
// to a temporary file, and excelize spills sheets and shared strings over
// 1 MiB to temporary files of its own.
type XLSXReader struct {
	spool    *os.File // the workbook's bytes
	file     *excelize.File
	rows     *excelize.Rows
	meta     *sheetScanner
	sheet    string
	date1904 bool
	opts     XLSXOptions
	styles   map[int]numClass

	header    []string
	preamble  [][]string   // the rows up to and including the header, as text, for the rejected workbook
	rowNum    int          // sheet row last read
	width     int          // columns of the header
	merges    []mergeRange // by first row; those before nextMerge have started
	nextMerge int
	active    []mergeRange      // ranges that span the current row
	fill      map[int]fillValue // column → value of a vertical merge being filled down
	row       Row
	closeOnce bool
}

type mergeRange struct{ firstCol, firstRow, lastCol, lastRow int }

type fillValue struct {
	lastRow int
	text    string
	kind    CellKind
}

// NewXLSXReader opens a workbook, picks the sheet and reads its title rows
// and header. A file that is not a workbook, a sheet that cannot be found,
// or a header that cannot be read is a *FormatError. Close releases the
// temporary files.
func NewXLSXReader(r io.Reader, opts XLSXOptions) (*XLSXReader, error) {
	// A zip archive is read from its end, so the workbook is first copied
	// to a temporary file (not into memory, which would grow with it).
	br := bufio.NewReader(r)
	head, _ := br.Peek(64)
	if err := notWorkbook(head); err != nil {
		return nil, err
	}
	spool, err := os.CreateTemp(opts.TempDir, ".workbook-*.xlsx")
	if err != nil {
		return nil, fmt.Errorf("spool workbook: %w", err)
	}
	x := &XLSXReader{spool: spool, opts: opts, styles: map[int]numClass{}, fill: map[int]fillValue{}}
	if err := x.openSpooled(br); err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

func (x *XLSXReader) openSpooled(r io.Reader) error {
	size, err := io.Copy(x.spool, r)
	if err != nil {
		return fmt.Errorf("spool workbook: %w", err)
	}
	zr, err := zip.NewReader(x.spool, size)
	if err != nil {
		return &FormatError{Err: fmt.Errorf("the file starts like a zip archive (as an .xlsx workbook does) but cannot be read as one: %v; send the workbook again, saved from Excel as .xlsx", err)}
	}
	if x.file, err = excelize.OpenFile(x.spool.Name(), excelize.Options{UnzipXMLSizeLimit: 1 << 20, TmpDir: x.opts.TempDir}); err != nil {
		return &FormatError{Err: fmt.Errorf("the file is not a readable .xlsx workbook: %v", err)}
	}
	return x.open(zr)
}

// notWorkbook says what a file is when it is not a zip archive.
func notWorkbook(data []byte) error {
	head := data[:min(len(data), 64)]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return nil
	case len(head) == 0:
		return &FormatError{Err: errors.New("the file is empty, not a workbook")}
	case bytes.HasPrefix(head, []byte("\xd0\xcf\x11\xe0")):
		return &FormatError{Err: errors.New("the file is an old-style Excel workbook (.xls), or a password-protected one, not an .xlsx workbook: save it from Excel as .xlsx (Excel Workbook) without a password")}
	}
	for _, sig := range binarySignatures {
		if bytes.HasPrefix(head, []byte(sig.magic)) {
			return &FormatError{Err: fmt.Errorf("the file is %s, not an .xlsx workbook", sig.what)}
		}
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	first, _, _ := bytes.Cut(text, []byte("\n"))
	switch {
	case len(text) > 0 && (text[0] == '{' || text[0] == '['):
		return &FormatError{Err: fmt.Errorf("the file starts with %q: it is JSON text, not a workbook, but the mapping says format: xlsx; set format: json (or jsonl)", text[:1])}
	case bytes.ContainsAny(first, ",;\t|"):
		return &FormatError{Err: fmt.Errorf("the file starts with %q: it looks like CSV text, not a workbook, but the mapping says format: xlsx; set format: csv", shortText(first, 60))}
	}
	return &FormatError{Err: errors.New("the file is not an .xlsx workbook (an .xlsx file is a zip archive, and this one is not)")}
}

func (x *XLSXReader) open(zr *zip.Reader) error {
	sheets := x.file.GetSheetList()
	switch {
	case x.opts.Sheet != "":
		for _, s := range sheets {
			if s == x.opts.Sheet {
				x.sheet = s
			}
		}
		if x.sheet == "" {
			for _, s := range sheets {
				if strings.EqualFold(strings.TrimSpace(s), strings.TrimSpace(x.opts.Sheet)) {
					x.sheet = s
				}
			}
		}
		if x.sheet == "" {
			return &FormatError{Err: fmt.Errorf("the workbook has no sheet %q (its sheets: %s)", x.opts.Sheet, quoteNames(sheets))}
		}
	case x.opts.SheetNumber > 0:
		if x.opts.SheetNumber > len(sheets) {
			return &FormatError{Err: fmt.Errorf("the workbook has %d sheet(s) (%s), so it has no sheet number %d", len(sheets), quoteNames(sheets), x.opts.SheetNumber)}
		}
		x.sheet = sheets[x.opts.SheetNumber-1]
	case len(sheets) == 1:
		x.sheet = sheets[0]
	case len(sheets) == 0:
		return &FormatError{Err: errors.New("the workbook has no sheets")}
	default:
		return &FormatError{Err: fmt.Errorf("the workbook has %d sheets (%s) and the mapping does not say which holds the export: set xlsx.sheet (a name) or xlsx.sheet_number", len(sheets), quoteNames(sheets))}
	}
	props, err := x.file.GetWorkbookProps()
	if err != nil {
		return &FormatError{Err: fmt.Errorf("cannot read the workbook's settings: %v", err)}
	}
	x.date1904 = props.Date1904 != nil && *props.Date1904
	part, err := sheetPart(zr, x.sheet)
	if err != nil {
		return &FormatError{Err: err}
	}
	zf, err := zr.Open(part)
	if err != nil {
		return &FormatError{Err: fmt.Errorf("the workbook lists sheet %q at %s, which it does not contain", x.sheet, part)}
	}
	dim, merges, err := scanSheetTail(zf)
	zf.Close()
	if err != nil {
		return &FormatError{Err: fmt.Errorf("sheet %q cannot be read: %v", x.sheet, err)}
	}
	slices.SortStableFunc(merges, func(a, b mergeRange) int { return a.firstRow - b.firstRow })
	x.merges = merges
	zf, err = zr.Open(part)
	if err != nil {
		return &FormatError{Err: err}
	}
	x.meta = newSheetScanner(zf)
	if x.rows, err = x.file.Rows(x.sheet); err != nil {
		return &FormatError{Err: fmt.Errorf("sheet %q cannot be read: %v", x.sheet, err)}
	}
	headerAt := x.opts.SkipRows + max(x.opts.HeaderRow, 1)
	if x.opts.NoHeader {
		headerAt = x.opts.SkipRows
	}
	for x.rowNum < headerAt {
		cells, ok, err := x.readRow()
		if err != nil {
			return &FormatError{Line: x.rowNum, Err: err}
		}
		if !ok {
			if x.opts.NoHeader {
				break
			}
			return &FormatError{Err: fmt.Errorf("sheet %q has no header row: it ends before row %d", x.sheet, headerAt)}
		}
		texts := make([]string, len(cells))
		for i, c := range cells {
			if c.noValue {
				return &FormatError{Line: x.rowNum, Err: fmt.Errorf("cell %s of the header holds a formula with no stored result; open the workbook in Excel and save it again", cellName(i+1, x.rowNum))}
			}
			texts[i] = c.text
		}
		x.preamble = append(x.preamble, texts)
		if x.rowNum == headerAt && !x.opts.NoHeader {
			x.setHeader(texts)
		}
	}
	if x.opts.NoHeader {
		x.width = dim
		x.header = make([]string, dim)
		for i := range x.header {
			x.header[i] = strconv.Itoa(i + 1)
		}
	} else if blank(x.header) {
		return &FormatError{Line: headerAt, Err: fmt.Errorf("the header row (row %d of sheet %q) is blank", headerAt, x.sheet)}
	}
	return nil
}

func (x *XLSXReader) setHeader(texts []string) {
	x.header = make([]string, len(texts))
	for i, h := range texts {
		x.header[i] = strings.TrimSpace(h)
	}
	for len(x.header) > 0 && x.header[len(x.header)-1] == "" {
		x.header = x.header[:len(x.header)-1]
	}
	x.width = len(x.header)
}

func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// Header returns the column names, trimmed, without blank names after the
// last one.
func (x *XLSXReader) Header() []string { return x.header }

// Sheet returns the name of the sheet being read.
func (x *XLSXReader) Sheet() string { return x.sheet }

// Close releases excelize's temporary files.
func (x *XLSXReader) Close() error {
	if x.closeOnce {
		return nil
	}
	x.closeOnce = true
	var errs []error
	if x.rows != nil {
		errs = append(errs, x.rows.Close())
	}
	if x.meta != nil {
		errs = append(errs, x.meta.closer.Close())
	}
	if x.file != nil {
		errs = append(errs, x.file.Close())
	}
	errs = append(errs, x.spool.Close(), os.Remove(x.spool.Name()))
	return errors.Join(errs...)
}

// cell is one cell as read: its text (numbers with a decimal point) and
// kind.
type cell struct {
	text    string
	kind    CellKind
	noValue bool   // a formula without a stored result
	formula string // its formula, for messages
}

// readRow reads the next sheet row (blank rows included), with each cell
// typed. ok is false at the end of the sheet.
func (x *XLSXReader) readRow() ([]cell, bool, error) {
	if !x.rows.Next() {
		if err := x.rows.Error(); err != nil {
			return nil, false, err
		}
		return nil, false, nil
	}
	x.rowNum++
	values, err := x.rows.Columns(excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, false, fmt.Errorf("row %d: %v", x.rowNum, err)
	}
	metas, err := x.meta.row(x.rowNum)
	if err != nil {
		return nil, false, fmt.Errorf("row %d: %v", x.rowNum, err)
	}
	n := len(values)
	for _, m := range metas {
		n = max(n, m.col)
	}
	cells := make([]cell, n)
	for i, v := range values {
		cells[i].text = v
	}
	for _, m := range metas {
		c := &cells[m.col-1]
		if err := x.typeCell(c, m); err != nil {
			return nil, false, fmt.Errorf("cell %s: %v", cellName(m.col, x.rowNum), err)
		}
	}
	return cells, true, nil
}

// typeCell works out a cell's kind and text from its attributes and the
// raw value excelize gave.
func (x *XLSXReader) typeCell(c *cell, m cellMeta) error {
	if m.formula && !m.value {
		c.noValue, c.formula = true, m.formulaText
		return nil
	}
	switch m.typ {
	case "s", "str", "inlineStr", "e":
		c.kind = CellText
	case "b":
		c.kind = CellBool
		switch c.text {
		case "1":
			c.text = "TRUE"
		case "0":
			c.text = "FALSE"
		}
	case "d":
		t, err := parseISOCell(c.text)
		if err != nil {
			return err
		}
		c.kind, c.text = CellDate, isoDateTime(t)
	default: // a number
		if strings.TrimSpace(c.text) == "" {
			c.text = ""
			return nil
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(c.text), 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("a number cell holds %q, which is not a number", c.text)
		}
		class, err := x.class(m.style)
		if err != nil {
			return err
		}
		switch class {
		case numDate, numDateTime:
			if t, ok := serialTime(v, x.date1904); ok {
				c.kind, c.text = CellDate, isoDateTime(t)
				return nil
			}
		case numTime:
			if v >= 0 && v < 1 {
				c.kind, c.text = CellText, timeOfDay(v)
				return nil
			}
		case numPercent:
			c.kind, c.text = CellNumber, formatNumber(v*100)+"%"
			return nil
		}
		c.kind, c.text = CellNumber, formatNumber(v)
	}
	return nil
}

// class returns the number-format class of a style, looked up once.
func (x *XLSXReader) class(style int) (numClass, error) {
	if style == 0 {
		return numPlain, nil
	}
	if c, ok := x.styles[style]; ok {
		return c, nil
	}
	st, err := x.file.GetStyle(style)
	if err != nil {
		// A style index the workbook does not define: Excel shows the
		// number as General.
		x.styles[style] = numPlain
		return numPlain, nil
	}
	c := numPlain
	switch {
	case st.CustomNumFmt != nil:
		c = classifyFormat(*st.CustomNumFmt)
	default:
		c, _ = builtInClass(st.NumFmt)
	}
	x.styles[style] = c
	return c, nil
}

// formatNumber writes v as Excel shows a General number: 15 significant
// digits, no exponent (7.0999999999999996 as stored is 7.1).
func formatNumber(v float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 15, 64), 64)
	if r == 0 {
		return "0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// serialTime turns an Excel date serial into a time. In the 1900 date
// system serial 1 is 1 January 1900 and serial 60 is 29 February 1900, a
// day that never was (Lotus 1-2-3 took 1900 for a leap year and Excel
// kept it), so serials from 61 on are counted from 30 December 1899. In
// the 1904 system serial 0 is 1 January 1904. ok is false for serials
// that name no day Excel can show (below 1, or the non-existent 29
// February 1900, or past 9999).
func serialTime(v float64, date1904 bool) (time.Time, bool) {
	days := math.Floor(v)
	frac := v - days
	if v < 0 || (!date1904 && v < 1) || days > xlsxMaxSerial {
		return time.Time{}, false
	}
	var base time.Time
	switch {
	case date1904:
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case days == 60:
		return time.Time{}, false
	case days < 60:
		base = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	default:
		base = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	}
	secs := math.Round(frac * 86400)
	return base.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second), true
}

// SerialDate reads a whole-number Excel date serial as a date in the
// workbook's date system. It is for number cells in a field the mapping
// says is a date; ok is false for a number that is not a whole day.
func SerialDate(v float64, date1904 bool) (time.Time, bool) {
	if v != math.Floor(v) {
		return time.Time{}, false
	}
	return serialTime(v, date1904)
}

func isoDateTime(t time.Time) string {
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02T15:04:05")
}

func timeOfDay(v float64) string {
	secs := int(math.Round(v * 86400))
	return fmt.Sprintf("%02d:%02d:%02d", secs/3600%24, secs/60%60, secs%60)
}

// parseISOCell reads the value of a date cell (t="d"), which ECMA-376
// writes in ISO 8601.
func parseISOCell(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z", "2006-01-02", "15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("a date cell holds %q, which is not an ISO 8601 date", s)
}

// Next returns the next row that is not blank. A row holding a formula
// without a stored result, a value in a column without a header, or a
// value in cells merged across columns is a *RowError: its value cannot be
// known, or it is not known which column it belongs to.
func (x *XLSXReader) Next() (*Row, error) {
	for {
		cells, ok, err := x.readRow()
		if err != nil {
			return nil, &FormatError{Line: x.rowNum, Err: err}
		}
		if !ok {
			if err := x.Close(); err != nil {
				return nil, fmt.Errorf("close workbook: %w", err)
			}
			return nil, io.EOF
		}
		problem := x.fillMerges(&cells)
		if len(cells) > x.width && x.width > 0 {
			for i := x.width; i < len(cells); i++ {
				if strings.TrimSpace(cells[i].text) != "" || cells[i].noValue {
					if problem == nil {
						problem = fmt.Errorf("cell %s holds %q, in a column with no header, which the mapping cannot name; give the column a header, or clear it", cellName(i+1, x.rowNum), shortText([]byte(cells[i].text), 40))
					}
					break
				}
			}
			if problem == nil {
				cells = cells[:x.width]
			}
		}
		for i, c := range cells {
			if c.noValue && problem == nil {
				problem = fmt.Errorf("cell %s holds a formula (=%s) with no stored result, so its value is not known; the workbook was saved by a program that does not calculate formulas: open it in Excel and save it again", cellName(i+1, x.rowNum), shortText([]byte(c.formula), 60))
			}
		}
		width := max(x.width, len(cells))
		fields := make([]string, width)
		kinds := make([]CellKind, width)
		allBlank := true
		for i, c := range cells {
			fields[i], kinds[i] = c.text, c.kind
			if c.kind == CellNumber && x.opts.DecimalComma {
				fields[i] = strings.Replace(c.text, ".", ",", 1)
			}
			if strings.TrimSpace(c.text) != "" || c.noValue {
				allBlank = false
			}
		}
		if allBlank {
			continue
		}
		x.row = Row{Line: x.rowNum, EndLine: x.rowNum, Fields: fields, Kinds: kinds, Date1904: x.date1904, Raw: encodeCells(cells)}
		if problem != nil {
			return nil, &RowError{Row: x.row, Err: problem}
		}
		return &x.row, nil
	}
}

// fillMerges applies the merged ranges to a data row: a range one column
// wide gives its first cell's value to every row it spans (a plan-level
// value merged down a plan's rows); a range wider than one column with a
// value is a problem, as the value could belong to any of its columns.
func (x *XLSXReader) fillMerges(cells *[]cell) error {
	var problem error
	// Ranges that start by this row join the active ones, and those that
	// ended leave them, so a sheet with many merges costs little per row.
	for x.nextMerge < len(x.merges) && x.merges[x.nextMerge].firstRow <= x.rowNum {
		x.active = append(x.active, x.merges[x.nextMerge])
		x.nextMerge++
	}
	x.active = slices.DeleteFunc(x.active, func(m mergeRange) bool { return m.lastRow < x.rowNum })
	for _, m := range x.active {
		if m.firstRow <= x.headerRow() {
			continue
		}
		if m.lastCol > len(*cells) {
			grown := make([]cell, m.lastCol)
			copy(grown, *cells)
			*cells = grown
		}
		first := (*cells)[m.firstCol-1]
		if m.firstRow == x.rowNum {
			if m.firstCol == m.lastCol {
				x.fill[m.firstCol] = fillValue{lastRow: m.lastRow, text: first.text, kind: first.kind}
				continue
			}
			if strings.TrimSpace(first.text) != "" && problem == nil {
				problem = fmt.Errorf("cells %s:%s are merged and hold %q, so it is not known which of their columns it belongs to; unmerge them and put the value in its column", cellName(m.firstCol, m.firstRow), cellName(m.lastCol, m.lastRow), shortText([]byte(first.text), 40))
			}
			continue
		}
		if m.firstCol == m.lastCol {
			if fv, ok := x.fill[m.firstCol]; ok && fv.lastRow >= x.rowNum {
				(*cells)[m.firstCol-1] = cell{text: fv.text, kind: fv.kind}
			}
		}
	}
	return problem
}

func (x *XLSXReader) headerRow() int {
	if x.opts.NoHeader {
		return x.opts.SkipRows
	}
	return x.opts.SkipRows + max(x.opts.HeaderRow, 1)
}

// cellName is the A1 name of a cell.
func cellName(col, row int) string {
	name, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		return fmt.Sprintf("R%dC%d", row, col)
	}
	return name
}

// sheetPart finds the zip part of a sheet through the workbook and its
// relationships (xl/workbook.xml, xl/_rels/workbook.xml.rels).
func sheetPart(zr *zip.Reader, sheet string) (string, error) {
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	wbPath := "xl/workbook.xml"
	if err := readZipXML(zr, wbPath, &wb); err != nil {
		return "", err
	}
	if err := readZipXML(zr, "xl/_rels/workbook.xml.rels", &rels); err != nil {
		return "", err
	}
	for _, s := range wb.Sheets {
		if s.Name != sheet {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID == s.RID {
				if strings.HasPrefix(r.Target, "/") {
					return strings.TrimPrefix(r.Target, "/"), nil
				}
				return path.Join("xl", r.Target), nil
			}
		}
	}
	return "", fmt.Errorf("the workbook does not say where sheet %q is", sheet)
}

func readZipXML(zr *zip.Reader, name string, v any) error {
	for _, f := range zr.File {
		if strings.EqualFold(strings.ReplaceAll(f.Name, "\\", "/"), name) {
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			defer rc.Close()
			dec := xml.NewDecoder(io.LimitReader(rc, 64<<20))
			dec.Strict = false
			if err := dec.Decode(v); err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("the workbook has no %s", name)
}

// scanSheetTail reads a sheet's last column (for no_header: the widest of
// its dimension, which many programs do not keep up to date, and its
// cells) and merged ranges, which the sheet lists after its rows. It looks
// at the bytes for the tags rather than decoding the XML, so the pass
// costs little beside the rows' own.
func scanSheetTail(r io.Reader) (lastCol int, merges []mergeRange, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if _, err := br.ReadSlice('<'); err != nil {
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				return lastCol, merges, nil
			}
			return 0, nil, err
		}
		head, _ := br.Peek(24)
		name := head
		if i := bytes.IndexAny(name, " />"); i >= 0 {
			name = name[:i]
		}
		if i := bytes.IndexByte(name, ':'); i >= 0 {
			name = name[i+1:] // a namespace prefix: <x:mergeCell
		}
		if !bytes.Equal(name, []byte("dimension")) && !bytes.Equal(name, []byte("mergeCell")) && !bytes.Equal(name, []byte("c")) {
			continue
		}
		tag, err := br.ReadSlice('>')
		if err != nil {
			return 0, nil, fmt.Errorf("a <%s> element is cut short", name)
		}
		if string(name) == "c" {
			if c, _, err := excelize.CellNameToCoordinates(tagAttr(tag, "r")); err == nil {
				lastCol = max(lastCol, c)
			}
			continue
		}
		ref := tagAttr(tag, "ref")
		first, last, isRange := strings.Cut(strings.ReplaceAll(ref, "$", ""), ":")
		if string(name) == "dimension" {
			if !isRange {
				last = first
			}
			if c, _, err := excelize.CellNameToCoordinates(last); err == nil {
				lastCol = max(lastCol, c)
			}
			continue
		}
		if !isRange {
			continue
		}
		c1, r1, err1 := excelize.CellNameToCoordinates(first)
		c2, r2, err2 := excelize.CellNameToCoordinates(last)
		if err1 != nil || err2 != nil {
			return 0, nil, fmt.Errorf("merged range %q is not a range of cells", ref)
		}
		merges = append(merges, mergeRange{firstCol: min(c1, c2), firstRow: min(r1, r2), lastCol: max(c1, c2), lastRow: max(r1, r2)})
	}
}

// tagAttr returns the value of attribute name in the text of one tag.
func tagAttr(tag []byte, name string) string {
	for _, q := range []string{`"`, "'"} {
		key := []byte(" " + name + "=" + q)
		if i := bytes.Index(tag, key); i >= 0 {
			rest := tag[i+len(key):]
			if j := bytes.IndexByte(rest, q[0]); j >= 0 {
				return string(rest[:j])
			}
		}
	}
	return ""
}

// cellMeta is what the attributes of a <c> element say.
type cellMeta struct {
	col         int
	style       int
	typ         string
	formula     bool
	formulaText string
	value       bool // a <v> or <is> element: a stored value
}

// sheetScanner reads the cells' attributes, row by row, in step with
// excelize's row iterator. It looks at the tags' bytes (<row>, <c>, <f>,
// <v>, <is>) rather than decoding the XML: the values themselves come
// from excelize, so this pass needs only what the tags say, and costs a
// fraction of a decoder's time.
type sheetScanner struct {
	br      *bufio.Reader
	closer  io.Closer
	pending int // row number of a <row> already read, 0 for none
	cells   []cellMeta
	done    bool
	lastRow int
}

func newSheetScanner(rc io.ReadCloser) *sheetScanner {
	return &sheetScanner{br: bufio.NewReaderSize(rc, 64<<10), closer: rc}
}

// row returns the cells of sheet row n; rows are asked for in order.
func (s *sheetScanner) row(n int) ([]cellMeta, error) {
	for !s.done && s.pending < n {
		s.pending = 0 // a row already passed: only when rows are out of order
		if err := s.readRow(); err != nil {
			return nil, err
		}
	}
	if s.pending == n {
		s.pending = 0
		return s.cells, nil
	}
	return nil, nil
}

// nextTag moves past the next '<' and returns the tag's name (without a
// namespace prefix) and whether it is an end tag; io.EOF at the end.
func (s *sheetScanner) nextTag() (name []byte, end bool, err error) {
	for {
		if _, err := s.br.ReadSlice('<'); err != nil {
			if err == bufio.ErrBufferFull {
				continue
			}
			return nil, false, err
		}
		head, _ := s.br.Peek(16)
		if len(head) > 0 && head[0] == '/' {
			end, head = true, head[1:]
		}
		if i := bytes.IndexAny(head, " \t\r\n/>"); i >= 0 {
			head = head[:i]
		}
		if i := bytes.IndexByte(head, ':'); i >= 0 {
			head = head[i+1:]
		}
		return head, end, nil
	}
}

// tag reads the rest of the current tag up to its '>'.
func (s *sheetScanner) tag() ([]byte, error) {
	t, err := s.br.ReadSlice('>')
	if err == bufio.ErrBufferFull {
		return nil, errors.New("a tag is too long")
	}
	return t, err
}

// readRow reads the next <row> and its cells.
func (s *sheetScanner) readRow() error {
	s.cells = s.cells[:0]
	for {
		name, end, err := s.nextTag()
		if err == io.EOF {
			s.done = true
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case end && string(name) == "sheetData":
			s.done = true
			return nil
		case end || string(name) != "row":
			continue
		}
		t, err := s.tag()
		if err != nil {
			return err
		}
		n := s.lastRow + 1
		if r := tagAttr(t, "r"); r != "" {
			v, err := strconv.Atoi(r)
			if err != nil || v < 1 {
				return fmt.Errorf("a row is numbered %q", r)
			}
			n = v
		}
		s.lastRow = n
		if !bytes.HasSuffix(t, []byte("/>")) {
			if err := s.readCells(); err != nil {
				return err
			}
		}
		s.pending = n
		return nil
	}
}

func (s *sheetScanner) readCells() error {
	col := 0
	var cur *cellMeta
	for {
		name, end, err := s.nextTag()
		if err == io.EOF {
			return errors.New("the sheet ends inside a row")
		}
		if err != nil {
			return err
		}
		switch {
		case end && string(name) == "row":
			s.br.ReadSlice('>')
			return nil
		case end && string(name) == "c":
			cur = nil
			continue
		case end:
			continue
		}
		t, err := s.tag()
		if err != nil {
			return err
		}
		selfClosing := bytes.HasSuffix(t, []byte("/>"))
		switch string(name) {
		case "c":
			col++
			if r := tagAttr(t, "r"); r != "" {
				c, _, err := excelize.CellNameToCoordinates(r)
				if err != nil {
					return fmt.Errorf("a cell is named %q", r)
				}
				col = c
			}
			m := cellMeta{col: col, typ: tagAttr(t, "t")}
			if st := tagAttr(t, "s"); st != "" {
				v, err := strconv.Atoi(st)
				if err != nil || v < 0 {
					return fmt.Errorf("cell %s has style %q", cellName(col, s.lastRow), st)
				}
				m.style = v
			}
			s.cells = append(s.cells, m)
			cur = &s.cells[len(s.cells)-1]
			if selfClosing {
				cur = nil
			}
		case "f":
			if cur == nil {
				continue
			}
			cur.formula = true
			if !selfClosing {
				text, err := s.br.ReadSlice('<')
				if err == nil {
					s.br.UnreadByte()
					text = text[:len(text)-1]
				}
				if len(text) > 200 {
					text = text[:200]
				}
				cur.formulaText = html.UnescapeString(string(text))
			}
		case "v", "is":
			if cur != nil {
				cur.value = true
			}
		}
	}
}
