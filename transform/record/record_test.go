package record

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
)

var compiledSchema = func() *gojsonschema.Schema {
	s, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(SchemaJSON))
	if err != nil {
		panic(err)
	}
	return s
}()

func validPlan() *JobPlan {
	p := &JobPlan{}
	p.SetText(EmployeeNumber, "10002345")
	p.SetText(AssignmentNumber, "10002345-2")
	p.SetText(StaffGroup, MedicalAndDental)
	p.SetText(ContractType, ConsultantEngland2003)
	p.SetText(EffectiveDate, "2026-04-01")
	p.SetNum(TotalContractedPAs, decimal.Int(10))
	p.SetNum(DCC, decimal.Dec(7_500_000))
	p.SetNum(SPA, decimal.Dec(2_500_000))
	return p
}

func TestValidPlanPassesBothValidators(t *testing.T) {
	p := validPlan()
	var got []Violation
	CheckSchema(p, func(v Violation) { got = append(got, v) })
	if len(got) != 0 {
		t.Fatalf("CheckSchema: %+v", got)
	}
	res, err := compiledSchema.Validate(gojsonschema.NewBytesLoader(p.AppendJSON(nil)))
	if err != nil || !res.Valid() {
		t.Fatalf("gojsonschema: %v %v", err, res.Errors())
	}
	want := `{"employee_number":"10002345","assignment_number":"10002345-2","vpd_code":null,"staff_group":"Medical and Dental","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":0,"dcc":7.5,"spa":2.5,`
	if s := string(p.AppendJSON(nil)); !strings.HasPrefix(s, want) {
		t.Errorf("JSON = %s\nwant prefix %s", s, want)
	}
}

func TestCheckSchemaReportsRule(t *testing.T) {
	p := validPlan()
	p.SetText(EmployeeNumber, "1234567")
	p.SetNum(SPA, decimal.Int(-1))
	p.SetText(EffectiveDate, "2026-02-30")
	p.SetText(OnCallCategory, "C")
	var got []string
	CheckSchema(p, func(v Violation) { got = append(got, v.Field.String()+":"+v.Rule+":"+v.Keyword) })
	want := []string{"employee_number:V1:pattern", "effective_date:V4:format", "spa:V5:minimum", "on_call_category:V15:enum"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestCheckSchemaAgreesWithGojsonschema is the guard against drift: the
// compiled checks and a generic validator reading the same schema must give
// the same verdict on many random records.
func TestCheckSchemaAgreesWithGojsonschema(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := map[ID][]string{
		EmployeeNumber:   {"10002345", "1000234", "1000234a", "", "100023456"},
		AssignmentNumber: {"10002345", "10002345-2", "10002345-123", "1000234-2", ""},
		VPDCode:          {"123", "12a", "", "1234567"},
		StaffGroup:       {MedicalAndDental, "Nursing", ""},
		ContractType:     {ConsultantEngland2003, ConsultantWales, "locum", ""},
		EffectiveDate:    {"2026-04-01", "2026-02-30", "01/04/2026", "2024-02-29", ""},
		OnCallCategory:   {"A", "B", "C"},
	}
	nums := []decimal.Dec{0, -1, decimal.Int(1), decimal.Dec(7_500_000), decimal.Dec(250_000), decimal.Int(100), decimal.Int(101), decimal.Int(2), decimal.Int(4), decimal.Dec(500_000)}
	for i := 0; i < 3000; i++ {
		p := &JobPlan{}
		for id := ID(0); id < NumFields; id++ {
			if rng.IntN(5) == 0 {
				continue // leave unset
			}
			switch Fields[id].Kind {
			case Text, Date:
				if opts, ok := texts[id]; ok {
					p.SetText(id, opts[rng.IntN(len(opts))])
				}
			case Decimal, Band:
				p.SetNum(id, nums[rng.IntN(len(nums))])
			}
		}
		fast := 0
		CheckSchema(p, func(Violation) { fast++ })
		doc := p.AppendJSON(nil)
		res, err := compiledSchema.Validate(gojsonschema.NewBytesLoader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if (fast == 0) != res.Valid() {
			t.Fatalf("disagree on %s: CheckSchema found %d violations, gojsonschema valid=%v %v", doc, fast, res.Valid(), res.Errors())
		}
	}
}

func TestAppendStringIsJSON(t *testing.T) {
	for _, s := range []string{"plain", "quote\"back\\slash", "tab\tnl\n", "<b>&", "Siân", "bad\xffutf8", "\u2028", "\x01"} {
		b := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if !strings.Contains(s, "\xff") && back != s {
			t.Errorf("%q round trip -> %q", s, back)
		}
	}
}
