package reconcile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/internal/chromiumtest"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// genInputs writes bench.WritePlans(n) as a.jsonl, a second file b.jsonl
// holding, for every 7th of the first 700 assignments, two plans of the
// same date as a.jsonl's (so the last one read must win), and
// bench.WritePayroll(n) with its configuration.
func genInputs(t testing.TB, dir string, n int) (plans []string, payroll string, cfg *Config) {
	t.Helper()
	write := func(name string, fn func(*bufio.Writer) error) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		bw := bufio.NewWriter(f)
		if err := fn(bw); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.jsonl", func(w *bufio.Writer) error { return bench.WritePlans(w, n) })
	b := write("b.jsonl", func(w *bufio.Writer) error {
		for i := 0; i < min(700, n/2); i += 7 {
			asg := fmt.Sprint(10000000 + i)
			if i%25 == 7 {
				asg += "-2"
			}
			for _, total := range []string{"9", "11"} { // the second, 11, is current
				fmt.Fprintf(w, `{"employee_number":"%d","assignment_number":"%s","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":%s,"apa_eps":0,"on_call_supplement_pct":5}`+"\n", 10000000+i, asg, total)
			}
		}
		return nil
	})
	payroll = write("payroll.csv", func(w *bufio.Writer) error { return bench.WritePayroll(w, n) })
	cfg, err := ParseConfig("bench.yaml", []byte(bench.PayrollConfig))
	if err != nil {
		t.Fatal(err)
	}
	return []string{a, b}, payroll, cfg
}

