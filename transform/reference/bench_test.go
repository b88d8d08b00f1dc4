package reference_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
)

// The names bench.WriteSard gives plan i, so that staff row i matches it.
var (
	benchSurnames  = []string{"Testperson", "Sample", "Fictional", "Example", "Placeholder", "Madeup", "Notreal", "Imaginary"}
	benchForenames = []string{"Alpha", "Bea", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jon"}
)

// writeStaff writes an n-row staff extract in the sample CSV layout whose
// first rows are the assignments of bench.WriteSard's plans.
func writeStaff(w io.Writer, n int) {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("Employee Number,Assignment Number,Surname,Forenames,Staff Group,Assignment Status,Organisation,Effective End Date\n")
	var line []byte
	for i := 0; i < n; i++ {
		emp := strconv.Itoa(10000000 + i)
		line = append(line[:0], emp...)
		line = append(line, ',')
		line = append(line, emp...)
		line = append(line, ',')
		line = append(line, benchSurnames[i%len(benchSurnames)]...)
		line = append(line, ',')
		line = append(line, benchForenames[i%len(benchForenames)]...)
		// Every plan passes, so both runs write the same records and the
		// difference is the cost of the checks alone.
		line = append(line, ",Medical and Dental,Active Assignment,123 Example Hospitals NHS Trust,\n"...)
		bw.Write(line)
	}
	bw.Flush()
}

var (
	staff1MOnce sync.Once
	staff1M     *reference.Index
)

func loadStaff1M(b *testing.B) *reference.Index {
	staff1MOnce.Do(func() {
		var buf bytes.Buffer
		writeStaff(&buf, 1_000_000)
		x, err := reference.Load(&buf, reference.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		staff1M = x
	})
	return staff1M
}

// BenchmarkLoadStaff1M measures reading and indexing a 1,000,000-row
// staff extract, and the heap the index keeps.
func BenchmarkLoadStaff1M(b *testing.B) {
	var buf bytes.Buffer
	writeStaff(&buf, 1_000_000)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	heap, est := heapOf(b, data)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := reference.Load(bytes.NewReader(data), reference.DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(heap, "heap-MB")
	b.ReportMetric(est, "est-MB")
}

// heapOf returns the heap an index of data keeps, measured and estimated.
func heapOf(b *testing.B, data []byte) (measured, estimated float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x, err := reference.Load(bytes.NewReader(data), reference.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / (1 << 20), float64(x.Bytes()) / (1 << 20)
}

// BenchmarkConvertSardStaff is BenchmarkConvertSard (transform) with and
// without the staff checks against a 1,000,000-row staff record, on the
// same 100,000-plan export; compare the two rows/s figures.
func BenchmarkConvertSardStaff(b *testing.B) {
	m, err := mapping.LoadFile("../../mappings/sard-wide.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	const rows = 100_000
	if err := bench.WriteSard(&buf, rows); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	k, err := reference.NewChecker(loadStaff1M(b), reference.DefaultChecks())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts []transform.Option
	}{
		{"without", nil},
		{"with", []transform.Option{transform.WithChecks(k)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				counts, err := transform.Convert(context.Background(), m, bytes.NewReader(data), transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: &findings{}, SpoolDir: b.TempDir()}, c.opts...)
				if err != nil {
					b.Fatal(err)
				}
				if counts.Accepted != rows*99/100 {
					b.Fatalf("accepted %d", counts.Accepted)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkCheck measures one plan's checks against the 1,000,000-row
// staff record: the per-plan cost added to a conversion (divide by the
// number of workers for the wall-clock share).
func BenchmarkCheck(b *testing.B) {
	k, err := reference.NewChecker(loadStaff1M(b), reference.DefaultChecks())
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 16
	plans := make([]reference.Plan, n)
	for i := range plans {
		j := (i * 7919) % 1_000_000 // spread over the index, as real exports are
		emp := strconv.Itoa(10000000 + j)
		plans[i] = reference.Plan{EmployeeNumber: emp, AssignmentNumber: emp, EffectiveDate: "2026-04-01", StaffGroup: "Medical and Dental",
			Surname: benchSurnames[j%len(benchSurnames)], Forenames: benchForenames[j%len(benchForenames)]}
	}
	for _, c := range []struct {
		name  string
		names func(p *reference.Plan)
	}{
		{"no-name", func(p *reference.Plan) { p.Surname, p.Forenames = "", "" }},
		{"same-name", func(p *reference.Plan) {}},
		{"name-case-differs", func(p *reference.Plan) { p.Surname = "DR " + p.Surname }},
	} {
		ps := slices.Clone(plans)
		for i := range ps {
			c.names(&ps[i])
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			found := 0
			for i := 0; i < b.N; i++ {
				k.Check(&ps[i%n], func(finding.Finding) { found++ })
			}
			if found != 0 {
				b.Fatalf("%d findings", found)
			}
		})
	}
}
