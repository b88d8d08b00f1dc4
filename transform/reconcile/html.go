package reconcile

import (
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strings"
)

// HTMLOptions tune reconcile.html. How many lines it lists is set when
// reconciling (Options.Largest, Options.MaxRows): the page is capped like
// the convert report, and points to reconcile.csv for the rest.
type HTMLOptions struct {
	Title string // default "Job plans and payroll: reconciliation"
	// Generated is printed as the time of the run ("" to leave it out, as
	// the golden files do).
	Generated string
	// MaxDepartments is the departments listed and charted (default 30);
	// the rest are shown as one row.
	MaxDepartments int
}

// Colours: red for a possible over-payment, blue for a possible
// under-payment. Green would read as "fine", which an under-payment is not.
const (
	overColour  = "#d5281b"
	underColour = "#005eb8"
)

// bin is one bar of the distribution chart.
type bin struct {
	Label    string
	Label1   string // Label on two lines, for the axis
	Label2   string
	Count    int
	Over     bool
	X, Y, H  int // SVG geometry
	LabelX   int
	CountY   int
	HasCount bool
}

const chartLeft, chartBar, chartGap = 40, 60, 10

// Bins of the chart, in pounds: symmetric about zero so that over- and
// under-payments of the same size sit at the same distance from the middle.
var binEdges = []int64{-20000, -10000, -5000, -1000, 0, 1000, 5000, 10000, 20000}

// binOf is the bar of an estimate in pence: under-payments fall in
// (lo, hi], over-payments in [lo, hi), so −£1,000 and +£1,000 land in
// mirror-image bars.
func binOf(pence int64) int {
	for i, edge := range binEdges {
		e := edge * 100
		if (pence < 0 && pence <= e) || (pence >= 0 && pence < e) {
			return i
		}
	}
	return len(binEdges)
}

func (r *Result) bins() []bin {
	bins := make([]bin, len(binEdges)+1)
	for i := range bins {
		b := &bins[i]
		b.Count = r.Histogram[i]
		switch {
		case i == 0:
			b.Label1, b.Label2 = "below", money(binEdges[0])
			b.Over = false
		case i == len(binEdges):
			b.Label1, b.Label2 = money(binEdges[i-1]), "or more"
			b.Over = true
		default:
			b.Label1, b.Label2 = money(binEdges[i-1])+" to", money(binEdges[i])
			b.Over = binEdges[i-1] >= 0
		}
		b.Label = b.Label1 + " " + b.Label2
	}
	// Geometry: 10 bars of 60px, 10px apart, after a 40px margin.
	maxCount := 1
	for _, b := range bins {
		maxCount = max(maxCount, b.Count)
	}
	const left, barW, gap, top, plotH = chartLeft, chartBar, chartGap, 20, 170
	for i := range bins {
		b := &bins[i]
		b.H = b.Count * plotH / maxCount
		b.X = left + i*(barW+gap)
		b.Y = top + plotH - b.H
		b.LabelX = b.X + barW/2
		b.CountY = b.Y - 4
		b.HasCount = b.Count > 0
	}
	return bins
}

// money labels a chart edge: 0, £5k, −£20k.
func money(pounds int64) string {
	switch {
	case pounds == 0:
		return "0"
	case pounds < 0:
		return "−" + money(-pounds)
	case pounds%1000 == 0:
		return fmt.Sprintf("£%dk", pounds/1000)
	}
	return fmt.Sprintf("£%d", pounds)
}

type htmlLine struct {
	Line
	Delta, DeltaPct, Band, Est, EstPAs, EstSupp, Notes string
	Over                                               bool
}

func view(l Line) htmlLine {
	h := htmlLine{Line: l, Notes: strings.Join(l.Notes, "; ")}
	if l.Plan != nil && l.Pay != nil {
		h.Delta = signed(l.DeltaPAs.String())
		if l.HasPct {
			h.DeltaPct = signed(l.DeltaPct.String())
		}
	}
	if l.PlannedBand != "" || l.PaidBand != "" {
		h.Band = orNone(l.PlannedBand) + " → " + orNone(l.PaidBand)
	}
	if l.EstTotal != nil {
		h.Est = l.EstTotal.Pounds()
		h.Over = *l.EstTotal > 0
	}
	if l.EstPAs != nil {
		h.EstPAs = l.EstPAs.Pounds()
	}
	if l.EstSupplement != nil {
		h.EstSupp = l.EstSupplement.Pounds()
	}
	return h
}

