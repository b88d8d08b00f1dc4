package reconcile

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/validate"
)

// Status of one assignment.
const (
	Aligned     = "aligned"      // both sides agree within tolerance
	Misaligned  = "misaligned"   // PAs or supplement differ beyond tolerance
	PlanOnly    = "plan_only"    // a plan but no payroll row
	PayrollOnly = "payroll_only" // a payroll row but no plan
)

// Options are the tolerances (differences no larger are treated as none)
// and how much of the result is kept for reconcile.html; every line goes to
// the caller's function (reconcile.csv) whatever is kept.
type Options struct {
	TolerancePAs decimal.Dec // default 0.01 (set by the caller)
	TolerancePct decimal.Dec // default 0
	Largest      int         // misaligned lines kept as the largest (default 15)
	MaxRows      int         // lines kept of each of misaligned, plan only, payroll only (default 500)
	Progress     Progress    // nil for none
}

func (o Options) withDefaults() Options {
	if o.Largest <= 0 {
		o.Largest = 15
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 500
	}
	return o
}

// Pence is an amount of money in pence (exact; totals of any size).
type Pence int64

// String formats p as pounds with two places, e.g. -3000.00.
func (p Pence) String() string {
	sign := ""
	v := int64(p)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Pounds formats p for people: £10,000.00, −£3,000.00.
func (p Pence) Pounds() string {
	s := Pence(abs(int64(p))).String()
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	sign := ""
	if p < 0 {
		sign = "−"
	}
	return sign + "£" + b.String() + "." + frac
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Line is the comparison of one assignment.
type Line struct {
	Assignment string
	Employee   string
	Name       string
	Status     string
	Plan       *Plan // nil for payroll_only
	Pay        *Pay  // nil for plan_only

	PlannedPAs, PaidPAs, DeltaPAs decimal.Dec
	// Supplement in % of full-time basic; for Welsh plans the band's % when
	// configured. HasPct is false when no % could be set against the plan
	// (a Welsh band without configured percentages).
	PlannedPct, PaidPct, DeltaPct decimal.Dec
	HasPct                        bool
	PlannedBand, PaidBand         string // Welsh bands, "" for none
	PAsDiffer, SupplementDiffers  bool

	FullTimeBasic *decimal.Dec // basic ÷ FTE (or basic)
	PAValue       *Pence       // £ a year of one PA
	// Estimates of the annual over- (+) or under- (−) payment; nil when
	// they cannot be made (no salary, a band without a %).
	EstPAs, EstSupplement, EstTotal *Pence
	Notes                           []string
}

// Result is a whole reconciliation: its totals, and the lines
// reconcile.html shows (every line goes to Reconcile's caller).
type Result struct {
	// Counts by status.
	Counts map[string]int
	// Totals of the estimates: over-payments (+), under-payments (−).
	Over, Under Pence
	// Components of the totals.
	OverPAs, UnderPAs, OverSupplement, UnderSupplement Pence
	// Misaligned lines with a difference not valued in pounds.
	Unvalued int

	// Largest are the misaligned lines with the largest estimates, largest
	// first (Options.Largest of them).
	Largest []Line
	// Kept are the first Options.MaxRows lines of each status the page
	// lists, by assignment.
	Kept struct{ Misaligned, PlanOnly, PayrollOnly []Line }
	// Histogram counts the valued misaligned lines by estimate: bar i holds
	// the estimates up to binEdges[i] (html.go, binOf).
	Histogram []int
	// Departments break the totals down by the payroll extract's department
	// column (Config.Columns.Department), largest differences first; nil
	// when there is none.
	Departments []*Department

	Options     Options
	Config      *Config
	Plans       *Plans
	Payroll     *Payroll
	Assumptions []string

	largest lineHeap
	depts   map[string]*Department
}

// Department is one department's (or cost centre's) share of the result.
type Department struct {
	Name        string // "" for rows with the column blank
	Assignments int    // payroll rows compared
	Misaligned  int
	PayrollOnly int
	Unvalued    int
	Over, Under Pence
}

// maxDepartments bounds the departments told apart; beyond it the rest are
// counted together (OtherDepartments), so memory stays bounded.
const maxDepartments = 5000

// OtherDepartments names the departments counted together beyond
// maxDepartments.
const OtherDepartments = "(other departments)"

// Misaligned reports whether anything is out of line beyond tolerance,
// including assignments on one side only.
func (r *Result) Misaligned() bool {
	return r.Counts[Misaligned]+r.Counts[PlanOnly]+r.Counts[PayrollOnly] > 0
}

// ReadingError means the payroll configuration declares a different APA
// reading from the one the plans were converted under: PAs planned would
// be computed wrongly, so nothing is reconciled.
type ReadingError struct {
	Config, Plans validate.APAReading
	ConfigName    string // the payroll configuration
	PlansFrom     string // how the plans' reading is known
}

func (e *ReadingError) Error() string {
	return fmt.Sprintf("%s: declares apa_reading %s, but the job plans were converted under %s (%s); PAs planned would be wrong. Make the two agree: set apa_reading: %s in the payroll configuration if that is what the plans' total holds, or convert the plans again under the reading payroll uses", e.ConfigName, e.Config, e.Plans, e.PlansFrom, e.Plans)
}

// Reconcile compares every assignment's latest plan with its payroll row,
// in assignment order, and calls each (when not nil) with every line.
// Memory is bounded: the inputs are read in order from their sorts, and
// the result keeps only what reconcile.html shows. It refuses (*ReadingError)
// when c declares another APA reading than the plans' (plans.Reading; ""
// for plans read without one means c's).
func Reconcile(ctx context.Context, plans *Plans, pay *Payroll, c *Config, opts Options, each func(*Line) error) (*Result, error) {
	if plans.Reading != "" && plans.Reading != c.APAReading {
		return nil, &ReadingError{Config: c.APAReading, Plans: plans.Reading, ConfigName: c.Name, PlansFrom: plans.ReadingFrom}
	}
	opts = opts.withDefaults()
	res := &Result{Counts: map[string]int{}, Histogram: make([]int, len(binEdges)+1), Options: opts, Config: c, Plans: plans, Payroll: pay}
	if c.Columns.Department != "" {
		res.depts = map[string]*Department{}
	}
	stage(opts.Progress, "comparing", int64(plans.Read+pay.Rows), false)
	groups, err := plans.groups()
	if err != nil {
		return nil, err
	}
	payIt, err := pay.sorted.Sorted()
	if err != nil {
		return nil, err
	}
	plan, err := groups.next()
	if err != nil {
		return nil, err
	}
	var row *Pay
	var rowAsg []byte
	nextRow := func() error {
		row, rowAsg = nil, nil
		if payIt.Next() {
			row = &Pay{}
			if err := decodePay(payIt.Record(), row); err != nil {
				return err
			}
			rowAsg = []byte(row.AssignmentNumber)
		}
		return payIt.Err()
	}
	if err := nextRow(); err != nil {
		return nil, err
	}
	done, told := 0, 0
	for n := 0; plan != nil || row != nil; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if opts.Progress != nil {
				now := groups.read + done
				opts.Progress.Add(int64(now - told))
				told = now
			}
		}
		var p *Plan
		var y *Pay
		var asg string
		switch {
		case row == nil:
			p, asg = plan, plan.AssignmentNumber
		case plan == nil:
			y, asg = row, row.AssignmentNumber
		default:
			switch c := bytes.Compare([]byte(plan.AssignmentNumber), rowAsg); {
			case c < 0:
				p, asg = plan, plan.AssignmentNumber
			case c > 0:
				y, asg = row, row.AssignmentNumber
			default:
				p, y, asg = plan, row, plan.AssignmentNumber
			}
		}
		l := compare(asg, p, y, c, opts)
		res.add(&l)
		if each != nil {
			if err := each(&l); err != nil {
				return nil, err
			}
		}
		if p != nil {
			if plan, err = groups.next(); err != nil {
				return nil, err
			}
		}
		if y != nil {
			done++
			if err := nextRow(); err != nil {
				return nil, err
			}
		}
	}
	if opts.Progress != nil {
		opts.Progress.Add(int64(groups.read + done - told))
	}
	res.finish()
	res.Assumptions = assumptions(c, opts)
	return res, nil
}

