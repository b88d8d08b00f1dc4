package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// A case file holds a mapping's test cases: NAME.cases.yaml beside
// NAME.yaml. It is a YAML list; each case converts a small input with the
// mapping and checks the outcome:
//
//	- name: a plan whose totals do not add up is rejected
//	  input: |
//	    Employee Number,Assignment Number,...
//	    20000001,20000001,...
//	  expect:
//	    records: []                 # no record is sent
//	    findings:
//	      - {rule: V6, field: total_contracted_pas, severity: error}
//
// Expected records are matched in order, each on the fields it names only;
// expected findings are matched in any order on the keys they give, and
// every finding the conversion makes must be expected. Leaving records or
// findings out skips that check. counts checks report counts by name
// (accepted, rejected, ...); file_error expects the whole file to be
// refused with a reason containing the text.

// CasesSuffix ends the name of a case file.
const CasesSuffix = ".cases.yaml"

// IsCasesFile says whether path names a case file (by its suffix, in any
// case: mappings/*.yaml matches case files too).
func IsCasesFile(path string) bool {
	return len(path) >= len(CasesSuffix) && strings.EqualFold(path[len(path)-len(CasesSuffix):], CasesSuffix)
}

// CasesPath returns the case file of the mapping at path.
func CasesPath(mappingPath string) string {
	return strings.TrimSuffix(mappingPath, filepath.Ext(mappingPath)) + CasesSuffix
}

// MappingPathOf returns the mapping file a case file belongs to: NAME.yaml,
// or NAME.yml or NAME.json when that is what exists.
func MappingPathOf(casesPath string) string {
	base := strings.TrimSuffix(casesPath, CasesSuffix)
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if _, err := os.Stat(base + ext); err == nil {
			return base + ext
		}
	}
	return base + ".yaml"
}

// Case is one test case of a mapping.
type Case struct {
	Name string
	File string // the case file
	Line int    // where the case starts in it
	// Input is the export's text, inline; InputFile names a file instead
	// (relative to the case file), used byte for byte.
	Input     string
	InputFile string
	Expect    Expect
}

// Expect is what a case expects of the conversion.
type Expect struct {
	Records     []ExpectRecord // nil when not checked
	Findings    []ExpectFinding
	CheckRecs   bool
	CheckFinds  bool
	Counts      map[string]int
	CountsOrder []string
	FileError   string // the file must be refused, for a reason containing this
}

// ExpectRecord is a partial record: the fields named must have these values.
type ExpectRecord struct {
	Line   int
	Fields []ExpectField
}

// ExpectField is one field of an ExpectRecord; Value is nil for null.
type ExpectField struct {
	Key   string
	Value *string
}

// ExpectFinding is a partial finding: every key given must match.
type ExpectFinding struct {
	Line int
	Keys map[string]string
}

// findingKeys are the keys an expected finding may give.
var findingKeys = []string{"rule", "severity", "field", "column", "value", "line", "end_line", "record", "assignment_number", "message"}

// countKeys are the report counts a case may check.
var countKeys = []string{"rows_read", "rows_filtered", "plans_built", "accepted", "rejected", "warnings", "errors", "duplicates", "superseded", "held_back"}

// LoadCases reads a case file; a file with mistakes returns Problems.
func LoadCases(path string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	return ParseCases(path, data)
}

// ParseCases reads case-file text; name is used in positions.
func ParseCases(name string, data []byte) ([]Case, error) {
	doc := &document{file: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{lint.YAMLError(doc.file, err)}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.SequenceNode {
		return nil, Problems{{File: name, Line: 1, Col: 1, Message: "a case file is a YAML list of cases, each with name, input and expect"}}
	}
	var cases []Case
	names := map[string]int{}
	for _, n := range root.Content[0].Content {
		c := doc.parseCase(n)
		if c == nil {
			continue
		}
		if first, dup := names[c.Name]; dup {
			doc.add(n, "case %q is also at line %d; give each case its own name", c.Name, first)
		}
		names[c.Name] = c.Line
		cases = append(cases, *c)
	}
	if len(cases) == 0 && len(doc.problems) == 0 {
		doc.add(root.Content[0], "the file has no cases")
	}
	if len(doc.problems) > 0 {
		doc.sort()
		return nil, doc.problems
	}
	return cases, nil
}

// entries returns a mapping node's key and value nodes, reporting keys
// not in allowed.
func (d *document) entries(n *yaml.Node, where string, allowed []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		d.add(n, "%s must be a mapping (key: value)", where)
		return out
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key := n.Content[k]
		if allowed != nil && !slices.Contains(allowed, key.Value) {
			d.add(key, "%s: unknown key %q (allowed: %s)", where, key.Value, strings.Join(allowed, ", "))
			continue
		}
		out[key.Value] = n.Content[k+1]
	}
	return out
}

