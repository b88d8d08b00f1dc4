package validate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Validator checks plans against the schema and rules. Create it once per
// mapping with New; Check is then called per plan and allocates only when it
// finds something.
type Validator struct {
	cfg      Config
	severity map[string]finding.Severity
	// overridden records rules whose severity the configuration set.
	overridden map[string]bool
}

// New returns a Validator for cfg.
func New(cfg Config) (*Validator, error) {
	if problems := cfg.Check(); len(problems) > 0 {
		return nil, fmt.Errorf("invalid rules configuration: %s", strings.Join(problems, "; "))
	}
	v := &Validator{cfg: cfg, severity: map[string]finding.Severity{}, overridden: map[string]bool{}}
	for code, r := range finding.Rules {
		v.severity[code] = r.Severity
	}
	for code, s := range cfg.Severity {
		v.severity[code] = s
		v.overridden[code] = true
	}
	return v, nil
}

// Config returns the configuration in use.
func (v *Validator) Config() Config { return v.cfg }

// Severity returns the severity in force for a rule code.
func (v *Validator) Severity(code string) finding.Severity { return v.severity[code] }

type checker struct {
	v    *Validator
	p    *record.JobPlan
	emit func(finding.Finding)
	// invalid marks fields that broke their schema constraint. The rule
	// checks skip a cross-check that would only report the same bad value
	// again (for example a 150% supplement as both out of range and not
	// matching the table, or Welsh band 4 twice under V19).
	invalid [record.NumFields]bool
}

func (c *checker) report(code string, sev finding.Severity, id record.ID, value, msg string) {
	if sev == finding.Off {
		return
	}
	f := finding.Finding{Rule: code, Severity: sev, Message: msg, Fix: finding.Rules[code].Fix, Value: value}
	if id < record.NumFields {
		f.Field = id.String()
	}
	c.emit(f)
}

func (c *checker) rule(code string, id record.ID, value, msg string) {
	c.report(code, c.v.severity[code], id, value, msg)
}

func (c *checker) num(id record.ID) decimal.Dec { return c.p.Num(id) }

var hundredth = decimal.Dec(decimal.Scale / 100)

// Check rounds p's PA values to two places (reporting V22) and reports every
// schema violation and rule finding through emit.
func (v *Validator) Check(p *record.JobPlan, emit func(finding.Finding)) {
	c := &checker{v: v, p: p, emit: emit}
	if c.impossible() || !c.normalise() {
		return
	}
	record.CheckSchema(p, func(viol record.Violation) {
		f := viol.Field.Field()
		c.invalid[viol.Field] = true
		value := p.Text(viol.Field)
		if f.Kind == record.Decimal || f.Kind == record.Band {
			value = p.Num(viol.Field).String()
		}
		c.rule(viol.Rule, viol.Field, value, f.Label+" "+viol.Message+".")
	})
	c.identifiers()
	c.totals()
	c.activities()
	c.onCall()
}

// impossible refuses PA values no week can hold (M13), whatever path made
// them: a value read is refused by the mapping already, but activities add
// up and computed fields calculate. The rules are not run on such a plan:
// they would only report consequences, and every sum below is then within
// a few thousand PAs, far from overflow.
func (c *checker) impossible() bool {
	bad := false
	for _, id := range paFields {
		// An absent field is 0.
		if d := c.p.Num(id); d > record.MaxWeeklyPAs || d < -record.MaxWeeklyPAs {
			// Always an error: no severity setting lets such a value through.
			c.report("M13", finding.Error, id, d.String(), fmt.Sprintf("%s is %s PAs a week: more PAs than a week has hours (%s).", id.Field().Label, d, record.MaxWeeklyPAs))
			bad = true
		}
	}
	return bad
}

// paFields are the PA fields of the record, aux ones included.
var paFields = func() []record.ID {
	var ids []record.ID
	for id := record.ID(0); id < record.NumFields; id++ {
		if id.Field().PA {
			ids = append(ids, id)
		}
	}
	return ids
}()

