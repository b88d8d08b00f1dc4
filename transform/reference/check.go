package reference

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Checks configures the cross-checks. Every setting has a default
// (DefaultChecks); the staff extract's configuration may override each.
type Checks struct {
	// ActiveStatuses are the assignment statuses that count as active (R2),
	// compared ignoring case. Default: Active Assignment, Acting Up, Active.
	ActiveStatuses []string `yaml:"active_statuses"`
	// StaffGroups are the staff groups a plan's assignment may have (R4),
	// ignoring case. Default: Medical and Dental.
	StaffGroups []string `yaml:"staff_groups"`
	// NearMiss: a name that does not match but scores at least this
	// similarity (0–1) is a near miss, R6, rather than R5. Default 0.8.
	NearMiss *float64 `yaml:"name_near_miss"`
	// Titles are ignored in names. Default DefaultTitles.
	Titles []string `yaml:"titles"`
	// Severity overrides a rule's severity: {R6: off, R2: warning}.
	Severity map[string]finding.Severity `yaml:"severity"`
}

// DefaultChecks returns the documented defaults.
func DefaultChecks() Checks {
	near := 0.8
	return Checks{
		ActiveStatuses: []string{"Active Assignment", "Acting Up", "Active"},
		StaffGroups:    []string{record.MedicalAndDental},
		NearMiss:       &near,
		Titles:         DefaultTitles,
	}
}

// withDefaults fills unset settings from DefaultChecks.
func (c Checks) withDefaults() Checks {
	d := DefaultChecks()
	if c.ActiveStatuses == nil {
		c.ActiveStatuses = d.ActiveStatuses
	}
	if c.StaffGroups == nil {
		c.StaffGroups = d.StaffGroups
	}
	if c.NearMiss == nil {
		c.NearMiss = d.NearMiss
	}
	if c.Titles == nil {
		c.Titles = d.Titles
	}
	return c
}

// check reports configuration mistakes, each at the path of its setting.
func (c Checks) check(addf func(path, format string, args ...any)) {
	for _, code := range slices.Sorted(maps.Keys(c.Severity)) {
		sev := c.Severity[code]
		if !slices.Contains(RuleCodes, code) {
			addf("checks.severity."+code, "checks.severity: %q is not a staff-record rule (%s)", code, strings.Join(RuleCodes, ", "))
		}
		if sev != finding.Error && sev != finding.Warning && sev != finding.Off {
			addf("checks.severity."+code, "checks.severity.%s: %q is not error, warning or off", code, sev)
		}
	}
	if c.NearMiss != nil && (*c.NearMiss < 0 || *c.NearMiss > 1) {
		addf("checks.name_near_miss", "checks.name_near_miss must be between 0 and 1")
	}
}

// RuleCodes are the staff-record rules.
var RuleCodes = []string{"R1", "R2", "R3", "R4", "R5", "R6"}

// Name fields of the record, looked up by key so that this package works
// whether or not the record carries the doctor's name (aux fields surname
// and forenames). Without them the name check (R5, R6) is not made.
var (
	surnameID, hasSurname     = record.Lookup("surname")
	forenamesID, hasForenames = record.Lookup("forenames")
)

// NamesAvailable reports whether job-plan records can carry the doctor's
// name, which the name check needs.
func NamesAvailable() bool { return hasSurname && hasForenames }

// Checker cross-checks plans against an Index. It implements
// transform.PlanChecker and is safe for concurrent use.
type Checker struct {
	x        *Index
	names    *nameMatcher
	nearMiss float64
	severity map[string]finding.Severity
	active   []bool // by word index: status counts as active
	medical  []bool // by word index: staff group allowed
	// asOf describes the extract in messages ("the staff record").
	asOf string
}

// NewChecker returns a checker over x.
func NewChecker(x *Index, c Checks) (*Checker, error) {
	var ps []string
	c.check(func(_, format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) })
	if len(ps) > 0 {
		return nil, fmt.Errorf("staff checks: %s", strings.Join(ps, "; "))
	}
	c = c.withDefaults()
	k := &Checker{x: x, names: newNameMatcher(c.Titles), nearMiss: *c.NearMiss, severity: map[string]finding.Severity{}, asOf: "the staff record"}
	for _, code := range RuleCodes {
		k.severity[code] = finding.Rules[code].Severity
	}
	for code, s := range c.Severity {
		k.severity[code] = s
	}
	k.active = make([]bool, len(x.words))
	k.medical = make([]bool, len(x.words))
	for i, w := range x.words {
		k.active[i] = containsFold(c.ActiveStatuses, w)
		k.medical[i] = containsFold(c.StaffGroups, w)
	}
	return k, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

// Severity returns the severity in force for a rule.
func (k *Checker) Severity(code string) finding.Severity { return k.severity[code] }

// Plan is what the checks need from a job plan.
type Plan struct {
	EmployeeNumber   string
	AssignmentNumber string
	EffectiveDate    string // yyyy-mm-dd
	// StaffGroup is the plan's own staff group; when it is already not
	// Medical and Dental (rule V3), R4 would only repeat that.
	StaffGroup string
	Surname    string
	Forenames  string
}

