// Package reference holds the trust's ESR staff extract as reference data
// and cross-checks job plans against it (rules R1–R6): the assignment
// exists, is active and belongs to the employee number given; the staff
// record's staff group is Medical and Dental; and the doctor's name matches
// after normalising case, accents, hyphens, apostrophes, titles and
// initials.
//
// The extract is read once, from a CSV described by a small column
// configuration or from an ESR generic outbound (GO) file, into a compact
// Index keyed by assignment number. Checking a plan is a map lookup and, for
// the name, a comparison that allocates nothing for plain ASCII names; the
// Index is never modified after loading, so the Checker may be called from
// every conversion worker at once.
package reference

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// Staff is one assignment of the staff record.
type Staff struct {
	EmployeeNumber   string
	AssignmentNumber string
	Surname          string
	Forenames        string
	StaffGroup       string
	Status           string // assignment status, e.g. "Active Assignment"
	Organisation     string
	EndDate          string // last day of the assignment, yyyy-mm-dd; "" when open
	Line             int    // source line, for load problems
}

// Problem is something wrong with one line of the extract. The line is
// skipped or (for a repeated assignment) replaces the earlier one.
type Problem struct {
	Line    int
	Message string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return p.Message
}

// Index is a loaded staff extract, keyed by assignment number. It is
// read-only once built and safe for concurrent use.
//
// Layout: the text of every row (employee number, assignment number,
// surname, forenames) is packed into one byte arena; staff groups,
// statuses and organisations, which repeat, are interned. A row costs about
// 30 bytes plus its text and a map entry, so a million rows fit in about
// 95 MB rather than the 300 MB or more of one string-per-field struct each,
// none of it pointers, so the garbage collector does not scan it.
type Index struct {
	byKey  map[uint64]uint32 // usual assignment numbers, packed (assignmentKey)
	byText map[string]uint32 // anything else, verbatim
	rows   []row
	arena  []byte
	words  []string // interned staff groups, statuses, organisations

	// Source describes an ESR GO extract from its header, as
	// " (ESR GO file NAME, created ..., VPD ..., run date ...)"; "" for a CSV.
	Source string
	// Problems found while loading (bad lines, repeated assignments).
	Problems []Problem
	// Notes are facts about the load that are not problems (record types
	// ignored in an ESR GO file).
	Notes []string
	// Lines counts the data lines read.
	Lines int

	has has
}

// has says which facts the extract holds; a check whose fact is missing is
// not made.
type has struct{ employee, names, group, status bool }

// Holds lists the facts the extract holds, for reports: of "employee
// number", "name", "staff group", "assignment status".
func (x *Index) Holds() (held, missing []string) {
	for _, f := range []struct {
		ok   bool
		name string
	}{{x.has.employee, "employee number"}, {x.has.names, "name"}, {x.has.group, "staff group"}, {x.has.status, "assignment status"}} {
		if f.ok {
			held = append(held, f.name)
		} else {
			missing = append(missing, f.name)
		}
	}
	return held, missing
}

type row struct {
	off                 uint32 // arena offset: employee, assignment, surname, forenames
	emp, asg, sur, fore uint16 // their lengths
	group, status, org  uint32 // indexes into words
	end                 int32  // yyyymmdd, 0 when open
	line                int32
}

// Len returns the number of assignments.
func (x *Index) Len() int { return len(x.rows) }

// Bytes estimates the memory the index holds.
func (x *Index) Bytes() int64 {
	const mapEntry = 40 // key, value and swiss-table overhead, measured roughly
	n := int64(len(x.arena)) + int64(cap(x.rows))*32 + int64(len(x.byKey))*mapEntry
	for k := range x.byText {
		n += int64(len(k)) + 48
	}
	for _, w := range x.words {
		n += int64(len(w)) + 16
	}
	return n
}

// Lookup returns the staff record of an assignment.
func (x *Index) Lookup(assignment string) (Staff, bool) {
	i, ok := x.find(assignment)
	if !ok {
		return Staff{}, false
	}
	return x.staff(i), true
}

func (x *Index) find(assignment string) (uint32, bool) {
	if k, ok := assignmentKey(assignment); ok {
		i, found := x.byKey[k]
		return i, found
	}
	i, found := x.byText[assignment]
	return i, found
}

// Each calls f for every assignment, in the order first loaded.
func (x *Index) Each(f func(Staff)) {
	for i := range x.rows {
		f(x.staff(uint32(i)))
	}
}

func (x *Index) staff(i uint32) Staff {
	r := &x.rows[i]
	s := Staff{
		EmployeeNumber:   x.text(r, 0),
		AssignmentNumber: x.text(r, 1),
		Surname:          x.text(r, 2),
		Forenames:        x.text(r, 3),
		StaffGroup:       x.words[r.group],
		Status:           x.words[r.status],
		Organisation:     x.words[r.org],
		Line:             int(r.line),
	}
	if r.end != 0 {
		s.EndDate = fmt.Sprintf("%04d-%02d-%02d", r.end/10000, r.end/100%100, r.end%100)
	}
	return s
}

