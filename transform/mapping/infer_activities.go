package mapping

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// activityPlan is what the draft writes live for a long layout (rows of
// activities) or a JSON record's list of activities, once every part of
// it is sure; otherwise why says what stops it, and the section is
// written as a comment.
type activityPlan struct {
	live    bool
	why     string
	plain   string // amount source in plain time (or the only one)
	premium string // amount source in premium time, "" for none
	unit    string // "hours" or "" (PAs or sessions)
	// perYear: the amounts are a year's (per: year); occurrences: the
	// source of each activity's occurrences a year. Either needs
	// units.working_weeks, which the draft leaves for the operator.
	perYear     bool
	occurrences string
	groupBy     string // CSV: a plan reference column; "" for assignment and date
	cats        []activityCat
}

type activityCat struct {
	value   string
	targets []string
	sure    bool
}

// planActivities decides the activities section once the fields are
// matched: which amounts, in which unit, how rows gather into plans, and
// where each category goes. A category whose field the export also gives
// as a total (DCC, SPA, a sub-item column) adds nothing there, so that
// nothing counts twice.
func (d *Draft) planActivities() {
	h := d.activities
	if h == nil || h.category == "" {
		return
	}
	p := &activityPlan{}
	h.plan = p
	// Amount columns: plain and premium hours, or PAs.
	var amounts []string
	for _, k := range h.keys {
		if k == h.category || k == h.occurrences || k == h.premium || k == h.status {
			continue
		}
		toks := rawTokens(k)
		a := amountOf(k)
		if a.hours || hasToken(toks, "pa", "pas", "session", "sessions") {
			amounts = append(amounts, k)
		}
	}
	for _, k := range amounts {
		a := amountOf(k)
		switch {
		case a.premium && p.premium == "":
			p.premium = k
		case !a.premium && p.plain == "":
			p.plain = k
		}
	}
	if p.plain == "" && p.premium != "" {
		p.plain, p.premium = p.premium, ""
	}
	if p.plain == "" {
		p.why = "no activity amount in hours or PAs was found"
		return
	}
	// Amounts a year's, or occurrences a year, are written live with
	// per: year or occurrences, and the draft leaves units.working_weeks
	// out (writeWorkingWeeks): mapping check refuses it until the
	// operator gives the supplier's working weeks, rather than the draft
	// sending totals with their sub-items missing, or guessing 42.
	ap := amountOf(p.plain)
	switch {
	case p.premium != "" && amountOf(p.premium).annual != ap.annual:
		p.why = fmt.Sprintf("%s and %s are not both a year's amounts", q(p.plain), q(p.premium))
		return
	case ap.annual && h.occurrences != "":
		p.why = fmt.Sprintf("the amounts (%s) are a year's, and so are the occurrences (%s)", q(p.plain), q(h.occurrences))
		return
	case ap.annual:
		p.perYear = true
	case h.occurrences != "" && !amountOf(h.occurrences).annual:
		p.why = fmt.Sprintf("the occurrences (%s) do not say they are a year's, the only occurrences a mapping reads", q(h.occurrences))
		return
	case h.occurrences != "":
		p.occurrences = h.occurrences
	}
	if ap.hours {
		p.unit = "hours"
	}
	if p.premium != "" && (!amountOf(p.premium).hours || p.unit != "hours") {
		p.why = fmt.Sprintf("%s and %s are not both in hours", q(p.plain), q(p.premium))
		return
	}
	if h.premium != "" {
		if p.unit != "hours" || len(h.premiumTrue) == 0 {
			p.why = fmt.Sprintf("the premium-time flag %s is not read with certainty", q(h.premium))
			return
		}
	}
	// Rows of a long layout gather into plans.
	if h.path == "" {
		for _, s := range d.Unused {
			toks := rawTokens(s)
			if hasToken(toks, "plan", "jp", "jobplan") && hasToken(toks, "ref", "reference", "id", "no", "number", "code") {
				p.groupBy = s
				break
			}
		}
		if p.groupBy == "" && (d.matched(record.AssignmentNumber) == nil || d.matched(record.EffectiveDate) == nil) {
			p.why = "no plan reference column, and the assignment or effective date is not mapped, so the rows of one plan cannot be told"
			return
		}
	}
	// Categories.
	given := map[string]bool{}
	for _, m := range d.Matches {
		given[m.Field] = true
	}
	for _, c := range h.categories {
		targets, sure := activityMeaning(c)
		var kept []string
		for _, t := range targets {
			if !given[t] {
				kept = append(kept, t)
			}
		}
		p.cats = append(p.cats, activityCat{value: c, targets: kept, sure: sure})
	}
	sure := 0
	for _, c := range p.cats {
		if c.sure {
			sure++
		}
	}
	if sure == 0 {
		p.why = "none of the activity categories is recognised"
		return
	}
	p.live = true
	if h.path == "" {
		d.Unused = slices.DeleteFunc(d.Unused, func(s string) bool {
			return s == p.groupBy || s == p.plain || s == p.premium || (s == p.occurrences && s != "")
		})
	}
}

