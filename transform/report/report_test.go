package report_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestWriterSpool writes few findings (kept in memory) and many (spilled
// to a temporary file), and checks that report.json holds every one in
// order and that no spool file is left behind.
func TestWriterSpool(t *testing.T) {
	for _, n := range []int{0, 3, 5000} {
		dir := t.TempDir()
		path := bigReport(t, dir, n, 7)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Findings []struct {
				Record int `json:"record"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("n=%d: report.json does not parse: %v", n, err)
		}
		if len(got.Findings) != n {
			t.Fatalf("n=%d: report.json has %d findings", n, len(got.Findings))
		}
		for i, f := range got.Findings {
			if f.Record != i+1 {
				t.Fatalf("n=%d: finding %d has record %d", n, i, f.Record)
			}
		}
		if n == 5000 && len(b) < 256<<10 {
			t.Fatalf("the large case (%d bytes) does not exercise the spill to disk", len(b))
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".findings-*"))
		if len(left) != 0 {
			t.Errorf("n=%d: spool files left behind: %v", n, left)
		}
	}
}
