// Package record defines the ESR job-plan record (domain.md table (a)): its
// fields, its JSON encoding and its JSON Schema, the published contract.
// The per-record checks that run on the hot path are derived from that
// schema when the package loads, so the two cannot drift.
package record

import "github.com/nhs-esr/jobplan-hub/transform/decimal"

// Kind is how a field's value is held and written.
type Kind uint8

const (
	Text    Kind = iota // JSON string
	Date                // JSON string, ISO 8601 calendar date
	Decimal             // JSON number, at most two places
	Band                // JSON integer (Welsh on-call band)
)

// Field describes one record field.
type Field struct {
	Key   string // JSON key, as in domain.md table (a)
	Label string // the ESR form's label, used in reports
	Kind  Kind
	// Nullable fields are written as null when no value was mapped.
	Nullable bool
	// Aux fields are used by checks but not written to ESR; Use says by
	// which.
	Aux bool
	Use string
	// PA marks the Programmed Activity fields (PA/week).
	PA bool
}

// ID indexes Fields.
type ID uint8

// The record's fields, in output order.
const (
	EmployeeNumber ID = iota
	AssignmentNumber
	VPDCode
	StaffGroup
	ContractType
	EffectiveDate
	TotalContractedPAs
	APAEPS
	DCC
	SPA
	AdditionalResponsibilities
	ExternalDuties
	MedicalSchool
	AdditionalToContract
	OnCallFrequencyN
	OnCallCategory
	OnCallSupplementPct
	OnCallBandWales
	TheatreTotal
	TheatreElective
	TheatreNonElective
	Outpatients
	WardRoundsInpatient
	MDT
	ClinicalDiagnostic
	Procedures
	PublicHealth
	Research
	TeachingEducation
	CPD
	DCCTravel
	NonDCCTravel
	DCCAdmin
	NonDCCAdmin
	PrivateProfessionalServices
	FeePayingServices
	// UnpredictableOnCall is the unpredictable on-call PAs/sessions a
	// supplier may export; it feeds rule V20 and is not sent to ESR.
	UnpredictableOnCall
	// Surname and Forenames feed the staff-record name check (R5, R6) and
	// are not sent to ESR.
	Surname
	Forenames
	NumFields
)

// MaxWeeklyPAs is the most PAs any week can hold: one for each of its 168
// hours (a PA is 3 or 4). A PA value beyond it, after unit conversion, is a
// typo or hours entered as PAs, and is refused (M13), never sent.
var MaxWeeklyPAs = decimal.Int(168)

// Fields lists every field, indexed by ID.
var Fields = [NumFields]Field{
	EmployeeNumber:              {Key: "employee_number", Label: "Employee number", Kind: Text},
	AssignmentNumber:            {Key: "assignment_number", Label: "Assignment number", Kind: Text},
	VPDCode:                     {Key: "vpd_code", Label: "VPD code", Kind: Text, Nullable: true},
	StaffGroup:                  {Key: "staff_group", Label: "Staff group", Kind: Text},
	ContractType:                {Key: "contract_type", Label: "Contract type", Kind: Text},
	EffectiveDate:               {Key: "effective_date", Label: "Effective Date", Kind: Date},
	TotalContractedPAs:          {Key: "total_contracted_pas", Label: "Total Contracted Activities / Sessions", Kind: Decimal, PA: true},
	APAEPS:                      {Key: "apa_eps", Label: "Additional Programmed Activities / Sessions (APA / EPS)", Kind: Decimal, PA: true},
	DCC:                         {Key: "dcc", Label: "Total Contracted Direct Clinical Care (DCC)", Kind: Decimal, PA: true},
	SPA:                         {Key: "spa", Label: "Total Contracted Supporting Professional Activities (SPA)", Kind: Decimal, PA: true},
	AdditionalResponsibilities:  {Key: "additional_responsibilities", Label: "Total Contracted Additional Responsibilities (ANR / AR)", Kind: Decimal, PA: true},
	ExternalDuties:              {Key: "external_duties", Label: "Total Contracted External / Other Duties (ED)", Kind: Decimal, PA: true},
	MedicalSchool:               {Key: "medical_school", Label: "Total Medical School Activities (MS)", Kind: Decimal, PA: true},
	AdditionalToContract:        {Key: "additional_to_contract", Label: "Total Additional to Contract (ATC) Across All Categories", Kind: Decimal, PA: true},
	OnCallFrequencyN:            {Key: "on_call_frequency_n", Label: "On-Call Frequency", Kind: Decimal, Nullable: true},
	OnCallCategory:              {Key: "on_call_category", Label: "On-Call Category", Kind: Text, Nullable: true},
	OnCallSupplementPct:         {Key: "on_call_supplement_pct", Label: "On-Call Supplement (% England and SAS)", Kind: Decimal, Nullable: true},
	OnCallBandWales:             {Key: "on_call_band_wales", Label: "On-Call Supplement (Band Wales)", Kind: Band, Nullable: true},
	TheatreTotal:                {Key: "theatre_total", Label: "Total Operating Theatre Work", Kind: Decimal, PA: true},
	TheatreElective:             {Key: "theatre_elective", Label: "Elective Operating Theatre Work", Kind: Decimal, PA: true},
	TheatreNonElective:          {Key: "theatre_non_elective", Label: "Non-Elective Operating Theatre Work", Kind: Decimal, PA: true},
	Outpatients:                 {Key: "outpatients", Label: "Total Outpatient Activities", Kind: Decimal, PA: true},
	WardRoundsInpatient:         {Key: "ward_rounds_inpatient", Label: "Ward Rounds and Inpatient Work", Kind: Decimal, PA: true},
	MDT:                         {Key: "mdt", Label: "Multidisciplinary Care", Kind: Decimal, PA: true},
	ClinicalDiagnostic:          {Key: "clinical_diagnostic", Label: "Clinical Diagnostic Work", Kind: Decimal, PA: true},
	Procedures:                  {Key: "procedures", Label: "Procedures", Kind: Decimal, PA: true},
	PublicHealth:                {Key: "public_health", Label: "Public Health Duties", Kind: Decimal, PA: true},
	Research:                    {Key: "research", Label: "Research", Kind: Decimal, PA: true},
	TeachingEducation:           {Key: "teaching_education", Label: "Teaching and Education", Kind: Decimal, PA: true},
	CPD:                         {Key: "cpd", Label: "Continuing Professional Development", Kind: Decimal, PA: true},
	DCCTravel:                   {Key: "dcc_travel", Label: "DCC Travel", Kind: Decimal, PA: true},
	NonDCCTravel:                {Key: "non_dcc_travel", Label: "Non-DCC Travel", Kind: Decimal, PA: true},
	DCCAdmin:                    {Key: "dcc_admin", Label: "DCC Administration", Kind: Decimal, PA: true},
	NonDCCAdmin:                 {Key: "non_dcc_admin", Label: "Non-DCC Administration", Kind: Decimal, PA: true},
	PrivateProfessionalServices: {Key: "private_professional_services", Label: "Private Professional Services", Kind: Decimal, PA: true},
	FeePayingServices:           {Key: "fee_paying_services", Label: "Fee Paying Services", Kind: Decimal, PA: true},
	UnpredictableOnCall:         {Key: "unpredictable_on_call", Label: "Unpredictable on-call (PAs/sessions)", Kind: Decimal, Nullable: true, Aux: true, PA: true, Use: "rule V20: unpredictable on-call above 1 session (Welsh consultants) or 2 PAs (SAS)"},
	Surname:                     {Key: "surname", Label: "Surname", Kind: Text, Nullable: true, Aux: true, Use: "the staff-record name check (R5, R6) of convert --staff"},
	Forenames:                   {Key: "forenames", Label: "Forenames", Kind: Text, Nullable: true, Aux: true, Use: "the staff-record name check (R5, R6) of convert --staff"},
}

