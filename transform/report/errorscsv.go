package report

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/internal/extsort"
	"github.com/nhs-esr/jobplan-hub/internal/spool"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// errors.csv is for a trust's analyst in Excel:
//   - UTF-8 with a byte-order mark, the only way Excel on Windows reads a
//     CSV as UTF-8 rather than Windows-1252 (without it "band (1–3)" shows
//     as "band (1â€“3)" and Siân as SiÃ¢n);
//   - CRLF line ends, headers a person reads, one row per finding in line
//     order (findings about duplicates are made at the end of the file, and
//     a long layout's plan-wide findings after its rows' ones);
//   - every cell from the input neutralised against formulas (SafeCell).

// CSVHeader is the header row of errors.csv; Name follows "Assignment
// number" when the mapping gives names (CSVHeaderWithNames).
var CSVHeader = []string{"Line", "Last line", "Assignment number", "Field", "Column", "Value", "Rule", "Rule title", "Severity", "What was found", "How to fix", "Plan number"}

// CSVHeaderWithNames is the header when the mapping gives names.
var CSVHeaderWithNames = []string{"Line", "Last line", "Assignment number", "Name", "Field", "Column", "Value", "Rule", "Rule title", "Severity", "What was found", "How to fix", "Plan number"}

// csvSortBudget is the memory errors.csv's rows may hold before sorted runs
// of them go to a temporary file (a variable for tests).
var csvSortBudget = 2 << 20

// csvRows sorts the findings by line and writes them as errors.csv.
type csvRows struct {
	out   io.Writer
	rows  *extsort.Sorter
	seq   uint64
	rec   []byte
	names *nameSpool // nil: no Name column
	dir   string
}

func newCSVRows(dir string, out io.Writer) *csvRows {
	return &csvRows{out: out, dir: dir, rows: extsort.New(dir, csvSortBudget, bytes.Compare)}
}

func (c *csvRows) showNames() {
	if c.names == nil {
		sp := spool.New(c.dir, ".names-", spoolInMemory)
		c.names = &nameSpool{sp: sp, w: bufio.NewWriterSize(sp, 16<<10)}
	}
}

// add queues one finding. Its sort key is its line, then its plan, then the
// order it was found in: a stable sort by line that keeps each plan's rows
// together when plans share a line (a JSON file with several records on one
// line), and keeps plan numbers rising down the file, as PlanName needs.
func (c *csvRows) add(f *finding.Finding) error {
	c.seq++
	b := c.rec[:0]
	b = binary.BigEndian.AppendUint64(b, uint64(max(f.Line, 0)))
	b = binary.BigEndian.AppendUint64(b, uint64(max(f.Record, 0)))
	b = binary.BigEndian.AppendUint64(b, c.seq)
	b = appendFinding(b, f)
	c.rec = b
	return c.rows.Add(b)
}

const keyLen = 24

func (c *csvRows) planName(record int, surname, forenames string) error {
	if c.names == nil || surname+forenames == "" {
		return nil
	}
	return c.names.add(record, surname, forenames)
}

