package workbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

const bundledMappings = "../../mappings"

func sample(name string) string { return testutil.SampleInput(filepath.Join("../../samples", name)) }

func previewFile(t *testing.T, m *mapping.Mapping, path string, n int) *Preview {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pv, err := RunPreview(context.Background(), m, f, n)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// TestPreviewMatchesConvert checks that preview shows what convert does:
// every finding of a whole-file conversion lands on a plan or row of the
// preview, and the records preview builds for accepted plans are those
// convert writes.
func TestPreviewMatchesConvert(t *testing.T) {
	for _, name := range []string{"sard-wide", "excel-long", "allocate-nested", "wales-sessions", "codes-long", "trust-sheet", "feed-totals", "trust-workbook"} {
		t.Run(name, func(t *testing.T) {
			m, err := mapping.LoadFile(filepath.Join(bundledMappings, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			in := sample(name)
			pv := previewFile(t, m, in, 1000)
			if !pv.EOF {
				t.Fatal("preview of 1000 plans did not reach the end of the sample")
			}
			data, _ := os.ReadFile(in)
			var records bytes.Buffer
			var found findingList
			if _, err := transform.Convert(context.Background(), m, bytes.NewReader(data), transform.Outputs{Records: &records, Rejected: io.Discard, Findings: &found, SpoolDir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			attached := 0
			var sent []string
			for _, it := range pv.Items {
				attached += len(it.Findings)
				if it.Kind != transform.KindPlan || notSent(it.Findings) {
					continue
				}
				sent = append(sent, string(it.Record.AppendJSON(nil)))
			}
			if attached != len(found) || len(pv.File) != 0 {
				t.Errorf("preview placed %d of %d findings (%d not on a row)", attached, len(found), len(pv.File))
			}
			want := strings.Split(strings.TrimSpace(records.String()), "\n")
			if strings.Join(sent, "\n") != strings.Join(want, "\n") {
				t.Errorf("preview's accepted records differ from convert's:\n got %d: %.300s\nwant %d: %.300s", len(sent), sent, len(want), want)
			}
		})
	}
}

// notSent reports whether a plan with these findings is not sent.
func notSent(fs []finding.Finding) bool {
	for _, f := range fs {
		if f.Severity == finding.Error || f.Rule == "D1" || f.Rule == "D2" || f.Rule == "D3" || f.Rule == "D4" {
			return true
		}
	}
	return false
}

type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bigExport is a sard-wide export of n plans, each over 12 PAs (a V8
// warning), so every plan has a finding.
func bigExport(n int) []byte {
	data, _ := os.ReadFile(sample("sard-wide"))
	header := data[:bytes.IndexByte(data, '\n')+1]
	var b bytes.Buffer
	b.Write(header)
	for i := range n {
		fmt.Fprintf(&b, "%08d,%08d,Test,Person,Medical and Dental,Consultant (2003),Signed Off,01/04/2026,12.5,2.5,9.5,3,0,0,0,0,1 in 6,Cat A,5,3,2,1,2.5,2,0.5,0,0,0,0.5,0.5,1.5,0.25,0,0.75,0,0,0,123\r\n", 10000000+i, 10000000+i)
	}
	return b.Bytes()
}

// TestPreviewStopsEarly checks that preview stops convert after the last
// plan shown: it reads a small part of a large export, once, and shows the
// findings convert makes of those plans.
func TestPreviewStopsEarly(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // bound convert's read-ahead
	m, err := mapping.LoadFile(filepath.Join(bundledMappings, "sard-wide.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data := bigExport(100_000)
	total := int64(len(data))
	in := &byteCounter{r: bytes.NewReader(data)}
	pv, err := RunPreview(context.Background(), m, in, 3)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Plans != 3 || pv.LastLine != 4 || pv.EOF {
		t.Errorf("collected %d plans up to line %d (end of file: %v), want 3 up to line 4", pv.Plans, pv.LastLine, pv.EOF)
	}
	for _, it := range pv.Items {
		if len(it.Findings) != 1 || it.Findings[0].Rule != "V8" {
			t.Errorf("plan %d: findings %v, want one V8", it.Plan, it.Findings)
		}
	}
	// Convert's reader runs ahead of the writer by the batches its queues
	// hold (16, 32, ... rows, doubling to 512): about 560 KB of this
	// export however slow the workers, read in 64 KB blocks. Full-size
	// batches from the start would be 940 KB.
	t.Logf("read %d of %d bytes", in.n, total)
	if in.n > 700<<10 {
		t.Errorf("preview read %d of %d bytes before stopping", in.n, total)
	}
}