// normalise implements V22: values with more than two places are rounded
// (ESR takes two), and values off the usual quarter-PA step are flagged.
// It reports false for a value too large to round (M13).
func (c *checker) normalise() bool {
	for id := record.ID(0); id < record.NumFields; id++ {
		f := id.Field()
		if !f.PA || !c.p.Has(id) || f.Aux {
			continue
		}
		d := c.p.Num(id)
		if !d.IsMultipleOf(hundredth) {
			r, _ := d.Round2() // within ±168 PAs (impossible): cannot overflow
			c.rule("V22", id, d.String(), fmt.Sprintf("%s was %s, which has more than 2 decimal places; it was rounded to %s.", f.Label, d, r))
			c.p.SetNum(id, r)
			continue
		}
		if step := c.v.cfg.PAStep; step > 0 && !d.IsMultipleOf(step) {
			c.rule("V22", id, d.String(), fmt.Sprintf("%s is %s, which is not a multiple of %s PA.", f.Label, d, step))
		}
	}
	for _, id := range []record.ID{record.OnCallFrequencyN, record.OnCallSupplementPct} {
		if !c.p.Has(id) {
			continue
		}
		r, err := c.p.Num(id).Round2()
		if err != nil {
			c.report("M13", finding.Error, id, c.p.Num(id).String(), fmt.Sprintf("%s %s is too large to be a real value.", id.Field().Label, c.p.Num(id)))
			return false
		}
		c.p.SetNum(id, r)
	}
	return true
}