func (d *document) scalar(n *yaml.Node, where string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.add(n, "%s must be a single value", where)
		return "", false
	}
	return n.Value, true
}

func (d *document) parseCase(n *yaml.Node) *Case {
	e := d.entries(n, "case", []string{"name", "input", "input_file", "expect"})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	c := &Case{File: d.file, Line: n.Line}
	if v, ok := e["name"]; ok {
		c.Name, _ = d.scalar(v, "name")
	}
	if strings.TrimSpace(c.Name) == "" {
		d.add(n, "case: give it a name saying what it shows")
		return nil
	}
	where := fmt.Sprintf("case %q", c.Name)
	in, hasIn := e["input"]
	file, hasFile := e["input_file"]
	switch {
	case hasIn == hasFile:
		d.add(n, "%s: give exactly one of input (the export's text) or input_file", where)
	case hasIn:
		c.Input, _ = d.scalar(in, where+": input")
	default:
		c.InputFile, _ = d.scalar(file, where+": input_file")
	}
	ex, ok := e["expect"]
	if !ok {
		d.add(n, "%s: expect is missing: say which records and findings the input gives", where)
		return c
	}
	xe := d.entries(ex, where+": expect", []string{"records", "findings", "counts", "file_error"})
	if r, ok := xe["records"]; ok {
		c.Expect.CheckRecs = true
		c.Expect.Records = d.parseRecords(r, where)
	}
	if f, ok := xe["findings"]; ok {
		c.Expect.CheckFinds = true
		c.Expect.Findings = d.parseFindings(f, where)
	}
	if cn, ok := xe["counts"]; ok {
		c.Expect.Counts = map[string]int{}
		for k := 0; cn.Kind == yaml.MappingNode && k+1 < len(cn.Content); k += 2 {
			key, val := cn.Content[k], cn.Content[k+1]
			if !slices.Contains(countKeys, key.Value) {
				d.add(key, "%s: counts: unknown count %q (allowed: %s)", where, key.Value, strings.Join(countKeys, ", "))
				continue
			}
			v, err := strconv.Atoi(val.Value)
			if err != nil || val.Kind != yaml.ScalarNode {
				d.add(val, "%s: counts.%s must be a whole number", where, key.Value)
				continue
			}
			c.Expect.Counts[key.Value] = v
			c.Expect.CountsOrder = append(c.Expect.CountsOrder, key.Value)
		}
		if cn.Kind != yaml.MappingNode {
			d.add(cn, "%s: counts must be a mapping such as {accepted: 1, rejected: 0}", where)
		}
	}
	if fe, ok := xe["file_error"]; ok {
		c.Expect.FileError, _ = d.scalar(fe, where+": file_error")
		if c.Expect.FileError == "" {
			d.add(fe, "%s: file_error: give text the reason must contain", where)
		}
	}
	return c
}

func (d *document) parseRecords(n *yaml.Node, where string) []ExpectRecord {
	if n.Kind != yaml.SequenceNode {
		d.add(n, "%s: records must be a list of records (use [] for none)", where)
		return nil
	}
	out := []ExpectRecord{}
	for i, rn := range n.Content {
		rec := ExpectRecord{Line: rn.Line}
		if rn.Kind != yaml.MappingNode {
			d.add(rn, "%s: record %d must be a mapping of field: value", where, i+1)
			continue
		}
		for k := 0; k+1 < len(rn.Content); k += 2 {
			key, val := rn.Content[k], rn.Content[k+1]
			if _, ok := record.Lookup(key.Value); !ok {
				d.add(key, "%s: record %d: %q is not a field of the ESR job-plan record (see `jobplan-hub schema`)", where, i+1, key.Value)
				continue
			}
			if val.Kind != yaml.ScalarNode {
				d.add(val, "%s: record %d: %s must be a single value", where, i+1, key.Value)
				continue
			}
			f := ExpectField{Key: key.Value}
			if val.Tag != "!!null" {
				v := val.Value
				f.Value = &v
			}
			rec.Fields = append(rec.Fields, f)
		}
		out = append(out, rec)
	}
	return out
}