var byKey = func() map[string]ID {
	m := make(map[string]ID, NumFields)
	for i, f := range Fields {
		m[f.Key] = ID(i)
	}
	return m
}()

// Lookup returns the field with the given JSON key.
func Lookup(key string) (ID, bool) {
	id, ok := byKey[key]
	return id, ok
}

// Keys returns every field key in output order, aux fields last.
func Keys() []string {
	keys := make([]string, 0, NumFields)
	for _, f := range Fields {
		keys = append(keys, f.Key)
	}
	return keys
}

// Field returns the description of id.
func (id ID) Field() Field { return Fields[id] }

// String returns the field's key.
func (id ID) String() string { return Fields[id].Key }

// Contract types (domain.md table (a)).
const (
	ConsultantEngland2003 = "consultant_england_2003"
	ConsultantWales       = "consultant_wales"
	SpecialtyDoctor2008   = "specialty_doctor_2008"
	SpecialtyDoctor2021   = "specialty_doctor_2021"
	Specialist2021        = "specialist_2021"
	OtherContract         = "other"
)

// MedicalAndDental is the only staff group whose plans ESR takes.
const MedicalAndDental = "Medical and Dental"

// JobPlan is one ESR job-plan record. The zero value is empty; Reset makes
// a used one empty again so a converter can reuse it row after row.
type JobPlan struct {
	text    [NumFields]string
	num     [NumFields]decimal.Dec
	present [NumFields]bool
}

// Reset clears every field.
func (p *JobPlan) Reset() { *p = JobPlan{} }

// Has reports whether the field holds a value (not null).
func (p *JobPlan) Has(id ID) bool { return p.present[id] }

// Text returns a Text or Date field ("" when null).
func (p *JobPlan) Text(id ID) string { return p.text[id] }

// Num returns a Decimal or Band field (0 when null).
func (p *JobPlan) Num(id ID) decimal.Dec { return p.num[id] }

// SetText sets a Text or Date field.
func (p *JobPlan) SetText(id ID, s string) { p.text[id], p.present[id] = s, true }

// SetNum sets a Decimal or Band field.
func (p *JobPlan) SetNum(id ID, d decimal.Dec) { p.num[id], p.present[id] = d, true }

// Add adds d to a Decimal field (long-to-wide aggregation).
func (p *JobPlan) Add(id ID, d decimal.Dec) { p.num[id] += d; p.present[id] = true }

// Clear sets a field to null.
func (p *JobPlan) Clear(id ID) { p.text[id], p.num[id], p.present[id] = "", 0, false }
