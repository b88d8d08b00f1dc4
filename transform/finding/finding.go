// Package finding defines what the converter reports about a row or plan,
// and the catalogue of rule codes with their default severity and advice.
package finding

// Severity says what a finding does to a plan.
type Severity string

const (
	Error   Severity = "error"   // the plan is rejected
	Warning Severity = "warning" // the plan is kept and the finding reported
	Off     Severity = "off"     // the rule is not checked
)

// Finding is one problem found in an input file.
type Finding struct {
	Record     int      `json:"record"`            // 1-based plan number in the file; 0 for the file itself
	Line       int      `json:"line"`              // first source line
	EndLine    int      `json:"end_line"`          // last source line
	Assignment string   `json:"assignment_number"` // as mapped, when known
	Field      string   `json:"field,omitempty"`   // target field key
	Column     string   `json:"column,omitempty"`  // source column or JSON path
	Value      string   `json:"value,omitempty"`   // the offending value as read or computed
	Rule       string   `json:"rule"`              // stable code, e.g. V16
	Severity   Severity `json:"severity"`          // error or warning
	Message    string   `json:"message"`           // plain English for an HR analyst
	Fix        string   `json:"fix,omitempty"`     // how to put it right
}

// Rule describes a rule code.
type Rule struct {
	Code     string
	Severity Severity // default
	Title    string
	Fix      string
}

// Rules is the catalogue: every code the converter can report.
var Rules = map[string]Rule{}

func add(code string, sev Severity, title, fix string) {
	Rules[code] = Rule{Code: code, Severity: sev, Title: title, Fix: fix}
}

func init() {
	// Reading and mapping the source (M).
	add("M01", Error, "Value is not a number", "Enter the value as a plain number such as 7.5, without units or text.")
	add("M02", Error, "Date not in the expected format", "Enter the date in the format the mapping expects (shown in the message).")
	add("M03", Error, "On-call frequency not understood", "Write the rota frequency as '1 in N', '1:N' or N; leave it blank when the doctor is not on call.")
	add("M04", Error, "Required value missing", "Fill in the value in the supplier system and export the plan again.")
	add("M05", Error, "Value has no translation in the mapping", "Use one of the values the mapping lists, or ask the hub operator to add this one.")
	add("M06", Error, "Calculated field could not be worked out", "Check the values the calculation uses; the message names the problem.")
	add("M07", Error, "Activity category not recognised", "Use an activity category the mapping knows, or ask the hub operator to map this one.")
	add("M08", Error, "Row has the wrong number of columns", "Check for a missing or extra delimiter in this row.")
	add("M09", Error, "Row could not be read", "The row is malformed (for example an unclosed quote); correct it and export again.")
	add("M10", Error, "Rows of one plan are not together", "Export the file sorted so that all activity rows of a plan are next to each other.")
	add("M11", Error, "Value is not a whole number", "Enter a whole number.")
	add("M12", Error, "Value is not yes or no", "Use one of the yes/no values the mapping lists.")
	add("M13", Error, "Value too large to be right", "No week holds more PAs than its 168 hours: check for a typo, or hours entered where PAs were expected (or the unit the mapping gives the column).")
	add("M15", Error, "Rows of one plan disagree", "Make every row of the plan give the same plan-level values (effective date, contract, on-call...) and the same status, then export the plan again.")
	add("M16", Error, "Value in none (or several) of the forms a shared column holds", "Write the value in one of the forms the message lists (for example 5% or Band 2).")
	// Duplicates (D).
	add("D1", Warning, "Identical plan sent more than once", "No action needed: the plan is sent once. Remove the repeat from future exports.")
	add("D2", Warning, "Plan replaced by a later plan in the same file", "No action needed if the later plan is the current one.")
	add("D3", Error, "Two different plans with the same effective date", "Only one plan can be current: correct the wrong one in the supplier system and export again. (A mapping with duplicates.same_date: last_wins sends the later row instead.)")
	add("D4", Warning, "Plan held back: a later plan of the assignment was refused", "Put right the later plan (its own finding says what is wrong) and send it; this older plan is then superseded.")
	// Schema (S) beyond the domain rules.
	add("S1", Error, "Contract type not recognised", "Map the supplier's contract names to one of the contract types in the mapping's lookup.")
	// Domain rules V1–V22 (domain.md table (b)).
	add("V1", Error, "Employee or assignment number malformed", "Use the ESR numbers exactly as on the payslip: 8 digits, and -2, -3... for a second or later post.")
	add("V2", Warning, "Assignment number belongs to a different employee number", "Check that the assignment number starts with the doctor's own 8-digit employee number.")
	add("V3", Error, "Staff group is not Medical and Dental", "Only medical and dental staff have ESR job plans; remove the plan or correct the staff group.")
	add("V4", Error, "Effective date missing or invalid", "Enter the date the job plan takes effect.")
	add("V5", Error, "Negative PA value", "PA values cannot be negative; correct the job plan.")
	add("V6", Error, "Category totals do not add up to the total PAs", "DCC + SPA + additional responsibilities + external duties + medical school must equal the total contracted PAs (plus the APAs, when the mapping reads the total as leaving them out); correct the plan or the total.")
	add("V7", Error, "APAs exceed the PAs that include them", "The APA figure cannot be larger than the total contracted PAs that include it (or the categories, when the total leaves APAs out); check that it was not entered in hours.")
	add("V8", Warning, "More than 12 PAs", "Plans over 12 PAs a week are unusual (Working Time Regulations); confirm the plan is right and the doctor has opted out if needed.")
	add("V9", Error, "Total PAs zero or above the maximum", "Correct the total contracted PAs.")
	add("V10", Error, "Theatre sessions do not add up", "Elective plus non-elective theatre work must equal total theatre work.")
	add("V11", Error, "DCC activities add up to more than DCC", "The DCC activities listed cannot exceed the DCC total; correct the activities or the DCC figure.")
	add("V12", Warning, "DCC activities fall well short of DCC", "More than 1 PA of DCC is not itemised (often unrecorded on-call or other patient treatment); check the activities.")
	add("V13", Warning, "Supporting activities exceed non-DCC time", "Research, teaching, CPD and non-DCC admin and travel together exceed the total minus DCC; check the plan.")
	add("V14", Warning, "Unusual DCC/SPA split for a full-time consultant", "A full-time English consultant usually has at least 7 DCC and 1.5 SPA; confirm the split.")
	add("V15", Error, "On-call details incomplete", "Rota frequency, on-call category and supplement must be given together, or all left blank.")
	add("V16", Error, "On-call supplement does not match the rota", "The supplement must match the category and rota frequency (for example category A, 1 in 6: 5%); correct the supplement or the rota.")
	add("V17", Warning, "Blended rota frequency", "The frequency is not a whole number, so it was banded as an average of several rotas; confirm this is intended.")
	add("V18", Error, "Supplement not allowed for a 2008 SAS contract", "2008 SAS supplements are 0, 2, 4 or 6 per cent.")
	add("V19", Error, "Wrong kind of on-call supplement for the country", "Welsh consultant plans use an on-call band (1–3); English and SAS plans use a percentage.")
	add("V20", Warning, "Unpredictable on-call above the usual limit", "Welsh consultants normally count at most 1 session and SAS doctors at most 2 PAs of unpredictable on-call; confirm the figure.")
	add("V21", Error, "Private or additional work counted in the total", "Private professional services, fee-paying services and work additional to contract are not contracted PAs; take them out of the total.")
	add("V22", Warning, "PA value rounded or unusual", "PA values are sent with at most 2 decimal places and are usually in quarters; check the value.")
}
