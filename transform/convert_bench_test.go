package transform_test

import (
	"bytes"
	"context"
	"fmt"
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

// BenchmarkConvertLong measures a long layout (layout (c), excel-long):
// four activity rows a plan, grouped row by row.
func BenchmarkConvertLong(b *testing.B) {
	m, err := mapping.LoadFile("../mappings/excel-long.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	const rows = 100_000
	buf.WriteString("Assignment;Employee No;Surname;Forename;Staff Group;Contract;Start Date;Activity;Hours/week;Premium;Rota;OnCall Cat;Supplement\r\n")
	activities := [4]string{"DCC - Outpatients;16;N", "DCC - Ward rounds;10,5;N", "DCC - On-call;1,5;J", "SPA - CPD;10;N"}
	for i := 0; i < rows; i++ {
		asg := 10000000 + i/4
		fmt.Fprintf(&buf, "%d;%d;Benchmark;Test;Medical and Dental;CONS03;%02d/04/2026;%s;1 in 5;A;5\r\n", asg, asg, 1+i/4%28, activities[i%4])
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
		if counts.Accepted != rows/4 {
			b.Fatalf("accepted %d of %d plans", counts.Accepted, rows/4)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
