package bench

import (
	"bufio"
	"io"
	"strconv"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Departments are the departments of the generated payroll extract.
var Departments = []string{
	"Anaesthetics", "Cardiology", "Dermatology", "Emergency Medicine", "Gastroenterology", "General Surgery",
	"Geriatric Medicine", "Haematology", "Histopathology", "Neurology", "Obstetrics and Gynaecology", "Oncology",
	"Ophthalmology", "Paediatrics", "Psychiatry", "Radiology", "Renal Medicine", "Respiratory Medicine",
	"Rheumatology", "Trauma and Orthopaedics", "Urology", "Vascular Surgery",
}

// PayrollHeader is the header of WritePayroll's extract.
const PayrollHeader = "Assignment Number,Employee Number,Name,Department,PAs Paid,On-Call Supplement %,Wales On-Call Band,Basic Salary,FTE"

// PayrollConfig is the payroll configuration of WritePayroll's extract.
const PayrollConfig = `version: 1
name: bench-payroll
csv: {delimiter: ","}
columns:
  assignment_number: Assignment Number
  employee_number: Employee Number
  name: Name
  department: Department
  pas_paid: PAs Paid
  supplement_pct: On-Call Supplement %
  wales_band: Wales On-Call Band
  basic_salary: Basic Salary
  fte: FTE
`

// permute visits 0..n-1 in a scattered order (a stride coprime with n), so
// that neither input is already in assignment order.
func permute(i, n int) int {
	stride := 7919
	for gcd(stride, n) != 1 {
		stride += 2
	}
	return int((int64(i) * int64(stride)) % int64(n))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Assignment i of the generated pair: one in 25 is a second post (-2).
func benchAssignment(i int) (employee, assignment string) {
	employee = strconv.Itoa(10000000 + i)
	if i%25 == 7 {
		return employee, employee + "-2"
	}
	return employee, employee
}

// WritePlans writes n job-plan records as convert writes them (one JSON
// object a line, every key), for reconcile: assignments 0..n-1 in a
// scattered order, one in 50 with an older plan too (counted in n), one in
// 20 a Welsh consultant on band 2. With WritePayroll(n) the last 1% of
// assignments have no payroll row.
func WritePlans(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var p record.JobPlan
	var line []byte
	older := n / 51 // older plans, so that n records are written in all
	distinct := n - older
	for k := 0; k < n; k++ {
		i := permute(k%distinct, distinct)
		date := "2026-04-01"
		if k >= distinct {
			date = "2025-04-01"
		}
		emp, asg := benchAssignment(i)
		p.Reset()
		p.SetText(record.EmployeeNumber, emp)
		p.SetText(record.AssignmentNumber, asg)
		p.SetText(record.VPDCode, "123")
		p.SetText(record.StaffGroup, record.MedicalAndDental)
		p.SetText(record.EffectiveDate, date)
		p.SetNum(record.TotalContractedPAs, decimal.Int(10))
		p.SetNum(record.APAEPS, 0)
		p.SetNum(record.DCC, decimal.Int(75)/10)
		p.SetNum(record.SPA, decimal.Int(25)/10)
		if i%20 == 3 {
			p.SetText(record.ContractType, record.ConsultantWales)
			p.SetNum(record.OnCallBandWales, decimal.Int(2))
		} else {
			p.SetText(record.ContractType, record.ConsultantEngland2003)
			p.SetNum(record.OnCallFrequencyN, decimal.Int(6))
			p.SetText(record.OnCallCategory, "A")
			p.SetNum(record.OnCallSupplementPct, decimal.Int(5))
		}
		line = p.AppendJSON(line[:0])
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WritePayroll writes the payroll extract of WritePlans(n)'s assignments:
// n rows, in another scattered order, the last 1% of the plans' assignments
// replaced by assignments without a plan. About one row in twenty pays
// other PAs or another supplement.
func WritePayroll(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(PayrollHeader + "\r\n")
	distinct := n - n/51
	planned := distinct - distinct/100
	var line []byte
	for k := 0; k < n; k++ {
		i := permute(k, n)
		if i >= planned && i < distinct {
			i += n // no plan for it: payroll only
		}
		emp, asg := benchAssignment(i)
		pas, pct, band := "10", "5", ""
		if i%20 == 3 {
			pct, band = "", "2"
		}
		switch i % 97 {
		case 11:
			pas = "11"
		case 12:
			pas = "9.5"
		case 13:
			if band == "" {
				pct = "3"
			} else {
				band = "1"
			}
		}
		basic, fte := 100000+i%9*2500, "1"
		if i%4 == 1 {
			basic, fte = basic*8/10, "0.8"
		}
		line = append(line[:0], asg...)
		line = append(line, ',')
		line = append(line, emp...)
		line = append(line, `,"`...)
		line = append(line, surnames[i%len(surnames)]...)
		line = append(line, ", "...)
		line = append(line, forenames[i%len(forenames)]...)
		line = append(line, `",`...)
		line = append(line, Departments[i%len(Departments)]...)
		line = append(line, ',')
		line = append(line, pas...)
		line = append(line, ',')
		line = append(line, pct...)
		line = append(line, ',')
		line = append(line, band...)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(basic), 10)
		line = append(line, ".00,"...)
		line = append(line, fte...)
		line = append(line, "\r\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
