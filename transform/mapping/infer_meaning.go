package mapping

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// What mapping infer knows of the values suppliers write, by meaning
// rather than by spelling: contract codes, staff groups, plan statuses
// and activity codes are broken into words (valueTokens), and the words
// are read. A value is translated only when its words leave no doubt; any
// other value is left to the hub operator with the reason.

// valueTokens splits a value into lower-case words: at punctuation, at
// spaces, and between letters and digits ("CONS_WAL_2003" is cons wal
// 2003, "SD08" is sd 08, "SignedOff" is signed off).
func valueTokens(v string) []string {
	return rawTokens(strings.ReplaceAll(v, "&", " and "))
}

func hasToken(toks []string, words ...string) bool {
	for _, t := range toks {
		if slices.Contains(words, t) {
			return true
		}
	}
	return false
}

// contractMeaning reads a contract name or code. sure is false when the
// words do not say which contract it is; why says what is missing.
func contractMeaning(v string) (to string, sure bool, why string) {
	if validContract(v) {
		return v, true, ""
	}
	toks := valueTokens(v)
	for _, t := range toks {
		if !contractWords[t] && strings.Trim(t, "0123456789") != "" {
			return "", false, "it has a word the draft cannot read (" + t + ")"
		}
	}
	welsh := hasToken(toks, "wal", "wales", "welsh", "cymru", "cym")
	english := hasToken(toks, "eng", "england", "english")
	consultant := hasToken(toks, "consultant", "consultants", "cons", "con", "cnslt", "consult", "c")
	specialist := hasToken(toks, "specialist", "spec", "sp", "spl")
	specialty := hasToken(toks, "specialty", "speciality", "sd", "specdoc", "sdr")
	sas := hasToken(toks, "sas", "staff", "associate", "as")
	y2003 := hasToken(toks, "2003", "03")
	y2008 := hasToken(toks, "2008", "08")
	y2021 := hasToken(toks, "2021", "21")
	years := 0
	for _, y := range []bool{y2003, y2008, y2021} {
		if y {
			years++
		}
	}
	switch {
	case years > 1:
		return "", false, "it names more than one contract year"
	case welsh && english:
		return "", false, "it names both Wales and England"
	case welsh && (consultant || y2003) && !specialist && !specialty && !sas:
		return record.ConsultantWales, true, ""
	case welsh:
		// Only consultants have Welsh terms of their own in the record; a
		// Welsh code is never taken for an English contract.
		return "", false, "it names Welsh terms, and the record has Welsh terms only for consultants"
	case consultant && (specialist || specialty || sas):
		return "", false, "it names a consultant and a SAS grade"
	case consultant && (y2008 || y2021):
		return "", false, "consultants are on the 2003 contract, but it names another year"
	case consultant || (y2003 && !specialist && !specialty && !sas):
		// The 2003 contract is the consultants'; with no Welsh word in it,
		// the English one.
		return record.ConsultantEngland2003, true, ""
	case y2008 && (specialist || hasToken(toks, "associate")):
		// There is no 2008 specialist contract, and the associate
		// specialists' 2008 contract is not the specialty doctors'.
		return "", false, "the 2008 contract it names is not the specialty doctors'"
	case y2008 && specialty:
		return record.SpecialtyDoctor2008, true, ""
	case y2021 && specialist && !specialty:
		return record.Specialist2021, true, ""
	case y2021 && specialty && !specialist:
		return record.SpecialtyDoctor2021, true, ""
	case y2021:
		return "", false, "the 2021 SAS contracts are two (specialty doctor, specialist) and it does not say which"
	}
	return "", false, "it names no contract the record knows"
}

// contractWords are the words contract names and codes are made of; a
// value with any other word (the W of "W2003") is not read, as its
// meaning cannot be known.
var contractWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`consultant consultants cons con cnslt consult c contract contracts terms
		conditions and tcs tc of the new england english eng wales welsh cymru cym wal specialty speciality sd specdoc
		sdr specialist spec sp spl sas staff grade associate as doctor doctors dr medical national nhs version v ver`) {
		contractWords[w] = true
	}
}

// staffGroupMeaning reads a staff group: "Medical & Dental", "Medical and
// Dental Staff", "M&D". Other groups are left as they are, for V3.
func staffGroupMeaning(v string) (string, bool) {
	toks := valueTokens(v)
	if hasToken(toks, "medical") && hasToken(toks, "dental") || strings.EqualFold(strings.ReplaceAll(v, " ", ""), "m&d") {
		return record.MedicalAndDental, true
	}
	return "", false
}

