package transform_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// countingDiscard is a records output that keeps nothing, so the test
// measures the converter's memory and not a 900 MB file.
type countingDiscard struct{ n int64 }

func (d *countingDiscard) Write(p []byte) (int, error)           { d.n += int64(len(p)); return len(p), nil }
func (d *countingDiscard) ReadAt(p []byte, _ int64) (int, error) { return 0, io.EOF }
func (d *countingDiscard) WriteAt(p []byte, _ int64) (int, error) {
	return len(p), nil
}
func (d *countingDiscard) Truncate(int64) error { return nil }
func (d *countingDiscard) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekCurrent {
		return d.n + off, nil
	}
	return off, nil
}

// TestLargeFileHeap converts a generated export of about 200 MB (over a
// million plans, streamed from the generator) and checks that the Go heap
// stays under 64 MB throughout: memory must not grow with file size beyond
// the 24 bytes a plan that dedup keeps.
func TestLargeFileHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("converts 200 MB")
	}
	m, err := mapping.LoadFile("../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The command sets the same soft limit (cmd/jobplan-hub/main.go).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	runtime.GC()

	const rows = 1_070_000 // about 200 MB of layout (a)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(bench.WriteSard(pw, rows)) }()
	var input atomic.Int64
	counted := readerFunc(func(p []byte) (int, error) {
		n, err := pr.Read(p)
		input.Add(int64(n))
		return n, err
	})

	peakHeap := testutil.SampleHeap()
	out := &countingDiscard{}
	counts, err := transform.Convert(context.Background(), m, counted, transform.Outputs{Records: out, Rejected: io.Discard, Findings: &discardFindings{}, SpoolDir: t.TempDir()})
	peakMB := peakHeap()
	if err != nil {
		t.Fatal(err)
	}
	if input.Load() < 195e6 {
		t.Fatalf("generated only %d bytes", input.Load())
	}
	if counts.PlansBuilt != rows || counts.Accepted != rows*99/100+1 && counts.Accepted != rows*99/100 {
		t.Errorf("counts = %+v", counts)
	}
	t.Logf("input %.0f MB, records %.0f MB, peak heap %.1f MB", float64(input.Load())/1e6, float64(out.n)/1e6, peakMB)
	if peakMB >= 64 {
		t.Errorf("peak heap %.1f MB, want < 64 MB", peakMB)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestManyLateFindingsHeap converts an export in which every plan appears
// twice, assignment numbers falling down the file, through the real report
// writer: 150,000 D1 findings are made once the whole file is read, in
// assignment order, the reverse of line order, and errors.csv must still
// come out in line order, each row with its plan's number and name, with
// the Go heap under 64 MB (the rows are sorted in runs on disk).
func TestManyLateFindingsHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("converts 300,000 rows")
	}
	m, err := mapping.LoadFile("../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	runtime.GC()

	const plans = 150_000
	pr, pw := io.Pipe()
	go func() { // generator: exits when the input is written or the pipe closed
		bw := bufio.NewWriterSize(pw, 1<<20)
		bw.WriteString(bench.SardHeader + "\r\n")
		for k := range plans {
			num := strconv.Itoa(29999999 - k)
			row := num + "," + num + ",Testperson,Siân,Medical and Dental,Consultant (2003),Signed Off,01/04/2026,10,0,7.5,2.5,0,0,0,0,1 in 6,Cat A,5,2,1.5,0.5,2,1.5,0.5,0,0,0,0.5,0.5,1.5,0.25,0,0.75,0,0,0,123\r\n"
			bw.WriteString(row)
			bw.WriteString(row)
		}
		pw.CloseWithError(bw.Flush())
	}()

	dir := t.TempDir()
	check := &rowOrder{}
	w, err := report.NewWriter(dir, check)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.ShowNames()

	peakHeap := testutil.SampleHeap()
	start := time.Now()
	counts, err := transform.Convert(context.Background(), m, pr, transform.Outputs{Records: &countingDiscard{}, Rejected: io.Discard, Findings: w, SpoolDir: dir})
	converted := time.Since(start)
	if err == nil {
		err = w.FlushCSV()
	}
	peakMB := peakHeap()
	pr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if counts.Duplicates != plans || check.rows != plans || check.late != plans {
		t.Fatalf("duplicates %d; errors.csv rows %d, of them D1 %d; want %d each", counts.Duplicates, check.rows, check.late, plans)
	}
	if check.err != "" {
		t.Fatal(check.err)
	}
	t.Logf("%d findings made at the end of the file; convert %v, errors.csv sorted and written in %v; peak heap %.1f MB", plans, converted.Round(time.Millisecond), (time.Since(start) - converted).Round(time.Millisecond), peakMB)
	if peakMB >= 64 {
		t.Errorf("peak heap %.1f MB, want < 64 MB", peakMB)
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Error("no sorted runs on disk: the test does not exercise them")
	}
}

// rowOrder checks errors.csv as it is written, keeping nothing but the
// last line number: rows in line order, each D1 row naming its plan (the
// second copy, plan 2k) and the doctor.
type rowOrder struct {
	partial []byte
	header  bool
	prev    int
	rows    int
	late    int
	err     string
}

func (r *rowOrder) Write(p []byte) (int, error) {
	r.partial = append(r.partial, p...)
	for {
		i := bytes.Index(r.partial, []byte("\r\n"))
		if i < 0 {
			break
		}
		r.row(string(r.partial[:i]))
		r.partial = r.partial[i+2:]
	}
	return len(p), nil
}

func (r *rowOrder) row(s string) {
	if !r.header {
		r.header = true
		if !strings.HasPrefix(s, "\ufeffLine,Last line,Assignment number,Name,") && r.err == "" {
			r.err = "header " + s
		}
		return
	}
	r.rows++
	cells := strings.Split(s, ",")
	line, _ := strconv.Atoi(cells[0])
	if line < r.prev && r.err == "" {
		r.err = fmt.Sprintf("row %d: line %d after line %d", r.rows, line, r.prev)
	}
	r.prev = line
	if strings.Contains(s, ",D1,") {
		r.late++
		if plan, _ := strconv.Atoi(cells[len(cells)-1]); plan != line-1 || cells[3] != `"Testperson` || r.err != "" {
			if r.err == "" {
				r.err = fmt.Sprintf("row %d: %q names plan %d and %s, want plan %d and Testperson, Siân", r.rows, s, plan, cells[3], line-1)
			}
		}
	}
}
