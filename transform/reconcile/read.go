package reconcile

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nhs-esr/jobplan-hub/internal/extsort"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/report"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// InputError means an input cannot be used: unreadable, not the expected
// format, or holding values that cannot be read. Problems lists them, in
// line order, up to maxProblems; More counts the rest.
type InputError struct {
	Path     string
	Problems []string
	More     int
}

func (e *InputError) Error() string {
	const shown = 20
	ps := e.Problems
	more := ""
	if n := len(ps) - min(len(ps), shown) + e.More; n > 0 {
		more = fmt.Sprintf("\n... and %d more", n)
		ps = ps[:min(len(ps), shown)]
	}
	return e.Path + ": " + strings.Join(ps, "\n"+e.Path+": ") + more
}

// maxProblems bounds the problems kept of one input: a file that is wrong
// throughout says so in its first lines, and memory stays bounded.
const maxProblems = 1000

// problems collects an input's problems, keeping the first maxProblems by
// line.
type problems struct {
	list []problem
	more int
}

type problem struct {
	line, order int
	text        string
}

func (ps *problems) add(line int, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if line > 0 {
		text = fmt.Sprintf("line %d: ", line) + text
	}
	ps.list = append(ps.list, problem{line: line, order: len(ps.list), text: text})
	if len(ps.list) > 2*maxProblems {
		ps.trim()
	}
}

// trim keeps the first maxProblems in line order (problems of one line in
// the order found) and counts the rest.
func (ps *problems) trim() {
	slices.SortStableFunc(ps.list, func(a, b problem) int {
		return cmp.Or(cmp.Compare(sortLine(a.line), sortLine(b.line)), cmp.Compare(a.order, b.order))
	})
	if len(ps.list) > maxProblems {
		ps.more += len(ps.list) - maxProblems
		ps.list = ps.list[:maxProblems]
	}
	for i := range ps.list {
		ps.list[i].order = i
	}
}

// sortLine puts a problem of no line (the file as a whole) last.
func sortLine(line int) int {
	if line <= 0 {
		return math.MaxInt
	}
	return line
}

func (ps *problems) any() bool { return len(ps.list) > 0 || ps.more > 0 }

// err is the problems as an *InputError for path, nil when there are none.
func (ps *problems) err(path string) error {
	if !ps.any() {
		return nil
	}
	ps.trim()
	e := &InputError{Path: path, More: ps.more}
	for _, p := range ps.list {
		e.Problems = append(e.Problems, p.text)
	}
	return e
}

// Plan is an assignment's latest job plan.
type Plan struct {
	EmployeeNumber   string
	AssignmentNumber string
	ContractType     string
	EffectiveDate    string
	Total, APA       decimal.Dec
	SupplementPct    *decimal.Dec // nil: not on the England/SAS supplement
	WalesBand        *decimal.Dec // nil: no Welsh band
	Source           string       // file:line
}

// Plans are the job-plan records read, sorted by assignment number (in
// memory up to a bound, beyond it in sorted runs on disk), for Reconcile
// to take each assignment's latest plan from. Close removes the runs.
type Plans struct {
	Read       int // records read
	Superseded int // earlier plans of an assignment, not compared
	Files      []string
	// Reading is the APA reading every file was converted under (the
	// mapping's rules.apa_reading): what a record's total holds.
	Reading validate.APAReading
	// ReadingFrom says how Reading is known: a report, or the operator.
	ReadingFrom string

	sorted *extsort.Sorter // planRecs by assignment, then effective date
	rec    []byte
}

// ReadOptions say where the sorted runs of a large input go and how the
// reading is shown.
type ReadOptions struct {
	TempDir  string   // for sorted runs (default os.TempDir())
	Progress Progress // nil for none
}

// sortBudget is the memory each input's records may hold before sorted runs
// of them go to a temporary file (a variable for tests).
var sortBudget = 8 << 20

// Close removes the temporary files.
func (ps *Plans) Close() error {
	if ps.sorted == nil {
		return nil
	}
	return ps.sorted.Close()
}

