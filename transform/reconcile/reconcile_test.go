package reconcile

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

const samples = "../../samples"

// result is a reconciliation with every line, for the tests.
type result struct {
	*Result
	lines []Line
}

func sampleResult(t *testing.T) *result {
	t.Helper()
	plans, pay, cfg := sampleInputs(t)
	return reconcileOK(t, plans, pay, cfg, Options{TolerancePAs: dec("0.01")})
}

func sampleInputs(t *testing.T) (*Plans, *Payroll, *Config) {
	t.Helper()
	// The sample payroll extract pays the plans of these four samples.
	var files []string
	for _, s := range []string{"allocate-nested", "excel-long", "sard-wide", "wales-sessions"} {
		f, _ := filepath.Glob(samples + "/" + s + "/expected/*.jobplans.jsonl")
		files = append(files, f...)
	}
	sort.Strings(files)
	if len(files) != 4 {
		t.Fatalf("found %d sample record files, want 4", len(files))
	}
	plans, err := ReadPlans(t.Context(), files, "", ReadOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if plans.Reading != validate.APAInTotal || !strings.HasSuffix(plans.ReadingFrom, ".report.json") {
		t.Fatalf("sample plans' reading %q from %q, want in_total from their reports", plans.Reading, plans.ReadingFrom)
	}
	cfg, err := LoadConfig(samples + "/payroll/input/payroll-mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pay, err := ReadPayroll(t.Context(), samples+"/payroll/input/payroll-2026-04.csv", cfg, ReadOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plans.Close(); pay.Close() })
	return plans, pay, cfg
}

func dec(s string) decimal.Dec {
	d, err := decimal.Parse(s, false)
	if err != nil {
		panic(err)
	}
	return d
}

func line(t *testing.T, r *result, asg string) Line {
	t.Helper()
	for _, l := range r.lines {
		if l.Assignment == asg {
			return l
		}
	}
	t.Fatalf("no line for %s", asg)
	return Line{}
}

// pounds turns a figure worked out by hand into pence.
func pounds(s string) Pence {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return toPence(r)
}

// TestPlantedMismatches checks each misalignment planted in the sample
// payroll extract, with its pound figure worked out by hand.
func TestPlantedMismatches(t *testing.T) {
	r := sampleResult(t)
	type want struct {
		status           string
		pas, supp, total string // "" for no estimate
		note             string
	}
	cases := map[string]want{
		// Plan: category A, 1 in 6, 5%. Payroll pays 2% (category B's
		// medium rate). Basic £100,000 at FTE 1: −3% × £100,000 = −£3,000.
		"20000001": {status: Misaligned, supp: "-3000", total: "-3000"},
		// Plan 10.5 PAs; payroll pays 11.5 at £115,000, FTE 1.15: full-time
		// basic £100,000, a PA £10,000 a year; +1 PA = +£10,000.
		"20000002-2": {status: Misaligned, pas: "10000", total: "10000"},
		// Plan 9.5 PAs; payroll 9 PAs at £87,654.32, FTE 0.9: full-time
		// basic £87,654.32 ÷ 0.9 = £97,393.69 (to the penny), a PA £9,739.369;
		// −0.5 PA = −£4,869.6845, to the penny −£4,869.68.
		"30000001": {status: Misaligned, pas: "-4869.68", total: "-4869.68"},
		// Plan 7.5 PAs at 5%; payroll 8 PAs at 8%, £80,000 at FTE 0.8: full-time
		// basic £100,000; +0.5 PA = +£5,000; +3% × £100,000 = +£3,000; £8,000.
		"40000006": {status: Misaligned, pas: "5000", supp: "3000", total: "8000"},
		// Welsh band 2 planned, band 1 paid: misaligned, not valued (the
		// bands' percentages are not published).
		"50000005": {status: Misaligned, note: "not valued"},
		// 0.005 PA more is within the 0.01 tolerance.
		"40000002":   {status: Aligned},
		"20000004":   {status: Aligned}, // 12.5 including 2.5 APAs, 12.5 paid
		"50000007":   {status: PlanOnly},
		"20000005":   {status: PayrollOnly},
		"50000001":   {status: Aligned},
		"30000002-2": {status: Aligned},
	}
	for asg, w := range cases {
		l := line(t, r, asg)
		if l.Status != w.status {
			t.Errorf("%s: status %s, want %s", asg, l.Status, w.status)
		}
		check := func(what string, got *Pence, want string) {
			switch {
			case want == "" && got != nil:
				t.Errorf("%s: %s estimate %s, want none", asg, what, got)
			case want != "" && got == nil:
				t.Errorf("%s: no %s estimate, want %s", asg, what, want)
			case want != "" && *got != pounds(want):
				t.Errorf("%s: %s estimate %s, want %s", asg, what, got, pounds(want))
			}
		}
		check("PA", l.EstPAs, w.pas)
		check("supplement", l.EstSupplement, w.supp)
		check("total", l.EstTotal, w.total)
		if w.note != "" && !strings.Contains(strings.Join(l.Notes, ";"), w.note) {
			t.Errorf("%s: notes %q lack %q", asg, l.Notes, w.note)
		}
	}
	if got := r.Counts; got[Aligned] != 11 || got[Misaligned] != 5 || got[PlanOnly] != 1 || got[PayrollOnly] != 1 {
		t.Errorf("counts %v", got)
	}
	// Totals: over £10,000 + £8,000; under £3,000 + £4,869.68.
	if r.Over != pounds("18000") || r.Under != -pounds("7869.68") {
		t.Errorf("over %s under %s", r.Over, r.Under)
	}
	if r.OverPAs != pounds("15000") || r.OverSupplement != pounds("3000") || r.UnderPAs != -pounds("4869.68") || r.UnderSupplement != -pounds("3000") {
		t.Errorf("components: %s %s %s %s", r.OverPAs, r.OverSupplement, r.UnderPAs, r.UnderSupplement)
	}
	if r.Unvalued != 1 || !r.Misaligned() {
		t.Errorf("unvalued %d misaligned %v", r.Unvalued, r.Misaligned())
	}
	if got := r.Largest; len(got) != 4 || got[0].Assignment != "20000002-2" || got[1].Assignment != "40000006" || got[2].Assignment != "30000001" || got[3].Assignment != "20000001" {
		t.Errorf("largest: %v", got)
	}
}

// TestGolden compares reconcile.csv and reconcile.html for the samples
// with samples/payroll/expected (make golden-update rewrites them).
func TestGolden(t *testing.T) {
	plans, pay, cfg := sampleInputs(t)
	c, h := writeOutputs(t, plans, pay, cfg, Options{TolerancePAs: dec("0.01")})
	golden := testutil.NewGoldenDir(t, filepath.Join(samples, "payroll", "expected"))
	golden.Check("reconcile.csv", c)
	golden.Check("reconcile.html", h)
	golden.Finish()
	html := string(h)
	for _, banned := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
		if strings.Contains(html, banned) {
			t.Errorf("reconcile.html is not self-contained: contains %q", banned)
		}
	}
	for _, want := range []string{"<svg", "£18,000.00", "£7,869.68", "not amounts owed", "pay protection", "20000002-2"} {
		if !strings.Contains(html, want) {
			t.Errorf("reconcile.html lacks %q", want)
		}
	}
	csvText := string(c)
	for _, want := range []string{"\ufeffassignment_number,", "\r\n\r\n", "Method and assumptions:", "basic salary ÷ FTE"} {
		if !strings.Contains(csvText, want) {
			t.Errorf("reconcile.csv lacks %q", want)
		}
	}
}

func TestCSVIsFormulaSafe(t *testing.T) {
	cfg := testConfig(t, "")
	plans := readPlansString(t, `{"employee_number":"10000001","assignment_number":"10000001","effective_date":"2026-04-01","total_contracted_pas":10}`)
	pay := payrollString(t, "asg,pas,name,pct,band,basic,fte\n10000001,11,\"=HYPERLINK(\"\"x\"\")\",,,,\n", cfg)
	r := reconcileOK(t, plans, pay, cfg, Options{})
	b, _ := writeOutputs(t, plans, pay, cfg, Options{})
	if !strings.Contains(string(b), `"'=HYPERLINK(""x"")"`) || strings.Contains(string(b), ",=HYPERLINK") {
		t.Errorf("formula not neutralised:\n%s", b)
	}
	if l := line(t, r, "10000001"); l.Status != Misaligned || l.EstTotal != nil || !strings.Contains(strings.Join(l.Notes, ";"), "no basic salary") {
		t.Errorf("line without salary: %+v", l)
	}
}

func testConfig(t *testing.T, extra string) *Config {
	t.Helper()
	c, err := ParseConfig("t.yaml", []byte("version: 1\ncolumns: {assignment_number: asg, pas_paid: pas, name: name, supplement_pct: pct, wales_band: band, basic_salary: basic, fte: fte}\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readPlansString reads records from a file t.jsonl (converted under
// in_total).
func readPlansString(t *testing.T, lines ...string) *Plans {
	t.Helper()
	ps, err := plansString(t, lines...)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func plansString(t *testing.T, lines ...string) (*Plans, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err := ReadPlans(t.Context(), []string{path}, validate.APAInTotal, ReadOptions{TempDir: t.TempDir()})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { ps.Close() })
	ps.Reading = "" // no reading: the configuration's applies
	return ps, nil
}

func payrollString(t *testing.T, text string, cfg *Config) *Payroll {
	t.Helper()
	pay, err := readPayroll(t.Context(), strings.NewReader(text), cfg, ReadOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pay.Close() })
	return pay
}

// writeOutputs runs Write and returns reconcile.csv and reconcile.html.
func writeOutputs(t *testing.T, plans *Plans, pay *Payroll, cfg *Config, opts Options) (csvText, html []byte) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Write(t.Context(), dir, plans, pay, cfg, opts, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(filepath.Join(dir, "reconcile.csv"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile(filepath.Join(dir, "reconcile.html"))
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("output folder holds %d files, want reconcile.csv and reconcile.html", len(entries))
	}
	return c, h
}

func TestValuationSettings(t *testing.T) {
	plans := readPlansString(t,
		`{"employee_number":"10000001","assignment_number":"10000001","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":8,"apa_eps":1,"on_call_supplement_pct":3}`,
		`{"employee_number":"10000002","assignment_number":"10000002","contract_type":"consultant_wales","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":0,"on_call_band_wales":2}`,
		// an older plan of 10000001 in a later line: the later date wins
		`{"employee_number":"10000001","assignment_number":"10000001","contract_type":"consultant_england_2003","effective_date":"2025-04-01","total_contracted_pas":5,"apa_eps":0}`,
	)
	if plans.Superseded != 1 || plans.Read != 3 {
		t.Fatalf("superseded %d of %d read, want 1 of 3", plans.Superseded, plans.Read)
	}
	payroll := "asg,pas,pct,band,basic,fte\n10000001,10,3,,\"£80,000.00\",0.8\n10000002,10,,Band 3,100000,1\n"
	cases := []struct {
		name, extra      string
		opts             Options
		asg              string
		pas, supp, total string
		status           string
	}{
		// Total 8 including 1 APA planned, 10 paid; full-time basic
		// £100,000: +2 PAs = +£20,000.
		{name: "APAs in the total, full-time basis", asg: "10000001", pas: "20000", total: "20000", status: Misaligned},
		// outside_total: 8 + 1 APA = 9 planned, +1 PA = +£10,000.
		{name: "APAs outside the total", extra: "apa_reading: outside_total\n", asg: "10000001", pas: "10000", total: "10000", status: Misaligned},
		// The brief's literal formula: basic ÷ 10 = £8,000 a PA, +2 PAs.
		{name: "basic basis", extra: "pa_value_basis: basic\n", asg: "10000001", pas: "16000", total: "16000", status: Misaligned},
		// Within a 2 PA tolerance: aligned, not valued.
		{name: "tolerance", opts: Options{TolerancePAs: dec("2")}, asg: "10000001", status: Aligned},
		// Welsh band 2 → 3 with configured percentages 4% and 6%: +2% × £100,000.
		{name: "Welsh band valued", extra: "wales_band_pct: {1: 2, 2: 4, 3: 6}\n", asg: "10000002", supp: "2000", total: "2000", status: Misaligned},
		{name: "Welsh band not valued", asg: "10000002", status: Misaligned},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, c.extra)
			cfg.Columns.Name = "" // not in this payroll's header
			pay := payrollString(t, payroll, cfg)
			if c.opts.TolerancePAs == 0 {
				c.opts.TolerancePAs = dec("0.01")
			}
			l := line(t, reconcileOK(t, plans, pay, cfg, c.opts), c.asg)
			if l.Status != c.status {
				t.Errorf("status %s, want %s", l.Status, c.status)
			}
			for _, x := range []struct {
				got  *Pence
				want string
			}{{l.EstPAs, c.pas}, {l.EstSupplement, c.supp}, {l.EstTotal, c.total}} {
				if (x.got == nil) != (x.want == "") || (x.got != nil && *x.got != pounds(x.want)) {
					t.Errorf("estimates %v %v %v, want %q %q %q", l.EstPAs, l.EstSupplement, l.EstTotal, c.pas, c.supp, c.total)
					break
				}
			}
		})
	}
}

func TestUnreadableInputs(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Columns.Name = ""
	for name, in := range map[string]string{
		"missing column": "asg,pas\n1,2\n",
		"bad number":     "asg,pas,pct,band,basic,fte\n10000001,ten,,,,\n",
		"blank PAs":      "asg,pas,pct,band,basic,fte\n10000001,,,,,\n",
		"negative":       "asg,pas,pct,band,basic,fte\n10000001,10,-1,,,\n",
		"bad band":       "asg,pas,pct,band,basic,fte\n10000001,10,,B,,\n",
		"duplicate":      "asg,pas,pct,band,basic,fte\n10000001,10,,,,\n10000001,10,,,,\n",
		"short row":      "asg,pas,pct,band,basic,fte\n10000001,10\n",
		"no assignment":  "asg,pas,pct,band,basic,fte\n,10,,,,\n",
		// Values no week (or percentage) can hold: refused, so that no sum
		// of them can overflow.
		"PAs beyond a week": "asg,pas,pct,band,basic,fte\n10000001,18446752,,,,\n",
		"supplement 101%":   "asg,pas,pct,band,basic,fte\n10000001,10,101,,,\n",
	} {
		if _, err := readPayroll(t.Context(), strings.NewReader(in), cfg, ReadOptions{TempDir: t.TempDir()}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := plansString(t, "{\"assignment_number\":\"1\"}\nnot json\n{\"total_contracted_pas\":1}\n")
	var ie *InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 3 {
		t.Errorf("plans: %v", err)
	}
	for _, rec := range []string{
		`{"assignment_number":"10000001","total_contracted_pas":18446752}`,
		`{"assignment_number":"10000001","total_contracted_pas":10,"apa_eps":9223372036854}`,
		`{"assignment_number":"10000001","total_contracted_pas":-1}`,
	} {
		if _, err := plansString(t, rec); !errors.As(err, &ie) || !strings.Contains(err.Error(), "not between 0 and 168 PAs a week") {
			t.Errorf("plan %s: err = %v", rec, err)
		}
	}
	if _, err := ReadPlans(t.Context(), []string{"no/such.jsonl"}, validate.APAInTotal, ReadOptions{}); err == nil {
		t.Error("missing plans file accepted")
	}
	for _, bad := range []string{
		"version: 1\ncolumns: {pas_paid: p}\n",
		"version: 1\ncolumns: {assignment_number: a}\n",
		"version: 2\ncolumns: {assignment_number: a, pas_paid: p}\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p}\npa_value_basis: hourly\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p}\nfull_time_pas: 0\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p, salary: s}\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p}\nwales_band_pct: {1: 101}\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p}\napa_reading: both\n",
	} {
		if _, err := ParseConfig("t.yaml", []byte(bad)); err == nil {
			t.Errorf("config accepted:\n%s", bad)
		}
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[string]string{"£84,000.00": "84000", "84000": "84000", " 1,234.5 ": "1234.5"} {
		if got, err := parseNumber(in, false, true); err != nil || got != dec(want) {
			t.Errorf("parseNumber(%q) = %v, %v", in, got, err)
		}
	}
	if got, err := parseNumber("84.000,50", true, true); err != nil || got != dec("84000.5") {
		t.Errorf("decimal comma money: %v %v", got, err)
	}
	for r, want := range map[string]Pence{"0.005": 1, "-0.005": -1, "0.0049": 0, "-4869.6845": -486968, "10000": 1000000} {
		if got := pounds(r); got != want {
			t.Errorf("toPence(%s) = %d, want %d", r, got, want)
		}
	}
	for p, want := range map[Pence]string{123456789: "£1,234,567.89", -300000: "−£3,000.00", 5: "£0.05", 0: "£0.00"} {
		if got := p.Pounds(); got != want {
			t.Errorf("Pounds(%d) = %s, want %s", p, got, want)
		}
	}
}

// TestConfigProblemsHavePositions: every mistake of a payroll
// configuration is reported at once, each at file:line:col.
func TestConfigProblemsHavePositions(t *testing.T) {
	const text = `version: 1
csv:
  delimiter: tabs
  decimal_coma: true
columns: {assignment_number: a}
pa_value_basis: hourly
full_time_pas: 0
wales_band_pct: {1: 5, 2: -3}
`
	_, err := ParseConfig("pay.yaml", []byte(text))
	var ps lint.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("ParseConfig: %v (%T), want lint.Problems", err, err)
	}
	want := `pay.yaml:3:3: csv.delimiter: "tabs" must be one character, or "tab"
pay.yaml:4:3: unknown key "decimal_coma" in csv (did you mean "decimal_comma"?)
pay.yaml:5:1: columns.pas_paid is required
pay.yaml:6:1: pa_value_basis "hourly" is not full_time or basic
pay.yaml:7:1: full_time_pas must be above 0
pay.yaml:8:24: wales_band_pct.2 must not be negative`
	if got := err.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzParseConfig: any configuration is read without a panic, and every
// problem is placed inside the file.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("version: 1\ncolumns: {assignment_number: a, pas_paid: p}\nwales_band_pct: {1: 5}\n"))
	f.Add([]byte("version: 1\ncsv: {delimiter: tabs, decimal_coma: true}\nfull_time_pas: 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseConfig("f.yaml", data)
		var ps lint.Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("error %v is not lint.Problems", err)
		}
		lines := testutil.YAMLLines(data)
		for _, p := range ps {
			if p.Line < 1 || p.Line > lines+1 || p.Col < 1 {
				t.Errorf("%v is outside the file", p)
			}
		}
	})
}

func reconcileOK(t *testing.T, plans *Plans, pay *Payroll, cfg *Config, opts Options) *result {
	t.Helper()
	var lines []Line
	r, err := Reconcile(t.Context(), plans, pay, cfg, opts, func(l *Line) error { lines = append(lines, *l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return &result{r, lines}
}

// writePlans writes records as dir/name.jobplans.jsonl and, when reportJSON
// is not "", the report.json convert writes beside them.
func writePlans(t *testing.T, dir, name, reportJSON string, records ...string) string {
	t.Helper()
	path := filepath.Join(dir, name+".jobplans.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(records, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if reportJSON != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".report.json"), []byte(reportJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// reportJSON is a report.json header as convert writes it, then findings.
func reportJSON(name, reading string) string {
	return `{"input": "` + name + `.csv", "apa_reading": "` + reading + `", "counts": {"accepted": 3}, "outputs": {"records": "` + name + `.jobplans.jsonl"}, "findings": [` + "\n" + `{"rule": "V8"}]}`
}

// TestAPAReadings is issue #9 item 1 for reconcile: the plans under
// each reading, with payroll paying what each plan means in the default
// reading (total 11 with 1 APA is 11 PAs). Under the old code the 10 + 1
// APA plan paid 11 PAs was reported as £10,000 a year under-paid.
func TestAPAReadings(t *testing.T) {
	asWritten := []string{ // the total includes the APAs
		`{"employee_number":"10000001","assignment_number":"10000001","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":11,"apa_eps":1}`,
		`{"employee_number":"10000003","assignment_number":"10000003","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":14,"apa_eps":4}`,
		`{"employee_number":"10000004","assignment_number":"10000004","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":12,"apa_eps":2}`,
	}
	outsideWritten := []string{ // the same plans, the total leaving the APAs out
		`{"employee_number":"10000001","assignment_number":"10000001","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":1}`,
		`{"employee_number":"10000003","assignment_number":"10000003","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":4}`,
		`{"employee_number":"10000004","assignment_number":"10000004","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":2}`,
	}
	payroll := "asg,pas,pct,band,basic,fte\n10000001,11,,,100000,1\n10000003,14,,,100000,1\n10000004,12,,,100000,1\n"
	tests := []struct {
		name, reading string
		records       []string
		planned       map[string]string
		est           map[string]string // "" aligned
	}{
		{"in_total, as written", "in_total", asWritten,
			map[string]string{"10000001": "11", "10000003": "14", "10000004": "12"}, map[string]string{"10000001": "", "10000003": "", "10000004": ""}},
		// The same records read as leaving the APAs out: each looks
		// under-paid by its APAs (a PA is £10,000 a year).
		{"outside_total, as written", "outside_total", asWritten,
			map[string]string{"10000001": "12", "10000003": "18", "10000004": "14"}, map[string]string{"10000001": "-10000", "10000003": "-40000", "10000004": "-20000"}},
		{"outside_total, written for it", "outside_total", outsideWritten,
			map[string]string{"10000001": "11", "10000003": "14", "10000004": "12"}, map[string]string{"10000001": "", "10000003": "", "10000004": ""}},
		{"in_total, written for outside_total", "in_total", outsideWritten,
			map[string]string{"10000001": "10", "10000003": "10", "10000004": "10"}, map[string]string{"10000001": "10000", "10000003": "40000", "10000004": "20000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writePlans(t, t.TempDir(), "plans", reportJSON("plans", tt.reading), tt.records...)
			plans, err := ReadPlans(t.Context(), []string{path}, "", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if plans.Reading != validate.APAReading(tt.reading) || plans.ReadingFrom != "plans.report.json" {
				t.Fatalf("reading %q from %q, want %s from plans.report.json", plans.Reading, plans.ReadingFrom, tt.reading)
			}
			cfg := testConfig(t, "apa_reading: "+tt.reading+"\n")
			cfg.Columns.Name = ""
			pay := payrollString(t, payroll, cfg)
			r := reconcileOK(t, plans, pay, cfg, Options{TolerancePAs: dec("0.01")})
			for asg, planned := range tt.planned {
				l := line(t, r, asg)
				if l.PlannedPAs != dec(planned) {
					t.Errorf("%s: PAs planned %s, want %s", asg, l.PlannedPAs, planned)
				}
				want := tt.est[asg]
				switch {
				case want == "" && (l.Status != Aligned || l.EstTotal != nil):
					t.Errorf("%s: %s, estimate %v; want aligned", asg, l.Status, l.EstTotal)
				case want != "" && (l.Status != Misaligned || l.EstTotal == nil || *l.EstTotal != pounds(want)):
					t.Errorf("%s: %s, estimate %v; want misaligned, %s", asg, l.Status, l.EstTotal, pounds(want))
				}
			}
			if !strings.Contains(strings.Join(r.Assumptions, " "), "apa_reading: "+tt.reading) {
				t.Errorf("assumptions do not state the reading: %q", r.Assumptions)
			}
		})
	}
}

// TestAPAReadingMustBeKnownAndAgree: reconcile never guesses what the
// plans' total holds, and refuses a payroll configuration that declares
// another reading.
func TestAPAReadingMustBeKnownAndAgree(t *testing.T) {
	rec := `{"employee_number":"10000001","assignment_number":"10000001","effective_date":"2026-04-01","total_contracted_pas":11,"apa_eps":1}`
	dir := t.TempDir()
	inTotal := writePlans(t, dir, "a", reportJSON("a", "in_total"), rec)
	outside := writePlans(t, dir, "b", reportJSON("b", "outside_total"), rec)
	bare := writePlans(t, dir, "c", "", rec)
	old := writePlans(t, dir, "d", `{"input": "d.csv", "outputs": {"records": "d.jobplans.jsonl"}, "findings": []}`, rec)
	other := writePlans(t, dir, "e", reportJSON("x", "in_total"), rec)
	plain := filepath.Join(dir, "plans.ndjson")
	os.WriteFile(plain, []byte(rec+"\n"), 0o644)
	broken := writePlans(t, dir, "f", `{"input": "f.csv", "apa_reading": `, rec)

	refused := []struct {
		name   string
		files  []string
		stated validate.APAReading
		want   string
	}{
		{"no report", []string{bare}, "", "c.jobplans.jsonl: the APA reading it was converted under (the mapping's rules.apa_reading) is not known: no c.report.json beside it says so. Give --plans-apa-reading"},
		{"report predating apa_reading", []string{old}, "", "not known: no d.report.json beside it says so"},
		{"not named jobplans.jsonl", []string{plain}, "", "not known: it is not named <input>.jobplans.jsonl"},
		{"statement contradicted", []string{inTotal}, validate.APAOutsideTotal, "a.jobplans.jsonl: converted under apa_reading in_total (a.report.json), but --plans-apa-reading says outside_total"},
		{"files disagree", []string{inTotal, outside}, "", "b.jobplans.jsonl: converted under apa_reading outside_total (b.report.json), but " + inTotal + " was converted under in_total (a.report.json)"},
		{"statement and report disagree across files", []string{bare, outside}, validate.APAInTotal, "converted under apa_reading outside_total (b.report.json), but --plans-apa-reading says in_total"},
		{"report of another file", []string{other}, validate.APAInTotal, `e.report.json is the report of records "x.jobplans.jsonl", not of this file`},
		{"unreadable report", []string{broken}, validate.APAInTotal, "f.report.json cannot be read"},
		{"bad statement", []string{bare}, "total", `--plans-apa-reading: "total" is not in_total or outside_total`},
	}
	for _, tt := range refused {
		_, err := ReadPlans(t.Context(), tt.files, tt.stated, ReadOptions{})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v\nwant an InputError containing %q", tt.name, err, tt.want)
		}
	}

	// Known: from the reports, or stated for files without one.
	for _, tt := range []struct {
		files  []string
		stated validate.APAReading
		want   validate.APAReading
		from   string
	}{
		{[]string{inTotal}, "", validate.APAInTotal, "a.report.json"},
		{[]string{inTotal}, validate.APAInTotal, validate.APAInTotal, "a.report.json"},
		{[]string{bare}, validate.APAOutsideTotal, validate.APAOutsideTotal, "--plans-apa-reading"},
		{[]string{old, plain}, validate.APAInTotal, validate.APAInTotal, "--plans-apa-reading"},
		{[]string{bare, outside}, validate.APAOutsideTotal, validate.APAOutsideTotal, "b.report.json"},
	} {
		ps, err := ReadPlans(t.Context(), tt.files, tt.stated, ReadOptions{})
		if err != nil || ps.Reading != tt.want || ps.ReadingFrom != tt.from {
			t.Errorf("ReadPlans(%v, %q) = %v from %v, %v; want %s from %s", tt.files, tt.stated, ps.Reading, ps.ReadingFrom, err, tt.want, tt.from)
		}
	}

	// The payroll configuration must declare the plans' reading.
	plans, err := ReadPlans(t.Context(), []string{outside}, "", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "") // apa_reading defaults to in_total
	cfg.Columns.Name = ""
	pay := payrollString(t, "asg,pas,pct,band,basic,fte\n10000001,11,,,100000,1\n", cfg)
	_, err = Reconcile(t.Context(), plans, pay, cfg, Options{}, nil)
	var re *ReadingError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "t.yaml: declares apa_reading in_total, but the job plans were converted under outside_total (b.report.json); PAs planned would be wrong") {
		t.Errorf("Reconcile with another reading: err = %v", err)
	}
	cfg.APAReading = validate.APAOutsideTotal
	if r := reconcileOK(t, plans, pay, cfg, Options{TolerancePAs: dec("0.01")}); line(t, r, "10000001").PlannedPAs != dec("12") {
		t.Errorf("Reconcile with the same reading: %v", line(t, r, "10000001").PlannedPAs)
	}

	// The replaced setting is refused with what took its place.
	_, err = ParseConfig("p.yaml", []byte("version: 1\ncolumns: {assignment_number: a, pas_paid: p}\ntotal_includes_apa: false\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:3:1: total_includes_apa was replaced by apa_reading") {
		t.Errorf("total_includes_apa: err = %v", err)
	}
}

// FuzzReportReading: whatever lies in the report.json beside a records
// file, reading its header never panics, and a reading is only ever one of
// the two, never given with an error. (That it comes from a report about
// that file is TestAPAReadingMustBeKnownAndAgree's.)
func FuzzReportReading(f *testing.F) {
	for _, seed := range []string{
		reportJSON("plans", "in_total"), reportJSON("plans", "outside_total"), reportJSON("other", "in_total"),
		`{"input": "x", "outputs": {"records": "plans.jobplans.jsonl"}, "findings": []}`,
		`{"apa_reading": 7, "outputs": {"records": "plans.jobplans.jsonl"}}`,
		`{"apa_reading": "in_total", "outputs": {"records": "plans.jobplans.jsonl"}`,
		`[]`, `{`, ``, `{"findings": [`, `{"outputs": [1], "apa_reading": "x"}`,
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	records := filepath.Join(dir, "plans.jobplans.jsonl")
	if err := os.WriteFile(records, nil, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "plans.report.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		reading, report, err := convertedReading(records)
		if report != "plans.report.json" {
			t.Fatalf("report %q", report)
		}
		if err != nil && reading != "" {
			t.Fatalf("reading %q with error %v", reading, err)
		}
		if reading != "" && !slices.Contains(validate.APAReadings, reading) {
			t.Fatalf("reading %q is not one of the readings", reading)
		}
	})
}

// FuzzPlanRecord: the fast reading of a job-plan record gives what
// json.Unmarshal gives, or leaves the line to it.
func FuzzPlanRecord(f *testing.F) {
	for _, seed := range []string{
		`{"employee_number":"20000001","assignment_number":"20000001","vpd_code":"123","staff_group":"Medical and Dental","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":0,"dcc":7.5,"on_call_frequency_n":6,"on_call_category":"A","on_call_supplement_pct":5,"on_call_band_wales":null}`,
		`{"assignment_number":"1","assignment_number":null,"total_contracted_pas":1e2,"apa_eps":-0.5}`,
		`{"Assignment_Number":"2","total_contracted_pas":"10"}`, `{"a\u00e9":"x","assignment_number":"Si\u00e2n"}`,
		`{"assignment_number":"Siân","x":[1,{"y":2}],"total_contracted_pas":01}`, ` { } `, `{"total_contracted_pas":1.}`,
		`{"employee_number":7}`, `{"on_call_band_wales":true}`, `{"aſsignment_number":"3"}`, "{\"assignment_number\":\"a\xffb\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow planView
		if !fastPlanRecord(data, &fast) {
			return
		}
		if err := slowPlanRecord(data, &slow); err != nil {
			t.Fatalf("fast path read %q, json.Unmarshal refuses it: %v", data, err)
		}
		if !samePlanView(fast, slow) {
			t.Fatalf("%q: fast path read %+v, json.Unmarshal %+v", data, fast, slow)
		}
	})
}

// TestFastPathReadsConvertsRecords: the records convert writes are read by
// the fast path (json.Unmarshal was half of reconcile's time), and give
// what json.Unmarshal gives.
func TestFastPathReadsConvertsRecords(t *testing.T) {
	files, _ := filepath.Glob(samples + "/*/expected/*.jobplans.jsonl")
	n := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var fast, slow planView
			if !fastPlanRecord([]byte(line), &fast) {
				t.Errorf("%s: the fast path leaves %.80s… to json.Unmarshal", path, line)
				continue
			}
			if err := slowPlanRecord([]byte(line), &slow); err != nil || !samePlanView(fast, slow) {
				t.Errorf("%s: fast %+v, json.Unmarshal %+v (%v)", path, fast, slow, err)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d sample records read", n)
	}
}

func samePlanView(a, b planView) bool {
	return bytes.Equal(a.emp, b.emp) && bytes.Equal(a.asg, b.asg) && bytes.Equal(a.contract, b.contract) && bytes.Equal(a.date, b.date) &&
		a.total == b.total && a.apa == b.apa && a.pct == b.pct && a.band == b.band
}