// statusMeaning says whether a plan status means the plan is finished
// (signed off, approved, agreed) or not yet (draft, in discussion,
// cancelled); known is false for a status it cannot read.
func statusMeaning(v string) (finished, known bool) {
	t := strings.Join(valueTokens(v), " ")
	switch t {
	case "signed off", "signed", "signedoff", "approved", "agreed", "final", "finalised", "finalized", "signed off by cd",
		"fully signed off", "signed off approved", "complete", "completed", "yes", "y", "true", "live", "active", "current":
		return true, true
	case "draft", "in discussion", "discussion", "review", "in review", "under review", "pending", "awaiting sign off",
		"awaiting approval", "cancelled", "canceled", "rejected", "withdrawn", "deleted", "superseded", "unsigned",
		"not signed off", "no", "n", "false", "inactive", "archived", "expired", "proposed", "submitted", "open", "in progress":
		return false, true
	}
	return false, false
}

// activityMeaning reads an activity code or name ("THE-E", "OPD", "SPA-CPD",
// "Outpatient clinic", "Theatre (elective)") as the record fields it adds
// to. sure is false when the words do not say where it belongs.
func activityMeaning(code string) (targets []string, sure bool) {
	toks := valueTokens(code)
	has := func(w ...string) bool { return hasToken(toks, w...) }
	lower := strings.ToLower(code)
	nonClinical := has("n", "nondcc", "non", "spa", "nc", "nonclinical")
	clinical := !nonClinical && has("d", "dcc", "clinical", "patient", "c")
	_ = lower
	for _, t := range toks {
		// A word the draft does not know may change the meaning ("Virtual
		// wards" are no ward rounds): such an activity is left to the hub
		// operator.
		if !activityWords[t] && strings.Trim(t, "0123456789") != "" {
			return nil, false
		}
	}
	switch {
	case has("the", "theatre", "theatres", "theater", "ot", "operating", "surgery"):
		switch {
		case has("e", "el", "elec", "elective") && !has("non", "ne", "emergency", "em", "emerg"):
			return []string{"dcc", "theatre_total", "theatre_elective"}, true
		case has("n", "ne", "nel", "em", "emerg", "emergency", "trauma", "nonelective") || has("non") && has("elective"):
			return []string{"dcc", "theatre_total", "theatre_non_elective"}, true
		}
		return nil, false // theatre with no split would break V10
	case has("opd", "op", "outpatient", "outpatients", "clinic", "clinics", "opc"):
		return []string{"dcc", "outpatients"}, true
	case has("wrd", "ward", "wards", "wr", "inpatient", "inpatients", "ip"):
		return []string{"dcc", "ward_rounds_inpatient"}, true
	case has("mdt", "mdm", "multidisciplinary"):
		return []string{"dcc", "mdt"}, true
	case has("diag", "diagnostic", "diagnostics", "reporting"):
		return []string{"dcc", "clinical_diagnostic"}, true
	case has("proc", "procedure", "procedures"):
		return []string{"dcc", "procedures"}, true
	case has("ph") && len(toks) == 1, has("public") && has("health"):
		return []string{"dcc", "public_health"}, true
	case has("adm", "admin", "administration"):
		switch {
		case nonClinical && !clinical:
			return []string{"spa", "non_dcc_admin"}, true
		case clinical && !nonClinical:
			return []string{"dcc", "dcc_admin"}, true
		}
		return nil, false
	case has("trv", "travel", "trav"):
		switch {
		case nonClinical && !clinical:
			return []string{"spa", "non_dcc_travel"}, true
		case clinical && !nonClinical:
			return []string{"dcc", "dcc_travel"}, true
		}
		return nil, false
	case has("onc", "oncall") || has("on") && has("call"):
		return []string{"dcc"}, true // on-call work is direct clinical care
	case has("cpd"):
		return []string{"spa", "cpd"}, true
	case has("teach", "teaching", "edu", "education", "training", "tch"):
		return []string{"spa", "teaching_education"}, true
	case has("res", "research", "rsch"):
		return []string{"spa", "research"}, true
	case has("audit", "governance", "gov", "qi", "appraisal", "revalidation"):
		return []string{"spa"}, true
	case has("priv", "private", "pp", "pps"):
		return []string{"private_professional_services"}, true
	case has("fee", "fees", "fps", "feepaying"):
		return []string{"fee_paying_services"}, true
	case has("ar") || has("additional") && has("responsibility", "responsibilities"):
		return []string{"additional_responsibilities"}, true
	case has("ext", "external"):
		return []string{"external_duties"}, true
	case len(toks) == 1 && toks[0] == "spa":
		return []string{"spa"}, true
	case len(toks) == 1 && toks[0] == "dcc":
		return []string{"dcc"}, true
	}
	return nil, false
}

