// Package mappings holds the supplier mapping files. Its test converts every
// bundled sample with its mapping and compares the outputs with the golden
// files in samples/<mapping>/expected (make golden-update rewrites them):
// every output must equal its golden copy, and every golden file must
// still be produced. It validates every emitted record against the
// published schema too.
package mappings

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xeipuuv/gojsonschema"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

var fixedClock = func() time.Time { return time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC) }

func TestSamplesGolden(t *testing.T) {
	schema, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(record.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	all, _ := filepath.Glob("*.yaml")
	for _, f := range all {
		if !strings.HasSuffix(f, ".cases.yaml") { // mapping test cases, run by `mapping test`
			files = append(files, f)
		}
	}
	if len(files) < 4 {
		t.Fatalf("found %d mappings, want at least 4", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(file, ".yaml")
		t.Run(name, func(t *testing.T) {
			m, err := mapping.LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sampleDir := filepath.Join("..", "samples", name)
			inputs, _ := filepath.Glob(filepath.Join(sampleDir, "*.*"))
			golden := testutil.NewGoldenDir(t, filepath.Join(sampleDir, "expected"))
			converted := 0
			for _, in := range inputs {
				if strings.HasSuffix(in, ".md") {
					continue
				}
				out := t.TempDir()
				res, err := outdir.ConvertFile(context.Background(), m, in, out, outdir.Options{Now: fixedClock})
				if err != nil {
					t.Fatal(err)
				}
				if res.Err != nil {
					t.Fatalf("%s: %v", in, res.Err)
				}
				converted++
				validateRecords(t, schema, res.Paths.Records)
				compareDir(t, out, golden)
			}
			if converted == 0 {
				t.Fatalf("no sample input in %s", sampleDir)
			}
			golden.Finish()
		})
	}
}

// validateRecords checks every emitted record against the published schema
// with a generic validator, independently of the converter's own checks.
func validateRecords(t *testing.T, schema *gojsonschema.Schema, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		res, err := schema.Validate(gojsonschema.NewBytesLoader(sc.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid() {
			t.Errorf("%s record %d breaks the schema: %v", path, n, res.Errors())
		}
	}
	if n == 0 {
		t.Errorf("%s: no records", path)
	}
}

// compareDir compares every file the conversion wrote with its golden copy.
func compareDir(t *testing.T, got string, golden *testutil.GoldenDir) {
	t.Helper()
	entries, err := os.ReadDir(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
			continue
		}
		if strings.HasSuffix(e.Name(), ".report.html") {
			continue // rendered from report.json; checked in a browser by its own test
		}
		b, err := os.ReadFile(filepath.Join(got, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(e.Name(), b)
	}
}
