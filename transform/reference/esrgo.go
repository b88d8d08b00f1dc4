package reference

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decode"
)

// ESR generic outbound (GO) staff extract.
//
// What is public (domain.md §1): one record a line, fields separated by
// "~", each record starting with a three-letter type — HDR header, PRA/PRD
// person update/delete, ASA/ASD assignment update/delete, POA position,
// ORA organisation, LCA location — and body dates as yyyyMMdd. The header
// holds the file name, the creation time (yyyyMMdd HHmmss), the VPD number,
// the previous run date, the run date and the interface version.
//
// ASSUMED field order (no ESR specification was available; the PRA fields
// are the first nine of the public parser cited in domain.md, so a full
// PRA record reads the same; the ASA record is a minimal layout of our own):
//
//	HDR~FileName~Created(yyyyMMdd HHmmss)~VPD~PreviousRunDate~RunDate~InterfaceVersion
//	PRA~PersonId~EffectiveStartDate~EffectiveEndDate~EmployeeNumber~Title~LastName~FirstName~MiddleNames
//	ASA~PersonId~AssignmentId~EffectiveStartDate~EffectiveEndDate~AssignmentNumber~AssignmentStatus~StaffGroup~OrganisationName
//
// Extra trailing fields are ignored. Person and assignment are joined on
// PersonId, in either order. Records are date-tracked: for one person or
// assignment the row with the latest EffectiveStartDate is used. An
// EffectiveEndDate of 4712-12-31 (Oracle's end of time) or blank means open.
// PRD, ASD and the other record types are counted and ignored: a changes-
// only (GOC) file is not a complete staff record and should not be used.
// In the public parser the staff group sits on the position (POA
// JobStaffGroup) rather than the assignment; if the real extract does the
// same, the staff group must be joined from POA — that is not implemented.

// GO field positions (0 is the record type).
const (
	praPersonID, praStart, praEnd, praEmployee, praTitle, praLast, praFirst, praMiddle = 1, 2, 3, 4, 5, 6, 7, 8
	asaPersonID, asaID, asaStart, asaEnd, asaNumber, asaStatus, asaGroup, asaOrg       = 1, 2, 3, 4, 5, 6, 7, 8
	praFields, asaFields                                                               = 9, 9
)

type goPerson struct {
	emp, sur, fore, start string
	line                  int
}

type goAssignment struct {
	person, status, group, org, start, end string
	line                                   int
}

func loadESRGO(r io.Reader, c Config) (*Index, error) {
	cr, err := decode.NewCSVReader(r, decode.CSVOptions{Delimiter: '~', Encoding: c.ESRGO.Encoding, NoHeader: true, LazyQuotes: true})
	if err != nil {
		return nil, err
	}
	b := NewBuilder()
	persons := map[string]goPerson{}
	assignments := map[string]goAssignment{}
	var order []string
	ignored := map[string]int{}
	header := ""
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
		f := row.Fields
		typ := strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(f[0], "\ufeff")))
		if lines == 1 && typ != "HDR" {
			return nil, fmt.Errorf("line %d: not an ESR GO file: the first record is %q, not HDR", row.Line, truncate(f[0], 20))
		}
		get := func(i int) string {
			if i < len(f) {
				return strings.TrimSpace(f[i])
			}
			return ""
		}
		switch typ {
		case "HDR":
			header = fmt.Sprintf(" (ESR GO file %s, created %s, VPD %s, run date %s)", get(1), get(2), get(3), goDate(get(5)))
		case "PRA":
			if len(f) < praFields {
				b.Problem(row.Line, "PRA record has %d fields, at least %d expected; line skipped", len(f), praFields)
				continue
			}
			p := goPerson{emp: get(praEmployee), sur: get(praLast), fore: joinNonEmpty(get(praFirst), get(praMiddle)), start: get(praStart), line: row.Line}
			if old, ok := persons[get(praPersonID)]; !ok || p.start >= old.start {
				persons[strings.Clone(get(praPersonID))] = cloneGoPerson(p)
			}
		case "ASA":
			if len(f) < asaFields {
				b.Problem(row.Line, "ASA record has %d fields, at least %d expected; line skipped", len(f), asaFields)
				continue
			}
			num := get(asaNumber)
			a := goAssignment{person: get(asaPersonID), status: get(asaStatus), group: get(asaGroup), org: get(asaOrg), start: get(asaStart), end: get(asaEnd), line: row.Line}
			old, seen := assignments[num]
			if !seen {
				order = append(order, strings.Clone(num))
			}
			if !seen || a.start >= old.start {
				assignments[strings.Clone(num)] = cloneGoAssignment(a)
			}
		default:
			ignored[typ]++
		}
	}
	if lines == 0 {
		return nil, errors.New("the file is empty: no HDR record")
	}
	for _, num := range order {
		a := assignments[num]
		p, ok := persons[a.person]
		if !ok {
			b.Problem(a.line, "assignment %s refers to person %s, who has no PRA record; names and employee number unknown", num, a.person)
		}
		end := ""
		if a.end != "" && !strings.HasPrefix(a.end, "4712") {
			if end = goDate(a.end); end == "" {
				b.Problem(a.line, "end date %q is not yyyyMMdd; treated as open", a.end)
			}
		}
		b.Add(Staff{EmployeeNumber: p.emp, AssignmentNumber: num, Surname: p.sur, Forenames: p.fore, StaffGroup: a.group, Status: a.status, Organisation: a.org, EndDate: end, Line: a.line}, true)
	}
	x := b.Index()
	x.Lines = lines
	x.Source = header
	x.has = has{employee: true, names: true, group: true, status: true}
	if len(ignored) > 0 {
		var parts []string
		for _, t := range slices.Sorted(maps.Keys(ignored)) {
			parts = append(parts, fmt.Sprintf("%s %d", t, ignored[t]))
		}
		x.Notes = append(x.Notes, "records of other types ignored: "+strings.Join(parts, ", "))
	}
	return x, nil
}

func cloneGoPerson(p goPerson) goPerson {
	p.emp, p.sur, p.fore, p.start = strings.Clone(p.emp), strings.Clone(p.sur), strings.Clone(p.fore), strings.Clone(p.start)
	return p
}

func cloneGoAssignment(a goAssignment) goAssignment {
	a.person, a.status, a.group, a.org = strings.Clone(a.person), strings.Clone(a.status), strings.Clone(a.group), strings.Clone(a.org)
	a.start, a.end = strings.Clone(a.start), strings.Clone(a.end)
	return a
}

// goDate turns yyyyMMdd into yyyy-mm-dd ("" when malformed).
func goDate(s string) string {
	if len(s) != 8 {
		return ""
	}
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	d := s[:4] + "-" + s[4:6] + "-" + s[6:]
	if parseDate(d, []string{"2006-01-02"}) == "" {
		return ""
	}
	return d
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
