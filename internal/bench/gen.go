// Package bench generates large illustrative exports for benchmarks and
// memory tests. All people and numbers are fictional.
package bench

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// SardHeader is the header of layout (a), as in samples/sard-wide.
const SardHeader = "Employee Number,Assignment Number,Surname,Forename,Staff Group,Contract,Status,Effective From,Total PAs,APAs,DCC,SPA,Additional Responsibilities,External Duties,Medical School,ATC,On-Call Rota,On-Call Category,On-Call Supplement %,Theatre Total,Theatre Elective,Theatre Non-Elective,Outpatients,Ward Rounds,MDT,Diagnostics,Procedures,Public Health,Research,Teaching,CPD,DCC Travel,Non-DCC Travel,DCC Admin,Non-DCC Admin,Private Practice,Fee Paying,VPD"

var surnames = []string{"Testperson", "Sample", "Fictional", "Example", "Placeholder", "Madeup", "Notreal", "Imaginary"}
var forenames = []string{"Alpha", "Bea", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jon"}

// WriteSard writes a UTF-8 (BOM, CRLF) layout-(a) export of n plans with
// distinct assignments. About one row in a hundred breaks a rule, as real
// exports do, so the reject and report paths are measured too.
func WriteSard(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("\ufeff" + SardHeader + "\r\n")
	var line []byte
	for i := 0; i < n; i++ {
		emp := strconv.Itoa(10000000 + i)
		line = line[:0]
		line = append(line, emp...)
		line = append(line, ',')
		line = append(line, emp...)
		line = append(line, ',')
		line = append(line, surnames[i%len(surnames)]...)
		line = append(line, ',')
		line = append(line, forenames[i%len(forenames)]...)
		dcc := "7.5"
		if i%100 == 42 {
			dcc = "7" // V6: categories 9.5 against a total of 10
		}
		line = fmt.Appendf(line, ",Medical and Dental,Consultant (2003),Signed Off,%02d/%02d/2026,10,0,%s,2.5,0,0,0,0,1 in 6,Cat A,5,2,1.5,0.5,2,1.5,0.5,0,0,0,0.5,0.5,1.5,0.25,0,0.75,0,0,0,123\r\n", 1+i%28, 1+i%12, dcc)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
