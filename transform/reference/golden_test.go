package reference_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
)

var update = flag.Bool("update", false, "rewrite samples/reference/expected")

// TestGoldenWithStaffChecks converts every bundled sample with the staff
// checks against the sample staff extract, in both formats, and compares
// the records and findings with samples/reference/expected/<sample>/
// (go test ./transform/reference -update rewrites them). The two formats
// must give the same outputs.
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
				got, _ := os.ReadFile(filepath.Join(outs["csv"], file))
				viaGO, _ := os.ReadFile(filepath.Join(outs["esr-go"], file))
				if !bytes.Equal(got, viaGO) {
					t.Errorf("%s/%s: the CSV and ESR GO staff extracts give different outputs", name, file)
				}
				want := filepath.Join("../../samples/reference/expected", name, file)
				if *update {
					os.MkdirAll(filepath.Dir(want), 0o755)
					if err := os.WriteFile(want, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				wantBytes, err := os.ReadFile(want)
				if err != nil {
					t.Errorf("%v (go test ./transform/reference -update)", err)
					continue
				}
				if !bytes.Equal(got, wantBytes) {
					t.Errorf("%s differs from %s (go test ./transform/reference -update if intended)", file, want)
				}
			}
		}
	}
	if n < 4 {
		t.Fatalf("converted %d samples, want at least 4", n)
	}
}