// activityWords are the words activity codes and names are made of, as
// activityMeaning reads them, and filler that changes nothing.
var activityWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the theatre theatres theater ot operating surgery e el elec elective n ne nel em emerg
		emergency trauma nonelective non opd op outpatient outpatients clinic clinics opc wrd ward wards wr inpatient
		inpatients ip mdt mdm multidisciplinary diag diagnostic diagnostics reporting proc procedure procedures ph public
		health adm admin administration d dcc clinical patient c nondcc spa nc nonclinical trv travel trav onc oncall on
		call cpd teach teaching edu education training tch res research rsch audit governance gov qi appraisal
		revalidation priv private pp pps fee fees fps feepaying paying ar additional responsibility responsibilities ext
		external and of round rounds work session sessions time meeting meetings lead leads role roles duty duties
		professional development continuing related activity activities care direct supporting general practice
		services service programmed planned weekly team case conference list lists theatre_list`) {
		activityWords[w] = true
	}
}

// Plain and premium time in the names of hour columns.
var (
	premiumWords = []string{"premium", "prem", "unsocial", "ooh", "antisocial", "evening", "night", "weekend"}
	plainWords   = []string{"plain", "std", "standard", "normal", "core", "day", "daytime", "basic", "regular"}
	annualWords  = []string{"year", "yearly", "annual", "annually", "pa_year", "annum", "yr"}
)

// amountKind says what an amount column holds: hours or PAs, plain or
// premium time, a week or a year.
type amountKind struct {
	hours, premium, plain, annual bool
}

func amountOf(name string) amountKind {
	toks := rawTokens(name)
	return amountKind{
		hours:   hasToken(toks, "hour", "hours", "hrs", "hr", "h"),
		premium: hasToken(toks, premiumWords...),
		plain:   hasToken(toks, plainWords...),
		annual:  hasToken(toks, annualWords...) || strings.Contains(strings.ToLower(name), "peryear") || strings.Contains(strings.ToLower(name), "per year"),
	}
}

var bandShape = regexp.MustCompile(`(?i)^band\s*\d+$`)

// gradeAndContract reads the contract from two columns when one alone
// does not say it: a Grade (Consultant, Specialty Doctor) beside a
// Contract year (2003, 2021, Wales). A pair it cannot read is left out
// (a plan with it is refused, M05) with the reason.
func (d *Draft) gradeAndContract() {
	if !tabular(d.Format) {
		return
	}
	m := d.matched(record.ContractType)
	if m == nil || len(m.Lookup) == 0 {
		return
	}
	unsure := slices.ContainsFunc(m.Lookup, func(e LookupEntry) bool { return !e.Guess })
	if !unsure {
		return
	}
	grade := ""
	for _, s := range d.Sources {
		if s != m.Source && hasToken(rawTokens(s), "grade") {
			grade = s
		}
	}
	if grade == "" {
		return
	}
	gv, cv := d.values[grade], d.values[m.Source]
	if len(gv) != len(cv) {
		return
	}
	var pairs []LookupPair
	nSure := 0
	seen := map[[2]string]bool{}
	for i := range gv {
		a, b := strings.TrimSpace(gv[i]), strings.TrimSpace(cv[i])
		if a == "" && b == "" || seen[[2]string{a, b}] {
			continue
		}
		seen[[2]string{a, b}] = true
		to, sure, why := contractMeaning(a + " " + b)
		pairs = append(pairs, LookupPair{A: a, B: b, To: to, Why: why})
		if sure {
			nSure++
		}
	}
	if nSure == 0 {
		return
	}
	m.Columns, m.Pairs, m.Lookup = []string{grade, m.Source}, pairs, nil
	m.Note = "the grade and the contract together say the contract"
	d.Unused = slices.DeleteFunc(d.Unused, func(s string) bool { return s == grade })
}

// splitSupplement sends a column that holds a percentage for some plans
// and a Welsh band (Band 2) for others to the two fields, by shape.
func (d *Draft) splitSupplement() {
	m := d.matched(record.OnCallSupplementPct)
	if m == nil || d.matched(record.OnCallBandWales) != nil {
		return
	}
	bands := 0
	for _, v := range d.values[m.Source] {
		if bandShape.MatchString(strings.TrimSpace(v)) {
			bands++
		}
	}
	if bands == 0 {
		return
	}
	m.When = `^\d+([.,]\d+)?\s*%?$`
	m.Note = "the column also holds Welsh bands, read into on_call_band_wales"
	d.Matches = append(d.Matches, Match{Field: record.OnCallBandWales.String(), Source: m.Source, Confidence: m.Confidence, Why: "a Band N value of " + m.Source, When: `(?i)^band\s*\d+$`})
	slices.SortStableFunc(d.Matches, func(a, b Match) int {
		x, _ := record.Lookup(a.Field)
		y, _ := record.Lookup(b.Field)
		return int(x) - int(y)
	})
	d.Missing = slices.DeleteFunc(d.Missing, func(s string) bool { return s == record.OnCallBandWales.String() })
}

// writeColumnsLookup writes a field looked up on two columns.
func (d *Draft) writeColumnsLookup(b *bytes.Buffer, m Match, c string, note []string) {
	fmt.Fprintf(b, "  %s%s:  # %s\n", c, m.Field, strings.Join(note, "; "))
	fmt.Fprintf(b, "  %s  columns: [%s]\n", c, quoteAll(m.Columns))
	fmt.Fprintf(b, "  %s  lookup:\n", c)
	var firsts []string
	for _, p := range m.Pairs {
		if !slices.Contains(firsts, p.A) {
			firsts = append(firsts, p.A)
		}
	}
	for _, a := range firsts {
		hash := "# " // a level with nothing translated is written as a comment
		for _, p := range m.Pairs {
			if p.A == a && p.Why == "" {
				hash = ""
			}
		}
		fmt.Fprintf(b, "  %s    %s%s:\n", c, hash, q(a))
		for _, p := range m.Pairs {
			switch {
			case p.A == a && p.Why != "":
				fmt.Fprintf(b, "  %s      # %s: ?  # not translated: %s\n", c, q(p.B), p.Why)
			case p.A == a:
				fmt.Fprintf(b, "  %s      %s: %s\n", c, q(p.B), q(p.To))
			}
		}
	}
}

// welshContext guards the one default of contractMeaning: a consultant
// code with no Welsh or English word is read as the English contract. In
// an export that shows Welsh plans (on-call bands, the words Wales, Welsh
// or Cymru) but marks no contract as Welsh, such a code may be either, so
// it is not translated. Where some codes are marked Welsh, the others are
// English by contrast.
func (d *Draft) welshContext() {
	m := d.matched(record.ContractType)
	if m == nil {
		return
	}
	welshCodes := false
	for _, v := range d.values[m.Source] {
		if to, sure, _ := contractMeaning(v); sure && to == record.ConsultantWales {
			welshCodes = true
		}
	}
	for _, g := range d.Sources {
		if hasToken(rawTokens(g), "grade") {
			for _, v := range d.values[m.Source] {
				if hasToken(valueTokens(v), "wal", "wales", "welsh", "cymru") {
					welshCodes = true // Grade + Contract: "Consultant" + "Wales"
				}
			}
		}
	}
	if welshCodes {
		return
	}
	signal := ""
	for _, src := range d.Sources {
		if hasToken(rawTokens(src), "wales", "welsh", "cymru") {
			signal = "its column " + q(src)
		}
		for _, v := range d.values[src] {
			if bandShape.MatchString(strings.TrimSpace(v)) || hasToken(valueTokens(v), "wales", "welsh", "cymru") {
				signal = fmt.Sprintf("%q in %s", strings.TrimSpace(v), q(src))
				break
			}
		}
		if signal != "" {
			break
		}
	}
	if signal == "" {
		return
	}
	for i, e := range m.Lookup {
		if e.Guess && e.To == record.ConsultantEngland2003 && !hasToken(valueTokens(e.From), "eng", "england", "english") {
			m.Lookup[i].Guess = false
			m.Lookup[i].Why = "the export shows Welsh plans (" + signal + ") but marks no contract as Welsh, so a consultant may be on the Welsh or the English contract"
		}
	}
}