// ReadPlans reads job-plan records (jobplans.jsonl as convert writes them).
// Reconcile compares each assignment's latest plan: the latest effective
// date, and for equal dates the one read last (as convert does within a
// file).
//
// It also establishes the APA reading the files were converted under, as
// PAs planned depend on it. For x.jobplans.jsonl that is the apa_reading of
// the x.report.json convert (and the hub) writes beside it. stated is the
// operator's statement of it, for files without such a report (records
// delivered to a folder or SFTP, or converted before reports said so):
// "" when not given. The reading is never guessed: a file whose reading is
// unknown, a statement a report contradicts, or files converted under
// different readings are an *InputError.
func ReadPlans(ctx context.Context, paths []string, stated validate.APAReading, o ReadOptions) (*Plans, error) {
	ps := &Plans{sorted: extsort.New(o.TempDir, sortBudget, comparePlanRecs)}
	if err := ps.readAll(ctx, paths, stated, o); err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

func (ps *Plans) readAll(ctx context.Context, paths []string, stated validate.APAReading, o ReadOptions) error {
	if stated != "" && !slices.Contains(validate.APAReadings, stated) {
		return &InputError{Path: "--plans-apa-reading", Problems: []string{fmt.Sprintf("%q is not in_total or outside_total", stated)}}
	}
	var total int64
	for _, path := range paths {
		if st, err := os.Stat(path); err == nil {
			total += st.Size()
		}
	}
	stage(o.Progress, "reading job plans", total, true)
	for _, path := range paths {
		if err := ps.fileReading(path, stated); err != nil {
			return err
		}
		if err := ps.readFile(ctx, path, o.Progress); err != nil {
			return err
		}
		ps.Files = append(ps.Files, path)
	}
	// The plans of an assignment are together once sorted: all but its
	// latest are superseded.
	it, err := ps.sorted.Sorted()
	if err != nil {
		return err
	}
	groups := 0
	var prev []byte
	for n := 0; it.Next(); n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if asg := (recReader{b: it.Record()}).first(); n == 0 || !bytes.Equal(asg, prev) {
			groups++
			prev = append(prev[:0], asg...)
		}
	}
	ps.Superseded = ps.Read - groups
	return it.Err()
}

// fileReading finds the APA reading of one records file and checks it
// against the statement and the files before it.
func (ps *Plans) fileReading(path string, stated validate.APAReading) error {
	reading, report, err := convertedReading(path)
	if err != nil {
		return &InputError{Path: path, Problems: []string{err.Error()}}
	}
	from := report
	switch {
	case reading != "" && stated != "" && reading != stated:
		return &InputError{Path: path, Problems: []string{fmt.Sprintf("converted under apa_reading %s (%s), but --plans-apa-reading says %s", reading, report, stated)}}
	case reading == "" && stated == "":
		why := "no " + report + " beside it says so"
		if report == "" {
			why = "it is not named <input>.jobplans.jsonl, so it has no report beside it"
		}
		return &InputError{Path: path, Problems: []string{fmt.Sprintf("the APA reading it was converted under (the mapping's rules.apa_reading) is not known: %s. Give --plans-apa-reading in_total or outside_total, as that mapping says", why)}}
	case reading == "":
		reading, from = stated, "--plans-apa-reading"
	}
	if ps.Reading != "" && ps.Reading != reading {
		return &InputError{Path: path, Problems: []string{fmt.Sprintf("converted under apa_reading %s (%s), but %s was converted under %s (%s): their totals mean different things; reconcile them separately", reading, from, ps.Files[0], ps.Reading, ps.ReadingFrom)}}
	}
	ps.Reading, ps.ReadingFrom = reading, from
	return nil
}

