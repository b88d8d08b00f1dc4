package mapping_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/unicode"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// No key of a mapping may be accepted and then ignored. These tests prove
// it from the mapping's JSON Schema, the list of every key mapping check
// accepts:
//
//   - TestEveryMappingKeyIsRead walks the schema and requires, for every
//     key it allows, a case of two mappings that differ only in that key,
//     and shows that converting the case's input gives a different
//     outcome (records, findings, counts, or what mapping check prints).
//     A key added to the schema without such a case fails the test; a key
//     the compiler ignores cannot pass it.
//   - TestSpecMatchesSchema requires every key the schema allows to be a
//     key the YAML decoder fills (a key in the schema but not in Spec would
//     be accepted and dropped), and the reverse.

// schemaKeys lists the keys a JSON Schema allows: "csv.delimiter",
// "filters[].scope", "#source.unit" for the properties of a definition.
func schemaKeys(t *testing.T) []string {
	var doc map[string]any
	if err := json.Unmarshal(mapping.SchemaJSON, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(node map[string]any, path string)
	walk = func(node map[string]any, path string) {
		if props, ok := node["properties"].(map[string]any); ok {
			for k, v := range props {
				p := k
				if path != "" {
					p = path + "." + k
				}
				keys = append(keys, p)
				walk(v.(map[string]any), p)
			}
		}
		if items, ok := node["items"].(map[string]any); ok {
			walk(items, path+"[]")
		}
		if ap, ok := node["additionalProperties"].(map[string]any); ok {
			keys = append(keys, path+".*")
			walk(ap, path+".*")
		}
		if alts, ok := node["anyOf"].([]any); ok {
			for _, a := range alts {
				walk(a.(map[string]any), path)
			}
		}
		for _, branch := range []string{"then", "else"} {
			if b, ok := node[branch].(map[string]any); ok {
				walk(b, path)
			}
		}
	}
	walk(doc, "")
	for name, def := range doc["definitions"].(map[string]any) {
		walk(def.(map[string]any), "#"+name)
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// keyCase shows a key is read: mappings a (without the key, or with
// another value) and b (with it) give different outcomes on input.
type keyCase struct {
	a, b, input string
	// covered names the key whose case covers this one (a container, or a
	// definition's property reached through another key); why says why a
	// key needs no case of its own.
	covered, why string
}

// Mapping templates: a wide CSV, a long CSV with activities, JSON Lines.
func wide(top, fields string) string {
	return "version: 1\nname: t\nformat: csv\n" + top + "fields:\n  employee_number: {column: Emp}\n  assignment_number: {column: Asg}\n" + fields
}

func long(top, fields, acts string) string {
	return "version: 1\nname: t\nformat: csv\n" + top + "fields:\n  assignment_number: {column: Asg}\n" + fields +
		"group:\n  by: [assignment_number]\nactivities:\n" + acts
}

func jsonl(top, fields string) string {
	return "version: 1\nname: t\nformat: jsonl\n" + top + "fields:\n  assignment_number: {path: asg}\n" + fields
}

const (
	acts    = "  category: {column: Code}\n  amount: {column: PAs}\n  categories: {OPD: [dcc], CPD: [spa]}\n"
	actsIn  = "Asg,Code,PAs,Hours,Premium,Times,Status,Ref,Date\n1,OPD,2,8,N,42,x,R1,2026-04-01\n1,CPD,1,3,Y,21,y,R2,2026-05-01\n"
	wideIn  = "Emp,Asg,D,S,T,V,Grade,Contract,Status\n1,1,7.5,2.5,01/04/2026,Band 2,Consultant,2003,Signed Off\n"
	jsonIn  = `{"asg": "1", "a": "7", "b": "8", "s": "x", "t": "y", "items": [{"code": "OPD", "pas": 2, "p": "Y"}], "other": [{"code": "CPD", "pas": 1, "p": "N"}]}` + "\n"
	sources = "  dcc: {column: D}\n"
	// dated and datedIn make plans the rules accept, two of one
	// assignment: for the duplicate rules, which only accepted plans reach.
	dated = "  staff_group: {value: Medical and Dental}\n  contract_type: {value: consultant_england_2003}\n" +
		"  effective_date: {column: T, formats: [dd/mm/yyyy]}\n  dcc: {column: D}\n  spa: {column: S}\n  total_contracted_pas: {expr: dcc + spa}\n"
	datedIn  = "Emp,Asg,D,S,T\n10000001,10000001,7.5,2.5,01/04/2026\n"
	jsources = "  dcc: {path: a}\n"
)

func workbook(top, fields string) string {
	return strings.Replace(wide(top, fields), "format: csv", "format: xlsx", 1)
}

// keysBook is a workbook of two sheets of the same shape: a title row, the
// header Emp, Asg, D and one plan.
var keysBook = func() string {
	f := excelize.NewFile()
	defer f.Close()
	f.SetSheetName("Sheet1", "Notes")
	f.NewSheet("Plans")
	for sheet, dcc := range map[string]float64{"Notes": 1, "Plans": 7.5} {
		f.SetSheetRow(sheet, "A1", &[]any{"Exported 01/04/2026"})
		f.SetSheetRow(sheet, "A2", &[]any{"Emp", "Asg", "D"})
		f.SetSheetRow(sheet, "A3", &[]any{"1", "1", dcc})
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		panic(err)
	}
	return b.String()
}()

func utf16Text(s string) string {
	b, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(s)
	return b
}

var keyCases = map[string]keyCase{
	"version":     {why: "the schema admits only 1, the file format's version"},
	"name":        {a: wide("", sources), b: strings.Replace(wide("", sources), "name: t", "name: other", 1), input: wideIn},
	"description": {a: wide("", sources), b: wide("description: Wide export.\n", sources), input: wideIn},
	"format":      {a: jsonl("", jsources), b: strings.Replace(jsonl("json: {records: plans}\n", jsources), "jsonl", "json", 1), input: jsonIn},

	"csv":             {covered: "csv.delimiter"},
	"csv.delimiter":   {a: wide("", sources), b: wide("csv: {delimiter: ';'}\n", sources), input: strings.ReplaceAll(wideIn, ",", ";")},
	"csv.encoding":    {a: wide("", "  surname: {column: V}\n"), b: wide("csv: {encoding: windows-1252}\n", "  surname: {column: V}\n"), input: "Emp,Asg,V\n1,1,Sin\xe9ad\n"},
	"csv.header_row":  {a: wide("", sources), b: wide("csv: {header_row: 2}\n", sources), input: "Exported 2026-04-01\n" + wideIn},
	"csv.no_header":   {a: wide("", "  dcc: {column: \"3\"}\n"), b: wide("csv: {no_header: true}\n", "  dcc: {column: \"3\"}\n"), input: "Emp,Asg,3\n1,1,7\n"},
	"csv.skip_rows":   {a: wide("", sources), b: wide("csv: {skip_rows: 1}\n", sources), input: "Exported 2026-04-01\n" + wideIn},
	"csv.lazy_quotes": {a: wide("", "  surname: {column: S}\n"), b: wide("csv: {lazy_quotes: true}\n", "  surname: {column: S}\n"), input: "Emp,Asg,S\n1,1,O\"Neil\n"},
	"csv.quote":       {a: wide("", "  surname: {column: S}\n"), b: wide("csv: {quote: none}\n", "  surname: {column: S}\n"), input: "Emp,Asg,S\n1,1,\"Jo\n2,2,Al\"\n"},
	"csv.comment":     {a: wide("", sources), b: wide("csv: {comment: '#'}\n", sources), input: wideIn + "# end of export\n"},

	"xlsx":              {covered: "xlsx.sheet"},
	"xlsx.sheet":        {a: workbook("xlsx: {sheet: Notes, skip_rows: 1}\n", sources), b: workbook("xlsx: {sheet: Plans, skip_rows: 1}\n", sources), input: keysBook},
	"xlsx.sheet_number": {a: workbook("xlsx: {sheet_number: 1, skip_rows: 1}\n", sources), b: workbook("xlsx: {sheet_number: 2, skip_rows: 1}\n", sources), input: keysBook},
	"xlsx.skip_rows":    {a: workbook("xlsx: {sheet: Plans}\n", sources), b: workbook("xlsx: {sheet: Plans, skip_rows: 1}\n", sources), input: keysBook},
	"xlsx.header_row":   {a: workbook("xlsx: {sheet: Plans}\n", sources), b: workbook("xlsx: {sheet: Plans, header_row: 2}\n", sources), input: keysBook},
	"xlsx.no_header": {a: "version: 1\nname: t\nformat: xlsx\nxlsx: {sheet: Plans, skip_rows: 2}\nfields:\n  assignment_number: {column: \"2\"}\n  dcc: {column: \"3\"}\n",
		b: "version: 1\nname: t\nformat: xlsx\nxlsx: {sheet: Plans, skip_rows: 2, no_header: true}\nfields:\n  assignment_number: {column: \"2\"}\n  dcc: {column: \"3\"}\n", input: keysBook},

	"json":          {covered: "json.records"},
	"json.records":  {a: strings.Replace(jsonl("json: {records: plans}\n", jsources), "jsonl", "json", 1), b: strings.Replace(jsonl("json: {records: data}\n", jsources), "jsonl", "json", 1), input: `{"plans": [{"asg": "1", "a": 7}], "data": [{"asg": "2", "a": 8}]}`},
	"json.encoding": {a: jsonl("", jsources), b: jsonl("json: {encoding: utf-16}\n", jsources), input: utf16Text(jsonIn)},

	"units":                      {covered: "units.hours_per_pa"},
	"units.hours_per_pa":         {a: wide("units: {hours_per_pa: 4}\n", "  dcc: {column: D, unit: hours}\n"), b: wide("units: {hours_per_pa: 5}\n", "  dcc: {column: D, unit: hours}\n"), input: wideIn},
	"units.premium_hours_per_pa": {a: wide("units: {premium_hours_per_pa: 3}\n", "  dcc: {column: D, unit: premium_hours}\n"), b: wide("units: {premium_hours_per_pa: 2.5}\n", "  dcc: {column: D, unit: premium_hours}\n"), input: wideIn},
	"units.working_weeks":        {a: wide("units: {working_weeks: 42}\n", "  dcc: {column: D, per: year}\n"), b: wide("units: {working_weeks: 21}\n", "  dcc: {column: D, per: year}\n"), input: wideIn},

	"numbers":               {covered: "numbers.decimal_comma"},
	"numbers.decimal_comma": {a: wide("csv: {delimiter: ';'}\n", sources), b: wide("csv: {delimiter: ';'}\nnumbers: {decimal_comma: true}\n", sources), input: "Emp;Asg;D\n1;1;7,5\n"},

	"filters":               {covered: "filters[].column"},
	"filters[].column":      {a: wide("filters: [{column: Status, equals: Signed Off}]\n", sources), b: wide("filters: [{column: Grade, equals: Signed Off}]\n", sources), input: wideIn},
	"filters[].path":        {a: jsonl("filters: [{path: s, equals: x}]\n", jsources), b: jsonl("filters: [{path: t, equals: x}]\n", jsources), input: jsonIn},
	"filters[].equals":      {a: wide("", sources), b: wide("filters: [{column: Status, equals: Draft}]\n", sources), input: wideIn},
	"filters[].in":          {a: wide("", sources), b: wide("filters: [{column: Status, in: [Draft]}]\n", sources), input: wideIn},
	"filters[].not_in":      {a: wide("", sources), b: wide("filters: [{column: Status, not_in: [Signed Off]}]\n", sources), input: wideIn},
	"filters[].matches":     {a: wide("", sources), b: wide("filters: [{column: Status, matches: '^Draft'}]\n", sources), input: wideIn},
	"filters[].ignore_case": {a: wide("filters: [{column: Status, equals: signed off}]\n", sources), b: wide("filters: [{column: Status, equals: signed off, ignore_case: true}]\n", sources), input: wideIn},
	"filters[].expr":        {a: wide("", sources), b: wide("filters: [{expr: 'column(\"Status\") == \"Draft\"'}]\n", sources), input: wideIn},
	"filters[].scope":       {a: long("filters: [{column: Status, equals: x}]\n", "", acts), b: long("filters: [{column: Status, equals: x, scope: activity}]\n", "", acts), input: actsIn},

	"fields":   {covered: "#source.column"},
	"fields.*": {covered: "#source.column"},

	"#source.column":  {a: wide("", "  dcc: {column: D}\n"), b: wide("", "  dcc: {column: S}\n"), input: wideIn},
	"#source.path":    {a: jsonl("", "  dcc: {path: a}\n"), b: jsonl("", "  dcc: {path: b}\n"), input: jsonIn},
	"#source.columns": {a: wide("", "  contract_type: {column: Grade, lookup: {Consultant: consultant_wales}}\n"), b: wide("", "  contract_type: {columns: [Grade, Contract], lookup: {Consultant: {\"2003\": consultant_england_2003}}}\n"), input: wideIn},
	"#source.paths":   {a: jsonl("", "  contract_type: {path: s, lookup: {x: consultant_wales}}\n"), b: jsonl("", "  contract_type: {paths: [s, t], lookup: {x: {y: consultant_england_2003}}}\n"), input: jsonIn},
	"#source.value":   {a: wide("", "  dcc: {value: 7}\n"), b: wide("", "  dcc: {value: 8}\n"), input: wideIn},
	"#source.expr":    {a: wide("", "  dcc: {column: D}\n"), b: wide("", "  dcc: {expr: 'number(column(\"D\")) + 1'}\n"), input: wideIn},
	"#source.sum":     {a: wide("", "  dcc: {column: D}\n"), b: wide("", "  dcc: {sum: [{column: D}, {column: S}]}\n"), input: wideIn},
	"#source.type":    {a: wide("", "  dcc: {column: D}\n"), b: wide("", "  dcc: {column: D, type: integer}\n"), input: wideIn},
	"#source.formats": {a: wide("", "  effective_date: {column: T}\n"), b: wide("", "  effective_date: {column: T, formats: [dd/mm/yyyy]}\n"), input: wideIn},
	"#source.two_digit_years_from": {a: wide("", "  effective_date: {column: T, formats: [dd/mm/yy], two_digit_years_from: 2000}\n"), b: wide("", "  effective_date: {column: T, formats: [dd/mm/yy], two_digit_years_from: 1900}\n"),
		input: "Emp,Asg,T\n1,1,01/04/26\n"},
	"#source.lookup":    {a: wide("", "  contract_type: {column: Grade}\n"), b: wide("", "  contract_type: {column: Grade, lookup: {Consultant: consultant_england_2003}}\n"), input: wideIn},
	"#source.unmatched": {a: wide("", "  contract_type: {column: Grade, lookup: {SD: specialty_doctor_2021}}\n"), b: wide("", "  contract_type: {column: Grade, unmatched: error, lookup: {SD: specialty_doctor_2021}}\n"), input: wideIn},
	"#source.default":   {a: wide("", "  vpd_code: {column: X}\n"), b: wide("", "  vpd_code: {column: X, default: \"123\"}\n"), input: "Emp,Asg,X\n1,1,\n"},
	"#source.required":  {a: wide("", "  vpd_code: {column: X}\n"), b: wide("", "  vpd_code: {column: X, required: true}\n"), input: "Emp,Asg,X\n1,1,\n"},
	"#source.unit":      {a: wide("", "  dcc: {column: D}\n"), b: wide("", "  dcc: {column: D, unit: hours}\n"), input: wideIn},
	"#source.per":       {a: wide("units: {working_weeks: 42}\n", "  dcc: {column: D, per: year}\n  spa: {column: S}\n"), b: wide("units: {working_weeks: 42}\n", "  dcc: {column: D, per: year}\n  spa: {column: S, per: year}\n"), input: wideIn},
	"#source.when":      {a: wide("", "  on_call_band_wales: {column: V}\n"), b: wide("", "  on_call_band_wales: {column: V, when: {matches: '^x'}}\n"), input: wideIn},

	// The test of a when (the filter has its own copy of these keys).
	"#test.equals":      {a: wide("", "  on_call_band_wales: {column: V, when: {matches: '^Band'}}\n"), b: wide("", "  on_call_band_wales: {column: V, when: {equals: Band 3}}\n"), input: wideIn},
	"#test.in":          {a: wide("", "  on_call_band_wales: {column: V, when: {matches: '^Band'}}\n"), b: wide("", "  on_call_band_wales: {column: V, when: {in: [Band 3]}}\n"), input: wideIn},
	"#test.not_in":      {a: wide("", "  on_call_band_wales: {column: V, when: {matches: '^Band'}}\n"), b: wide("", "  on_call_band_wales: {column: V, when: {not_in: [Band 2]}}\n"), input: wideIn},
	"#test.matches":     {a: wide("", "  on_call_band_wales: {column: V, when: {equals: Band 2}}\n"), b: wide("", "  on_call_band_wales: {column: V, when: {matches: '^x'}}\n"), input: wideIn},
	"#test.ignore_case": {a: wide("", "  on_call_band_wales: {column: V, when: {equals: band 2}}\n"), b: wide("", "  on_call_band_wales: {column: V, when: {equals: band 2, ignore_case: true}}\n"), input: wideIn},

	"#lookup.*": {covered: "#source.lookup", why: "the entries of a lookup (nested ones through #source.columns)"},

	"group":             {covered: "group.by"},
	"group.by":          {a: long("", "", acts), b: strings.Replace(long("", "  effective_date: {column: Date}\n", acts), "by: [assignment_number]", "by: [assignment_number, effective_date]", 1), input: actsIn},
	"group.by[].column": {a: long("", "", acts), b: strings.Replace(long("", "", acts), "by: [assignment_number]", "by: [{column: Ref}]", 1), input: actsIn},
	"group.plan_values": {a: long("", "  surname: {column: Status}\n", acts), b: strings.Replace(long("", "  surname: {column: Status}\n", acts), "by: [assignment_number]", "by: [assignment_number]\n  plan_values: first_row", 1),
		input: "Asg,Code,PAs,Status\n1,OPD,2,Doe\n1,CPD,1,\n"},

	"activities":              {covered: "activities.category"},
	"activities.path":         {a: jsonl("", "") + "activities:\n  path: items\n  category: {path: code}\n  amount: {path: pas}\n  categories: {OPD: [dcc], CPD: [spa]}\n", b: jsonl("", "") + "activities:\n  path: other\n  category: {path: code}\n  amount: {path: pas}\n  categories: {OPD: [dcc], CPD: [spa]}\n", input: jsonIn},
	"activities.category":     {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: Code}", "{value: OPD}", 1)), input: actsIn},
	"activities.amount":       {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{column: Hours}", 1)), input: actsIn},
	"activities.occurrences":  {a: long("units: {working_weeks: 42}\n", "", strings.Replace(acts, "{column: PAs}", "{column: PAs, per: year}", 1)), b: long("units: {working_weeks: 42}\n", "", acts+"  occurrences: {column: Times}\n"), input: actsIn},
	"activities.premium":      {a: long("", "", strings.Replace(acts, "{column: PAs}", "{column: Hours, unit: hours}", 1)), b: long("", "", strings.Replace(acts, "{column: PAs}", "{column: Hours, unit: hours}", 1)+"  premium: {column: Premium, true_values: [Y]}\n"), input: actsIn},
	"activities.categories":   {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{OPD: [dcc], CPD: [spa]}", "{OPD: [dcc, outpatients], CPD: [spa]}", 1)), input: actsIn},
	"activities.categories.*": {covered: "activities.categories"},

	"#bool.column":       {a: long("", "", premiumActs("column: Premium", "[Y]", "")), b: long("", "", premiumActs("column: Status", "[Y]", "")), input: actsIn},
	"#bool.path":         {a: jsonl("", "") + jsonPremium("p"), b: jsonl("", "") + jsonPremium("q"), input: jsonIn},
	"#bool.true_values":  {a: long("", "", premiumActs("column: Premium", "[Y]", "")), b: long("", "", premiumActs("column: Premium", "[N]", "")), input: actsIn},
	"#bool.false_values": {a: long("", "", premiumActs("column: Premium", "[Y]", "")), b: long("", "", premiumActs("column: Premium", "[Y]", ", false_values: [No]")), input: actsIn},

	"duplicates":      {a: wide("", sources), b: wide("duplicates: keep_all\n", "  effective_date: {column: T, formats: [dd/mm/yyyy]}\n  dcc: {column: D}\n"), input: wideIn + "1,1,7,3,01/05/2026,,,,\n"},
	"duplicates.keep": {a: wide("duplicates: {keep: latest}\n", dated), b: wide("duplicates: {keep: all}\n", dated), input: datedIn + "10000001,10000001,7,3,01/05/2026\n"},
	// Two different plans of one date: refused by default, the later row
	// sent with last_wins.
	"duplicates.same_date": {a: wide("duplicates: {same_date: refuse}\n", dated), b: wide("duplicates: {same_date: last_wins}\n", dated), input: datedIn + "10000001,10000001,7,3,01/04/2026\n"},
	"rules":                {a: wide("", sources), b: wide("rules: {pa_step: 0.5}\n", sources), input: "Emp,Asg,D\n1,1,7.25\n"},
}

func premiumActs(src, trueValues, extra string) string {
	return "  category: {column: Code}\n  amount: {column: Hours, unit: hours}\n  premium: {" + src + ", true_values: " + trueValues + extra + "}\n  categories: {OPD: [dcc], CPD: [spa]}\n"
}

func jsonPremium(path string) string {
	return "activities:\n  path: items\n  category: {path: code}\n  amount: {path: pas, unit: hours}\n  premium: {path: " + path + ", true_values: [Y]}\n  categories: {OPD: [dcc], CPD: [spa]}\n"
}

// keyOutcome is what a mapping does with an input, as far as anyone can
// see: what mapping check prints, the records, findings and counts.
func keyOutcome(t *testing.T, text, input string) string {
	t.Helper()
	m, err := mapping.Load("case.yaml", []byte(text))
	if err != nil {
		t.Fatalf("mapping does not load:\n%s\n%v", text, err)
	}
	var out, rejected bytes.Buffer
	found := &findings{}
	counts, err := transform.Convert(context.Background(), m, strings.NewReader(input), transform.Outputs{Records: &out, Rejected: &rejected, Findings: found, SpoolDir: t.TempDir()})
	return fmt.Sprintf("check: %s %s %s\nerr: %v\ncounts: %+v\nrecords:\n%sfindings:\n%s\nvalues:\n%s", m.Name, m.Format, m.Description, err, counts, out.String(), strings.Join(found.lines, "\n"), mappedValues(t, m, input))
}

// mappedValues shows every field of every plan as mapped, before the
// contract rules, so that a key's effect is seen on a rejected plan too.
func mappedValues(t *testing.T, m *mapping.Mapping, input string) string {
	r, header, err := readerFor(t, m, input)
	if err != nil {
		return err.Error()
	}
	ap, err := m.Bind(header)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for {
		row, err := r.Next()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			fmt.Fprintf(&b, "row error: %v\n", err)
			continue
		}
		if keep, _ := ap.Keep(row); !keep {
			b.WriteString("filtered\n")
			continue
		}
		var p record.JobPlan
		ap.MapRow(row, &p, func(finding.Finding) {})
		ap.AddActivities(row, &p, func(finding.Finding) {})
		ap.Compute(&p, func(finding.Finding) {})
		fmt.Fprintf(&b, "key %q:", ap.GroupKey(&p))
		for id := record.ID(0); id < record.NumFields; id++ {
			if p.Has(id) {
				fmt.Fprintf(&b, " %s=%s", id, value(&p, id))
			}
		}
		b.WriteString("\n")
	}
}

type findings struct{ lines []string }

func (f *findings) Add(x finding.Finding) error {
	f.lines = append(f.lines, fmt.Sprintf("%d %s %s %s %q %s", x.Line, x.Rule, x.Field, x.Column, x.Value, x.Message))
	return nil
}

func TestEveryMappingKeyIsRead(t *testing.T) {
	keys := schemaKeys(t)
	if len(keys) < 60 {
		t.Fatalf("found %d keys in the schema; the walk is broken", len(keys))
	}
	for _, key := range keys {
		c, ok := keyCases[key]
		switch {
		case !ok:
			t.Errorf("the schema allows %q, but no case shows the compiler reads it: add one to keyCases (two mappings that differ only in it, and an input on which they differ)", key)
			continue
		case c.covered != "":
			if _, ok := keyCases[c.covered]; !ok || keyCases[c.covered].a == "" {
				t.Errorf("%s: covered by %q, which has no case", key, c.covered)
			}
			continue
		case c.why != "":
			continue
		}
		t.Run(key, func(t *testing.T) {
			a, b := keyOutcome(t, c.a, c.input), keyOutcome(t, c.b, c.input)
			if a == b {
				t.Errorf("the two mappings give the same outcome, so %s is not shown to be read:\n%s", key, a)
			}
		})
	}
	for key := range keyCases {
		if !slices.Contains(keys, key) {
			t.Errorf("keyCases has %q, which the schema does not allow", key)
		}
	}
}

// TestSpecMatchesSchema compares the keys the schema allows with the keys
// the YAML decoder fills (the yaml tags of Spec and the types under it).
func TestSpecMatchesSchema(t *testing.T) {
	schema := map[string]bool{}
	for _, k := range schemaKeys(t) {
		schema[k] = true
	}
	decoded := map[string]bool{}
	defs := map[reflect.Type]string{
		reflect.TypeOf(mapping.FieldSpec{}): "#source",
		reflect.TypeOf(mapping.BoolSpec{}):  "#bool",
		reflect.TypeOf(mapping.TestSpec{}):  "#test",
	}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				path += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				walk(f.Type, path)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			key := name
			if path != "" {
				key = path + "." + name
			}
			decoded[key] = true
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if _, ok := defs[ft]; ok {
				continue // walked once, as its definition
			}
			walk(f.Type, key)
		}
	}
	walk(reflect.TypeOf(mapping.Spec{}), "")
	for typ, def := range defs {
		walk(typ, def)
	}
	// Keys the schema describes as maps or custom types: fields (record
	// field names), lookup tables, categories, group.by entries, rules
	// (validate.Config, checked key by key by the compiler).
	for _, k := range []string{"fields", "rules", "group.by[].column", "#source.lookup", "activities.categories", "filters"} {
		decoded[k] = true
	}
	for k := range schema {
		if strings.HasSuffix(k, ".*") {
			continue
		}
		if !decoded[k] {
			t.Errorf("the schema allows %q, but the decoder has no field for it: it would be accepted and dropped", k)
		}
	}
	for k := range decoded {
		if !schema[k] {
			t.Errorf("the decoder reads %q, which the schema does not allow", k)
		}
	}
}

// contextCases show keys of a definition read where it matters beyond the
// case above: the parts of an activity are sources too (an expr under
// activities.amount was once accepted and ignored).
var contextCases = map[string]keyCase{
	"activities.amount.expr":      {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{expr: 'number(column(\"PAs\")) * 2'}", 1)), input: actsIn},
	"activities.amount.sum":       {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{sum: [{column: PAs}, {column: Times}]}", 1)), input: actsIn},
	"activities.amount.lookup":    {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{column: PAs, lookup: {\"2\": \"3\"}}", 1)), input: actsIn},
	"activities.amount.default":   {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{column: PAs, default: \"1\"}", 1)), input: "Asg,Code,PAs\n1,OPD,\n"},
	"activities.amount.type":      {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{column: PAs, type: integer}", 1)), input: "Asg,Code,PAs\n1,OPD,2.5\n"},
	"activities.amount.unit":      {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: PAs}", "{column: PAs, unit: hours}", 1)), input: actsIn},
	"activities.category.expr":    {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: Code}", "{expr: 'column(\"Status\") == \"x\" ? \"CPD\" : column(\"Code\")'}", 1)), input: actsIn},
	"activities.category.lookup":  {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: Code}", "{column: Code, lookup: {OPD: CPD}}", 1)), input: actsIn},
	"activities.category.columns": {a: long("", "", acts), b: long("", "", strings.Replace(acts, "{column: Code}", "{columns: [Code, Status], lookup: {OPD: {x: CPD}, CPD: {y: OPD}}}", 1)), input: actsIn},
	"activities.occurrences.expr": {a: long("units: {working_weeks: 42}\n", "", acts+"  occurrences: {column: Times}\n"), b: long("units: {working_weeks: 42}\n", "", acts+"  occurrences: {expr: 'number(column(\"Times\")) * 2'}\n"), input: actsIn},
	"sum part unit":               {a: wide("", "  dcc: {sum: [{column: D}, {column: S}]}\n"), b: wide("", "  dcc: {sum: [{column: D}, {column: S, unit: hours}]}\n"), input: wideIn},
}

func TestKeysReadInContext(t *testing.T) {
	for name, c := range contextCases {
		t.Run(name, func(t *testing.T) {
			if a, b := keyOutcome(t, c.a, c.input), keyOutcome(t, c.b, c.input); a == b {
				t.Errorf("the two mappings give the same outcome:\n%s", a)
			}
		})
	}
}
