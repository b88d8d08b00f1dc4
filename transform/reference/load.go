package reference

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
)

// LoadError means the extract cannot be used at all (unreadable, not the
// declared format, a configured column missing).
type LoadError struct {
	Path string
	Err  error
}

func (e *LoadError) Error() string { return fmt.Sprintf("staff extract %s: %v", e.Path, e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// LoadFile reads a staff extract with configuration c.
func LoadFile(path string, c Config) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	defer f.Close()
	x, err := Load(f, c)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	return x, nil
}

// Load reads a staff extract from r.
func Load(r io.Reader, c Config) (*Index, error) {
	format := c.Format
	br := bufio.NewReaderSize(r, 64<<10)
	if format == "" {
		format = FormatCSV
		head, _ := br.Peek(7)
		head = bytes.TrimPrefix(head, []byte("\ufeff"))
		if bytes.HasPrefix(head, []byte("HDR~")) {
			format = FormatESRGO
		}
	}
	if format == FormatESRGO {
		return loadESRGO(br, c)
	}
	return loadCSV(br, c)
}

func loadCSV(r io.Reader, c Config) (*Index, error) {
	cr, err := decode.NewCSVReader(r, c.csvOptions())
	if err != nil {
		return nil, err
	}
	header := cr.Header()
	col := func(name string, missing *[]string, optional ...bool) int {
		if name == "" {
			return -1
		}
		for i, h := range header {
			if strings.EqualFold(h, strings.TrimSpace(name)) {
				return i
			}
		}
		if len(optional) == 0 || !optional[0] {
			*missing = append(*missing, name)
		}
		return -1
	}
	var missing []string
	cols := c.Columns
	idx := [8]int{
		col(cols.EmployeeNumber, &missing),
		col(cols.AssignmentNumber, &missing),
		col(cols.Surname, &missing),
		col(cols.Forenames, &missing),
		col(cols.StaffGroup, &missing),
		col(cols.AssignmentStatus, &missing),
		col(cols.Organisation, &missing, c.builtIn),
		col(cols.EndDate, &missing, c.builtIn),
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("column(s) %s not in the header (%s)", quoteList(missing), strings.Join(header, ", "))
	}
	formats := cols.EndDateFormats
	if len(formats) == 0 {
		formats = []string{"2006-01-02", "02/01/2006"}
	}
	b := NewBuilder()
	lines := 0
	for {
		row, err := cr.Next()
		if err == io.EOF {
			break
		}
		var rowErr *decode.RowError
		if errors.As(err, &rowErr) {
			b.Problem(rowErr.Row.Line, "cannot be read (%v); line skipped", rowErr.Err)
			continue
		}
		if err != nil {
			return nil, err
		}
		lines++
		if len(row.Fields) != len(header) {
			b.Problem(row.Line, "has %d columns but the header has %d; line skipped", len(row.Fields), len(header))
			continue
		}
		get := func(k int) string {
			if idx[k] < 0 {
				return ""
			}
			return row.Fields[idx[k]]
		}
		s := Staff{
			EmployeeNumber: get(0), AssignmentNumber: get(1), Surname: get(2), Forenames: get(3),
			StaffGroup: get(4), Status: get(5), Organisation: get(6), Line: row.Line,
		}
		if end := strings.TrimSpace(get(7)); end != "" {
			s.EndDate = parseDate(end, formats)
			if s.EndDate == "" {
				b.Problem(row.Line, "end date %q is not in the format %s; treated as open", end, strings.Join(formats, " or "))
			}
		}
		b.Add(s, false)
	}
	x := b.Index()
	x.Lines = lines
	// A check whose column the extract lacks is not made.
	x.has = has{employee: idx[0] >= 0, names: idx[2] >= 0 || idx[3] >= 0, group: idx[4] >= 0, status: idx[5] >= 0}
	return x, nil
}

func parseDate(s string, layouts []string) string {
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Format("2006-01-02")
		}
	}
	return ""
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
