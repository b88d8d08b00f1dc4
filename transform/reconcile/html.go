package reconcile

import (
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strings"
)

// HTMLOptions tune reconcile.html.
type HTMLOptions struct {
	Largest int    // rows in "largest discrepancies" (default 15)
	MaxRows int    // rows in the full table of misaligned assignments (default 500)
	Title   string // default "Job plans and payroll: reconciliation"
	// Generated is printed as the time of the run ("" to leave it out, as
	// the golden files do).
	Generated string
}

// bin is one bar of the distribution chart.
type bin struct {
	Label    string
	Label1   string // Label on two lines, for the axis
	Label2   string
	Lo, Hi   int64 // pence, [Lo, Hi)
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

func (r *Result) bins() []bin {
	const inf = int64(1) << 62
	edges := append(append([]int64{-inf}, binEdges...), inf)
	var bins []bin
	for i := 0; i+1 < len(edges); i++ {
		lo, hi := edges[i], edges[i+1]
		b := bin{Lo: lo * 100, Hi: hi * 100, Over: lo >= 0}
		switch {
		case lo == -inf:
			b.Label1, b.Label2 = "below", money(hi)
		case hi == inf:
			b.Label1, b.Label2 = money(lo), "or more"
		default:
			b.Label1, b.Label2 = money(lo)+" to", money(hi)
		}
		b.Label = b.Label1 + " " + b.Label2
		bins = append(bins, b)
	}
	for _, l := range r.Lines {
		if l.Status != Misaligned || l.EstTotal == nil {
			continue
		}
		v := int64(*l.EstTotal)
		for i := range bins {
			// Under-payments fall in (lo, hi], over-payments in [lo, hi),
			// so −£1,000 and +£1,000 land in mirror-image bars.
			if (v < 0 && v > bins[i].Lo && v <= bins[i].Hi) || (v >= 0 && v >= bins[i].Lo && v < bins[i].Hi) {
				bins[i].Count++
				break
			}
		}
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
	Summary                          []string
	Over, Under, Net                 string
	OverPAs, OverSupp                string
	UnderPAs, UnderSupp              string
	Counts                           map[string]int
	Total                            int
	Largest                          []htmlLine
	Misaligned                       []htmlLine
	MoreMisaligned                   int
	PlanOnly, PayrollOnly            []htmlLine
	Bins                             []bin
	Valued                           int
	Assumptions                      []string
	PlanFiles                        []string
	PlansRead, Superseded            int
	PayrollFile, PayrollConfig       string
	PayrollRows                      int
	TolerancePAs, TolerancePct       string
	Unvalued                         int
	ChartW, ChartH, AxisY, ZeroLineX int
}

// WriteHTML writes reconcile.html: one self-contained page (no scripts,
// no external files) with the totals, the largest discrepancies, a chart
// of their distribution drawn in inline SVG, the one-sided assignments and
// the method and assumptions.
func (r *Result) WriteHTML(w io.Writer, o HTMLOptions) error {
	if o.Largest == 0 {
		o.Largest = 15
	}
	if o.MaxRows == 0 {
		o.MaxRows = 500
	}
	if o.Title == "" {
		o.Title = "Job plans and payroll: reconciliation"
	}
	pg := htmlPage{
		Title: o.Title, Generated: o.Generated, Summary: r.Summary(),
		Over: r.Over.Pounds(), Under: (-r.Under).Pounds(), Net: (r.Over + r.Under).Pounds(),
		OverPAs: r.OverPAs.Pounds(), OverSupp: r.OverSupplement.Pounds(),
		UnderPAs: (-r.UnderPAs).Pounds(), UnderSupp: (-r.UnderSupplement).Pounds(),
		Counts: r.Counts, Bins: r.bins(), Assumptions: r.Assumptions,
		PlansRead: r.Plans.Read, Superseded: r.Plans.Superseded,
		PayrollFile: filepath.Base(r.Payroll.Path), PayrollConfig: r.Config.Name, PayrollRows: r.Payroll.Rows,
		TolerancePAs: r.Options.TolerancePAs.String(), TolerancePct: r.Options.TolerancePct.String(),
		Unvalued: r.Unvalued, ChartW: chartLeft + 10*(chartBar+chartGap), ChartH: 256, AxisY: 190, ZeroLineX: chartLeft + 5*(chartBar+chartGap) - chartGap/2,
	}
	for _, f := range r.Plans.Files {
		pg.PlanFiles = append(pg.PlanFiles, filepath.Base(f))
	}
	for _, c := range r.Counts {
		pg.Total += c
	}
	for _, l := range r.Largest(o.Largest) {
		pg.Largest = append(pg.Largest, view(l))
	}
	for _, b := range pg.Bins {
		pg.Valued += b.Count
	}
	for _, l := range r.Lines {
		switch l.Status {
		case Misaligned:
			if len(pg.Misaligned) < o.MaxRows {
				pg.Misaligned = append(pg.Misaligned, view(l))
			} else {
				pg.MoreMisaligned++
			}
		case PlanOnly:
			pg.PlanOnly = append(pg.PlanOnly, view(l))
		case PayrollOnly:
			pg.PayrollOnly = append(pg.PayrollOnly, view(l))
		}
	}
	return page.Execute(w, pg)
}

var page = template.Must(template.New("reconcile").Parse(`<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#212b32;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:2px solid #005eb8;padding-bottom:.2em}
.sub{color:#4c6272;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.card{border:1px solid #d8dde0;border-left:6px solid #005eb8;padding:.6em 1em;min-width:13em;background:#f7f9fa}
.card.over{border-left-color:#d5281b}.card.under{border-left-color:#007f3b}
.card .n{font-size:1.5em;font-weight:bold;display:block}
.card .d{color:#4c6272;font-size:.9em}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.6em 0}
th,td{border:1px solid #d8dde0;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef2f4}td.num{text-align:right;white-space:nowrap}
.overv{color:#d5281b;font-weight:bold}.underv{color:#007f3b;font-weight:bold}
ol.method li{margin-bottom:.4em}
.note{color:#4c6272;font-size:.9em}
svg text{font-family:Arial,Helvetica,sans-serif}
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
<p class="note">These are estimates, not amounts owed or to be recovered; basic pay and on-call supplement only. See <a href="#method">method and assumptions</a>.{{if .Unvalued}} {{.Unvalued}} misaligned assignment(s) have a difference not valued in pounds.{{end}}</p>

<h2>Largest discrepancies</h2>
{{if .Largest}}<table>
<tr><th>Assignment</th><th>Name</th><th>PAs planned → paid</th><th>Supplement % planned → paid</th><th>Estimate a year</th><th>Notes</th></tr>
{{range .Largest}}<tr><td>{{.Assignment}}</td><td>{{.Name}}</td><td class="num">{{.PlannedPAs}} → {{.PaidPAs}} ({{.Delta}})</td><td class="num">{{if .HasPct}}{{.PlannedPct}} → {{.PaidPct}} ({{.DeltaPct}}){{else}}{{.Band}}{{end}}</td><td class="num {{if .Over}}overv{{else}}underv{{end}}">{{.Est}}</td><td>{{.Notes}}</td></tr>
{{end}}</table>{{else}}<p>No misalignment valued in pounds.</p>{{end}}

<h2>Distribution of the estimates</h2>
<p class="note">Number of misaligned assignments by estimated annual amount ({{.Valued}} valued). Red: possible over-payment; green: possible under-payment.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.ChartW}}" height="{{.ChartH}}" viewBox="0 0 {{.ChartW}} {{.ChartH}}" role="img" aria-label="Bar chart of the number of assignments by estimated annual over- or under-payment">
<line x1="36" y1="{{.AxisY}}" x2="{{.ChartW}}" y2="{{.AxisY}}" stroke="#4c6272"/>
<line x1="{{.ZeroLineX}}" y1="10" x2="{{.ZeroLineX}}" y2="{{.AxisY}}" stroke="#aeb7bd" stroke-dasharray="4 3"/>
{{range .Bins}}<rect x="{{.X}}" y="{{.Y}}" width="60" height="{{.H}}" fill="{{if .Over}}#d5281b{{else}}#007f3b{{end}}"><title>{{.Label}}: {{.Count}}</title></rect>
{{if .HasCount}}<text x="{{.LabelX}}" y="{{.CountY}}" font-size="12" text-anchor="middle">{{.Count}}</text>
{{end}}<text x="{{.LabelX}}" y="205" font-size="11" text-anchor="middle">{{.Label1}}</text><text x="{{.LabelX}}" y="219" font-size="11" text-anchor="middle">{{.Label2}}</text>
{{end}}<text x="{{.ZeroLineX}}" y="246" font-size="12" text-anchor="middle" fill="#4c6272">← under-paid | over-paid →</text>
</svg>

<h2>Misaligned assignments</h2>
{{if .Misaligned}}<div class="wrap"><table>
<tr><th>Assignment</th><th>Employee</th><th>Name</th><th>Plan</th><th>PAs planned → paid</th><th>Supplement % planned → paid</th><th>Welsh band</th><th>PAs £</th><th>Supplement £</th><th>Total £ a year</th><th>Notes</th></tr>
{{range .Misaligned}}<tr><td>{{.Assignment}}</td><td>{{.Employee}}</td><td>{{.Name}}</td><td>{{.Plan.EffectiveDate}}<br><span class="note">{{.Plan.Source}}</span></td><td class="num">{{.PlannedPAs}} → {{.PaidPAs}} ({{.Delta}})</td><td class="num">{{if .HasPct}}{{.PlannedPct}} → {{.PaidPct}} ({{.DeltaPct}}){{end}}</td><td>{{.Band}}</td><td class="num">{{.EstPAs}}</td><td class="num">{{.EstSupp}}</td><td class="num {{if .Over}}overv{{else}}underv{{end}}">{{.Est}}</td><td>{{.Notes}}</td></tr>
{{end}}</table></div>{{if .MoreMisaligned}}<p class="note">… and {{.MoreMisaligned}} more in reconcile.csv.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2>On one side only</h2>
<h3>Job plan, not in payroll ({{len .PlanOnly}})</h3>
{{if .PlanOnly}}<table><tr><th>Assignment</th><th>Employee</th><th>Plan effective</th><th>PAs planned</th><th>From</th></tr>
{{range .PlanOnly}}<tr><td>{{.Assignment}}</td><td>{{.Employee}}</td><td>{{.Plan.EffectiveDate}}</td><td class="num">{{.PlannedPAs}}</td><td class="note">{{.Plan.Source}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h3>In payroll, no job plan ({{len .PayrollOnly}})</h3>
{{if .PayrollOnly}}<table><tr><th>Assignment</th><th>Employee</th><th>Name</th><th>PAs paid</th><th>Payroll line</th></tr>
{{range .PayrollOnly}}<tr><td>{{.Assignment}}</td><td>{{.Employee}}</td><td>{{.Name}}</td><td class="num">{{.PaidPAs}}</td><td class="note">{{.Pay.Line}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}

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