// convertedReading returns the apa_reading recorded in the report.json
// beside a records file, and that report's name. reading is "" when there
// is no report (report is then its expected name, or "" for a file not
// named *.jobplans.jsonl), or when the report predates the setting. A
// report that cannot be read, or that is about another records file, is
// an error: it cannot vouch for this one.
func convertedReading(path string) (reading validate.APAReading, report string, err error) {
	base, ok := strings.CutSuffix(filepath.Base(path), ".jobplans.jsonl")
	if !ok {
		return "", "", nil
	}
	report = base + ".report.json"
	f, err := os.Open(filepath.Join(filepath.Dir(path), report))
	if errors.Is(err, fs.ErrNotExist) {
		return "", report, nil
	}
	if err != nil {
		return "", report, err
	}
	defer f.Close()
	// The header comes before the findings, which may be many: read only
	// the keys before "findings".
	var head struct {
		APAReading *string `json:"apa_reading"`
		Outputs    struct {
			Records string `json:"records"`
		} `json:"outputs"`
	}
	dec := json.NewDecoder(bufio.NewReader(f))
	bad := func(err error) (validate.APAReading, string, error) {
		return "", report, fmt.Errorf("%s cannot be read: %v", report, err)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad(fmt.Errorf("not a JSON object"))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		key, _ := t.(string)
		if key == "findings" {
			break
		}
		var dst any = new(json.RawMessage)
		switch key {
		case "apa_reading":
			dst = &head.APAReading
		case "outputs":
			dst = &head.Outputs
		}
		if err := dec.Decode(dst); err != nil {
			return bad(err)
		}
	}
	if head.Outputs.Records != filepath.Base(path) {
		return "", report, fmt.Errorf("%s is the report of records %q, not of this file", report, head.Outputs.Records)
	}
	if head.APAReading == nil {
		return "", report, nil
	}
	r := validate.APAReading(*head.APAReading)
	if !slices.Contains(validate.APAReadings, r) {
		return "", report, fmt.Errorf("%s gives apa_reading %q, which is not in_total or outside_total", report, r)
	}
	return r, report, nil
}

func (ps *Plans) readFile(ctx context.Context, path string, pr Progress) error {
	f, err := os.Open(path)
	if err != nil {
		return &InputError{Path: path, Problems: []string{err.Error()}}
	}
	defer f.Close()
	return ps.read(ctx, path, len(ps.Files), &progressReader{r: f, p: pr})
}

// planRecord is the part of a job-plan record reconcile reads.
type planRecord struct {
	Emp      string       `json:"employee_number"`
	Asg      string       `json:"assignment_number"`
	Contract string       `json:"contract_type"`
	Date     string       `json:"effective_date"`
	Total    *decimal.Dec `json:"total_contracted_pas"`
	APA      *decimal.Dec `json:"apa_eps"`
	Pct      *decimal.Dec `json:"on_call_supplement_pct"`
	Band     *decimal.Dec `json:"on_call_band_wales"`
}

// read reads the records of file number file (of ps.Files) into the sort.
func (ps *Plans) read(ctx context.Context, path string, file int, r io.Reader) error {
	var probs problems
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var x planView
		if err := decodePlanRecord(text, &x); err != nil {
			probs.add(line, "not a job-plan record: %v", err)
			continue
		}
		switch {
		case len(x.asg) == 0:
			probs.add(line, "no assignment_number")
			continue
		case !x.total.ok:
			probs.add(line, "no total_contracted_pas")
			continue
		case !weekly(x.total.v) || (x.apa.ok && !weekly(x.apa.v)):
			// convert never writes such a record; refused so that every sum
			// below stays far from overflow.
			probs.add(line, "total_contracted_pas or apa_eps is not between 0 and %s PAs a week", record.MaxWeeklyPAs)
			continue
		}
		ps.Read++
		if probs.any() {
			continue // the file is refused: nothing more to sort
		}
		ps.rec = appendPlanRec(ps.rec[:0], &x, file, line)
		if err := ps.sorted.Add(ps.rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		probs.add(0, "%v", err)
	}
	return probs.err(path)
}