// NeedsWorkingWeeks says why the draft needs units.working_weeks, or ""
// when it does not: amounts it maps live (fields, activities) are a
// year's, and the export does not say how many working weeks its year
// has. The draft leaves the setting out, with a comment, so that mapping
// check refuses it ("per: year needs units.working_weeks ...") until the
// operator gives the supplier's figure: a guess (42 is common, not
// universal) would scale every such PA value by the wrong number.
func (d *Draft) NeedsWorkingWeeks() string {
	if d.WorkingWeeks > 0 {
		return ""
	}
	var annual []string
	for _, m := range d.Matches {
		if m.Per == "year" {
			annual = append(annual, fmt.Sprintf("%s (%s) is a year's", q(m.Source), m.Field))
		}
	}
	if h := d.activities; h != nil && h.plan != nil && h.plan.live {
		p := h.plan
		switch {
		case p.perYear && p.premium != "":
			annual = append(annual, fmt.Sprintf("the activities' amounts (%s, %s) are a year's", q(p.plain), q(p.premium)))
		case p.perYear:
			annual = append(annual, fmt.Sprintf("the activities' amounts (%s) are a year's", q(p.plain)))
		case p.occurrences != "":
			annual = append(annual, fmt.Sprintf("the activities' occurrences (%s) are a year's", q(p.occurrences)))
		}
	}
	if len(annual) == 0 {
		return ""
	}
	return strings.Join(annual, "; ") + ", and the export does not say how many working weeks its year has"
}

// Check loads the draft as mapping check does; a problem is a bug in
// infer. A draft that needs units.working_weeks (NeedsWorkingWeeks) is
// checked as the operator completes it, with them given: as drafted,
// mapping check refuses it for want of them, as it should.
func (d *Draft) Check() error {
	c := *d
	if c.NeedsWorkingWeeks() != "" {
		c.WorkingWeeks = 42 // any figure: only whether the rest loads is asked
	}
	_, err := Load(d.Name+".yaml", c.YAML())
	return err
}

// writeWorkingWeeks writes units.working_weeks when the operator gave it
// (Draft.WorkingWeeks), or else, when the draft needs it, the comment
// that says why it is left out.
func (d *Draft) writeWorkingWeeks(b *bytes.Buffer) {
	if d.WorkingWeeks > 0 {
		fmt.Fprintf(b, "units:\n  working_weeks: %d  # the supplier system's working weeks a year\n", d.WorkingWeeks)
		return
	}
	why := d.NeedsWorkingWeeks()
	if why == "" {
		return
	}
	writeComment(b, "", "units.working_weeks is left out on purpose, so that mapping check refuses this draft until it is given: "+why+". Ask the supplier (42 is common, but not every system's) and set it:")
	fmt.Fprintf(b, "# units:\n#   working_weeks: ?\n")
}

// matched returns the confident match of field id, or nil.
func (d *Draft) matched(id record.ID) *Match {
	for i := range d.Matches {
		if d.Matches[i].Field == id.String() {
			return &d.Matches[i]
		}
	}
	return nil
}

