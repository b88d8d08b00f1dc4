package httpsink_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
)

// record is a record as the hub makes it (canonical JSON: keys sorted).
const record = `{"assignment_number":"10000001-2","dcc":7.25,"effective_date":"2026-04-01","employee_number":"10000001","on_call_band_wales":null,"on_call_category":"A","spa":2.75,"total_contracted_pas":10.00}`

var recordFields = []string{"assignment_number", "dcc", "effective_date", "employee_number", "on_call_band_wales", "on_call_category", "spa", "total_contracted_pas"}

func compileShape(t *testing.T, src string, env map[string]string) (*httpsink.Shape, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	resolve := func(s string) (string, error) {
		for k, v := range env {
			s = strings.ReplaceAll(s, "${"+k+"}", v)
		}
		if strings.Contains(s, "${") {
			return "", errors.New("environment variable not set")
		}
		return s, nil
	}
	return httpsink.CompileShape(n.Content[0], resolve)
}

func TestShapeBuildsTheBody(t *testing.T) {
	s, err := compileShape(t, `
header:
  vpd: "123"
  version: 2
  ratio: 1.5e3
  live: true
  note: null
  sendingSystem: ${SYSTEM}
  $$schema: esr-jobplan-1
jobPlan:
  assignmentNumber: {$field: assignment_number}
  effectiveFrom: {$field: effective_date}
  sessions:
    - {type: DCC, value: {$field: dcc}}
    - {type: SPA, value: {$field: spa}}
  total: {$field: total_contracted_pas}
  band: {$field: on_call_band_wales, $if_null: omit}
  category: {$field: on_call_category, $if_null: omit}
  bandOrNull: {$field: on_call_band_wales}
original: {$record: true}
`, map[string]string{"SYSTEM": "JPH-01"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Apply([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"header":{"vpd":"123","version":2,"ratio":1.5e3,"live":true,"note":null,"sendingSystem":"JPH-01","$schema":"esr-jobplan-1"},` +
		`"jobPlan":{"assignmentNumber":"10000001-2","effectiveFrom":"2026-04-01","sessions":[{"type":"DCC","value":7.25},{"type":"SPA","value":2.75}],` +
		`"total":10.00,"category":"A","bandOrNull":null},"original":` + record + `}`
	if string(got) != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(got) {
		t.Error("the body is not valid JSON")
	}
	if errs := s.CheckFields(recordFields); len(errs) != 0 {
		t.Errorf("CheckFields: %v", errs)
	}

	// A record without a field the shape names is refused, not sent with
	// a null in its place.
	if _, err := s.Apply([]byte(`{"assignment_number":"10000001","effective_date":"2026-04-01"}`)); err == nil || !strings.Contains(err.Error(), `no field "dcc"`) {
		t.Errorf("Apply to a record without dcc: %v", err)
	}
}

func TestShapeProblemsHavePositions(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"not a mapping", `[1, 2]`, `1:1: payload must be a mapping`},
		{"unknown operator", "a: {$feild: dcc}", `1:5: unknown payload operator "$feild"`},
		{"operator beside keys", "a:\n  x: 1\n  $field: dcc", `3:3: "$field" beside other keys`},
		{"field and record", "a: {$field: dcc, $record: true}", `1:4: give $field or $record, not both`},
		{"field not a name", "a: {$field: [dcc]}", `1:13: $field takes the name of a record field`},
		{"record not true", "a: {$record: yes}", `1:14: write the whole record as {$record: true}`},
		{"if_null alone", "a: {$if_null: omit}", `1:4: $if_null goes beside $field`},
		{"if_null value", "a: {$field: dcc, $if_null: drop}", `1:28: $if_null: want omit or null`},
		{"if_null omit in a list", "a: [{$field: dcc, $if_null: omit}]", `1:29: $if_null: omit leaves out an object member`},
		{"hex number", "a: 0x1F", `1:4: "0x1F": write a number as JSON does`},
		{"infinity", "a: .inf", `1:4: ".inf": write a number as JSON does`},
		{"repeated key", "a: 1\nb: 2\na: 3", `3:1: payload key "a" given twice`},
		{"unset variable", "a: ${NOPE}", `1:4: environment variable not set`},
		{"binary", "a: !!binary aGk=", `1:4: "aGk=" (!!binary) cannot be sent as JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileShape(t, tc.src, nil)
			var errs httpsink.ShapeErrors
			if !errors.As(err, &errs) || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Errorf("CompileShape(%q) = %v, want one problem starting %q", tc.src, err, tc.want)
			}
		})
	}
}

