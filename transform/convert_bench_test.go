package transform_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

type discardFindings struct{ n int }

func (d *discardFindings) Add(finding.Finding) error { d.n++; return nil }

// BenchmarkConvertSard measures parse, map, validate and encode of layout
// (a) in memory; `make bench` measures the whole command on a 1M-row file.
func BenchmarkConvertSard(b *testing.B) {
	m, err := mapping.LoadFile("../mappings/sard-wide.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	const rows = 100_000
	if err := bench.WriteSard(&buf, rows); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		counts, err := transform.Convert(context.Background(), m, bytes.NewReader(data), transform.Outputs{Records: io.Discard, Rejected: io.Discard, Findings: &discardFindings{}, SpoolDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if counts.Accepted != rows*99/100 {
			b.Fatalf("accepted %d", counts.Accepted)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
