package mapping

import (
	"slices"
	"testing"
)

func TestContractMeaning(t *testing.T) {
	for v, want := range map[string]string{
		"CONS_WAL_2003": "consultant_wales", "WAL03": "consultant_wales", "Consultant (Wales)": "consultant_wales", "Consultant - Welsh terms": "consultant_wales",
		"CONS_ENG_2003": "consultant_england_2003", "Consultant (2003)": "consultant_england_2003", "CONS03": "consultant_england_2003", "C2003": "consultant_england_2003",
		"Consultant Contract 2003 (England)": "consultant_england_2003",
		"SAS_SD_2021":                        "specialty_doctor_2021", "SD21": "specialty_doctor_2021", "Specialty Doctor (2021)": "specialty_doctor_2021", "SAS Specialty Doctor 2021": "specialty_doctor_2021",
		"SAS_SPEC_2021": "specialist_2021", "SP21": "specialist_2021", "Specialist 2021": "specialist_2021",
		"SAS_SD_2008": "specialty_doctor_2008", "SD08": "specialty_doctor_2008", "Specialty Doctor 2008": "specialty_doctor_2008",
		// Not sure: left for the hub operator, never a guess.
		"W2003": "", "S2021": "", "SAS 2021": "", "Specialist 2008": "", "Associate Specialist 2008": "", "SAS_WAL_2008": "",
		"Consultant 2021": "", "CONS_WAL_ENG": "", "Locum": "", "2003/2021": "",
	} {
		got, sure, why := contractMeaning(v)
		if got != want || sure != (want != "") {
			t.Errorf("%q: %q (sure %v, %s), want %q", v, got, sure, why, want)
		}
		if !sure && why == "" {
			t.Errorf("%q: not read, and no reason given", v)
		}
	}
}

func TestActivityMeaning(t *testing.T) {
	for code, want := range map[string][]string{
		"THE-E": {"dcc", "theatre_total", "theatre_elective"}, "THE-N": {"dcc", "theatre_total", "theatre_non_elective"},
		"Theatre (emergency)": {"dcc", "theatre_total", "theatre_non_elective"}, "OPD": {"dcc", "outpatients"},
		"Outpatient clinic": {"dcc", "outpatients"}, "WRD": {"dcc", "ward_rounds_inpatient"}, "DCC.WRD": {"dcc", "ward_rounds_inpatient"},
		"ADM-D": {"dcc", "dcc_admin"}, "ADM-N": {"spa", "non_dcc_admin"}, "Admin (clinical)": {"dcc", "dcc_admin"},
		"TRV-D": {"dcc", "dcc_travel"}, "TRV-N": {"spa", "non_dcc_travel"}, "RES": {"spa", "research"}, "TEACH": {"spa", "teaching_education"},
		"SPA-CPD": {"spa", "cpd"}, "Audit": {"spa"}, "PRIV": {"private_professional_services"}, "FEE": {"fee_paying_services"},
		"ONC": {"dcc"}, "AR-LEAD": {"additional_responsibilities"}, "MDT": {"dcc", "mdt"},
		// Not sure: a word that may change the meaning, a theatre with no
		// split (V10), admin that says neither clinical nor not, ED.
		"Virtual wards": nil, "THE": nil, "ADM": nil, "ED": nil, "DCC - Yoga": nil, "Annual leave": nil,
	} {
		got, sure := activityMeaning(code)
		if !slices.Equal(got, want) || sure != (want != nil) {
			t.Errorf("%q: %v (sure %v), want %v", code, got, sure, want)
		}
	}
}

func TestStatusMeaning(t *testing.T) {
	for v, want := range map[string][2]bool{
		"Signed off": {true, true}, "SIGNED_OFF": {true, true}, "APPROVED": {true, true}, "Yes": {true, true},
		"Draft": {false, true}, "IN_DISCUSSION": {false, true}, "cancelled": {false, true}, "PENDING": {false, true},
		"Signed off (provisional)": {false, false}, "Stage 3": {false, false},
	} {
		f, known := statusMeaning(v)
		if f != want[0] || known != want[1] {
			t.Errorf("%q: finished %v known %v, want %v", v, f, known, want)
		}
	}
}

// TestInferWelshContext: a consultant code with no Welsh word is the
// English contract, unless the export shows Welsh plans and marks none of
// its contracts Welsh.
func TestInferWelshContext(t *testing.T) {
	for _, c := range []struct {
		name, csv string
		sure      bool
	}{
		{"English export", "Employee Number,Assignment Number,Contract,DCC\n10000001,10000001,Consultant,7\n10000002,10000002,Consultant,8\n", true},
		{"Welsh bands, no Welsh code", "Employee Number,Assignment Number,Contract,On-call band,DCC\n10000001,10000001,Consultant,Band 2,7\n10000002,10000002,Consultant,,8\n", false},
		{"Welsh bands and a Welsh code", "Employee Number,Assignment Number,Contract,On-call band,DCC\n10000001,10000001,Consultant Wales,Band 2,7\n10000002,10000002,Consultant,,8\n", true},
	} {
		d, err := Infer("x.csv", []byte(c.csv))
		if err != nil {
			t.Fatal(err)
		}
		m := d.matched(0)
		for i := range d.Matches {
			if d.Matches[i].Field == "contract_type" {
				m = &d.Matches[i]
			}
		}
		var entry *LookupEntry
		for i := range m.Lookup {
			if m.Lookup[i].From == "Consultant" {
				entry = &m.Lookup[i]
			}
		}
		if entry == nil || entry.Guess != c.sure || (c.sure && entry.To != "consultant_england_2003") || (!c.sure && entry.Why == "") {
			t.Errorf("%s: %+v, want sure %v", c.name, entry, c.sure)
		}
	}
}