func (d *document) parseFindings(n *yaml.Node, where string) []ExpectFinding {
	if n.Kind != yaml.SequenceNode {
		d.add(n, "%s: findings must be a list (use [] for none)", where)
		return nil
	}
	out := []ExpectFinding{}
	for i, fn := range n.Content {
		e := d.entries(fn, fmt.Sprintf("%s: finding %d", where, i+1), findingKeys)
		f := ExpectFinding{Line: fn.Line, Keys: map[string]string{}}
		for k, v := range e {
			s, ok := d.scalar(v, fmt.Sprintf("%s: finding %d: %s", where, i+1, k))
			if !ok {
				continue
			}
			switch k {
			case "rule":
				if _, known := finding.Rules[s]; !known {
					d.add(v, "%s: finding %d: unknown rule %q", where, i+1, s)
				}
			case "severity":
				if s != string(finding.Error) && s != string(finding.Warning) {
					d.add(v, "%s: finding %d: severity is error or warning", where, i+1)
				}
			case "field":
				if _, known := record.Lookup(s); !known {
					d.add(v, "%s: finding %d: %q is not a field of the record", where, i+1, s)
				}
			case "line", "end_line", "record":
				if _, err := strconv.Atoi(s); err != nil {
					d.add(v, "%s: finding %d: %s must be a whole number", where, i+1, k)
				}
			}
			f.Keys[k] = s
		}
		if fn.Kind == yaml.MappingNode && len(f.Keys) == 0 {
			d.add(fn, "%s: finding %d: give at least the rule", where, i+1)
		}
		out = append(out, f)
	}
	return out
}

// InputBytes returns the case's input as an export would hold it: inline
// text encoded as the mapping declares (with a byte-order mark for
// utf-8-bom and utf-16), or input_file's bytes unchanged.
func (c *Case) InputBytes(m *Mapping) ([]byte, error) {
	if c.InputFile != "" {
		path := c.InputFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.File), path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("input_file: %w", err)
		}
		return b, nil
	}
	if m.Format == "xlsx" {
		return nil, errors.New("a workbook is not text: give the case's workbook as input_file")
	}
	return encodeText(c.Input, m.DecodeOptions("").Encoding())
}

func encodeText(text, name string) ([]byte, error) {
	var enc encoding.Encoding
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "utf-8":
		return []byte(text), nil
	case "utf-8-bom":
		return append([]byte{0xEF, 0xBB, 0xBF}, text...), nil
	case "windows-1252", "cp1252":
		enc = charmap.Windows1252
	case "iso-8859-1", "latin1":
		enc = charmap.ISO8859_1
	case "iso-8859-15":
		enc = charmap.ISO8859_15
	case "utf-16":
		enc = xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM)
	case "utf-16le":
		enc = xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM)
	case "utf-16be":
		enc = xunicode.UTF16(xunicode.BigEndian, xunicode.IgnoreBOM)
	default:
		return nil, fmt.Errorf("unknown encoding %q", name)
	}
	b, err := enc.NewEncoder().Bytes([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("the input cannot be written in %s: %w", name, err)
	}
	return b, nil
}

// Outcome is what converting a case's input produced.
type Outcome struct {
	// Records are the accepted records, decoded with json.Number numbers.
	Records  []map[string]any
	Findings []finding.Finding
	Counts   map[string]int
	// FileError is the reason the whole file was refused; "" when it was
	// processed.
	FileError string
}