func (c *csvRows) flush() error {
	if _, err := io.WriteString(c.out, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(c.out)
	cw.UseCRLF = true // Excel's native line ending
	header := CSVHeader
	var names *nameReader
	if c.names != nil {
		header = CSVHeaderWithNames
		r, err := c.names.reader()
		if err != nil {
			return err
		}
		names = r
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	it, err := c.rows.Sorted()
	if err != nil {
		return err
	}
	row := make([]string, 0, len(header))
	for it.Next() {
		f, err := readFinding(it.Record()[keyLen:])
		if err != nil {
			return err
		}
		row = row[:0]
		row = append(row, lineCell(f.Line), lineCell(max(f.EndLine, f.Line)), SafeCell(f.Assignment))
		if names != nil {
			name := ""
			if f.Record > 0 {
				if name, err = names.lookup(f.Record); err != nil {
					return err
				}
			}
			row = append(row, SafeCell(name))
		}
		title := ""
		if r, ok := finding.Rules[f.Rule]; ok {
			title = r.Title
		}
		row = append(row, SafeCell(fieldLabel(f.Field)), SafeCell(f.Column), SafeCell(f.Value),
			SafeCell(f.Rule), title, severityCell(f.Severity), SafeCell(f.Message), SafeCell(f.Fix), lineCell(f.Record))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func (c *csvRows) close() error {
	err := c.rows.Close()
	if c.names != nil {
		err = errors.Join(err, c.names.sp.Close())
	}
	return err
}

// lineCell is a line or plan number; blank for none (0).
func lineCell(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// fieldLabel names a record field as the ESR form does ("Total Contracted
// Direct Clinical Care (DCC)"), or leaves a key it does not know as it is.
func fieldLabel(key string) string {
	if id, ok := record.Lookup(key); ok {
		return id.Field().Label
	}
	return key
}

func severityCell(s finding.Severity) string {
	switch s {
	case finding.Error:
		return "Error"
	case finding.Warning:
		return "Warning"
	}
	return string(s)
}

// appendFinding encodes f compactly for the sort: three numbers, then
// eight strings, each length first.
func appendFinding(b []byte, f *finding.Finding) []byte {
	for _, n := range []int{f.Record, f.Line, f.EndLine} {
		b = binary.AppendUvarint(b, uint64(max(n, 0)))
	}
	for _, s := range []string{f.Assignment, f.Field, f.Column, f.Value, f.Rule, string(f.Severity), f.Message, f.Fix} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errBadRecord = errors.New("corrupt finding in the errors.csv sort")

// readFinding decodes what appendFinding wrote.
func readFinding(b []byte) (finding.Finding, error) {
	var f finding.Finding
	for _, n := range []*int{&f.Record, &f.Line, &f.EndLine} {
		v, k := binary.Uvarint(b)
		if k <= 0 || v > 1<<62 {
			return f, errBadRecord
		}
		*n, b = int(v), b[k:]
	}
	var sev string
	for _, s := range []*string{&f.Assignment, &f.Field, &f.Column, &f.Value, &f.Rule, &sev, &f.Message, &f.Fix} {
		v, k := binary.Uvarint(b)
		if k <= 0 || v > uint64(len(b)-k) {
			return f, errBadRecord
		}
		*s, b = string(b[k:k+int(v)]), b[k+int(v):]
	}
	f.Severity = finding.Severity(sev)
	if len(b) != 0 {
		return f, errBadRecord
	}
	return f, nil
}

// nameSpool keeps the doctors' names by plan number, in plan order, in
// memory up to a bound and then in a temporary file, for errors.csv's Name
// column: its rows come out in line order, which is plan order, so the
// names are read back in one pass.
type nameSpool struct {
	sp   *spool.Spool
	w    *bufio.Writer
	last int
}

// add stores "surname, forenames", or the one that is not blank.
func (n *nameSpool) add(record int, surname, forenames string) error {
	if record <= n.last {
		return fmt.Errorf("plan name for record %d after record %d", record, n.last)
	}
	n.last = record
	sep := ", "
	if surname == "" || forenames == "" {
		sep = ""
	}
	if len(surname)+len(sep)+len(forenames) > maxName {
		// A name is for display: an absurdly long cell is cut short
		// rather than carried whole.
		name := surname + sep + forenames
		cut := maxName
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		surname, sep, forenames = name[:cut], "", "…"
	}
	var b [2 * binary.MaxVarintLen64]byte
	k := binary.PutUvarint(b[:], uint64(record))
	k += binary.PutUvarint(b[k:], uint64(len(surname)+len(sep)+len(forenames)))
	n.w.Write(b[:k])
	n.w.WriteString(surname)
	n.w.WriteString(sep)
	if _, err := n.w.WriteString(forenames); err != nil {
		return fmt.Errorf("write names: %w", err)
	}
	return nil
}

// maxName is the longest name kept, in bytes.
const maxName = 200

func (n *nameSpool) reader() (*nameReader, error) {
	if err := n.w.Flush(); err != nil {
		return nil, fmt.Errorf("write names: %w", err)
	}
	r := &nameReader{sp: n.sp}
	return r, r.restart()
}

// nameReader looks names up by rising plan number.
type nameReader struct {
	sp     *spool.Spool
	r      *bufio.Reader
	asked  int    // the last plan asked for
	record int    // the entry read ahead; 0 at the end
	name   []byte // its name
}

func (r *nameReader) restart() error {
	src, err := r.sp.Reader()
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	r.r = bufio.NewReaderSize(src, 16<<10)
	r.asked = 0
	return r.advance()
}

func (r *nameReader) advance() error {
	rec, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		r.record = 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil || n > 1<<20 {
		return fmt.Errorf("read names: %w", errBadRecord)
	}
	if uint64(cap(r.name)) < n {
		r.name = make([]byte, n)
	}
	r.name = r.name[:n]
	if _, err := io.ReadFull(r.r, r.name); err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	r.record = int(rec)
	return nil
}

// lookup returns the name of plan record ("" when none was given).
func (r *nameReader) lookup(record int) (string, error) {
	if record < r.asked {
		// Not expected (rows come in plan order), but never a wrong name:
		// read from the start again.
		if err := r.restart(); err != nil {
			return "", err
		}
	}
	r.asked = record
	for r.record != 0 && r.record < record {
		if err := r.advance(); err != nil {
			return "", err
		}
	}
	if r.record == record {
		return string(r.name), nil
	}
	return "", nil
}
