package report_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/chromiumtest"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

func renderFile(t *testing.T, path string, opts report.HTMLOptions) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	if err := report.RenderHTML(&b, f, opts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRenderHTML(t *testing.T) {
	page := renderFile(t, "testdata/sample.report.json", report.HTMLOptions{})
	for _, want := range []string{
		"<title>Job-plan report: jobplans-2026-04.csv</title>",
		`data-count="accepted"><span class="n">7</span>plans accepted`,
		`data-count="rejected"><span class="n">9</span>plans rejected`,
		"b7d2ca6ff6e067e3941bf53d710fa2235038db8b15f643cfe7b2c617589b305d",
		"Some plans were rejected and not sent to ESR",
		`id="rule-V6"`,
		"V6: Category totals do not add up to the total PAs",
		"<strong>What this means:</strong> The categories (DCC, SPA",
		"<strong>How to fix it:</strong> DCC &#43; SPA &#43; additional responsibilities",
		`data-assignment="20000007"`,
		`<td class="line" data-line="20">20–22</td>`, // a multi-line row
		"Rows without an assignment number",
		"2 Apr 2026 06:00:00 UTC",
		"jobplans-2026-04.errors.csv",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Values from the input are escaped, never markup.
	if strings.Contains(page, "<script>alert") {
		t.Error("a value from the input was not escaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co") {
		t.Error("escaped value missing")
	}
	// Errors come before warnings.
	if strings.Index(page, `id="rule-V1"`) > strings.Index(page, `id="rule-V8"`) {
		t.Error("warning rule V8 listed before error rule V1")
	}
	assertSelfContained(t, page)
}

// assertSelfContained fails if the page would fetch anything: it must open
// from a mail attachment with no network.
func assertSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`),
		regexp.MustCompile(`(?i)\ssrc=`),
		regexp.MustCompile(`(?i)href="[^#]`),
		regexp.MustCompile(`(?i)url\(`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`(?i)<link`),
	} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("page is not self-contained: %q at %d", page[loc[0]:min(loc[1]+40, len(page))], loc[0])
		}
	}
}