// runAll reads the inputs and writes the outputs into out, returning the
// result and the files written.
func runAll(t testing.TB, plans []string, payroll string, cfg *Config, out string, opts Options) (*Result, []byte, []byte, *Plans) {
	t.Helper()
	ps, err := ReadPlans(t.Context(), plans, validate.APAInTotal, ReadOptions{TempDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pay, err := ReadPayroll(t.Context(), payroll, cfg, ReadOptions{TempDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer pay.Close()
	res, err := Write(t.Context(), out, ps, pay, cfg, opts, HTMLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := os.ReadFile(filepath.Join(out, "reconcile.csv"))
	h, _ := os.ReadFile(filepath.Join(out, "reconcile.html"))
	return res, c, h, ps
}

// TestSortedRunsGiveTheSameResult reconciles 20,000 plans twice: in memory,
// and with a sort budget so small that both inputs go through hundreds of
// sorted runs on disk. The outputs must be identical, and each assignment's
// plan the one a map of every record read in order picks (the latest date,
// of equal dates the one read last, across files).
func TestSortedRunsGiveTheSameResult(t *testing.T) {
	plans, payroll, cfg := genInputs(t, t.TempDir(), 20_000)
	inMem, csvMem, htmlMem, _ := runAll(t, plans, payroll, cfg, t.TempDir(), Options{TolerancePAs: dec("0.01")})

	defer func(b int) { sortBudget = b }(sortBudget)
	sortBudget = 4096
	out := t.TempDir()
	onDisk, csvDisk, htmlDisk, ps := runAll(t, plans, payroll, cfg, out, Options{TolerancePAs: dec("0.01")})
	if !ps.sorted.Spilled() {
		t.Fatal("the small budget did not spill: the test does not exercise the runs")
	}
	if !bytes.Equal(csvMem, csvDisk) || !bytes.Equal(htmlMem, htmlDisk) {
		t.Fatal("reconcile.csv or reconcile.html differ between the in-memory and the on-disk sort")
	}
	if fmt.Sprint(inMem.Counts) != fmt.Sprint(onDisk.Counts) || inMem.Over != onDisk.Over || inMem.Under != onDisk.Under {
		t.Fatalf("results differ: %v %v %v / %v %v %v", inMem.Counts, inMem.Over, inMem.Under, onDisk.Counts, onDisk.Over, onDisk.Under)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 2 {
		t.Errorf("the output folder holds %d files after the run, want reconcile.csv and reconcile.html", len(entries))
	}

	// The plans a map of every record, read in order, keeps.
	type latest struct {
		date, source string
		total        decimal.Dec
	}
	want := map[string]latest{}
	read := 0
	for _, path := range plans {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var x planRecord
			if err := json.Unmarshal([]byte(line), &x); err != nil {
				t.Fatal(err)
			}
			read++
			if old, ok := want[x.Asg]; ok && old.date > x.Date {
				continue
			}
			want[x.Asg] = latest{x.Date, fmt.Sprintf("%s:%d", filepath.Base(path), i+1), *x.Total}
		}
	}
	if ps.Read != read || ps.Superseded != read-len(want) {
		t.Errorf("read %d, superseded %d; want %d and %d", ps.Read, ps.Superseded, read, read-len(want))
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(csvDisk, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	rows := 0
	for {
		cells, err := r.Read()
		if err != nil || len(cells) == 1 {
			break // the totals follow the blank line
		}
		rows++
		asg := cells[col["assignment_number"]]
		w, planned := want[asg]
		if !planned {
			if st := cells[col["status"]]; st != PayrollOnly {
				t.Fatalf("%s has no plan but is %s", asg, st)
			}
			continue
		}
		if d, src, tot := cells[col["plan_effective_date"]], cells[col["plan_source"]], cells[col["planned_pas"]]; d != w.date || src != w.source || tot != w.total.String() {
			t.Fatalf("%s: plan %s from %s, total %s; want %s from %s, total %s", asg, d, src, tot, w.date, w.source, w.total)
		}
	}
	total := 0
	for _, n := range onDisk.Counts {
		total += n
	}
	if rows != total || rows < 20_000 {
		t.Errorf("reconcile.csv has %d rows, the counts %d", rows, total)
	}
}

// TestRepeatedPayrollRowsFoundAcrossRuns: an assignment's second row is
// found when the two are in different sorted runs, and every problem is
// reported in line order.
func TestRepeatedPayrollRowsFoundAcrossRuns(t *testing.T) {
	defer func(b int) { sortBudget = b }(sortBudget)
	sortBudget = 4096
	cfg := testConfig(t, "")
	cfg.Columns.Name = ""
	var in strings.Builder
	in.WriteString("asg,pas,pct,band,basic,fte\n")
	for i := range 3000 {
		fmt.Fprintf(&in, "%d,10,,,100000,1\n", 10000000+i)
	}
	in.WriteString("10000005,10,,,100000,1\n10000009,ten,,,100000,1\n10000009,10,,,,\n")
	_, err := readPayroll(t.Context(), strings.NewReader(in.String()), cfg, ReadOptions{TempDir: t.TempDir()})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an InputError", err)
	}
	want := []string{
		"line 3002: assignment 10000005 appears again (first at line 7): the extract must have one row per assignment",
		`line 3003: pas "ten" is not a number`,
		"line 3003: assignment 10000009 appears again (first at line 11): the extract must have one row per assignment",
		"line 3004: assignment 10000009 appears again (first at line 11): the extract must have one row per assignment",
	}
	if got := strings.Join(ie.Problems, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestProblemsAreBounded: a file wrong on every line keeps its first
// problems and counts the rest.
func TestProblemsAreBounded(t *testing.T) {
	lines := make([]string, 5000)
	for i := range lines {
		lines[i] = "not json"
	}
	_, err := plansString(t, lines...)
	var ie *InputError
	if !errors.As(err, &ie) || len(ie.Problems) != maxProblems || ie.More != 5000-maxProblems {
		t.Fatalf("err = %v (%d kept, %d more)", err, len(ie.Problems), ie.More)
	}
	if !strings.HasPrefix(ie.Problems[0], "line 1: not a job-plan record") || !strings.Contains(err.Error(), "... and 4980 more") {
		t.Errorf("first problem %q; message ends %q", ie.Problems[0], err.Error()[len(err.Error())-40:])
	}
}

// TestMemoryIsBounded reconciles 100,000 plans against 100,000 payroll
// rows with a 1 MB sort budget and samples the Go heap: it must stay far
// below the inputs' 90 MB, and the page small.
func TestMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reconciles 100,000 plans")
	}
	plans, payroll, cfg := genInputs(t, t.TempDir(), 100_000)
	var size int64
	for _, p := range append(plans, payroll) {
		st, _ := os.Stat(p)
		size += st.Size()
	}
	defer func(b int) { sortBudget = b }(sortBudget)
	sortBudget = 1 << 20
	out := t.TempDir()
	runtime.GC()
	peakHeap := testutil.SampleHeap()
	ps, err := ReadPlans(t.Context(), plans, validate.APAInTotal, ReadOptions{TempDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pay, err := ReadPayroll(t.Context(), payroll, cfg, ReadOptions{TempDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer pay.Close()
	res, err := Write(t.Context(), out, ps, pay, cfg, Options{TolerancePAs: dec("0.01")}, HTMLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The peak is taken before the test reads the outputs back (15 MB of
	// CSV it holds itself).
	peakMB := peakHeap()
	csvText, _ := os.ReadFile(filepath.Join(out, "reconcile.csv"))
	page, _ := os.ReadFile(filepath.Join(out, "reconcile.html"))
	t.Logf("inputs %.0f MB, reconcile.csv %.0f MB, reconcile.html %.0f KB, peak heap %.1f MB", float64(size)/1e6, float64(len(csvText))/1e6, float64(len(page))/1e3, peakMB)
	if peakMB > 24 {
		t.Errorf("peak heap %.1f MB for %.0f MB of inputs, want at most 24 MB", peakMB, float64(size)/1e6)
	}
	if len(page) > 1<<20 || res.Counts[Aligned] < 90_000 {
		t.Errorf("page of %d bytes, counts %v", len(page), res.Counts)
	}
}

// TestPageIsCapped: the page lists the first MaxRows assignments of each
// table and points to reconcile.csv for the rest.
func TestPageIsCapped(t *testing.T) {
	plans, payroll, cfg := genInputs(t, t.TempDir(), 5000)
	res, _, page, _ := runAll(t, plans, payroll, cfg, t.TempDir(), Options{TolerancePAs: dec("0.01"), MaxRows: 7, Largest: 3})
	text := string(page)
	for status, more := range map[string]int{
		Misaligned:  res.Counts[Misaligned] - 7,
		PlanOnly:    res.Counts[PlanOnly] - 7,
		PayrollOnly: res.Counts[PayrollOnly] - 7,
	} {
		if more <= 0 {
			t.Fatalf("%s: only %d lines; the test needs more than 7", status, res.Counts[status])
		}
		if !strings.Contains(text, fmt.Sprintf("… and %d more in reconcile.csv", more)) {
			t.Errorf("the page does not say %d more %s lines are in reconcile.csv", more, status)
		}
	}
	if len(res.Largest) != 3 || len(res.Kept.Misaligned) != 7 {
		t.Errorf("kept %d largest and %d misaligned", len(res.Largest), len(res.Kept.Misaligned))
	}
	if rows := strings.Count(text, `<td class="who">`); rows != 7+len(res.Departments) {
		t.Errorf("the misaligned and department tables have %d rows, want %d", rows, 7+len(res.Departments))
	}
}

// TestDepartments: with a department column the totals are broken down by
// it, largest difference first, with a bar chart; reconcile.csv gains a
// department column.
func TestDepartments(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Columns.Name, cfg.Columns.Department = "", "Cost Centre"
	plans := readPlansString(t,
		`{"employee_number":"10000001","assignment_number":"10000001","effective_date":"2026-04-01","total_contracted_pas":10}`,
		`{"employee_number":"10000002","assignment_number":"10000002","effective_date":"2026-04-01","total_contracted_pas":10}`,
		`{"employee_number":"10000003","assignment_number":"10000003","effective_date":"2026-04-01","total_contracted_pas":10}`,
		`{"employee_number":"10000004","assignment_number":"10000004","effective_date":"2026-04-01","total_contracted_pas":10}`,
		`{"employee_number":"10000009","assignment_number":"10000009","effective_date":"2026-04-01","total_contracted_pas":10}`,
	)
	// A PA is £10,000 a year at £100,000 and FTE 1.
	pay := payrollString(t, "asg,pas,pct,band,basic,fte,cost centre\n"+
		"10000001,11,,,100000,1,Cardiology\n"+ // +£10,000
		"10000002,9,,,100000,1,Cardiology\n"+ // −£10,000
		"10000003,13,,,100000,1,Renal Medicine\n"+ // +£30,000
		"10000004,10,,,100000,1,\n"+ // aligned, no department
		"10000005,10,,,100000,1,Renal Medicine\n", cfg) // payroll only
	out := t.TempDir()
	res, err := Write(t.Context(), out, plans, pay, cfg, Options{TolerancePAs: dec("0.01")}, HTMLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range res.Departments {
		got = append(got, fmt.Sprintf("%s: %d compared, %d misaligned, %d payroll only, over %s, under %s", d.Name, d.Assignments, d.Misaligned, d.PayrollOnly, d.Over, d.Under))
	}
	want := []string{
		"Renal Medicine: 1 compared, 1 misaligned, 1 payroll only, over 30000.00, under 0.00",
		"Cardiology: 2 compared, 2 misaligned, 0 payroll only, over 10000.00, under -10000.00",
		": 1 compared, 0 misaligned, 0 payroll only, over 0.00, under 0.00",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("departments:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c, _ := os.ReadFile(filepath.Join(out, "reconcile.csv"))
	if !strings.HasPrefix(string(c), "\ufeffassignment_number,employee_number,name,department,status,") || !strings.Contains(string(c), "\r\n10000003,10000003,,Renal Medicine,misaligned,") {
		t.Errorf("reconcile.csv has no department column:\n%.300s", c)
	}
	h, _ := os.ReadFile(filepath.Join(out, "reconcile.html"))
	for _, w := range []string{`<h2 id="departments">By department</h2>`, "by the payroll extract's Cost Centre column",
		`<title>Renal Medicine: over-payment £30,000.00</title>`, `<title>Cardiology: under-payment £10,000.00</title>`, "(blank)",
		`<td class="num overv">£30,000.00</td>`} {
		if !strings.Contains(string(h), w) {
			t.Errorf("reconcile.html lacks %q", w)
		}
	}
	// Without the column there is no breakdown.
	cfg.Columns.Department = ""
	pay = payrollString(t, "asg,pas,pct,band,basic,fte,cost centre\n10000001,11,,,100000,1,Cardiology\n", cfg)
	if r := reconcileOK(t, plans, pay, cfg, Options{}); r.Departments != nil {
		t.Errorf("departments without the column: %v", r.Departments)
	}
	// A department column the extract does not have is refused.
	cfg.Columns.Department = "Directorate"
	if _, err := readPayroll(t.Context(), strings.NewReader("asg,pas,pct,band,basic,fte\n10000001,10,,,,\n"), cfg, ReadOptions{}); err == nil || !strings.Contains(err.Error(), `column(s) "Directorate" not in the header`) {
		t.Errorf("a missing department column: err = %v", err)
	}
}

// recordedProgress records the stages and what was added to each.
type recordedProgress struct{ stages []string }

func (p *recordedProgress) Stage(name string, total int64, bytes bool) {
	p.stages = append(p.stages, fmt.Sprintf("%s of %d (bytes %v): ", name, total, bytes))
}

func (p *recordedProgress) Add(n int64) {
	last := &p.stages[len(p.stages)-1]
	var done int64
	if i := strings.LastIndex(*last, ": "); i >= 0 {
		fmt.Sscan((*last)[i+2:], &done)
		*last = (*last)[:i+2]
	}
	*last += fmt.Sprint(done + n)
}

// TestProgress: the three stages are told with their totals, and each is
// done in full.
func TestProgress(t *testing.T) {
	plans, payroll, cfg := genInputs(t, t.TempDir(), 3000)
	var sizes [3]int64
	for i, p := range append(plans, payroll) {
		st, _ := os.Stat(p)
		sizes[i] = st.Size()
	}
	p := &recordedProgress{}
	ps, err := ReadPlans(t.Context(), plans, validate.APAInTotal, ReadOptions{Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pay, err := ReadPayroll(t.Context(), payroll, cfg, ReadOptions{Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	defer pay.Close()
	if _, err := Reconcile(t.Context(), ps, pay, cfg, Options{Progress: p}, nil); err != nil {
		t.Fatal(err)
	}
	records := int64(ps.Read + pay.Rows)
	want := []string{
		fmt.Sprintf("reading job plans of %d (bytes true): %d", sizes[0]+sizes[1], sizes[0]+sizes[1]),
		fmt.Sprintf("reading payroll of %d (bytes true): %d", sizes[2], sizes[2]),
		fmt.Sprintf("comparing of %d (bytes false): %d", records, records),
	}
	if strings.Join(p.stages, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress:\n%s\nwant:\n%s", strings.Join(p.stages, "\n"), strings.Join(want, "\n"))
	}
}

// TestPageInChromium opens a page with long names, notes and file names
// and large amounts in headless Chromium at 1280 px and measures it: the
// misaligned and department tables fit (no sideways scrolling), and
// under-payments are blue, not green.
func TestPageInChromium(t *testing.T) {
	chromiumtest.Require(t)
	dir := t.TempDir()
	var recs []string
	var payroll strings.Builder
	payroll.WriteString("asg,pas,name,pct,band,basic,fte,dept\n")
	for i := range 40 {
		asg := fmt.Sprintf("%d-%d", 20000000+i, 1+i%3)
		recs = append(recs, fmt.Sprintf(`{"employee_number":"%d","assignment_number":"%s","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"on_call_supplement_pct":5}`, 20000000+i, asg))
		pas := []string{"16", "4.25", "10"}[i%3]
		fmt.Fprintf(&payroll, "%s,%s,\"Featherstonehaugh-Cholmondeley, Wilhelmina Bartholomew %d\",%s,%s,987654.32,0.8,%s\n",
			asg, pas, i, []string{"8", "0", "3"}[i%3], "", []string{"Trauma and Orthopaedics (Elective and Non-Elective)", "Cardiology", "Renal"}[i%3])
	}
	// Another employee number in payroll gives a long note.
	payroll.WriteString("20000099-2,11,\"Somebody, Else\",5,,100000,1,Cardiology\n")
	recs = append(recs, `{"employee_number":"20000098","assignment_number":"20000099-2","contract_type":"consultant_england_2003","effective_date":"2026-04-01","total_contracted_pas":10,"on_call_supplement_pct":5}`)
	long := filepath.Join(dir, "ESR_JobPlans_Export_Trust_RXX_20260401_SignedOff_AllDivisions_AllSites.jobplans.jsonl")
	if err := os.WriteFile(long, []byte(strings.Join(recs, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "")
	cfg.Columns.Department = "dept"
	ps, err := ReadPlans(t.Context(), []string{long}, validate.APAInTotal, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pay := payrollString(t, payroll.String(), cfg)
	out := filepath.Join(dir, "out")
	if _, err := Write(t.Context(), out, ps, pay, cfg, Options{TolerancePAs: dec("0.01")}, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(out, "reconcile.html"))
	if err != nil {
		t.Fatal(err)
	}
	// The page runs no script (its Content-Security-Policy forbids them);
	// a copy without that policy measures itself and writes the figures
	// into the DOM for --dump-dom.
	measured := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`).ReplaceAll(page, nil)
	if bytes.Equal(measured, page) {
		t.Fatal("the page has no Content-Security-Policy")
	}
	measured = bytes.Replace(measured, []byte("</body>"), []byte(`<script>
const m = {viewport: document.documentElement.clientWidth, page: document.documentElement.scrollWidth};
for (const id of ["misaligned", "departments"]) {
  let el = document.getElementById(id).nextElementSibling;
  while (el && !el.querySelector("table")) el = el.nextElementSibling;
  const table = el.querySelector("table"), r = table.getBoundingClientRect();
  m[id] = {right: Math.ceil(r.right), scroll: el.scrollWidth, client: el.clientWidth, rows: table.rows.length};
}
const svg = document.querySelector("#departments ~ svg").getBoundingClientRect();
m.chartRight = Math.ceil(svg.right);
m.under = getComputedStyle(document.querySelector("td.underv")).color;
m.over = getComputedStyle(document.querySelector("td.overv")).color;
document.body.setAttribute("data-measured", JSON.stringify(m));
</script></body>`), 1)
	probe := filepath.Join(dir, "measure.html")
	if err := os.WriteFile(probe, measured, 0o644); err != nil {
		t.Fatal(err)
	}
	dom := chromiumtest.Run(t, dir, "--window-size=1280,1000", "--hide-scrollbars", "--dump-dom", "file://"+probe)
	found := regexp.MustCompile(`data-measured="([^"]*)"`).FindStringSubmatch(dom)
	if found == nil {
		t.Fatalf("the page did not measure itself:\n%.500s", dom)
	}
	var m struct {
		Viewport, Page, ChartRight int
		Misaligned, Departments    struct{ Right, Scroll, Client, Rows int }
		Under, Over                string
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(found[1])), &m); err != nil {
		t.Fatal(err)
	}
	t.Logf("at %d px: page %d px wide; misaligned table to %d px (%d of %d px shown, %d rows); departments to %d px; chart to %d px; under %s, over %s",
		m.Viewport, m.Page, m.Misaligned.Right, m.Misaligned.Client, m.Misaligned.Scroll, m.Misaligned.Rows, m.Departments.Right, m.ChartRight, m.Under, m.Over)
	if m.Viewport != 1280 {
		t.Fatalf("viewport %d px, want 1280", m.Viewport)
	}
	for name, tb := range map[string]struct{ Right, Scroll, Client, Rows int }{"misaligned": m.Misaligned, "departments": m.Departments} {
		if tb.Right > m.Viewport || tb.Scroll > tb.Client || tb.Rows < 4 {
			t.Errorf("the %s table does not fit 1280 px: it ends at %d px and needs %d px of %d", name, tb.Right, tb.Scroll, tb.Client)
		}
	}
	if m.Page > m.Viewport || m.ChartRight > m.Viewport {
		t.Errorf("the page is %d px wide, its chart ends at %d px: more than %d", m.Page, m.ChartRight, m.Viewport)
	}
	if m.Under != "rgb(0, 94, 184)" || m.Over != "rgb(213, 40, 27)" {
		t.Errorf("under-payments shown in %s, over-payments in %s; want blue rgb(0, 94, 184) and red rgb(213, 40, 27)", m.Under, m.Over)
	}
}