func (c *checker) identifiers() {
	emp, asg := c.p.Text(record.EmployeeNumber), c.p.Text(record.AssignmentNumber)
	if len(emp) == 8 && len(asg) >= 8 && allDigits(emp) && allDigits(asg[:8]) && asg[:8] != emp {
		c.rule("V2", record.AssignmentNumber, asg, fmt.Sprintf("Assignment number %s does not start with employee number %s.", asg, emp))
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (c *checker) sum(ids ...record.ID) decimal.Dec {
	var s decimal.Dec
	for _, id := range ids {
		s += c.p.Num(id)
	}
	return s
}

var categoryFields = []record.ID{record.DCC, record.SPA, record.AdditionalResponsibilities, record.ExternalDuties, record.MedicalSchool}

var dccSubItems = []record.ID{record.TheatreTotal, record.Outpatients, record.WardRoundsInpatient, record.MDT, record.ClinicalDiagnostic, record.Procedures, record.PublicHealth, record.DCCTravel, record.DCCAdmin}

var notContracted = []record.ID{record.PrivateProfessionalServices, record.FeePayingServices, record.AdditionalToContract}

// totals implements V6–V9, V14 and V21 under the configured APA reading
// (APAReading): the categories hold all the plan's PAs, and whether the
// total does too decides what they are compared with.
func (c *checker) totals() {
	cfg := &c.v.cfg
	total := c.num(record.TotalContractedPAs)
	apa := c.num(record.APAEPS)
	sum := c.sum(categoryFields...)
	// Every PA value is within ±168 (impossible), so these cannot fail.
	all, _ := cfg.APAReading.AllPAs(total, apa)
	base, _ := cfg.APAReading.BasePAs(total, apa)
	outside := cfg.APAReading == APAOutsideTotal
	// limitWhat names all the plan's PAs in a message (built only when one
	// is reported: Check allocates nothing on a valid plan).
	limitWhat := func() string {
		switch {
		case outside:
			return fmt.Sprintf("Total contracted PAs plus APAs (%s + %s)", total, apa)
		case apa > 0:
			return "Total contracted PAs (APAs included)"
		}
		return "Total contracted PAs"
	}
	if (sum - all).Abs() > cfg.Tolerance {
		extra := c.sum(notContracted...)
		if extra > 0 && (sum+extra-all).Abs() <= cfg.Tolerance {
			c.rule("V21", record.TotalContractedPAs, total.String(), fmt.Sprintf("%s %s equals the categories (%s) plus private, fee-paying and additional-to-contract work (%s), which are not contracted PAs.", limitWhat(), all, sum, extra))
		} else {
			msg := fmt.Sprintf("DCC + SPA + additional responsibilities + external duties + medical school add up to %s, but the total contracted PAs is %s.", sum, total)
			if outside {
				msg = fmt.Sprintf("DCC + SPA + additional responsibilities + external duties + medical school add up to %s, but the total contracted PAs plus APAs is %s (%s + %s).", sum, all, total, apa)
			}
			c.rule("V6", record.TotalContractedPAs, total.String(), msg)
		}
	}
	// V7: APAs cannot be more than the PAs that include them: the total in
	// the default reading, the categories in the other. An APA figure far
	// above either is often hours typed where PAs were expected.
	switch {
	case !outside && apa > total:
		c.rule("V7", record.APAEPS, apa.String(), fmt.Sprintf("APAs (%s) are more than the total contracted PAs (%s), which includes them. Were hours entered instead of PAs?", apa, total))
	case outside && apa > sum+cfg.Tolerance:
		c.rule("V7", record.APAEPS, apa.String(), fmt.Sprintf("APAs (%s) are more than DCC + SPA + additional responsibilities + external duties + medical school (%s), which include their work. Were hours entered instead of PAs?", apa, sum))
	}
	// The weekly limits apply to all PAs worked.
	if all > cfg.MaxPAs {
		c.rule("V9", record.TotalContractedPAs, all.String(), fmt.Sprintf("%s %s is above the maximum of %s.", limitWhat(), all, cfg.MaxPAs))
	} else if all > cfg.WarnAbovePAs {
		c.rule("V8", record.TotalContractedPAs, all.String(), fmt.Sprintf("%s %s is above %s.", limitWhat(), all, cfg.WarnAbovePAs))
	}
	// Full time is 10 PAs before APAs, which are "extra PAs on top".
	if c.p.Text(record.ContractType) == record.ConsultantEngland2003 && base >= cfg.FullTimePAs {
		dcc, spa := c.num(record.DCC), c.num(record.SPA)
		if dcc < cfg.MinDCC || spa < cfg.MinSPA {
			c.rule("V14", record.DCC, dcc.String(), fmt.Sprintf("This full-time consultant plan has %s DCC and %s SPA; usually at least %s DCC and %s SPA.", dcc, spa, cfg.MinDCC, cfg.MinSPA))
		}
	}
}

func (c *checker) activities() {
	cfg := &c.v.cfg
	tt, te, tn := c.num(record.TheatreTotal), c.num(record.TheatreElective), c.num(record.TheatreNonElective)
	if (tt != 0 || te != 0 || tn != 0) && (te+tn-tt).Abs() > cfg.Tolerance {
		c.rule("V10", record.TheatreTotal, tt.String(), fmt.Sprintf("Elective (%s) plus non-elective (%s) theatre work is %s, but total theatre work is %s.", te, tn, te+tn, tt))
	}
	dcc := c.num(record.DCC)
	items := c.sum(dccSubItems...)
	switch {
	case items > dcc+cfg.Tolerance:
		c.rule("V11", record.DCC, dcc.String(), fmt.Sprintf("The DCC activities add up to %s, more than the DCC total of %s.", items, dcc))
	case items > 0 && dcc-items > cfg.DCCGapWarning:
		c.rule("V12", record.DCC, dcc.String(), fmt.Sprintf("The DCC activities add up to %s, %s less than the DCC total of %s.", items, dcc-items, dcc))
	}
	other := c.sum(record.Research, record.TeachingEducation, record.CPD, record.NonDCCAdmin, record.NonDCCTravel)
	all, _ := cfg.APAReading.AllPAs(c.num(record.TotalContractedPAs), c.num(record.APAEPS)) // within a week: cannot fail
	if room := all - dcc; other > room+cfg.Tolerance {
		c.rule("V13", record.SPA, other.String(), fmt.Sprintf("Research, teaching, CPD and non-DCC admin and travel add up to %s, more than the %s PAs of the plan that are not DCC.", other, room))
	}
}

type band int

const (
	high band = iota
	medium
	low
)

func (b band) String() string {
	return [...]string{"high (1 in 1 to 1 in 4)", "medium (1 in 5 to 1 in 8)", "low (1 in 9 or less often)"}[b]
}

func (c *checker) band(n decimal.Dec) band {
	switch {
	case n <= c.v.cfg.HighMaxN:
		return high
	case n <= c.v.cfg.MediumMaxN:
		return medium
	}
	return low
}

func (c *checker) onCall() {
	cfg := &c.v.cfg
	ct := c.p.Text(record.ContractType)
	hasN, hasCat := c.p.Has(record.OnCallFrequencyN), c.p.Has(record.OnCallCategory)
	hasPct, hasBand := c.p.Has(record.OnCallSupplementPct), c.p.Has(record.OnCallBandWales)
	n, cat, pct := c.num(record.OnCallFrequencyN), c.p.Text(record.OnCallCategory), c.num(record.OnCallSupplementPct)
	english := ct == record.ConsultantEngland2003
	sas2021 := ct == record.SpecialtyDoctor2021 || ct == record.Specialist2021
	sas := sas2021 || ct == record.SpecialtyDoctor2008
	wales := ct == record.ConsultantWales

	// An N below 1 (already reported under V15) is neither a blended rota
	// nor in any band; a supplement outside 0-100 (already V16) matches no
	// table entry.
	badN, badPct := c.invalid[record.OnCallFrequencyN], c.invalid[record.OnCallSupplementPct]
	if hasN && !badN && !n.IsWhole() {
		c.rule("V17", record.OnCallFrequencyN, n.String(), fmt.Sprintf("On-call frequency 1 in %s is not a whole number; it was treated as a blended rota in the %s band.", n, c.band(n)))
	}
	if english || sas2021 {
		onN, onCat, onPct := hasN, hasCat, hasPct && pct > 0
		if onN != onCat || onCat != onPct {
			c.rule("V15", record.OnCallFrequencyN, n.String(), fmt.Sprintf("On-call details are incomplete: frequency %s, category %s, supplement %s. Give all three, or none.", show(hasN, n.String()), show(hasCat, cat), show(hasPct, pct.String()+"%")))
		} else if onN && !badN && !badPct {
			if t, ok := cfg.SupplementPct[cat]; ok {
				b := c.band(n)
				want := [...]decimal.Dec{t.High, t.Medium, t.Low}[b]
				if pct != want {
					sev := c.v.severity["V16"]
					if sas2021 && !c.v.overridden["V16"] {
						sev = finding.Warning // 2021 SAS table is inferred (domain.md §3)
					}
					c.report("V16", sev, record.OnCallSupplementPct, pct.String(), fmt.Sprintf("Category %s on a 1 in %s rota (%s frequency) carries a %s%% supplement, but the plan says %s%%.", cat, n, c.band(n), want, pct))
				}
			}
		}
	}
	if ct == record.SpecialtyDoctor2008 && hasPct && !badPct && !slices.Contains(cfg.SAS2008Supplements, pct) {
		c.rule("V18", record.OnCallSupplementPct, pct.String(), fmt.Sprintf("A 2008 specialty doctor supplement of %s%% is not one of the allowed values %s.", pct, joinDec(cfg.SAS2008Supplements, "%")))
	}
	switch {
	case wales && hasPct && pct != 0:
		c.rule("V19", record.OnCallSupplementPct, pct.String(), fmt.Sprintf("A Welsh consultant plan records the on-call band, not a percentage (%s%% given).", pct))
	case !wales && hasBand:
		c.rule("V19", record.OnCallBandWales, c.num(record.OnCallBandWales).String(), "Only Welsh consultant plans use an on-call band; this plan should give the supplement as a percentage.")
	case wales && hasBand && !c.invalid[record.OnCallBandWales] && !slices.Contains(cfg.WalesBands, c.num(record.OnCallBandWales)):
		c.rule("V19", record.OnCallBandWales, c.num(record.OnCallBandWales).String(), fmt.Sprintf("On-call band %s is not one of %s.", c.num(record.OnCallBandWales), joinDec(cfg.WalesBands, "")))
	}
	if c.p.Has(record.UnpredictableOnCall) {
		u := c.num(record.UnpredictableOnCall)
		switch {
		case wales && u > cfg.MaxUnpredictableWales:
			c.rule("V20", record.UnpredictableOnCall, u.String(), fmt.Sprintf("Unpredictable on-call of %s sessions is above the %s session counted for Welsh consultants.", u, cfg.MaxUnpredictableWales))
		case sas && u > cfg.MaxUnpredictableSAS:
			c.rule("V20", record.UnpredictableOnCall, u.String(), fmt.Sprintf("Unpredictable on-call of %s PAs is above the usual maximum of %s PAs for SAS doctors.", u, cfg.MaxUnpredictableSAS))
		}
	}
}

func show(has bool, s string) string {
	if !has {
		return "blank"
	}
	return s
}

func joinDec(ds []decimal.Dec, suffix string) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String() + suffix
	}
	return strings.Join(parts, ", ")
}