// bigReport writes a report.json with n V6 findings spread over people
// assignments, through the real Writer.
func bigReport(t *testing.T, dir string, n, people int) string {
	t.Helper()
	w, err := report.NewWriter(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range n {
		f := finding.Finding{Record: i + 1, Line: i + 2, EndLine: i + 2, Assignment: fmt.Sprintf("%08d", 10000000+i%people),
			Field: "total_contracted_pas", Column: "Total PAs", Value: "10", Rule: "V6", Severity: finding.Error, Message: "Totals differ.", Fix: finding.Rules["V6"].Fix}
		if i%10 == 0 {
			f.Rule, f.Severity = "V22", finding.Warning
		}
		if err := w.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "big.report.json")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r := &report.Report{Input: "big.csv", Mapping: "m", Status: report.StatusPartial,
		Counts:  report.Counts{RowsRead: n, PlansBuilt: n, Rejected: n, Errors: n},
		Outputs: report.Outputs{Errors: "big.errors.csv"}}
	if err := w.Finish(out, r); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRenderHTMLCapsLargeReports(t *testing.T) {
	path := bigReport(t, t.TempDir(), 5000, 700)
	page := renderFile(t, path, report.HTMLOptions{MaxPeople: 300, MaxPerPerson: 5})
	// 4500 V6 findings, 200 shown; 500 V22, 200 shown.
	for _, want := range []string{
		"and 4300 more — see big.errors.csv",
		"and 300 more — see big.errors.csv",
		"and 2800 more findings for assignments not listed here — see big.errors.csv",
		"5000 findings in this report",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, `class="person"`); n != 300 {
		t.Errorf("listed %d people, want 300", n)
	}
	if n := strings.Count(page, "<tr><td class=\"line\""); n != 200+200+300*5 {
		t.Errorf("listed %d finding rows, want %d", n, 200+200+300*5)
	}
}

func TestRenderHTMLNoFindings(t *testing.T) {
	in := `{"input":"ok.csv","mapping":"m","status":"accepted","counts":{"rows_read":2,"plans_built":2,"accepted":2},"findings":[]}`
	var b bytes.Buffer
	if err := report.RenderHTML(&b, strings.NewReader(in), report.HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No findings: nothing to correct.") || !strings.Contains(b.String(), "Every plan was accepted.") {
		t.Errorf("page for a clean file:\n%s", b.String())
	}
}

// TestRenderHTMLAPAReadingAndHeldBack: the page states what the plans'
// total was read as, and counts plans held back by a refused later plan.
func TestRenderHTMLAPAReadingAndHeldBack(t *testing.T) {
	in := `{"input":"x.csv","mapping":"m","status":"partially_rejected","apa_reading":"outside_total",` +
		`"counts":{"rows_read":3,"plans_built":3,"rejected":1,"held_back":2},"findings":[` +
		`{"record":0,"line":2,"end_line":2,"assignment_number":"10000001","field":"effective_date","value":"2025-04-01","rule":"D4","severity":"warning","message":"Held."}]}`
	var b bytes.Buffer
	if err := report.RenderHTML(&b, strings.NewReader(in), report.HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<tr><th>APA reading</th><td>outside_total: the total contracted PAs leaves the APAs out; the categories include their work</td></tr>",
		`data-count="held_back"><span class="n">2</span>held back (a later plan refused)`,
		"D4: Plan held back: a later plan of the assignment was refused",
		"<strong>What this means:</strong> An older plan of an assignment whose later plan in the file was refused.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestRenderHTMLRejectsOtherJSON(t *testing.T) {
	for _, in := range []string{`[1,2]`, `{"findings": 3}`, `{"input": "x"`, ``} {
		if err := report.RenderHTML(&bytes.Buffer{}, strings.NewReader(in), report.HTMLOptions{}); err == nil {
			t.Errorf("RenderHTML(%q) succeeded, want an error", in)
		}
	}
}

func TestWriteHTMLFile(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/sample.report.json")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "x.report.json")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHTMLFile(src); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "x.report.html x.report.json" {
		t.Errorf("files after WriteHTMLFile: %v", names)
	}
	if err := report.WriteHTMLFile(filepath.Join(dir, "missing.report.json")); err == nil {
		t.Error("WriteHTMLFile of a missing report succeeded")
	}
}

// TestHTMLInChromium opens the page in real headless Chromium and checks
// what a person would see (see internal/chromiumtest for the skip policy).
func TestHTMLInChromium(t *testing.T) {
	chromiumtest.Require(t)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/sample.report.json")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "sample.report.json")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHTMLFile(src); err != nil {
		t.Fatal(err)
	}
	url := "file://" + report.HTMLPath(src)

	dom := chromiumtest.Run(t, dir, "--dump-dom", url)
	text := tagRE.ReplaceAllString(dom, " ")
	text = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"7 plans accepted", "9 plans rejected", "10 errors", "4 warnings", // counts
		"V6: Category totals do not add up to the total PAs", // rule title
		"How to fix it:",
		"Assignment 20000007 (1 finding, 1 error; plan 6 in the file)", // person grouping
		"Rows without an assignment number",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	// A finding's line number in the V6 table, and the same finding in the
	// person's section.
	v6 := section(t, dom, `id="rule-V6"`)
	if !regexp.MustCompile(`<td class="line" data-line="8">8</td>`).MatchString(v6) {
		t.Errorf("V6 section lacks the finding at line 8:\n%s", v6)
	}
	person := section(t, dom, `data-assignment="20000007"`)
	if !strings.Contains(person, `data-line="8"`) || !strings.Contains(person, "V6") {
		t.Errorf("person 20000007 lacks the V6 finding at line 8:\n%s", person)
	}
	if strings.Contains(dom, "<script") {
		t.Error("the rendered DOM has a script element")
	}

	png := filepath.Join(dir, "page.png")
	chromiumtest.Run(t, dir, "--screenshot="+png, "--window-size=1200,1600", "--hide-scrollbars", url)
	st, err := os.Stat(png)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	// A blank 1200×1600 PNG is a few kilobytes; a rendered report is tens.
	if st.Size() < 30_000 {
		t.Errorf("screenshot is %d bytes: the page looks blank", st.Size())
	}
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// section returns the HTML of the <section> whose start tag contains attr.
func section(t *testing.T, dom, attr string) string {
	t.Helper()
	i := strings.Index(dom, attr)
	if i < 0 {
		t.Fatalf("no section with %s", attr)
	}
	j := strings.Index(dom[i:], "</section>")
	if j < 0 {
		t.Fatalf("section with %s not closed", attr)
	}
	return dom[i : i+j]
}

// A file that could not be read has no findings, but there is something
// to correct: the page gives the reason (with its hint) and never says
// "nothing to correct".
func TestRenderHTMLFailedFile(t *testing.T) {
	in := `{"input":"plans.csv","mapping":"m","status":"failed","reason":"not in the layout the mapping expects: the file has no column \"On-Call Rota\" (columns found: \"On Call Rota\"); for \"On-Call Rota\" did you mean \"On Call Rota\"?","counts":{},"findings":[]}`
	var b bytes.Buffer
	if err := report.RenderHTML(&b, strings.NewReader(in), report.HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "nothing to correct") {
		t.Errorf("the page of an unreadable file says there is nothing to correct:\n%s", page)
	}
	for _, want := range []string{"The file could not be processed", "did you mean &#34;On Call Rota&#34;?", "The file could not be read, so none of its rows was checked"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}
