package reconcile

import (
	"bytes"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
)

var update = flag.Bool("update", false, "rewrite samples/payroll/expected")

const samples = "../../samples"

func sampleResult(t *testing.T) *Result {
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
	plans, err := ReadPlans(files)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(samples + "/payroll/input/payroll-mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pay, err := ReadPayroll(samples+"/payroll/input/payroll-2026-04.csv", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Reconcile(plans, pay, cfg, Options{TolerancePAs: dec("0.01")})
}

func dec(s string) decimal.Dec {
	d, err := decimal.Parse(s, false)
	if err != nil {
		panic(err)
	}
	return d
}

func line(t *testing.T, r *Result, asg string) Line {
	t.Helper()
	for _, l := range r.Lines {
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
		"20000004":   {status: Aligned}, // 12.5 + 2.5 APAs = 15 paid
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
	if got := r.Largest(2); len(got) != 2 || got[0].Assignment != "20000002-2" || got[1].Assignment != "40000006" {
		t.Errorf("largest: %v", got)
	}
}

// TestGolden compares reconcile.csv and reconcile.html for the samples
// with samples/payroll/expected (go test ./transform/reconcile -update).
func TestGolden(t *testing.T) {
	r := sampleResult(t)
	var c, h bytes.Buffer
	if err := r.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&h, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"reconcile.csv": c.Bytes(), "reconcile.html": h.Bytes()} {
		path := filepath.Join(samples, "payroll", "expected", name)
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./transform/reconcile -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (go test ./transform/reconcile -update if intended)", name, path)
		}
	}
	html := h.String()
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
	csvText := c.String()
	for _, want := range []string{"\ufeffassignment_number,", "\r\n\r\n", "Method and assumptions:", "basic salary ÷ FTE"} {
		if !strings.Contains(csvText, want) {
			t.Errorf("reconcile.csv lacks %q", want)
		}
	}
}

func TestCSVIsFormulaSafe(t *testing.T) {
	cfg := testConfig(t, "")
	plans := readPlansString(t, `{"employee_number":"10000001","assignment_number":"10000001","effective_date":"2026-04-01","total_contracted_pas":10}`)
	pay, err := readPayroll(strings.NewReader("asg,pas,name,pct,band,basic,fte\n10000001,11,\"=HYPERLINK(\"\"x\"\")\",,,,\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := Reconcile(plans, pay, cfg, Options{})
	var b bytes.Buffer
	r.WriteCSV(&b)
	if !strings.Contains(b.String(), `"'=HYPERLINK(""x"")"`) || strings.Contains(b.String(), ",=HYPERLINK") {
		t.Errorf("formula not neutralised:\n%s", b.String())
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

func readPlansString(t *testing.T, lines ...string) *Plans {
	t.Helper()
	ps := &Plans{ByAssignment: map[string]*Plan{}}
	if err := ps.read("t.jsonl", strings.NewReader(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestValuationSettings(t *testing.T) {
	plans := readPlansString(t,
		`{"employee_number":"10000001","assignment_number":"10000001","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":8,"apa_eps":1,"on_call_supplement_pct":3}`,
		`{"employee_number":"10000002","assignment_number":"10000002","contract_type":"consultant_wales","effective_date":"2026-04-01","total_contracted_pas":10,"apa_eps":0,"on_call_band_wales":2}`,
		// an older plan of 10000001 in a later line: the later date wins
		`{"employee_number":"10000001","assignment_number":"10000001","contract_type":"consultant_england_2003","effective_date":"2025-04-01","total_contracted_pas":5,"apa_eps":0}`,
	)
	if plans.Superseded != 1 || plans.ByAssignment["10000001"].Total != dec("8") {
		t.Fatalf("latest plan not kept: %+v", plans.ByAssignment["10000001"])
	}
	payroll := "asg,pas,pct,band,basic,fte\n10000001,10,3,,\"£80,000.00\",0.8\n10000002,10,,Band 3,100000,1\n"
	cases := []struct {
		name, extra      string
		opts             Options
		asg              string
		pas, supp, total string
		status           string
	}{
		// 8 + 1 APA = 9 planned, 10 paid; full-time basic £100,000: +£10,000.
		{name: "APAs added, full-time basis", asg: "10000001", pas: "10000", total: "10000", status: Misaligned},
		// Total includes APAs: 8 planned, +2 PAs = £20,000.
		{name: "total includes APAs", extra: "total_includes_apa: true\n", asg: "10000001", pas: "20000", total: "20000", status: Misaligned},
		// The brief's literal formula: basic ÷ 10 = £8,000 a PA.
		{name: "basic basis", extra: "pa_value_basis: basic\n", asg: "10000001", pas: "8000", total: "8000", status: Misaligned},
		// Within a 1 PA tolerance: aligned, not valued.
		{name: "tolerance", opts: Options{TolerancePAs: dec("1")}, asg: "10000001", status: Aligned},
		// Welsh band 2 → 3 with configured percentages 4% and 6%: +2% × £100,000.
		{name: "Welsh band valued", extra: "wales_band_pct: {1: 2, 2: 4, 3: 6}\n", asg: "10000002", supp: "2000", total: "2000", status: Misaligned},
		{name: "Welsh band not valued", asg: "10000002", status: Misaligned},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, c.extra)
			cfg.Columns.Name = "" // not in this payroll's header
			pay, err := readPayroll(strings.NewReader(payroll), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if c.opts.TolerancePAs == 0 {
				c.opts.TolerancePAs = dec("0.01")
			}
			l := line(t, Reconcile(plans, pay, cfg, c.opts), c.asg)
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
	} {
		if _, err := readPayroll(strings.NewReader(in), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ps := &Plans{ByAssignment: map[string]*Plan{}}
	err := ps.read("x.jsonl", strings.NewReader("{\"assignment_number\":\"1\"}\nnot json\n{\"total_contracted_pas\":1}\n"))
	var ie *InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 3 {
		t.Errorf("plans: %v", err)
	}
	if _, err := ReadPlans([]string{"no/such.jsonl"}); err == nil {
		t.Error("missing plans file accepted")
	}
	for _, bad := range []string{
		"version: 1\ncolumns: {pas_paid: p}\n",
		"version: 1\ncolumns: {assignment_number: a}\n",
		"version: 2\ncolumns: {assignment_number: a, pas_paid: p}\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p}\npa_value_basis: hourly\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p}\nfull_time_pas: 0\n",
		"version: 1\ncolumns: {assignment_number: a, pas_paid: p, salary: s}\n",
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