// A plan's sort record: assignment and effective date (the sort key, each
// length first), then the rest. The sort is stable, so plans of one
// assignment and date stay in the order read, the last read last.
func appendPlanRec(b []byte, x *planView, file, line int) []byte {
	b = appendBytes(b, x.asg)
	b = appendBytes(b, x.date)
	b = binary.AppendUvarint(b, uint64(file))
	b = binary.AppendUvarint(b, uint64(line))
	b = appendBytes(b, x.emp)
	b = appendBytes(b, x.contract)
	b = binary.AppendVarint(b, int64(x.total.v))
	b = appendOptDec(b, x.apa.ptr())
	b = appendOptDec(b, x.pct.ptr())
	return appendOptDec(b, x.band.ptr())
}

func comparePlanRecs(a, b []byte) int {
	r, s := recReader{b: a}, recReader{b: b}
	if c := bytes.Compare(r.bytes(), s.bytes()); c != 0 {
		return c
	}
	return bytes.Compare(r.bytes(), s.bytes())
}

// decodePlan reads a plan's sort record into p.
func (ps *Plans) decodePlan(b []byte, p *Plan) (asg []byte, err error) {
	r := recReader{b: b}
	asg = r.bytes()
	date := r.bytes()
	file, line := r.uvarint(), r.uvarint()
	emp, contract := r.bytes(), r.bytes()
	total := r.varint()
	apa, pct, band := r.optDec(), r.optDec(), r.optDec()
	if r.bad || file >= uint64(len(ps.Files)) {
		return nil, errCorrupt
	}
	*p = Plan{EmployeeNumber: string(emp), AssignmentNumber: string(asg), ContractType: string(contract), EffectiveDate: string(date),
		Total: decimal.Dec(total), SupplementPct: pct, WalesBand: band, Source: ps.source(int(file), int(line))}
	if apa != nil {
		p.APA = *apa
	}
	return asg, nil
}

func (ps *Plans) source(file, line int) string {
	return filepath.Base(ps.Files[file]) + ":" + strconv.Itoa(line)
}

// planGroups yields the latest plan of each assignment in turn.
type planGroups struct {
	ps      *Plans
	it      *extsort.Iter
	pending []byte // the record read ahead, nil at the end
	asg     []byte
	read    int // records consumed
}

func (ps *Plans) groups() (*planGroups, error) {
	it, err := ps.sorted.Sorted()
	if err != nil {
		return nil, err
	}
	g := &planGroups{ps: ps, it: it}
	g.advance()
	return g, it.Err()
}

func (g *planGroups) advance() {
	if g.it.Next() {
		g.pending = g.it.Record()
		g.read++
	} else {
		g.pending = nil
	}
}

// next returns the latest plan of the next assignment, nil at the end.
func (g *planGroups) next() (*Plan, error) {
	if g.pending == nil {
		return nil, g.it.Err()
	}
	p := &Plan{}
	var last []byte
	for g.pending != nil {
		asg := recReader{b: g.pending}.first()
		if last != nil && !bytes.Equal(asg, g.asg) {
			break
		}
		last = append(last[:0], g.pending...)
		g.asg = append(g.asg[:0], asg...)
		g.advance()
	}
	if _, err := g.ps.decodePlan(last, p); err != nil {
		return nil, err
	}
	return p, g.it.Err()
}

// Pay is one assignment's row of the payroll extract.
type Pay struct {
	AssignmentNumber string
	EmployeeNumber   string
	Name             string
	Department       string // department or cost centre; "" when not configured
	PAs              decimal.Dec
	SupplementPct    *decimal.Dec // nil: blank
	WalesBand        *decimal.Dec // nil: blank
	Basic            *decimal.Dec // annual; nil: blank
	FTE              *decimal.Dec // nil: blank
	Line             int
}

// Payroll is the payroll extract, sorted by assignment number (in memory up
// to a bound, beyond it in sorted runs on disk). Close removes the runs.
type Payroll struct {
	Rows int
	Path string

	sorted *extsort.Sorter // payRecs by assignment, in line order
	rec    []byte
}

// Close removes the temporary files.
func (pr *Payroll) Close() error {
	if pr.sorted == nil {
		return nil
	}
	return pr.sorted.Close()
}