// CheckPlan implements transform.PlanChecker.
func (k *Checker) CheckPlan(p *record.JobPlan, emit func(finding.Finding)) {
	in := Plan{
		EmployeeNumber:   p.Text(record.EmployeeNumber),
		AssignmentNumber: p.Text(record.AssignmentNumber),
		EffectiveDate:    p.Text(record.EffectiveDate),
		StaffGroup:       p.Text(record.StaffGroup),
	}
	if hasSurname && hasForenames {
		in.Surname, in.Forenames = p.Text(surnameID), p.Text(forenamesID)
	}
	k.Check(&in, emit)
}

func (k *Checker) emit(emit func(finding.Finding), code, field, column, value, msg string) {
	sev := k.severity[code]
	if sev == finding.Off {
		return
	}
	emit(finding.Finding{Rule: code, Severity: sev, Field: field, Column: column, Value: value, Message: msg, Fix: finding.Rules[code].Fix})
}

// staffColumn marks findings whose value comes from the staff record, not
// from the plan's source.
const staffColumn = "staff record"

// Check checks one plan. It allocates only when it reports something or
// a name has non-ASCII letters.
func (k *Checker) Check(p *Plan, emit func(finding.Finding)) {
	i, ok := k.x.find(p.AssignmentNumber)
	if !ok {
		if _, usual := assignmentKey(p.AssignmentNumber); !usual {
			return // malformed: rule V1 says so; "not in the staff record" would only repeat it
		}
		k.emit(emit, "R1", "assignment_number", "", p.AssignmentNumber,
			fmt.Sprintf("Assignment number %s is not in %s.", p.AssignmentNumber, k.asOf))
		return
	}
	r := &k.x.rows[i]
	if k.x.has.status && !k.active[r.status] {
		status := k.x.words[r.status]
		if status == "" {
			status = "(blank)"
		}
		k.emit(emit, "R2", "assignment_number", staffColumn, status,
			fmt.Sprintf("Assignment %s has status %q in %s, which is not an active status.", p.AssignmentNumber, status, k.asOf))
	} else if r.end != 0 && p.EffectiveDate != "" && dateInt(p.EffectiveDate) > r.end {
		end := k.x.staff(i).EndDate
		k.emit(emit, "R2", "assignment_number", staffColumn, end,
			fmt.Sprintf("Assignment %s ended on %s in %s, before the plan takes effect (%s).", p.AssignmentNumber, end, k.asOf, p.EffectiveDate))
	}
	if emp := k.x.text(r, 0); emp != "" && p.EmployeeNumber != "" && emp != p.EmployeeNumber {
		k.emit(emit, "R3", "employee_number", "", p.EmployeeNumber,
			fmt.Sprintf("Assignment %s belongs to employee %s in %s, not to employee %s as the plan says.", p.AssignmentNumber, emp, k.asOf, p.EmployeeNumber))
	}
	if k.x.has.group && !k.medical[r.group] && (p.StaffGroup == "" || p.StaffGroup == record.MedicalAndDental) {
		group := k.x.words[r.group]
		if group == "" {
			group = "(blank)"
		}
		k.emit(emit, "R4", "staff_group", staffColumn, group,
			fmt.Sprintf("%s puts assignment %s in staff group %q, not %s.", capitalise(k.asOf), p.AssignmentNumber, group, record.MedicalAndDental))
	}
	k.checkName(p, r, emit)
}

func (k *Checker) checkName(p *Plan, r *row, emit func(finding.Finding)) {
	if p.Surname == "" && p.Forenames == "" {
		return // the plan carries no name
	}
	staffSur, staffFore := k.x.text(r, 2), k.x.text(r, 3)
	if staffSur == "" && staffFore == "" {
		return // the staff record has none
	}
	if strings.EqualFold(staffSur, p.Surname) && strings.EqualFold(staffFore, p.Forenames) {
		return // the common case, without normalising
	}
	verdict, score := k.names.compare(p.Surname, p.Forenames, staffSur, staffFore)
	if verdict == NameMatch {
		return
	}
	planName := fullName(p.Forenames, p.Surname)
	staffName := fullName(staffFore, staffSur)
	switch {
	case verdict == NameSwapped:
		k.emit(emit, "R6", "surname", "", planName,
			fmt.Sprintf("The plan's name %q has surname and forenames the other way round from %s's %q for assignment %s.", planName, k.asOf, staffName, p.AssignmentNumber))
	case score >= k.nearMiss:
		k.emit(emit, "R6", "surname", "", planName,
			fmt.Sprintf("The plan's name %q nearly matches %s's %q for assignment %s (similarity %.2f): check the spelling.", planName, k.asOf, staffName, p.AssignmentNumber, score))
	default:
		k.emit(emit, "R5", "surname", "", planName,
			fmt.Sprintf("The plan's name %q does not match %s's %q for assignment %s (similarity %.2f).", planName, k.asOf, staffName, p.AssignmentNumber, score))
	}
}

func fullName(fore, sur string) string {
	fore, sur = strings.TrimSpace(fore), strings.TrimSpace(sur)
	switch {
	case fore == "":
		return sur
	case sur == "":
		return fore
	}
	return fore + " " + sur
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// dateInt turns yyyy-mm-dd into yyyymmdd (0 when malformed).
func dateInt(s string) int32 {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0
	}
	var v int32
	for i := 0; i < 10; i++ {
		if i == 4 || i == 7 {
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + int32(c-'0')
	}
	return v
}