// add counts one line into the totals and keeps what the page shows.
func (r *Result) add(l *Line) {
	r.Counts[l.Status]++
	add := func(e *Pence, over, under *Pence) {
		if e == nil {
			return
		}
		if *e > 0 {
			*over += *e
		} else {
			*under += *e
		}
	}
	add(l.EstTotal, &r.Over, &r.Under)
	add(l.EstPAs, &r.OverPAs, &r.UnderPAs)
	add(l.EstSupplement, &r.OverSupplement, &r.UnderSupplement)
	if l.PartlyValued() {
		r.Unvalued++
	}
	keep := func(list *[]Line) {
		if len(*list) < r.Options.MaxRows {
			*list = append(*list, *l)
		}
	}
	switch l.Status {
	case Misaligned:
		keep(&r.Kept.Misaligned)
		if l.EstTotal != nil {
			r.Histogram[binOf(int64(*l.EstTotal))]++
			if *l.EstTotal != 0 {
				r.largest.offer(l, r.Options.Largest)
			}
		}
	case PlanOnly:
		keep(&r.Kept.PlanOnly)
	case PayrollOnly:
		keep(&r.Kept.PayrollOnly)
	}
	if r.depts != nil && l.Pay != nil {
		d := r.department(l.Pay.Department)
		switch l.Status {
		case PayrollOnly:
			d.PayrollOnly++
		default:
			d.Assignments++
		}
		if l.Status == Misaligned {
			d.Misaligned++
		}
		if l.PartlyValued() {
			d.Unvalued++
		}
		add(l.EstTotal, &d.Over, &d.Under)
	}
}

