package reference_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
)

// TestGoldenWithStaffChecks converts every bundled sample with the staff
// checks against the sample staff extract, in both formats, and compares
// the records and findings with samples/reference/expected/<sample>/
// (make golden-update rewrites them; each golden file must still be
// produced). The two formats must give the same outputs.
func TestGoldenWithStaffChecks(t *testing.T) {
	checkers := map[string]transform.PlanChecker{}
	for name, f := range map[string]struct{ path, config string }{"csv": {staffCSV, "staff-extract.yaml"}, "esr-go": {staffGO, "esr-go.yaml"}} {
		k, err := reference.NewChecker(loadSample(t, f.path, f.config), reference.DefaultChecks())
		if err != nil {
			t.Fatal(err)
		}
		checkers[name] = k
	}
	mappings, _ := filepath.Glob("../../mappings/*.yaml")
	golden := testutil.NewGoldenDir(t, "../../samples/reference/expected")
	n := 0
	for _, mf := range mappings {
		if strings.HasSuffix(mf, ".cases.yaml") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(mf), ".yaml")
		inputs, _ := filepath.Glob(filepath.Join("../../samples", name, "*.*"))
		m, err := mapping.LoadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			if strings.HasSuffix(in, ".md") {
				continue
			}
			n++
			outs := map[string]string{}
			for format, k := range checkers {
				dir := t.TempDir()
				res, err := outdir.ConvertFile(context.Background(), m, in, dir, outdir.Options{Checks: []transform.PlanChecker{k}, Now: func() time.Time { return time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC) }})
				if err != nil || res.Err != nil {
					t.Fatal(err, res.Err)
				}
				outs[format] = dir
			}
			p := outdir.PathsFor("", in)
			for _, file := range []string{p.Records, p.Errors} {
				got, err := os.ReadFile(filepath.Join(outs["csv"], file))
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				viaGO, _ := os.ReadFile(filepath.Join(outs["esr-go"], file))
				if !bytes.Equal(got, viaGO) {
					t.Errorf("%s/%s: the CSV and ESR GO staff extracts give different outputs", name, file)
				}
				golden.Check(name+"/"+file, got)
			}
		}
	}
	if n < 4 {
		t.Fatalf("converted %d samples, want at least 4", n)
	}
	golden.Finish()
}