func signed(s string) string {
	if s != "0" && !strings.HasPrefix(s, "-") {
		return "+" + s
	}
	return strings.Replace(s, "-", "−", 1)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return "band " + s
}

type htmlPage struct {
	Title, Generated                 string
	Over, Under                      string
	OverPAs, OverSupp                string
	UnderPAs, UnderSupp              string
	Counts                           map[string]int
	Total                            int
	Largest                          []htmlLine
	Misaligned                       []htmlLine
	MoreMisaligned                   int
	PlanOnly, PayrollOnly            []htmlLine
	MorePlanOnly, MorePayrollOnly    int
	Bins                             []bin
	Valued                           int
	Departments                      []deptRow
	DeptChart                        deptChart
	HasDepartments                   bool
	DepartmentColumn                 string
	Assumptions                      []string
	PlanFiles                        []string
	PlansRead, Superseded            int
	PayrollFile, PayrollConfig       string
	PayrollRows                      int
	TolerancePAs, TolerancePct       string
	Unvalued                         int
	ChartW, ChartH, AxisY, ZeroLineX int
	OverColour, UnderColour          string
}

// deptRow is one department in the table and the chart.
type deptRow struct {
	Name                              string
	Assignments, Misaligned, Unvalued int
	PayrollOnly                       int
	Over, Under, Net                  string
	NetOver                           bool
	// Chart geometry: the under-payment bar runs left from the axis, the
	// over-payment bar right.
	Y, TextY, UnderX, UnderW, OverW int
	Short                           string // Name, cut for the chart's label
}

type deptChart struct {
	W, H, AxisX, LabelX, Half int
}

// Department chart geometry: a row per department, labels on the left,
// a diverging bar either side of the axis.
const deptRowH, deptLabelW, deptHalf = 22, 230, 300

func (r *Result) departmentRows(limit int) ([]deptRow, deptChart) {
	ds := r.Departments
	var rest *Department
	if len(ds) > limit {
		rest = &Department{Name: fmt.Sprintf("the other %d departments", len(ds)-limit)}
		for _, d := range ds[limit:] {
			rest.Assignments += d.Assignments
			rest.Misaligned += d.Misaligned
			rest.PayrollOnly += d.PayrollOnly
			rest.Unvalued += d.Unvalued
			rest.Over += d.Over
			rest.Under += d.Under
		}
		ds = append(ds[:limit:limit], rest)
	}
	scale := int64(1)
	for _, d := range ds {
		scale = max(scale, int64(d.Over), int64(-d.Under))
	}
	chart := deptChart{W: deptLabelW + 2*deptHalf + 20, H: len(ds)*deptRowH + 10, AxisX: deptLabelW + deptHalf, LabelX: deptLabelW - 6, Half: deptHalf}
	rows := make([]deptRow, len(ds))
	for i, d := range ds {
		name := d.Name
		if name == "" && d != rest {
			name = "(blank)"
		}
		short := name
		if rs := []rune(short); len(rs) > 32 {
			short = string(rs[:31]) + "…"
		}
		under := int(int64(-d.Under) * deptHalf / scale)
		rows[i] = deptRow{Name: name, Short: short, Assignments: d.Assignments, Misaligned: d.Misaligned, Unvalued: d.Unvalued, PayrollOnly: d.PayrollOnly,
			Over: d.Over.Pounds(), Under: (-d.Under).Pounds(), Net: (d.Over + d.Under).Pounds(), NetOver: d.Over+d.Under > 0,
			Y: 5 + i*deptRowH, TextY: 5 + i*deptRowH + 15, UnderX: chart.AxisX - under, UnderW: under, OverW: int(int64(d.Over) * deptHalf / scale)}
	}
	return rows, chart
}

