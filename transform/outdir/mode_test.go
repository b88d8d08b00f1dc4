package outdir_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/outdir"
)

// TestOutputsGetTheFileMode: every output (records, rejected rows,
// errors.csv, both reports, and a failed file's reports) is owner-only by
// default, and gets the mode asked for.
func TestOutputsGetTheFileMode(t *testing.T) {
	m := loadMapping(t)
	for _, tc := range []struct {
		mode, want fs.FileMode
	}{{0, 0o600}, {0o640, 0o640}, {0o644, 0o644}} {
		for _, single := range []bool{false, true} {
			dir := t.TempDir()
			o := opts()
			o.FileMode, o.SingleSync = tc.mode, single
			res, err := outdir.ConvertFile(t.Context(), m, samplePath, dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Report.Outputs.Rejected == "" || res.Report.Outputs.Errors == "" {
				t.Fatal("the sample should have rejected rows and findings")
			}
			if _, err := outdir.Fail(m, "missing.csv", dir, errors.New("cannot open the file"), o); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 7 { // 5 outputs of the sample, 2 reports of missing.csv
				t.Errorf("%d outputs, want 7", len(entries))
			}
			for _, e := range entries {
				fi, err := os.Stat(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != tc.want {
					t.Errorf("mode %v, single sync %v: %s has mode %v, want %v", tc.mode, single, e.Name(), fi.Mode().Perm(), tc.want)
				}
			}
		}
	}
}
