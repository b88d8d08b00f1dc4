package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// TestRecordsConformToSchema converts every bundled sample with its mapping
// and checks each emitted record against the schema `jobplan-hub schema`
// publishes.
func TestRecordsConformToSchema(t *testing.T) {
	var printed bytes.Buffer
	if code := run([]string{"jobplan-hub", "schema"}, &printed, io.Discard); code != 0 {
		t.Fatalf("jobplan-hub schema: exit status %d", code)
	}
	if !bytes.Equal(printed.Bytes(), record.SchemaJSON) {
		t.Fatalf("jobplan-hub schema does not print record.SchemaJSON")
	}
	schema, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(record.SchemaJSON))
	if err != nil {
		t.Fatalf("compile record schema: %v", err)
	}
	// The check has teeth: a record with a wrong key is refused.
	if res, err := schema.Validate(gojsonschema.NewStringLoader(`{"employee_number": 1}`)); err != nil || res.Valid() {
		t.Fatalf("schema accepts a malformed record (err %v)", err)
	}

	dirs, err := filepath.Glob("../../samples/*")
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		folder := filepath.Base(dir)
		mappingFile := filepath.Join("../../mappings", folder+".yaml")
		var inputs []string
		all, _ := filepath.Glob(filepath.Join(dir, "*.*"))
		for _, f := range all {
			if !strings.HasSuffix(f, ".md") { // the supplier's notes
				inputs = append(inputs, f)
			}
		}
		if len(inputs) == 0 {
			continue
		}
		tested++
		t.Run(folder, func(t *testing.T) {
			out := t.TempDir()
			var stderr bytes.Buffer
			args := append([]string{"jobplan-hub", "convert", "-q", "-m", mappingFile, "-o", out}, inputs...)
			code := run(args, io.Discard, &stderr)
			if code != 0 && code != 1 { // samples hold bad rows on purpose
				t.Fatalf("convert: exit status %d, want 0 or 1\n%s", code, &stderr)
			}
			records, _ := filepath.Glob(filepath.Join(out, "*.jobplans.jsonl"))
			if len(records) != len(inputs) {
				t.Fatalf("got %d records files for %d inputs", len(records), len(inputs))
			}
			validated := 0
			for _, path := range records {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				sc := bufio.NewScanner(f)
				sc.Buffer(nil, 1<<20)
				for line := 1; sc.Scan(); line++ {
					res, err := schema.Validate(gojsonschema.NewBytesLoader(sc.Bytes()))
					if err != nil {
						t.Fatalf("%s:%d: not JSON: %v", filepath.Base(path), line, err)
					}
					for _, e := range res.Errors() {
						t.Errorf("%s:%d: %s", filepath.Base(path), line, e)
					}
					validated++
				}
				if err := sc.Err(); err != nil {
					t.Fatal(err)
				}
			}
			if validated == 0 {
				t.Errorf("no records to validate: %s", strings.TrimSpace(stderr.String()))
			}
			t.Logf("%d records conform", validated)
		})
	}
	if tested != 7 {
		t.Errorf("tested %d samples, want 7", tested)
	}
}
