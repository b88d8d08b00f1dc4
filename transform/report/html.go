package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
)

// HTMLOptions bound how much of a large report the HTML page lists. The
// counts are always complete; only the tables are cut short, with a note
// pointing at errors.csv.
type HTMLOptions struct {
	MaxPerRule   int // findings listed under each rule; default 200
	MaxPeople    int // assignments in the by-person section; default 500
	MaxPerPerson int // findings listed per assignment; default 50
}

func (o HTMLOptions) withDefaults() HTMLOptions {
	if o.MaxPerRule <= 0 {
		o.MaxPerRule = 200
	}
	if o.MaxPeople <= 0 {
		o.MaxPeople = 500
	}
	if o.MaxPerPerson <= 0 {
		o.MaxPerPerson = 50
	}
	return o
}

// HTMLPath returns where the HTML view of a report.json goes:
// x.report.json becomes x.report.html.
func HTMLPath(reportJSON string) string {
	return strings.TrimSuffix(reportJSON, filepath.Ext(reportJSON)) + ".html"
}

// WriteHTMLFile renders the report.json at reportJSON into HTMLPath(reportJSON),
// atomically: readers see the whole page or none.
func WriteHTMLFile(reportJSON string) error {
	out, err := RenderHTMLFile(reportJSON)
	if err != nil {
		return err
	}
	defer out.Abort()
	return out.Commit()
}

// RenderHTMLFile renders the report.json at reportJSON into a temporary
// file for HTMLPath(reportJSON), for the caller to Commit (or Rename, then
// sync the directory) or Abort.
func RenderHTMLFile(reportJSON string) (*atomicfile.File, error) {
	in, err := os.Open(reportJSON)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	defer in.Close()
	out, err := atomicfile.Create(HTMLPath(reportJSON))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	if err := RenderHTML(bw, in, HTMLOptions{}); err != nil {
		out.Abort()
		return nil, fmt.Errorf("%s: %w", filepath.Base(reportJSON), err)
	}
	if err := bw.Flush(); err != nil {
		out.Abort()
		return nil, fmt.Errorf("write html report: %w", err)
	}
	return out, nil
}

// RenderHTML reads a report.json from r and writes one self-contained HTML
// page to w: no scripts, no external styles, images or fonts, so it opens
// from a mail attachment. The findings are read one at a time; memory is
// bounded by opts, not by the size of the report.
func RenderHTML(w io.Writer, r io.Reader, opts HTMLOptions) error {
	opts = opts.withDefaults()
	agg := newAggregate(opts)
	head, err := decodeReport(r, agg.add)
	if err != nil {
		return err
	}
	return htmlPage.Execute(w, agg.page(head))
}

// decodeReport streams a report.json: the header fields into a Report, and
// each element of "findings" to each.
func decodeReport(r io.Reader, each func(finding.Finding)) (*Report, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	head := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("read report.json: %w", err)
		}
		key, _ := tok.(string)
		if key != "findings" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("read report.json %q: %w", key, err)
			}
			head[key] = v
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return nil, err
		}
		for dec.More() {
			var f finding.Finding
			if err := dec.Decode(&f); err != nil {
				return nil, fmt.Errorf("read report.json findings: %w", err)
			}
			each(f)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	b, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("read report.json: %w", err)
	}
	return &rep, nil
}

var errNotReport = errors.New("not a report.json")

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("read report.json: %w", err)
	}
	if tok != want {
		return fmt.Errorf("%w: expected %q, found %v", errNotReport, want, tok)
	}
	return nil
}

// aggregate groups findings by rule and by person as they stream past,
// keeping at most the configured number of each.
type aggregate struct {
	opts   HTMLOptions
	total  int
	rules  map[string]*ruleGroup
	people []*personGroup
	byAsg  map[string]*personGroup
	noAsg  *personGroup // findings about the file or rows with no assignment
	// moreFindings counts the findings of people beyond MaxPeople.
	moreFindings int
}

type ruleGroup struct {
	Code     string
	Title    string
	Explain  string
	Fix      string
	Total    int
	Errors   int
	Warnings int
	Shown    []finding.Finding
	More     int
}

type personGroup struct {
	Assignment string
	Records    []int
	Total      int
	Errors     int
	Warnings   int
	Shown      []finding.Finding
	More       int
}

func newAggregate(opts HTMLOptions) *aggregate {
	return &aggregate{opts: opts, rules: map[string]*ruleGroup{}, byAsg: map[string]*personGroup{}}
}