func (r *Result) department(name string) *Department {
	if d := r.depts[name]; d != nil {
		return d
	}
	if len(r.depts) >= maxDepartments {
		name = OtherDepartments
		if d := r.depts[name]; d != nil {
			return d
		}
	}
	d := &Department{Name: name}
	r.depts[name] = d
	return d
}

// finish orders what was kept.
func (r *Result) finish() {
	r.Largest = r.largest.sorted()
	if r.depts == nil {
		return
	}
	for _, d := range r.depts {
		r.Departments = append(r.Departments, d)
	}
	slices.SortFunc(r.Departments, func(a, b *Department) int {
		if c := cmp.Compare(int64(b.Over-b.Under), int64(a.Over-a.Under)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// lineHeap keeps the misaligned lines with the largest estimates: a
// min-heap whose top is the one to drop first (the smallest estimate; of
// equal ones the later assignment, as lines come in assignment order).
type lineHeap []Line

func absEst(l *Line) int64 { return abs(int64(*l.EstTotal)) }

// offer keeps l if it is among the n largest so far. Lines come in
// assignment order, so l loses a tie with one already kept.
func (h *lineHeap) offer(l *Line, n int) {
	if len(*h) < n {
		*h = append(*h, *l)
		h.up(len(*h) - 1)
		return
	}
	if absEst(l) <= absEst(&(*h)[0]) {
		return
	}
	(*h)[0] = *l
	h.down(0)
}

// less: a is dropped before b.
func (h lineHeap) less(i, j int) bool {
	a, b := absEst(&h[i]), absEst(&h[j])
	if a != b {
		return a < b
	}
	return h[i].Assignment > h[j].Assignment
}

func (h lineHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h lineHeap) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(h) && h.less(l, small) {
			small = l
		}
		if l+1 < len(h) && h.less(l+1, small) {
			small = l + 1
		}
		if small == i {
			return
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
}

// sorted returns the lines kept, largest first, ties by assignment.
func (h lineHeap) sorted() []Line {
	out := slices.Clone(h)
	slices.SortFunc(out, func(a, b Line) int {
		if c := cmp.Compare(absEst(&b), absEst(&a)); c != 0 {
			return c
		}
		return strings.Compare(a.Assignment, b.Assignment)
	})
	return out
}

func compare(asg string, p *Plan, pay *Pay, c *Config, opts Options) Line {
	l := Line{Assignment: asg, Plan: p, Pay: pay}
	if p != nil {
		l.Employee = p.EmployeeNumber
		// Both are within a week's PAs (ReadPlans): the sum cannot fail.
		l.PlannedPAs, _ = c.APAReading.AllPAs(p.Total, p.APA)
	}
	if pay != nil {
		if pay.EmployeeNumber != "" {
			l.Employee = pay.EmployeeNumber
		}
		l.Name = pay.Name
		l.PaidPAs = pay.PAs
	}
	switch {
	case p == nil:
		l.Status = PayrollOnly
		l.Notes = append(l.Notes, "no job plan for this assignment in the job-plan files")
		return l
	case pay == nil:
		l.Status = PlanOnly
		l.Notes = append(l.Notes, "not in the payroll extract")
		return l
	}
	if p.EmployeeNumber != "" && pay.EmployeeNumber != "" && p.EmployeeNumber != pay.EmployeeNumber {
		l.Notes = append(l.Notes, fmt.Sprintf("employee number %s in the plan, %s in payroll", p.EmployeeNumber, pay.EmployeeNumber))
	}
	l.DeltaPAs = l.PaidPAs - l.PlannedPAs
	l.PAsDiffer = l.DeltaPAs.Abs() > opts.TolerancePAs

	// Supplement.
	welsh := p.isWelsh()
	if welsh || pay.WalesBand != nil {
		l.PlannedBand, l.PaidBand = bandText(p.WalesBand), bandText(pay.WalesBand)
	}
	var planned, paid *decimal.Dec
	switch {
	case welsh:
		if l.PlannedBand != l.PaidBand {
			l.SupplementDiffers = true
		}
		if pay.SupplementPct != nil && *pay.SupplementPct != 0 {
			l.SupplementDiffers = true
			l.Notes = append(l.Notes, "Welsh plan (on-call band) but payroll pays a percentage supplement")
		}
		planned, paid = bandPct(p.WalesBand, c), bandPct(pay.WalesBand, c)
		if paid != nil && pay.SupplementPct != nil {
			v := *paid + *pay.SupplementPct
			paid = &v
		}
		if l.SupplementDiffers && (planned == nil || paid == nil) {
			l.Notes = append(l.Notes, "Welsh band percentages not configured (wales_band_pct): the band difference is not valued")
		}
	default:
		zero := decimal.Dec(0)
		planned, paid = &zero, &zero
		if p.SupplementPct != nil {
			planned = p.SupplementPct
		}
		if pay.SupplementPct != nil {
			paid = pay.SupplementPct
		}
		if pay.WalesBand != nil {
			l.SupplementDiffers = true
			l.Notes = append(l.Notes, "English/SAS plan (percentage supplement) but payroll pays a Welsh band")
			if bp := bandPct(pay.WalesBand, c); bp != nil {
				v := *paid + *bp
				paid = &v
			} else {
				paid = nil
			}
		}
	}
	if planned != nil && paid != nil {
		l.HasPct = true
		l.PlannedPct, l.PaidPct = *planned, *paid
		l.DeltaPct = l.PaidPct - l.PlannedPct
		if l.DeltaPct.Abs() > opts.TolerancePct {
			l.SupplementDiffers = true
		}
	}
	if l.PAsDiffer || l.SupplementDiffers {
		l.Status = Misaligned
	} else {
		l.Status = Aligned
	}

	// Money.
	if pay.Basic == nil {
		if l.Status == Misaligned {
			l.Notes = append(l.Notes, "no basic salary in payroll: not valued")
		}
		return l
	}
	ft := *pay.Basic
	if pay.FTE != nil && *pay.FTE > 0 {
		var err error
		if ft, err = pay.Basic.Div(*pay.FTE); err != nil {
			l.Notes = append(l.Notes, fmt.Sprintf("basic salary %s ÷ FTE %s is too large: not valued", pay.Basic, pay.FTE))
			return l
		}
	} else if c.Columns.FTE != "" {
		l.Notes = append(l.Notes, "FTE blank or 0: basic salary taken as full-time")
	}
	ft = roundPence(ft)
	l.FullTimeBasic = &ft
	base := ft
	if c.PAValueBasis == BasisBasic {
		base = *pay.Basic
	}
	pv := toPence(ratio(int64(base), int64(*c.FullTimePAs)))
	l.PAValue = &pv
	if l.Status != Misaligned {
		return l
	}
	var total Pence
	valued := false
	if l.PAsDiffer {
		// ΔPA × base ÷ full-time PAs
		e := toPence(new(big.Rat).Mul(ratio(int64(l.DeltaPAs), decimal.Scale), ratio(int64(base), int64(*c.FullTimePAs))))
		l.EstPAs = &e
		total += e
		valued = true
	}
	if l.SupplementDiffers && l.HasPct {
		// Δ% ÷ 100 × full-time basic
		e := toPence(new(big.Rat).Mul(ratio(int64(l.DeltaPct), 100*decimal.Scale), ratio(int64(ft), decimal.Scale)))
		l.EstSupplement = &e
		total += e
		valued = true
	}
	if valued {
		l.EstTotal = &total
	}
	return l
}

// PartlyValued reports whether a misaligned line has a difference the
// estimate leaves out (a Welsh band without configured percentages, or no
// basic salary).
func (l *Line) PartlyValued() bool {
	if l.Status != Misaligned {
		return false
	}
	return l.EstTotal == nil || (l.SupplementDiffers && !l.HasPct)
}

func bandText(b *decimal.Dec) string {
	if b == nil || *b == 0 {
		return ""
	}
	return b.String()
}

func bandPct(b *decimal.Dec, c *Config) *decimal.Dec {
	if b == nil || *b == 0 {
		zero := decimal.Dec(0)
		return &zero
	}
	if !b.IsWhole() {
		return nil
	}
	if v, ok := c.WalesBandPct[int(int64(*b)/decimal.Scale)]; ok {
		return &v
	}
	return nil
}

// ratio is a/b as an exact rational.
func ratio(a, b int64) *big.Rat { return new(big.Rat).SetFrac64(a, b) }

// toPence rounds pounds r to pence, half away from zero.
func toPence(r *big.Rat) Pence {
	p := new(big.Rat).Mul(r, big.NewRat(100, 1))
	num, den := new(big.Int).Set(p.Num()), p.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Lsh(m, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return Pence(q.Int64())
}

// roundPence rounds a decimal amount of pounds to whole pence.
func roundPence(d decimal.Dec) decimal.Dec {
	return decimal.Dec(int64(toPence(ratio(int64(d), decimal.Scale))) * (decimal.Scale / 100))
}

// assumptions states the method in plain words, for both outputs.
func assumptions(c *Config, opts Options) []string {
	ft := c.FullTimePAs.String()
	pa := fmt.Sprintf("One PA (or Welsh session) a week is worth full-time basic salary ÷ %s a year, where full-time basic salary = basic salary ÷ FTE (the basic salary itself when FTE is blank or 0). So a PA has the same value for full- and part-time doctors on the same pay point.", ft)
	if c.PAValueBasis == BasisBasic {
		pa = fmt.Sprintf("One PA (or Welsh session) a week is worth basic salary as paid ÷ %s a year (pa_value_basis: basic). For a doctor whose FTE is not 1 this misvalues a PA, as the basic salary is already pro rata.", ft)
	}
	apa := "PAs planned = total contracted PAs, which includes the APAs (apa_reading: in_total, the reading the plans were converted under)."
	if c.APAReading == validate.APAOutsideTotal {
		apa = "PAs planned = total contracted PAs + APAs, as the plans' total leaves the APAs out (apa_reading: outside_total, the reading the plans were converted under); payroll pays both."
	}
	wales := "Welsh on-call bands are compared as bands. Their percentages are not published, so a band difference is reported but not valued in pounds."
	if len(c.WalesBandPct) > 0 {
		wales = "Welsh on-call bands are valued at the percentages given in the payroll configuration (wales_band_pct), which are local settings, not published rates."
	}
	return []string{
		"The pound figures are estimates of the difference a year between what payroll pays and what the latest job plan says. They are not amounts owed or to be recovered: each needs checking against the doctor's contract and pay history.",
		"Positive figures are possible over-payments (payroll pays more than the plan), negative figures possible under-payments.",
		"PA difference = PAs paid − PAs planned. " + pa,
		"Supplement difference = (on-call supplement % paid − % in the plan) × full-time basic salary: part-time doctors on a rota receive the percentage of the full-time salary.",
		apa,
		"Basic pay and the on-call availability supplement only. Not included: pay protection, Clinical Excellence or Clinical Impact Awards, London or other weighting, other allowances and additional payments, work paid outside the plan, arrears, employer on-costs (pension and National Insurance) and tax.",
		fmt.Sprintf("Differences within tolerance (±%s PA, ±%s%% supplement) count as aligned and are not valued.", opts.TolerancePAs, opts.TolerancePct),
		"Each assignment's latest plan (latest effective date across the job-plan files) is compared with its one payroll row. A plan that takes effect part-way through the pay year, or after the payroll period, is not pro-rated.",
		wales,
		"Assignments on one side only are listed but not valued.",
	}
}