func TestShapeCheckFields(t *testing.T) {
	s, err := compileShape(t, "plan:\n  dcc: {$field: dcx}\n  date: {$field: effective_date}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := s.CheckFields(recordFields)
	want := []string{
		`2:8: $field "dcx" is not a field of the record (did you mean "dcc"?)`,
		`1:1: payload sends no assignment_number: add {$field: assignment_number} (or {$record: true}) where the receiver expects it`,
	}
	if len(errs) != len(want) {
		t.Fatalf("CheckFields = %v, want %v", errs, want)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("problem %d: %q, want %q", i, errs[i].Error(), want[i])
		}
	}
}

// FuzzShape: no YAML makes CompileShape panic or put a problem outside
// the input, and a compiled shape applied to a record writes valid JSON.
func FuzzShape(f *testing.F) {
	for _, seed := range []string{
		"a: {$field: dcc}\nb: {$record: true}\n",
		"h:\n  vpd: \"123\"\n  n: 1.5\n  l: [1, {$field: spa, $if_null: omit}, null]\n",
		"$$x: {$field: on_call_band_wales, $if_null: omit}\n",
		"a: &x {b: 1}\nc: *x\n",
		"a: {$if_null: omit}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var n yaml.Node
		if yaml.Unmarshal([]byte(src), &n) != nil || len(n.Content) == 0 {
			return
		}
		s, err := httpsink.CompileShape(n.Content[0], nil)
		// YAML breaks lines at \r as well as \n, and places an empty
		// node after the last line ("---").
		lines := strings.Count(src, "\n") + strings.Count(src, "\r") + 2
		var errs httpsink.ShapeErrors
		if errors.As(err, &errs) {
			for _, e := range errs {
				if e.Line < 1 || e.Line > lines || e.Col < 1 {
					t.Fatalf("problem outside the input (%d lines): %v", lines, e)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("unclassified error %v", err)
		}
		body, err := s.Apply([]byte(record))
		if err == nil && !json.Valid(body) {
			t.Fatalf("invalid JSON from %q: %s", src, body)
		}
	})
}

func TestPointerID(t *testing.T) {
	body := []byte(`{"data":{"id":"ESR-42","n":12345678901234567890,"list":[{"id":7}],"a/b":{"m~n":"x"},"empty":"","obj":{}}}`)
	for ptr, want := range map[string]string{
		"/data/id":         "ESR-42",
		"/data/n":          "12345678901234567890", // kept as written, not as a float
		"/data/list/0/id":  "7",
		"/data/a~1b/m~0n":  "x",
		"/data/missing":    "error",
		"/data/list/1/id":  "error",
		"/data/list/01/id": "error",
		"/data/empty":      "error",
		"/data/obj":        "error",
	} {
		p, err := httpsink.ParsePointer(ptr)
		if err != nil {
			t.Fatalf("ParsePointer(%q): %v", ptr, err)
		}
		got, err := p.ID(body)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: %q (%v), want %q", ptr, got, err, want)
		}
	}
	for _, bad := range []string{"", "data/id", "/a~2b", "/a~"} {
		if _, err := httpsink.ParsePointer(bad); err == nil {
			t.Errorf("ParsePointer(%q) accepted", bad)
		}
	}
}

// FuzzPointer: parsing and looking up never panic, and a pointer that
// parses prints as written.
func FuzzPointer(f *testing.F) {
	f.Add("/data/id", `{"data":{"id":"x"}}`)
	f.Add("/a~1b/0", `{"a/b":[1]}`)
	f.Add("/~0", `[]`)
	f.Fuzz(func(t *testing.T, ptr, body string) {
		p, err := httpsink.ParsePointer(ptr)
		if err != nil {
			return
		}
		if p.String() != ptr {
			t.Fatalf("pointer %q prints as %q", ptr, p.String())
		}
		if id, err := p.ID([]byte(body)); err == nil && id == "" {
			t.Fatalf("empty id without an error from %q in %q", ptr, body)
		}
	})
}