// text returns part n of a row's packed text (0 employee, 1 assignment,
// 2 surname, 3 forenames) without copying: the arena is never modified once
// the index is built, so the string may share its bytes.
func (x *Index) text(r *row, n int) string {
	off := int(r.off)
	lens := [4]uint16{r.emp, r.asg, r.sur, r.fore}
	for i := 0; i < n; i++ {
		off += int(lens[i])
	}
	if lens[n] == 0 {
		return ""
	}
	return unsafe.String(&x.arena[off], int(lens[n]))
}

// assignmentKey packs an assignment number of the usual form (8 digits,
// optionally -N or -NN) into a uint64: the stem, the suffix's length and
// its value, so that distinct strings never share a key.
func assignmentKey(s string) (uint64, bool) {
	if len(s) < 8 {
		return 0, false
	}
	var stem uint64
	for i := 0; i < 8; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		stem = stem*10 + uint64(c-'0')
	}
	rest := s[8:]
	switch len(rest) {
	case 0:
		return stem << 16, true
	case 2, 3:
		if rest[0] != '-' {
			return 0, false
		}
		var v uint64
		for i := 1; i < len(rest); i++ {
			c := rest[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + uint64(c-'0')
		}
		return stem<<16 | uint64(len(rest)-1)<<8 | v, true
	}
	return 0, false
}

// Builder builds an Index row by row.
type Builder struct {
	x     *Index
	words map[string]uint32
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{x: &Index{byKey: map[uint64]uint32{}, byText: map[string]uint32{}}, words: map[string]uint32{}}
}

func (b *Builder) word(s string) uint32 {
	if i, ok := b.words[s]; ok {
		return i
	}
	i := uint32(len(b.x.words))
	s = strings.Clone(s)
	b.x.words = append(b.x.words, s)
	b.words[s] = i
	return i
}

// Problem records a problem with the extract.
func (b *Builder) Problem(line int, format string, args ...any) {
	b.x.Problems = append(b.x.Problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

const maxText = 1<<16 - 1

// Add adds one assignment. A repeated assignment number replaces the
// earlier row and is reported as a problem unless quiet is set (ESR GO
// files legitimately hold several date-effective rows).
func (b *Builder) Add(s Staff, quiet bool) {
	x := b.x
	s.AssignmentNumber = strings.TrimSpace(s.AssignmentNumber)
	if s.AssignmentNumber == "" {
		b.Problem(s.Line, "no assignment number; line skipped")
		return
	}
	parts := [4]string{strings.TrimSpace(s.EmployeeNumber), s.AssignmentNumber, strings.TrimSpace(s.Surname), strings.TrimSpace(s.Forenames)}
	for i, p := range parts {
		if len(p) > maxText {
			parts[i] = p[:maxText]
		}
	}
	r := row{
		off:    uint32(len(x.arena)),
		emp:    uint16(len(parts[0])),
		asg:    uint16(len(parts[1])),
		sur:    uint16(len(parts[2])),
		fore:   uint16(len(parts[3])),
		group:  b.word(strings.TrimSpace(s.StaffGroup)),
		status: b.word(strings.TrimSpace(s.Status)),
		org:    b.word(strings.TrimSpace(s.Organisation)),
		line:   int32(s.Line),
	}
	if s.EndDate != "" {
		end, err := strconv.Atoi(strings.ReplaceAll(s.EndDate, "-", ""))
		if err != nil || len(s.EndDate) != 10 {
			b.Problem(s.Line, "end date %q is not yyyy-mm-dd; treated as open", s.EndDate)
		} else {
			r.end = int32(end)
		}
	}
	for _, p := range parts {
		x.arena = append(x.arena, p...)
	}
	if i, dup := x.find(s.AssignmentNumber); dup {
		if !quiet {
			b.Problem(s.Line, "assignment %s appears again (first at line %d); this later line is used", s.AssignmentNumber, x.rows[i].line)
		}
		x.rows[i] = r
		return
	}
	i := uint32(len(x.rows))
	x.rows = append(x.rows, r)
	if k, ok := assignmentKey(s.AssignmentNumber); ok {
		x.byKey[k] = i
	} else {
		x.byText[s.AssignmentNumber] = i
	}
}

// Index returns the built index; the builder must not be used afterwards.
func (b *Builder) Index() *Index {
	x := b.x
	b.x = nil
	// Trim spare capacity: the index lives as long as the process.
	x.rows = x.rows[:len(x.rows):len(x.rows)]
	x.arena = append([]byte(nil), x.arena...)
	return x
}