func (a *aggregate) add(f finding.Finding) {
	a.total++
	g := a.rules[f.Rule]
	if g == nil {
		rule, known := finding.Rules[f.Rule]
		// A finding's own advice, where it has one, fits the mapping
		// (M01 under decimal commas); the findings of one rule in one
		// file share it.
		g = &ruleGroup{Code: f.Rule, Title: rule.Title, Fix: cmp.Or(f.Fix, rule.Fix), Explain: ruleExplanations[f.Rule]}
		if !known {
			g.Title = "Rule " + f.Rule
		}
		a.rules[f.Rule] = g
	}
	g.Total++
	countSeverity(f.Severity, &g.Errors, &g.Warnings)
	if len(g.Shown) < a.opts.MaxPerRule {
		g.Shown = append(g.Shown, f)
	} else {
		g.More++
	}

	p := a.person(f.Assignment)
	if p == nil {
		return
	}
	p.Total++
	countSeverity(f.Severity, &p.Errors, &p.Warnings)
	if f.Record > 0 && !containsInt(p.Records, f.Record) && len(p.Records) < 20 {
		p.Records = append(p.Records, f.Record)
	}
	if len(p.Shown) < a.opts.MaxPerPerson {
		p.Shown = append(p.Shown, f)
	} else {
		p.More++
	}
}

// person returns the group for an assignment number, nil when the page
// already lists MaxPeople people.
func (a *aggregate) person(asg string) *personGroup {
	if asg == "" {
		if a.noAsg == nil {
			a.noAsg = &personGroup{}
		}
		return a.noAsg
	}
	if p := a.byAsg[asg]; p != nil {
		return p
	}
	if len(a.people) >= a.opts.MaxPeople {
		// Counting the people not listed would mean remembering each;
		// count their findings instead, in constant memory.
		a.moreFindings++
		return nil
	}
	p := &personGroup{Assignment: asg}
	a.byAsg[asg] = p
	a.people = append(a.people, p)
	return p
}