// ReadPayroll reads a payroll extract with configuration c. Every value
// that cannot be read, and every assignment with more than one row, is
// reported (the first maxProblems, in an *InputError): money estimates are
// not made from a partly read extract.
func ReadPayroll(ctx context.Context, path string, c *Config, o ReadOptions) (*Payroll, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Path: path, Problems: []string{err.Error()}}
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	stage(o.Progress, "reading payroll", size, true)
	pr, err := readPayroll(ctx, &progressReader{r: f, p: o.Progress}, c, o)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			ie.Path = path
			return nil, ie
		}
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, &InputError{Path: path, Problems: []string{err.Error()}}
	}
	pr.Path = path
	return pr, nil
}

func readPayroll(ctx context.Context, r io.Reader, c *Config, o ReadOptions) (*Payroll, error) {
	pr := &Payroll{sorted: extsort.New(o.TempDir, sortBudget, comparePayRecs)}
	if err := pr.read(ctx, r, c); err != nil {
		pr.Close()
		return nil, err
	}
	return pr, nil
}

func (pr *Payroll) read(ctx context.Context, r io.Reader, c *Config) error {
	cr, err := decode.NewCSVReader(r, c.csvOptions())
	if err != nil {
		return err
	}
	header := cr.Header()
	var missing []string
	col := func(name string) int {
		if name == "" {
			return -1
		}
		for i, h := range header {
			if strings.EqualFold(h, strings.TrimSpace(name)) {
				return i
			}
		}
		missing = append(missing, fmt.Sprintf("%q", name))
		return -1
	}
	cols := c.Columns
	iAsg, iEmp, iName, iPAs := col(cols.AssignmentNumber), col(cols.EmployeeNumber), col(cols.Name), col(cols.PAsPaid)
	iPct, iBand, iBasic, iFTE := col(cols.SupplementPct), col(cols.WalesBand), col(cols.BasicSalary), col(cols.FTE)
	iDept := col(cols.Department)
	if len(missing) > 0 {
		return fmt.Errorf("column(s) %s not in the header (%s)", strings.Join(missing, ", "), strings.Join(header, ", "))
	}
	var probs problems
	bad := probs.add
	var p Pay
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		row, err := cr.Next()
		if err == io.EOF {
			break
		}
		var rowErr *decode.RowError
		if errors.As(err, &rowErr) {
			bad(rowErr.Row.Line, "cannot be read: %s", strings.TrimPrefix(report.RowProblem(rowErr), "Row could not be read: "))
			continue
		}
		if err != nil {
			return err
		}
		pr.Rows++
		if len(row.Fields) != len(header) {
			bad(row.Line, "has %d columns but the header has %d", len(row.Fields), len(header))
			continue
		}
		get := func(i int) string {
			if i < 0 {
				return ""
			}
			return strings.TrimSpace(row.Fields[i])
		}
		p = Pay{AssignmentNumber: get(iAsg), EmployeeNumber: get(iEmp), Name: get(iName), Department: get(iDept), Line: row.Line}
		if p.AssignmentNumber == "" {
			bad(row.Line, "no assignment number")
			continue
		}
		num := func(i int, what string, money bool) *decimal.Dec {
			s := get(i)
			if s == "" {
				return nil
			}
			v, err := parseNumber(s, c.CSV.DecimalComma, money)
			if err != nil {
				bad(row.Line, "%s %q is not a number", what, s)
				return nil
			}
			if v < 0 {
				bad(row.Line, "%s %q is negative", what, s)
				return nil
			}
			return &v
		}
		if pas := num(iPAs, header[iPAs], false); pas != nil {
			if *pas > record.MaxWeeklyPAs {
				bad(row.Line, "%s %q is more PAs than a week has hours", header[iPAs], get(iPAs))
			}
			p.PAs = *pas
		} else if get(iPAs) == "" {
			bad(row.Line, "%s is blank", header[iPAs])
		}
		if iPct >= 0 {
			p.SupplementPct = num(iPct, header[iPct], false)
			if p.SupplementPct != nil && *p.SupplementPct > hundred {
				bad(row.Line, "%s %q is more than 100%%", header[iPct], get(iPct))
			}
		}
		if iBand >= 0 {
			s := get(iBand)
			s = strings.TrimSpace(strings.TrimPrefix(strings.ToLower(s), "band"))
			if s != "" {
				v, err := decimal.Parse(s, false)
				if err != nil || !v.IsWhole() || v < 0 {
					bad(row.Line, "%s %q is not a band number", header[iBand], get(iBand))
				} else if v > 0 {
					p.WalesBand = &v
				}
			}
		}
		if iBasic >= 0 {
			p.Basic = num(iBasic, header[iBasic], true)
		}
		if iFTE >= 0 {
			p.FTE = num(iFTE, header[iFTE], false)
		}
		// Rows with bad values are sorted too, so that an assignment's
		// repeated rows are reported with them.
		pr.rec = appendPayRec(pr.rec[:0], &p)
		if err := pr.sorted.Add(pr.rec); err != nil {
			return err
		}
	}
	// One row per assignment: the rows of an assignment are together once
	// sorted, in line order.
	it, err := pr.sorted.Sorted()
	if err != nil {
		return err
	}
	var prev []byte
	first := 0
	for n := 0; it.Next(); n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec := recReader{b: it.Record()}
		asg, line := rec.bytes(), int(rec.uvarint())
		if prev != nil && bytes.Equal(asg, prev) {
			bad(line, "assignment %s appears again (first at line %d): the extract must have one row per assignment", asg, first)
			continue
		}
		prev, first = append(prev[:0], asg...), line
	}
	if err := it.Err(); err != nil {
		return err
	}
	return probs.err("")
}