// writeComputed writes the fields the draft works out when the export
// does not give them: the total from the activities that add up to it,
// and the staff group from the contract (the consultant and SAS contracts
// are medical ones).
func (d *Draft) writeComputed(b *bytes.Buffer) {
	h := d.activities
	if d.matched(record.TotalContractedPAs) == nil && h != nil && h.plan != nil && h.plan.live {
		writeComment(b, "  ", "The export gives no total: the contracted total is what the activities add up to.")
		fmt.Fprintf(b, "  total_contracted_pas: {expr: dcc + spa + additional_responsibilities + external_duties + medical_school}\n")
	}
	if d.matched(record.StaffGroup) == nil && d.matched(record.ContractType) != nil {
		writeComment(b, "  ", "No staff group column: the consultant and SAS contracts are Medical and Dental ones, so a plan on one of them is; any other plan is refused (V3).")
		fmt.Fprintf(b, "  staff_group: {expr: 'contract_type in [%q, %q, %q, %q, %q] ? %q : nil'}\n",
			record.ConsultantEngland2003, record.ConsultantWales, record.SpecialtyDoctor2008, record.SpecialtyDoctor2021, record.Specialist2021, record.MedicalAndDental)
	}
}

// writeLiveActivities writes the group and activities sections of a
// plan whose parts are all sure.
func (d *Draft) writeLiveActivities(b *bytes.Buffer) bool {
	h := d.activities
	if h == nil || h.plan == nil || !h.plan.live {
		return false
	}
	p := h.plan
	key := d.sourceKey()
	if h.path == "" {
		if p.groupBy != "" {
			writeComment(b, "", fmt.Sprintf("One row per activity; the rows of one plan share %s.", q(p.groupBy)))
			fmt.Fprintf(b, "group:\n  by: [{column: %s}]\n", q(p.groupBy))
		} else {
			writeComment(b, "", "One row per activity; the rows of one plan share its assignment and effective date.")
			fmt.Fprintf(b, "group:\n  by: [assignment_number, effective_date]\n")
		}
	}
	fmt.Fprintf(b, "activities:\n")
	if h.path != "" {
		fmt.Fprintf(b, "  path: %s\n", q(h.path))
	}
	fmt.Fprintf(b, "  category: {%s: %s}\n", key, q(h.category))
	per, perNote := "", ""
	if p.perYear {
		per, perNote = ", per: year", "; a year's: ÷ units.working_weeks"
	}
	switch {
	case p.premium != "":
		fmt.Fprintf(b, "  amount:  # plain time: 4 hours a PA; premium time: 3 (units.hours_per_pa, premium_hours_per_pa)%s\n    sum:\n", perNote)
		fmt.Fprintf(b, "      - {%s: %s, unit: hours%s}\n      - {%s: %s, unit: premium_hours%s}\n", key, q(p.plain), per, key, q(p.premium), per)
	case p.unit == "hours":
		fmt.Fprintf(b, "  amount: {%s: %s, unit: hours%s}  # 4 hours a PA (units.hours_per_pa)%s\n", key, q(p.plain), per, perNote)
	case p.perYear:
		fmt.Fprintf(b, "  amount: {%s: %s%s}  # %s\n", key, q(p.plain), per, strings.TrimPrefix(perNote, "; "))
	default:
		fmt.Fprintf(b, "  amount: {%s: %s}\n", key, q(p.plain))
	}
	if p.occurrences != "" {
		fmt.Fprintf(b, "  occurrences: {%s: %s}  # a year: amount × occurrences ÷ units.working_weeks\n", key, q(p.occurrences))
	}
	if h.premium != "" {
		fmt.Fprintf(b, "  premium: {%s: %s, true_values: [%s], false_values: [%s]}\n", key, q(h.premium), quoteAll(h.premiumTrue), quoteAll(h.premiumFalse))
	}
	given := []string{}
	for _, f := range []record.ID{record.DCC, record.SPA} {
		if d.matched(f) != nil {
			given = append(given, f.String())
		}
	}
	if len(given) > 0 {
		writeComment(b, "  ", fmt.Sprintf("The export gives %s as totals, so the activities fill only the sub-items, never the totals a second time.", strings.Join(given, " and ")))
	}
	fmt.Fprintf(b, "  categories:\n")
	for _, c := range p.cats {
		if c.sure {
			fmt.Fprintf(b, "    %s: [%s]\n", q(c.value), strings.Join(c.targets, ", "))
		} else {
			fmt.Fprintf(b, "    # %s: [?]  # not recognised: a plan with it is refused (M07) until it is added\n", q(c.value))
		}
	}
	return true
}