// WriteHTML writes reconcile.html: one self-contained page (no scripts,
// no external files) with the totals, the largest discrepancies, a chart
// of their distribution drawn in inline SVG, the breakdown by department
// when the extract has one, the misaligned and one-sided assignments (the
// first Options.MaxRows of each; reconcile.csv has them all) and the
// method and assumptions.
func (r *Result) WriteHTML(w io.Writer, o HTMLOptions) error {
	if o.Title == "" {
		o.Title = "Job plans and payroll: reconciliation"
	}
	if o.MaxDepartments <= 0 {
		o.MaxDepartments = 30
	}
	pg := htmlPage{
		Title: o.Title, Generated: o.Generated,
		Over: r.Over.Pounds(), Under: (-r.Under).Pounds(),
		OverPAs: r.OverPAs.Pounds(), OverSupp: r.OverSupplement.Pounds(),
		UnderPAs: (-r.UnderPAs).Pounds(), UnderSupp: (-r.UnderSupplement).Pounds(),
		Counts: r.Counts, Bins: r.bins(), Assumptions: r.Assumptions,
		PlansRead: r.Plans.Read, Superseded: r.Plans.Superseded,
		PayrollFile: filepath.Base(r.Payroll.Path), PayrollConfig: r.Config.Name, PayrollRows: r.Payroll.Rows,
		TolerancePAs: r.Options.TolerancePAs.String(), TolerancePct: r.Options.TolerancePct.String(),
		Unvalued: r.Unvalued, ChartW: chartLeft + 10*(chartBar+chartGap), ChartH: 256, AxisY: 190, ZeroLineX: chartLeft + 5*(chartBar+chartGap) - chartGap/2,
		OverColour: overColour, UnderColour: underColour,
		MoreMisaligned:  r.Counts[Misaligned] - len(r.Kept.Misaligned),
		MorePlanOnly:    r.Counts[PlanOnly] - len(r.Kept.PlanOnly),
		MorePayrollOnly: r.Counts[PayrollOnly] - len(r.Kept.PayrollOnly),
	}
	if r.Departments != nil {
		pg.HasDepartments, pg.DepartmentColumn = true, r.Config.Columns.Department
		pg.Departments, pg.DeptChart = r.departmentRows(o.MaxDepartments)
	}
	for _, f := range r.Plans.Files {
		pg.PlanFiles = append(pg.PlanFiles, filepath.Base(f))
	}
	for _, c := range r.Counts {
		pg.Total += c
	}
	views := func(ls []Line) []htmlLine {
		out := make([]htmlLine, len(ls))
		for i, l := range ls {
			out[i] = view(l)
		}
		return out
	}
	pg.Largest, pg.Misaligned = views(r.Largest), views(r.Kept.Misaligned)
	pg.PlanOnly, pg.PayrollOnly = views(r.Kept.PlanOnly), views(r.Kept.PayrollOnly)
	for _, b := range pg.Bins {
		pg.Valued += b.Count
	}
	return page.Execute(w, pg)
}