// DecodeRecords reads records written one JSON object a line.
func DecodeRecords(data []byte) ([]map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var out []map[string]any
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("read records: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Check compares an outcome with the case's expectations and returns one
// line per difference; none means the case passes.
func (c *Case) Check(o *Outcome) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	x := &c.Expect
	switch {
	case x.FileError != "" && o.FileError == "":
		add("the file was processed, want it refused with %q", x.FileError)
	case x.FileError != "" && !strings.Contains(strings.ToLower(o.FileError), strings.ToLower(x.FileError)):
		add("file refused: got %q, want a reason containing %q", o.FileError, x.FileError)
	case x.FileError == "" && o.FileError != "":
		add("the file was refused: %s", o.FileError)
		return diffs
	}
	for _, k := range x.CountsOrder {
		if got, want := o.Counts[k], x.Counts[k]; got != want {
			add("counts.%s: got %d, want %d", k, got, want)
		}
	}
	if x.CheckRecs {
		if len(o.Records) != len(x.Records) {
			add("got %d records, want %d", len(o.Records), len(x.Records))
		}
		for i := range min(len(o.Records), len(x.Records)) {
			for _, f := range x.Records[i].Fields {
				got, ok := o.Records[i][f.Key]
				if !ok {
					add("record %d: %s is not in the record (aux fields are not sent)", i+1, f.Key)
					continue
				}
				if !sameValue(got, f.Value) {
					add("record %d: %s: got %s, want %s", i+1, f.Key, showGot(got), showWant(f.Value))
				}
			}
		}
		for i := len(x.Records); i < len(o.Records); i++ {
			add("unexpected record %d: %s", i+1, showRecord(o.Records[i]))
		}
	}
	if x.CheckFinds {
		used := make([]bool, len(o.Findings))
		for _, want := range x.Findings {
			found := false
			for i, got := range o.Findings {
				if !used[i] && findingMatches(got, want.Keys) {
					used[i], found = true, true
					break
				}
			}
			if !found {
				add("missing finding %s", showExpectFinding(want.Keys))
			}
		}
		for i, got := range o.Findings {
			if !used[i] {
				add("unexpected finding %s", ShowFinding(got))
			}
		}
	}
	return diffs
}

func sameValue(got any, want *string) bool {
	if want == nil {
		return got == nil
	}
	switch g := got.(type) {
	case nil:
		return false
	case json.Number:
		a, err1 := decimal.Parse(string(g), false)
		b, err2 := decimal.Parse(*want, false)
		return err1 == nil && err2 == nil && a == b
	case string:
		return g == *want
	}
	return fmt.Sprint(got) == *want
}

func showGot(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}

func showWant(v *string) string {
	if v == nil {
		return "null"
	}
	if _, err := decimal.Parse(*v, false); err == nil {
		return *v
	}
	return strconv.Quote(*v)
}

// showRecord lists a record's non-empty fields.
func showRecord(r map[string]any) string {
	var parts []string
	for _, k := range record.Keys() {
		v, ok := r[k]
		if !ok || v == nil || v == "" || v == json.Number("0") {
			continue
		}
		parts = append(parts, k+": "+showGot(v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func findingMatches(f finding.Finding, want map[string]string) bool {
	for k, v := range want {
		var got string
		switch k {
		case "rule":
			got = f.Rule
		case "severity":
			got = string(f.Severity)
		case "field":
			got = f.Field
		case "column":
			got = f.Column
		case "value":
			got = f.Value
		case "assignment_number":
			got = f.Assignment
		case "line":
			got = strconv.Itoa(f.Line)
		case "end_line":
			got = strconv.Itoa(f.EndLine)
		case "record":
			got = strconv.Itoa(f.Record)
		case "message":
			if !strings.Contains(f.Message, v) {
				return false
			}
			continue
		}
		if got != v {
			return false
		}
	}
	return true
}

func showExpectFinding(keys map[string]string) string {
	var parts []string
	for _, k := range findingKeys {
		if v, ok := keys[k]; ok {
			parts = append(parts, k+": "+v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// ShowFinding writes a finding the way a case would expect it, so it can
// be pasted into the case file.
func ShowFinding(f finding.Finding) string {
	parts := []string{"rule: " + f.Rule, "severity: " + string(f.Severity)}
	if f.Field != "" {
		parts = append(parts, "field: "+f.Field)
	}
	if f.Column != "" && !strings.HasPrefix(f.Column, "(") {
		parts = append(parts, "column: "+q(f.Column))
	}
	if f.Value != "" {
		parts = append(parts, "value: "+q(f.Value))
	}
	parts = append(parts, "line: "+strconv.Itoa(f.Line))
	s := "{" + strings.Join(parts, ", ") + "}"
	if f.Message != "" {
		s += " " + f.Message
	}
	return s
}

// ErrNoCases means a mapping has no case file.
var ErrNoCases = errors.New("no test cases")
