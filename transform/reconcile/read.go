package reconcile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/decode"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// InputError means an input cannot be used: unreadable, not the expected
// format, or holding values that cannot be read. Problems lists them all.
type InputError struct {
	Path     string
	Problems []string
}

func (e *InputError) Error() string {
	const shown = 20
	ps := e.Problems
	more := ""
	if len(ps) > shown {
		more = fmt.Sprintf("\n... and %d more", len(ps)-shown)
		ps = ps[:shown]
	}
	return e.Path + ": " + strings.Join(ps, "\n"+e.Path+": ") + more
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

// Plans are the latest plans by assignment number.
type Plans struct {
	ByAssignment map[string]*Plan
	Read         int // records read
	Superseded   int // earlier plans of an assignment, not compared
	Files        []string
	// Reading is the APA reading every file was converted under (the
	// mapping's rules.apa_reading): what a record's total holds.
	Reading validate.APAReading
	// ReadingFrom says how Reading is known: a report, or the operator.
	ReadingFrom string
}

// ReadPlans reads job-plan records (jobplans.jsonl as convert writes them)
// and keeps each assignment's latest plan: the latest effective date, and
// for equal dates the one read last (as convert does within a file).
//
// It also establishes the APA reading the files were converted under, as
// PAs planned depend on it. For x.jobplans.jsonl that is the apa_reading of
// the x.report.json convert (and the hub) writes beside it. stated is the
// operator's statement of it, for files without such a report (records
// delivered to a folder or SFTP, or converted before reports said so):
// "" when not given. The reading is never guessed: a file whose reading is
// unknown, a statement a report contradicts, or files converted under
// different readings are an *InputError.
func ReadPlans(paths []string, stated validate.APAReading) (*Plans, error) {
	ps := &Plans{ByAssignment: map[string]*Plan{}}
	if stated != "" && !slices.Contains(validate.APAReadings, stated) {
		return nil, &InputError{Path: "--plans-apa-reading", Problems: []string{fmt.Sprintf("%q is not in_total or outside_total", stated)}}
	}
	for _, path := range paths {
		if err := ps.fileReading(path, stated); err != nil {
			return nil, err
		}
		if err := ps.readFile(path); err != nil {
			return nil, err
		}
		ps.Files = append(ps.Files, path)
	}
	return ps, nil
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

func (ps *Plans) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &InputError{Path: path, Problems: []string{err.Error()}}
	}
	defer f.Close()
	return ps.read(path, f)
}

func (ps *Plans) read(path string, r io.Reader) error {
	type rec struct {
		Emp      string       `json:"employee_number"`
		Asg      string       `json:"assignment_number"`
		Contract string       `json:"contract_type"`
		Date     string       `json:"effective_date"`
		Total    *decimal.Dec `json:"total_contracted_pas"`
		APA      *decimal.Dec `json:"apa_eps"`
		Pct      *decimal.Dec `json:"on_call_supplement_pct"`
		Band     *decimal.Dec `json:"on_call_band_wales"`
	}
	var problems []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	base := filepath.Base(path)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var x rec
		if err := json.Unmarshal([]byte(text), &x); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: not a job-plan record: %v", line, err))
			continue
		}
		switch {
		case x.Asg == "":
			problems = append(problems, fmt.Sprintf("line %d: no assignment_number", line))
			continue
		case x.Total == nil:
			problems = append(problems, fmt.Sprintf("line %d: no total_contracted_pas", line))
			continue
		case !weekly(*x.Total) || (x.APA != nil && !weekly(*x.APA)):
			// convert never writes such a record; refused so that every sum
			// below stays far from overflow.
			problems = append(problems, fmt.Sprintf("line %d: total_contracted_pas or apa_eps is not between 0 and %s PAs a week", line, record.MaxWeeklyPAs))
			continue
		}
		ps.Read++
		p := &Plan{EmployeeNumber: x.Emp, AssignmentNumber: x.Asg, ContractType: x.Contract, EffectiveDate: x.Date,
			Total: *x.Total, SupplementPct: x.Pct, WalesBand: x.Band, Source: base + ":" + strconv.Itoa(line)}
		if x.APA != nil {
			p.APA = *x.APA
		}
		if old, ok := ps.ByAssignment[x.Asg]; ok {
			ps.Superseded++
			if old.EffectiveDate > p.EffectiveDate {
				continue
			}
		}
		ps.ByAssignment[x.Asg] = p
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return &InputError{Path: path, Problems: problems}
	}
	return nil
}

// Pay is one assignment's row of the payroll extract.
type Pay struct {
	AssignmentNumber string
	EmployeeNumber   string
	Name             string
	PAs              decimal.Dec
	SupplementPct    *decimal.Dec // nil: blank
	WalesBand        *decimal.Dec // nil: blank
	Basic            *decimal.Dec // annual; nil: blank
	FTE              *decimal.Dec // nil: blank
	Line             int
}

// Payroll is the payroll extract by assignment number.
type Payroll struct {
	ByAssignment map[string]*Pay
	Rows         int
	Path         string
}

// ReadPayroll reads a payroll extract with configuration c. Every value
// that cannot be read is reported (all at once, in an *InputError): money
// estimates are not made from a partly read extract.
func ReadPayroll(path string, c *Config) (*Payroll, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Path: path, Problems: []string{err.Error()}}
	}
	defer f.Close()
	pr, err := readPayroll(f, c)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			ie.Path = path
			return nil, ie
		}
		return nil, &InputError{Path: path, Problems: []string{err.Error()}}
	}
	pr.Path = path
	return pr, nil
}

func readPayroll(r io.Reader, c *Config) (*Payroll, error) {
	cr, err := decode.NewCSVReader(r, c.csvOptions())
	if err != nil {
		return nil, err
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
	if len(missing) > 0 {
		return nil, fmt.Errorf("column(s) %s not in the header (%s)", strings.Join(missing, ", "), strings.Join(header, ", "))
	}
	pr := &Payroll{ByAssignment: map[string]*Pay{}}
	var problems []string
	bad := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
	}
	for {
		row, err := cr.Next()
		if err == io.EOF {
			break
		}
		var rowErr *decode.RowError
		if errors.As(err, &rowErr) {
			bad(rowErr.Row.Line, "cannot be read: %v", rowErr.Err)
			continue
		}
		if err != nil {
			return nil, err
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
		p := &Pay{AssignmentNumber: get(iAsg), EmployeeNumber: get(iEmp), Name: get(iName), Line: row.Line}
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
		if old, dup := pr.ByAssignment[p.AssignmentNumber]; dup {
			bad(row.Line, "assignment %s appears again (first at line %d): the extract must have one row per assignment", p.AssignmentNumber, old.Line)
			continue
		}
		pr.ByAssignment[p.AssignmentNumber] = p
	}
	if len(problems) > 0 {
		return nil, &InputError{Problems: problems}
	}
	return pr, nil
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
