package hubconfig

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

func TestParseHubConfigResolvesPathsAndSecrets(t *testing.T) {
	env := map[string]string{"STATE": "/var/lib/hub", "TOKEN": "xyzzy-42"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	data := []byte(`state_dir: ${STATE}
sources:
  - name: a
    type: local
    dir: drop
    mapping: maps/a.yaml
    destinations: [esr, box]
destinations:
  - name: esr
    type: esr_api
    url: https://esr.example/api
    token: ${TOKEN}
    concurrency: 8
  - name: box
    type: outbox
    dir: out
`)
	cfg, err := Parse("/etc/hub/hub.yaml", data, getenv, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/hub" || cfg.Sources[0].Dir != "/etc/hub/drop" ||
		cfg.Sources[0].Mapping != "/etc/hub/maps/a.yaml" || cfg.Destinations[1].Dir != "/etc/hub/out" {
		t.Errorf("paths not resolved against the hub file's folder: %+v", cfg)
	}
	if cfg.Destinations[0].Token != "xyzzy-42" || cfg.Destinations[0].Concurrency != 8 {
		t.Errorf("esr destination %+v", cfg.Destinations[0])
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg.Destinations[0], cfg.Destinations[0], cfg.Destinations[0]); strings.Contains(s, "xyzzy-42") {
		t.Errorf("formatting the destination shows its token: %s", s)
	}
}

func TestInterpolate(t *testing.T) {
	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "EMPTY": ""}[k]
		return v, ok
	}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-${A}", want: "x-alpha-alpha"},
		{in: "${EMPTY}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${not a name}", err: "${not a name}: not an environment variable name"},
		{in: "${A", err: `"${" without a closing "}"`},
	} {
		got, err := interpolate(tc.in, getenv)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("interpolate(%q) error = %v, want %q", tc.in, err, tc.err)
			}
		case err != nil || got != tc.want:
			t.Errorf("interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestStaffFormatFileIsResolvedAndWatched: a staff_format that names a
// configuration file, .json as well as .yaml, is taken from the hub
// file's folder (not the working folder), is read when the hub file is
// checked, and is among the files whose change reloads the hub. (It was
// decided in four places: extract.json was read against the working
// folder and never watched.)
func TestStaffFormatFileIsResolvedAndWatched(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "drop", ".keep"), "")
	testutil.WriteFile(t, filepath.Join(dir, "staff.csv"), "Staff Assignment,Name\n20000001,Alpha\n")
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"extract.json", "extract.yaml", "extract.yml"} {
		t.Run(format, func(t *testing.T) {
			testutil.WriteFile(t, filepath.Join(dir, format), `{"version": 1, "columns": {"assignment_number": "Staff Assignment"}}`)
			hubFile := filepath.Join(dir, "hub.yaml")
			testutil.WriteFile(t, hubFile, `state_dir: state
sources:
  - name: trust-a
    type: local
    dir: drop
    mapping: `+mappingFile+`
    staff: staff.csv
    staff_format: `+format+`
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: outbox
`)
			// The working folder is this package's, not the hub file's.
			cfg, err := Load(hubFile)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, format)
			if got := cfg.Sources[0].StaffFormat; got != want {
				t.Errorf("staff_format = %q, want %q", got, want)
			}
			if files := cfg.Files(); !slices.Contains(files, want) {
				t.Errorf("the files watched for a reload are %v, without %s", files, want)
			}
			if ps := cfg.ReadStaffExtracts(); len(ps) != 0 {
				t.Errorf("the extract cannot be read with its configuration: %v", ps)
			}
		})
	}
}