var page = template.Must(template.New("reconcile").Parse(`<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;margin:1.5em auto;max-width:76em;padding:0 1em;color:#212b32;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:2px solid #005eb8;padding-bottom:.2em}
.sub{color:#4c6272;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.card{border:1px solid #d8dde0;border-left:6px solid #768692;padding:.6em 1em;min-width:13em;background:#f7f9fa}
.card.over{border-left-color:{{.OverColour}}}.card.under{border-left-color:{{.UnderColour}}}
.card .n{font-size:1.5em;font-weight:bold;display:block}
.card .d{color:#4c6272;font-size:.9em}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.6em 0}
th,td{border:1px solid #d8dde0;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef2f4}td.num{text-align:right;white-space:nowrap}
td.who{min-width:9em;overflow-wrap:anywhere}td.notes{overflow-wrap:anywhere}
.overv{color:{{.OverColour}};font-weight:bold}.underv{color:{{.UnderColour}};font-weight:bold}
ol.method li{margin-bottom:.4em}
.note{color:#4c6272;font-size:.9em;overflow-wrap:anywhere}
.key{display:inline-block;width:.9em;height:.9em;vertical-align:-.1em;margin:0 .2em}.key.over{background:{{.OverColour}}}.key.under{background:{{.UnderColour}}}
svg{max-width:100%;height:auto}svg text{font-family:Arial,Helvetica,sans-serif}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">Latest job plan of each assignment compared with what payroll pays.{{if .Generated}} Generated {{.Generated}}.{{end}}</p>

<div class="cards">
<div class="card over"><span class="n">{{.Over}}</span><span class="d">estimated over-payment a year<br>PAs {{.OverPAs}}, supplement {{.OverSupp}}</span></div>
<div class="card under"><span class="n">{{.Under}}</span><span class="d">estimated under-payment a year<br>PAs {{.UnderPAs}}, supplement {{.UnderSupp}}</span></div>
<div class="card"><span class="n">{{index .Counts "misaligned"}} of {{.Total}}</span><span class="d">assignments misaligned beyond tolerance<br>(±{{.TolerancePAs}} PA, ±{{.TolerancePct}}% supplement)</span></div>
<div class="card"><span class="n">{{index .Counts "plan_only"}} + {{index .Counts "payroll_only"}}</span><span class="d">on one side only<br>(plan without payroll, payroll without plan)</span></div>
</div>
<p class="note">These are estimates, not amounts owed or to be recovered; basic pay and on-call supplement only. See <a href="#method">method and assumptions</a>.{{if .Unvalued}} {{.Unvalued}} misaligned assignment(s) have a difference not valued in pounds.{{end}} <span class="key over"></span>red: possible over-payment; <span class="key under"></span>blue: possible under-payment.</p>

<h2>Largest discrepancies</h2>
{{if .Largest}}<table>
<tr><th>Assignment</th><th>Name</th><th>PAs planned → paid</th><th>Supplement % planned → paid</th><th>Estimate a year</th><th>Notes</th></tr>
{{range .Largest}}<tr><td>{{.Assignment}}</td><td>{{.Name}}</td><td class="num">{{.PlannedPAs}} → {{.PaidPAs}} ({{.Delta}})</td><td class="num">{{if .HasPct}}{{.PlannedPct}} → {{.PaidPct}} ({{.DeltaPct}}){{else}}{{.Band}}{{end}}</td><td class="num {{if .Over}}overv{{else}}underv{{end}}">{{.Est}}</td><td class="notes">{{.Notes}}</td></tr>
{{end}}</table>{{else}}<p>No misalignment valued in pounds.</p>{{end}}

<h2>Distribution of the estimates</h2>
<p class="note">Number of misaligned assignments by estimated annual amount ({{.Valued}} valued). Red: possible over-payment; blue: possible under-payment.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.ChartW}}" height="{{.ChartH}}" viewBox="0 0 {{.ChartW}} {{.ChartH}}" role="img" aria-label="Bar chart of the number of assignments by estimated annual over- or under-payment">
<line x1="36" y1="{{.AxisY}}" x2="{{.ChartW}}" y2="{{.AxisY}}" stroke="#4c6272"/>
<line x1="{{.ZeroLineX}}" y1="10" x2="{{.ZeroLineX}}" y2="{{.AxisY}}" stroke="#aeb7bd" stroke-dasharray="4 3"/>
{{range .Bins}}<rect x="{{.X}}" y="{{.Y}}" width="60" height="{{.H}}" fill="{{if .Over}}{{$.OverColour}}{{else}}{{$.UnderColour}}{{end}}"><title>{{.Label}}: {{.Count}}</title></rect>
{{if .HasCount}}<text x="{{.LabelX}}" y="{{.CountY}}" font-size="12" text-anchor="middle">{{.Count}}</text>
{{end}}<text x="{{.LabelX}}" y="205" font-size="11" text-anchor="middle">{{.Label1}}</text><text x="{{.LabelX}}" y="219" font-size="11" text-anchor="middle">{{.Label2}}</text>
{{end}}<text x="{{.ZeroLineX}}" y="246" font-size="12" text-anchor="middle" fill="#4c6272">← under-paid | over-paid →</text>
</svg>
{{if .HasDepartments}}
<h2 id="departments">By department</h2>
<p class="note">Estimated over- and under-payments a year by the payroll extract's {{.DepartmentColumn}} column, largest first. Assignments with a plan but no payroll row have no department and are not counted here.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.DeptChart.W}}" height="{{.DeptChart.H}}" viewBox="0 0 {{.DeptChart.W}} {{.DeptChart.H}}" role="img" aria-label="Bar chart of the estimated over- and under-payments by department">
<line x1="{{.DeptChart.AxisX}}" y1="0" x2="{{.DeptChart.AxisX}}" y2="{{.DeptChart.H}}" stroke="#4c6272"/>
{{range .Departments}}<text x="{{$.DeptChart.LabelX}}" y="{{.TextY}}" font-size="12" text-anchor="end"><title>{{.Name}}</title>{{.Short}}</text>
<rect x="{{.UnderX}}" y="{{.Y}}" width="{{.UnderW}}" height="16" fill="{{$.UnderColour}}"><title>{{.Name}}: under-payment {{.Under}}</title></rect>
<rect x="{{$.DeptChart.AxisX}}" y="{{.Y}}" width="{{.OverW}}" height="16" fill="{{$.OverColour}}"><title>{{.Name}}: over-payment {{.Over}}</title></rect>
{{end}}</svg>
<div class="wrap"><table>
<tr><th>{{.DepartmentColumn}}</th><th>Assignments compared</th><th>Misaligned</th><th>In payroll, no plan</th><th>Over-payment a year</th><th>Under-payment a year</th><th>Net a year</th></tr>
{{range .Departments}}<tr><td class="who">{{.Name}}</td><td class="num">{{.Assignments}}</td><td class="num">{{.Misaligned}}{{if .Unvalued}} ({{.Unvalued}} not valued){{end}}</td><td class="num">{{.PayrollOnly}}</td><td class="num overv">{{.Over}}</td><td class="num underv">{{.Under}}</td><td class="num {{if .NetOver}}overv{{else}}underv{{end}}">{{.Net}}</td></tr>
{{end}}</table></div>
{{end}}
<h2 id="misaligned">Misaligned assignments</h2>
{{if .Misaligned}}<div class="wrap"><table>
<tr><th>Assignment</th><th>Plan</th><th>PAs planned → paid</th><th>Supplement planned → paid</th><th>PAs £</th><th>Supplement £</th><th>Total £ a year</th><th>Notes</th></tr>
{{range .Misaligned}}<tr><td class="who">{{.Assignment}}{{with .Name}}<br>{{.}}{{end}}{{if .Employee}}<br><span class="note">employee {{.Employee}}</span>{{end}}</td><td>{{.Plan.EffectiveDate}}<br><span class="note">{{.Plan.Source}}</span></td><td class="num">{{.PlannedPAs}} → {{.PaidPAs}}<br>({{.Delta}})</td><td class="num">{{if .HasPct}}{{.PlannedPct}}% → {{.PaidPct}}%<br>({{.DeltaPct}}){{end}}{{if and .HasPct .Band}}<br>{{end}}{{with .Band}}Welsh {{.}}{{end}}</td><td class="num">{{.EstPAs}}</td><td class="num">{{.EstSupp}}</td><td class="num {{if .Over}}overv{{else}}underv{{end}}">{{.Est}}</td><td class="notes">{{.Notes}}</td></tr>
{{end}}</table></div>{{if .MoreMisaligned}}<p class="note">… and {{.MoreMisaligned}} more in reconcile.csv, which lists every assignment.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2>On one side only</h2>
<h3>Job plan, not in payroll ({{index .Counts "plan_only"}})</h3>
{{if .PlanOnly}}<table><tr><th>Assignment</th><th>Employee</th><th>Plan effective</th><th>PAs planned</th><th>From</th></tr>
{{range .PlanOnly}}<tr><td>{{.Assignment}}</td><td>{{.Employee}}</td><td>{{.Plan.EffectiveDate}}</td><td class="num">{{.PlannedPAs}}</td><td class="note">{{.Plan.Source}}</td></tr>
{{end}}</table>{{if .MorePlanOnly}}<p class="note">… and {{.MorePlanOnly}} more in reconcile.csv.</p>{{end}}{{else}}<p>None.</p>{{end}}
<h3>In payroll, no job plan ({{index .Counts "payroll_only"}})</h3>
{{if .PayrollOnly}}<table><tr><th>Assignment</th><th>Employee</th><th>Name</th><th>PAs paid</th><th>Payroll line</th></tr>
{{range .PayrollOnly}}<tr><td>{{.Assignment}}</td><td>{{.Employee}}</td><td>{{.Name}}</td><td class="num">{{.PaidPAs}}</td><td class="note">{{.Pay.Line}}</td></tr>
{{end}}</table>{{if .MorePayrollOnly}}<p class="note">… and {{.MorePayrollOnly}} more in reconcile.csv.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2 id="method">Method and assumptions</h2>
<ol class="method">
{{range .Assumptions}}<li>{{.}}</li>
{{end}}</ol>

<h2>Inputs</h2>
<ul>
<li>Job-plan files: {{range $i, $f := .PlanFiles}}{{if $i}}, {{end}}{{$f}}{{end}} ({{.PlansRead}} plans read, {{.Superseded}} replaced by a later plan of the same assignment)</li>
<li>Payroll extract: {{.PayrollFile}} ({{.PayrollRows}} rows), read with configuration {{.PayrollConfig}}</li>
</ul>
</body>
</html>
`))