// A payroll row's sort record: the assignment number (the sort key, its
// length first), its line, then the rest. The sort is stable: an
// assignment's rows stay in line order.
func appendPayRec(b []byte, p *Pay) []byte {
	b = appendString(b, p.AssignmentNumber)
	b = binary.AppendUvarint(b, uint64(p.Line))
	b = appendString(b, p.EmployeeNumber)
	b = appendString(b, p.Name)
	b = appendString(b, p.Department)
	b = binary.AppendVarint(b, int64(p.PAs))
	for _, d := range []*decimal.Dec{p.SupplementPct, p.WalesBand, p.Basic, p.FTE} {
		b = appendOptDec(b, d)
	}
	return b
}

func comparePayRecs(a, b []byte) int {
	return bytes.Compare(recReader{b: a}.first(), recReader{b: b}.first())
}

func decodePay(b []byte, p *Pay) error {
	r := recReader{b: b}
	asg := r.bytes()
	line := r.uvarint()
	emp, name, dept := r.bytes(), r.bytes(), r.bytes()
	pas := r.varint()
	pct, band, basic, fte := r.optDec(), r.optDec(), r.optDec(), r.optDec()
	if r.bad {
		return errCorrupt
	}
	*p = Pay{AssignmentNumber: string(asg), EmployeeNumber: string(emp), Name: string(name), Department: string(dept),
		PAs: decimal.Dec(pas), SupplementPct: pct, WalesBand: band, Basic: basic, FTE: fte, Line: int(line)}
	return nil
}

var hundred = decimal.Int(100)

// weekly reports whether d is a PA value a week can hold.
func weekly(d decimal.Dec) bool { return d >= 0 && d <= record.MaxWeeklyPAs }

// parseNumber reads a plain decimal; money may carry a £ sign and
// thousands separators (84,000.00, or 84.000,00 with decimal commas).
func parseNumber(s string, decimalComma, money bool) (decimal.Dec, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	if money {
		s = strings.TrimPrefix(s, "£")
		s = strings.TrimPrefix(s, "GBP")
		s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
		if decimalComma {
			s = strings.ReplaceAll(s, ".", "")
		} else {
			s = strings.ReplaceAll(s, ",", "")
		}
	}
	return decimal.Parse(strings.TrimSpace(s), decimalComma)
}

// isWelsh reports whether a plan is on the Welsh contract (bands, not %).
func (p *Plan) isWelsh() bool {
	return p.ContractType == record.ConsultantWales || p.WalesBand != nil
}