func countSeverity(s finding.Severity, errs, warns *int) {
	switch s {
	case finding.Error:
		*errs++
	case finding.Warning:
		*warns++
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pageData is what the template renders.
type pageData struct {
	R            *Report
	Status       string // plain-English status
	StatusClass  string
	Size         string
	Duration     string
	Started      string
	Finished     string
	Counts       []countCell
	Total        int
	Rules        []*ruleGroup
	People       []*personGroup
	NoAsg        *personGroup
	MoreFindings int    // findings of people not listed
	SeeFile      string // where the findings not listed are
	APAReading   string // what the plans' total holds, in words
	Opts         HTMLOptions
}

type countCell struct {
	Key, Label string
	N          int
	Class      string
}

func (a *aggregate) page(r *Report) *pageData {
	d := &pageData{R: r, Total: a.total, People: a.people, NoAsg: a.noAsg, MoreFindings: a.moreFindings, Opts: a.opts}
	d.Status, d.StatusClass = statusText(r)
	switch r.APAReading {
	case "in_total":
		d.APAReading = "in_total: the total contracted PAs includes the APAs"
	case "outside_total":
		d.APAReading = "outside_total: the total contracted PAs leaves the APAs out; the categories include their work"
	}
	d.Size = byteSize(r.InputBytes)
	if !r.Started.IsZero() {
		d.Started = r.Started.UTC().Format("2 Jan 2006 15:04:05 UTC")
	}
	if !r.Finished.IsZero() {
		d.Finished = r.Finished.UTC().Format("2 Jan 2006 15:04:05 UTC")
		if !r.Started.IsZero() && r.Finished.After(r.Started) {
			d.Duration = r.Finished.Sub(r.Started).Round(time.Millisecond).String()
		}
	}
	c := r.Counts
	d.Counts = []countCell{
		{"rows_read", "rows read", c.RowsRead, ""},
		{"rows_filtered", "rows filtered out", c.RowsFiltered, ""},
		{"plans_built", "plans found", c.PlansBuilt, ""},
		{"accepted", "plans accepted", c.Accepted, "ok"},
		{"rejected", "plans rejected", c.Rejected, cls(c.Rejected > 0, "bad")},
		{"errors", "errors", c.Errors, cls(c.Errors > 0, "bad")},
		{"warnings", "warnings", c.Warnings, cls(c.Warnings > 0, "warn")},
		{"duplicates", "duplicates dropped", c.Duplicates, ""},
		{"superseded", "superseded plans", c.Superseded, ""},
		{"held_back", "held back (a later plan refused)", c.HeldBack, cls(c.HeldBack > 0, "warn")},
	}
	for _, g := range a.rules {
		d.Rules = append(d.Rules, g)
	}
	sort.Slice(d.Rules, func(i, j int) bool {
		a, b := d.Rules[i], d.Rules[j]
		if (a.Errors > 0) != (b.Errors > 0) {
			return a.Errors > 0
		}
		return ruleLess(a.Code, b.Code)
	})
	d.SeeFile = r.Outputs.Errors
	if d.SeeFile == "" {
		d.SeeFile = strings.TrimSuffix(r.Input, filepath.Ext(r.Input)) + ".report.json"
	}
	return d
}

func cls(cond bool, c string) string {
	if cond {
		return c
	}
	return ""
}

// ruleLess orders rule codes by letter, then number: M2 before M10.
func ruleLess(a, b string) bool {
	split := func(s string) (string, int) {
		i := strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' })
		if i < 0 {
			return s, 0
		}
		n, _ := strconv.Atoi(s[i:])
		return s[:i], n
	}
	pa, na := split(a)
	pb, nb := split(b)
	if pa != pb {
		return pa < pb
	}
	if na != nb {
		return na < nb
	}
	return a < b
}

func statusText(r *Report) (string, string) {
	switch r.Status {
	case StatusAccepted:
		if r.Counts.Warnings > 0 {
			return "Every plan was accepted; some have warnings to check.", "warn"
		}
		return "Every plan was accepted.", "ok"
	case StatusPartial:
		return "Some plans were rejected and not sent to ESR; the rest were accepted.", "bad"
	case StatusFailed:
		return "The file could not be processed; nothing from it was sent to ESR.", "bad"
	case StatusSkipped:
		return "This file was processed before; it was not converted again.", "ok"
	}
	return r.Status, ""
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(1<<30), n)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// lines shows a finding's source lines: "8", "8–10", or "file" for a
// finding about the whole file.
func lines(f finding.Finding) string {
	switch {
	case f.Line <= 0:
		return "file"
	case f.EndLine > f.Line:
		return fmt.Sprintf("%d–%d", f.Line, f.EndLine)
	}
	return strconv.Itoa(f.Line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func joinInts(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// ruleExplanations says in plain English what each rule checks and what
// happens to the plan. Rules without an entry show only their title and
// fix, so a rule added to the catalogue still renders.
var ruleExplanations = map[string]string{
	"M01": "A cell that should hold a number of PAs (or hours, or sessions) holds text, units or a symbol instead, so the value cannot be read.",
	"M02": "A date cell does not match the date layout the supplier's mapping declares (for example 2026-04-01 where the mapping expects dd/mm/yyyy).",
	"M03": "The on-call rota frequency could not be read as '1 in N'.",
	"M04": "A value the mapping marks as required (such as the employee or assignment number) is blank.",
	"M05": "The cell holds a value the mapping has no translation for (for example an unknown contract name), so it cannot be turned into an ESR value.",
	"M06": "A value the mapping calculates from other values (such as a total) could not be worked out from this row.",
	"M07": "An activity's category is not one the mapping knows, so it is not known which ESR total it counts towards.",
	"M08": "The row has more or fewer cells than the header, usually because of a stray or missing delimiter; its values cannot be matched to columns.",
	"M09": "The row is malformed (for example a quote is opened and never closed) and could not be read at all.",
	"M10": "In an export with one row per activity, a plan's rows must be next to each other. Here rows of the same plan are separated by other plans' rows.",
	"M11": "A cell that should hold a whole number holds something else.",
	"M12": "A yes/no cell holds a value that is neither yes nor no.",
	"M13": "A PA figure, after converting hours or annual figures to PAs a week, is more than a week's 168 hours could hold (or too large to be a number at all): a typo, or hours entered where PAs were expected.",
	"M15": "In an export with one row per activity, every row of a plan repeats the plan's own values (assignment, effective date, contract, on-call). Here the rows of one plan give different values, or only some of them were kept by the mapping's filters, so it is not known which is right and the plan is not sent.",
	"M16": "One column holds two kinds of value (for example an on-call supplement as 5% or a Welsh band as Band 2), and the mapping sends each kind to its own field. This value is neither kind, or could be both.",
	"D1":  "The same plan appears more than once in the file with identical values. It is sent once.",
	"D2":  "The file holds two plans for one assignment; only the one with the later effective date is sent.",
	"D3":  "Two plans for one assignment have the same effective date but different values, so which one is current cannot be known: none of them is sent (unless the mapping says duplicates.same_date: last_wins, when only the later row is sent).",
	"D4":  "An older plan of an assignment whose later plan in the file was refused. It is not sent, as it may no longer be current: nothing is sent for that assignment from this file.",
	"S1":  "The contract type is not one of those ESR accepts.",
	"V1":  "ESR employee numbers are 8 digits; assignment numbers are the same 8 digits with -2, -3... added for a second or later post.",
	"V2":  "An assignment number normally starts with the doctor's own employee number. This one does not, which suggests a mix-up of people.",
	"V3":  "ESR job plans are only for the Medical and Dental staff group.",
	"V4":  "Every plan needs the date it takes effect, and it must be a day that exists: 31/02/2026 has the right layout but there is no 31 February.",
	"V5":  "A PA figure is below zero, which a job plan cannot have.",
	"V6":  "The categories (DCC, SPA, additional responsibilities, external duties, medical school) must add up to all the plan's PAs: the total contracted PAs, plus the APAs when the mapping reads the total as leaving them out (APA reading outside_total).",
	"V7":  "Additional programmed activities cannot be more than the PAs that include them: the total contracted PAs (or, under the APA reading outside_total, the categories). A figure far above is often hours entered where PAs were expected.",
	"V8":  "The plan's PAs a week, APAs included, are above 12, which is unusual under the Working Time Regulations. The plan is still sent.",
	"V9":  "The total contracted PAs is zero, or the plan's PAs a week (APAs included) are above the maximum the hub allows, which cannot be right.",
	"V10": "Elective and non-elective theatre work must add up to the total theatre work.",
	"V11": "The itemised direct clinical care activities add up to more than the DCC total.",
	"V12": "More than 1 PA of the DCC total is not itemised in the activities. The plan is still sent.",
	"V13": "Research, teaching, CPD and non-DCC admin and travel add up to more than the time left after DCC. The plan is still sent.",
	"V14": "A full-time English consultant usually has at least 7 DCC and 1.5 SPA. The plan is still sent.",
	"V15": "The rota frequency, on-call category and supplement belong together: give all three or none.",
	"V16": "The on-call supplement percentage is fixed by the category (A or B) and how often the doctor is on call; this one does not match the table.",
	"V17": "The rota frequency is not a whole number, meaning an average of several rotas. The plan is still sent.",
	"V18": "Doctors on the 2008 specialty doctor contract can only have a 0, 2, 4 or 6 per cent supplement.",
	"V19": "Welsh consultants have an on-call band (1 to 3); English consultants and SAS doctors have a percentage. This plan has the wrong kind.",
	"V20": "The unpredictable on-call time is above the usual limit for the contract. The plan is still sent.",
	"V21": "Private work, fee-paying services and work additional to the contract are not contracted PAs, but they seem to be counted in the total.",
	"V22": "A PA figure has more than 2 decimal places or is not in quarters of a PA. The plan is still sent.",
}

var htmlFuncs = template.FuncMap{
	"lines":    lines,
	"plural":   plural,
	"joinInts": joinInts,
	"ruleTitle": func(code string) string {
		if r, ok := finding.Rules[code]; ok {
			return r.Title
		}
		return ""
	},
}

// htmlTemplate is the page. It has no script and, with its
// Content-Security-Policy, loads nothing from anywhere.
const htmlTemplate = `<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="jobplan-hub">
<title>Job-plan report: {{.R.Input}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Arial,sans-serif;color:#212b32;background:#f0f4f5;margin:0}
main{max-width:1100px;margin:0 auto;padding:1.5em}
h1{font-size:1.6em;margin:.2em 0}
h2{font-size:1.3em;margin:1.6em 0 .5em;border-bottom:2px solid #005eb8;padding-bottom:.2em}
h3{font-size:1.05em;margin:0 0 .4em}
section.card,.rule,.person{background:#fff;border:1px solid #d8dde0;border-radius:4px;padding:1em;margin:0 0 1em}
.status{font-weight:600;padding:.6em .8em;border-radius:4px;border-left:6px solid #768692;background:#fff}
.status.ok{border-color:#007f3b}.status.warn{border-color:#ffb81c}.status.bad{border-color:#d5281b}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;vertical-align:top;padding:.3em .5em;border-bottom:1px solid #e8edee}
th{background:#e8edee;font-weight:600}
table.summary th{width:11em;background:none}
td.value,td.mono,.mono{font-family:ui-monospace,Consolas,"Courier New",monospace;overflow-wrap:anywhere}
td.value,td.mono{min-width:6.5em}td.line{white-space:nowrap}
section.card h2{margin-top:0}
.counts{display:flex;flex-wrap:wrap;gap:.5em;margin:.8em 0}
.count{background:#fff;border:1px solid #d8dde0;border-radius:4px;padding:.4em .8em;min-width:7em}
.count .n{display:block;font-size:1.5em;font-weight:700}
.count.ok .n{color:#007f3b}.count.bad .n{color:#d5281b}.count.warn .n{color:#8a5a00}
.sev{display:inline-block;font-size:.8em;font-weight:700;padding:0 .4em;border-radius:3px;text-transform:uppercase}
.sev.error{background:#d5281b;color:#fff}.sev.warning{background:#ffb81c;color:#212b32}.sev.off{background:#aeb7bd}
.explain{margin:.2em 0}.fix{margin:.2em 0 .6em;padding:.3em .6em;background:#e8f1f8;border-left:4px solid #005eb8}
.more{font-style:italic;margin:.5em 0 0}
nav ul{columns:2;padding-left:1.2em;margin:.3em 0}
a{color:#005eb8}
.muted{color:#4c6272}
@media print{body{background:#fff}section.card,.rule,.person{break-inside:avoid-page;border-color:#aaa}}
</style>
</head>
<body>
<main>
<header>
<p class="muted">jobplan-hub conversion report</p>
<h1>{{.R.Input}}</h1>
<p class="status {{.StatusClass}}" id="status" data-status="{{.R.Status}}">{{.Status}}{{with .R.Reason}}<br><span class="muted">Reason: {{.}}</span>{{end}}</p>
</header>

<section class="card" id="summary">
<h2>Summary</h2>
<div class="counts">
{{- range .Counts}}
<div class="count {{.Class}}" data-count="{{.Key}}"><span class="n">{{.N}}</span>{{.Label}}</div>
{{- end}}
</div>
<table class="summary">
<tr><th>Input file</th><td>{{.R.Input}}{{with .Size}} ({{.}}){{end}}</td></tr>
<tr><th>Input SHA-256</th><td class="mono">{{.R.InputSHA256}}</td></tr>
<tr><th>Mapping</th><td>{{.R.Mapping}}</td></tr>
<tr><th>Mapping SHA-256</th><td class="mono">{{.R.MappingSHA256}}</td></tr>
{{- with .APAReading}}<tr><th>APA reading</th><td>{{.}}</td></tr>{{end}}
<tr><th>Status</th><td>{{.R.Status}}</td></tr>
{{- with .R.SeeReport}}<tr><th>Earlier report</th><td>{{.}}</td></tr>{{end}}
<tr><th>Started</th><td>{{.Started}}</td></tr>
<tr><th>Finished</th><td>{{.Finished}}{{with .Duration}} (took {{.}}){{end}}</td></tr>
{{- with .R.Outputs}}
{{- with .Records}}<tr><th>Accepted records</th><td>{{.}}</td></tr>{{end}}
{{- with .Rejected}}<tr><th>Rejected rows</th><td>{{.}} (the rejected rows exactly as sent, to correct and send again)</td></tr>{{end}}
{{- with .Errors}}<tr><th>Findings for Excel</th><td>{{.}}</td></tr>{{end}}
{{- end}}
</table>
</section>

{{- if .Rules}}
<section class="card" id="contents">
<h2>Findings by rule</h2>
<p>{{plural .Total "finding" "findings"}} in this report. Errors stop a plan being sent to ESR; warnings are for checking and the plan is still sent, except D1, D2, D3 and D4 warnings, which say why a plan is not sent.</p>
<nav><ul>
{{- range .Rules}}
<li><a href="#rule-{{.Code}}">{{.Code}} {{.Title}}</a>: {{.Total}}</li>
{{- end}}
</ul></nav>
</section>
{{- range .Rules}}
<section class="rule" id="rule-{{.Code}}" data-rule="{{.Code}}">
<h3>{{.Code}}: {{.Title}} <span class="muted">({{plural .Total "finding" "findings"}}{{if .Errors}}, {{.Errors}} error{{if ne .Errors 1}}s{{end}}{{end}}{{if .Warnings}}, {{.Warnings}} warning{{if ne .Warnings 1}}s{{end}}{{end}})</span></h3>
{{- with .Explain}}<p class="explain"><strong>What this means:</strong> {{.}}</p>{{end}}
{{- with .Fix}}<p class="fix"><strong>How to fix it:</strong> {{.}}</p>{{end}}
<table>
<thead><tr><th>Line</th><th>Assignment</th><th>Field</th><th>Column</th><th>Value</th><th>Severity</th><th>What was found</th></tr></thead>
<tbody>
{{- range .Shown}}
<tr><td class="line" data-line="{{.Line}}">{{lines .}}</td><td class="mono">{{.Assignment}}</td><td>{{.Field}}</td><td>{{.Column}}</td><td class="value">{{.Value}}</td><td><span class="sev {{.Severity}}">{{.Severity}}</span></td><td>{{.Message}}</td></tr>
{{- end}}
</tbody>
</table>
{{- if .More}}
<p class="more">and {{.More}} more — see {{$.SeeFile}}</p>
{{- end}}
</section>
{{- end}}

<section class="card" id="people">
<h2>Findings by person</h2>
<p>Every finding for one assignment number together, in file order.</p>
</section>
{{- range .People}}
<section class="person" id="asg-{{.Assignment}}" data-assignment="{{.Assignment}}">
<h3>Assignment {{.Assignment}} <span class="muted">({{plural .Total "finding" "findings"}}{{if .Errors}}, {{.Errors}} error{{if ne .Errors 1}}s{{end}}{{end}}{{if .Warnings}}, {{.Warnings}} warning{{if ne .Warnings 1}}s{{end}}{{end}}{{with .Records}}; plan{{if gt (len .) 1}}s{{end}} {{joinInts .}} in the file{{end}})</span></h3>
<table>
<thead><tr><th>Line</th><th>Rule</th><th>Field</th><th>Column</th><th>Value</th><th>Severity</th><th>What was found</th></tr></thead>
<tbody>
{{- range .Shown}}
<tr><td class="line" data-line="{{.Line}}">{{lines .}}</td><td><a href="#rule-{{.Rule}}">{{.Rule}}</a> {{ruleTitle .Rule}}</td><td>{{.Field}}</td><td>{{.Column}}</td><td class="value">{{.Value}}</td><td><span class="sev {{.Severity}}">{{.Severity}}</span></td><td>{{.Message}}</td></tr>
{{- end}}
</tbody>
</table>
{{- if .More}}
<p class="more">and {{.More}} more — see {{$.SeeFile}}</p>
{{- end}}
</section>
{{- end}}
{{- if .MoreFindings}}
<p class="more">and {{.MoreFindings}} more findings for assignments not listed here — see {{.SeeFile}}</p>
{{- end}}
{{- with .NoAsg}}
<section class="person" id="no-assignment" data-assignment="">
<h3>Rows without an assignment number <span class="muted">({{plural .Total "finding" "findings"}})</span></h3>
<table>
<thead><tr><th>Line</th><th>Rule</th><th>Column</th><th>Value</th><th>Severity</th><th>What was found</th></tr></thead>
<tbody>
{{- range .Shown}}
<tr><td class="line" data-line="{{.Line}}">{{lines .}}</td><td><a href="#rule-{{.Rule}}">{{.Rule}}</a> {{ruleTitle .Rule}}</td><td>{{.Column}}</td><td class="value">{{.Value}}</td><td><span class="sev {{.Severity}}">{{.Severity}}</span></td><td>{{.Message}}</td></tr>
{{- end}}
</tbody>
</table>
{{- if .More}}
<p class="more">and {{.More}} more — see {{$.SeeFile}}</p>
{{- end}}
</section>
{{- end}}
{{- else if eq .R.Status "failed"}}
<section class="card" id="not-read">
<h2>Findings</h2>
<p>The file could not be read, so none of its rows was checked and nothing from it was sent. Correct the file as the reason at the top says, then send it again.</p>
</section>
{{- else}}
<section class="card" id="no-findings">
<h2>Findings</h2>
<p>No findings: nothing to correct.</p>
</section>
{{- end}}

<footer class="muted"><p>Produced by jobplan-hub from {{.R.Input}} with mapping {{.R.Mapping}}. Line numbers are lines of the input file as sent. The same findings are in the report's JSON file{{with .R.Outputs.Errors}} and in {{.}} for Excel{{end}}.</p></footer>
</main>
</body>
</html>
`

var htmlPage = template.Must(template.New("report").Funcs(htmlFuncs).Parse(htmlTemplate))