func TestStaffConfig(t *testing.T) {
	for format, want := range map[string]string{"": "", "csv": "csv", "esr-go": "esr-go"} {
		c, err := StaffConfig(format)
		if err != nil || c.Format != want {
			t.Errorf("StaffConfig(%q) = format %q, %v; want %q", format, c.Format, err, want)
		}
	}
	if _, err := StaffConfig("xml"); err == nil || err.Error() != `"xml" is not csv, esr-go or a .yaml configuration file` {
		t.Errorf("StaffConfig(xml): %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	testutil.WriteFile(t, bad, "{\"version\": 1,\n \"colums\": {}}\n")
	_, err := StaffConfig(bad)
	var ps lint.Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].File != bad || ps[1].Line != 2 {
		t.Errorf("a configuration file's problems: %v, want two in %s, the unknown key on line 2", err, bad)
	}
	for f, want := range map[string]bool{"x.yaml": true, "x.YML": true, "x.json": true, "csv": false, "esr-go": false, "x.csv": false, "": false} {
		if IsStaffConfigFile(f) != want {
			t.Errorf("IsStaffConfigFile(%q) = %v", f, !want)
		}
	}
}

// TestFiles: the hub file, and each mapping, staff extract and staff
// configuration once.
func TestFiles(t *testing.T) {
	cfg := &Config{File: "/h/hub.yaml", Sources: []Source{
		{Mapping: "/h/a.yaml", Staff: "/h/staff.csv", StaffFormat: "/h/staff.yaml"},
		{Mapping: "/h/a.yaml", Staff: "/h/staff.csv", StaffFormat: "csv"},
		{Mapping: "/h/b.yaml"},
	}}
	want := []string{"/h/hub.yaml", "/h/a.yaml", "/h/staff.csv", "/h/staff.yaml", "/h/b.yaml"}
	if got := cfg.Files(); !slices.Equal(got, want) {
		t.Errorf("Files() = %v, want %v", got, want)
	}
	cfg.File = "" // watch: no hub file
	if got := cfg.Files(); !slices.Equal(got, want[1:]) {
		t.Errorf("without a hub file, Files() = %v, want %v", got, want[1:])
	}
}

// TestCheckCodeBuiltConfig: a configuration built in code (watch) is
// checked like a hub file; its problems have no position.
func TestCheckCodeBuiltConfig(t *testing.T) {
	src := Source{Name: "watch", Type: SourceSFTP, Dir: "/in", Mapping: "/nowhere/m.yaml", Destinations: []string{"out"}}
	src.SetSFTP(sftp.Config{Addr: "example.org:22", User: "u", Password: "p"})
	cfg := &Config{StateDir: "/state", Sources: []Source{src},
		Destinations: []Destination{{Name: "out", Type: DestOutbox, Dir: "out"}}}
	err := Check(cfg, "/work")
	if err == nil || !strings.Contains(err.Error(), `source "watch": sftp: no host key verification configured`) ||
		!strings.Contains(err.Error(), `source "watch": mapping: stat /nowhere/m.yaml`) || strings.Contains(err.Error(), ":0:") {
		t.Errorf("Check: %v", err)
	}
	if cfg.Destinations[0].Dir != "/work/out" {
		t.Errorf("the outbox folder %q is not taken from /work", cfg.Destinations[0].Dir)
	}
}

// TestEveryKeyIsDocumented: each key the decoder knows has its row in
// the README's table of hub-file keys, so that a key added to the code
// cannot be left out of the documentation.
func TestEveryKeyIsDocumented(t *testing.T) {
	readme := testutil.ReadFile(t, "../../README.md")
	start := strings.Index(readme, "### The hub file")
	end := strings.Index(readme[start+1:], "\n### ")
	if start < 0 || end < 0 {
		t.Fatal(`README.md has no "### The hub file" section`)
	}
	section := readme[start : start+1+end]
	d := &decoder{}
	var documented []string
	for _, row := range strings.Split(section, "\n") {
		if cells := strings.Split(row, "|"); len(cells) > 2 && strings.Contains(cells[1], "`") {
			documented = append(documented, cells[1])
		}
	}
	isDocumented := func(prefix, key string) bool {
		for _, cell := range documented {
			// A row may name several keys (`a` / `b`, or `a`, `b`), and a
			// block is documented by the rows of its keys.
			if strings.Contains(cell, "`"+prefix+key+"`") || (strings.Contains(cell, "`"+prefix) && strings.Contains(cell, "`"+key+"`")) ||
				strings.Contains(cell, "`"+prefix+key+".") || strings.Contains(cell, "`"+prefix+key+"[].") {
				return true
			}
		}
		return false
	}
	check := func(prefix string, set keys) {
		for _, k := range slices.Sorted(maps.Keys(set)) {
			if !isDocumented(prefix, k) {
				t.Errorf("hub-file key %s%s has no row in README.md's table", prefix, k)
			}
		}
	}
	check("", d.hubKeys(&Config{}))
	check("sources[].", d.sourceKeys(&Source{}))
	check("destinations[].", d.destinationKeys(&Destination{}))
	check("sources[].sftp.", d.sftpKeys(&sftp.Config{}, true))
	// A destination's sftp block is documented as one row listing its keys.
	for k := range d.sftpKeys(&sftp.Config{}, false) {
		if !slices.ContainsFunc(documented, func(cell string) bool { return strings.Contains(cell, "`destinations[].sftp`") }) ||
			!strings.Contains(section, "`"+k+"`") {
			t.Errorf("destination sftp key %s is not documented", k)
		}
	}
}

// FuzzParse: any hub file is read without a panic, and every problem is
// placed inside it.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"bad.yaml", "good.yaml", "syntax.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../cmd/jobplan-hub/testdata/hub", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("state_dir: s\nsources:\n  - name: a\n    type: local\n    destinations: [box\n"))
	getenv := func(k string) (string, bool) { return "value", k == "SET" }
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("/etc/hub/hub.yaml", data, getenv, false)
		var ps lint.Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("Parse error %v is not lint.Problems", err)
		}
		lines := testutil.YAMLLines(data)
		for _, p := range ps {
			if p.File != "/etc/hub/hub.yaml" || p.Line < 1 || p.Line > lines+1 || p.Col < 1 {
				t.Errorf("%v is outside the file (%d lines)", p, lines)
			}
		}
	})
}
