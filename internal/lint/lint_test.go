package lint

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"gopkg.in/yaml.v3"
)

// unclosedList is a file whose line 5 opens a list that is never closed.
const unclosedList = "a: 1\nb: 2\nc:\n  d: 3\n  e: [x, y\n  f: 4\n"

func TestYAMLErrorLines(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		msg        string
	}{
		// The parser counts from 0: the list opened on line 5.
		{"unclosed list", unclosedList, 5, "did not find expected ',' or ']'"},
		{"unclosed mapping", "a: 1\nb: {x: 1\n", 2, "did not find expected ',' or '}'"},
		{"block sequence entry missing", "a: 1\nl:\n  - x: 1\n    y: 2\n  z: 3\n", 3, "did not find expected '-' indicator"},
		// The scanner counts from 1.
		{"tab indentation", "a: 1\nb:\n\tc: 2\n", 3, "found character that cannot start any token"},
		{"unclosed quote", "a: 1\nb: \"x\n", 2, "found unexpected end of stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tc.text), &n)
			if err == nil {
				t.Fatal("no syntax error")
			}
			p := YAMLError("f.yaml", err)
			if p.Line != tc.line || p.Col != 1 || p.Message != tc.msg {
				t.Errorf("got %v, want f.yaml:%d:1: %s (yaml.v3 said %q)", p, tc.line, tc.msg, err)
			}
		})
	}
	if p := YAMLError("f.yaml", errors.New("yaml: something without a line")); p.String() != "f.yaml:1:1: something without a line" {
		t.Errorf("an error without a line: %v", p)
	}
}

func TestDecodeErrorsPointAtTheSetting(t *testing.T) {
	text := "version: 1\ncolumns:\n  width: wide\n  height: 3\n"
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version int `yaml:"version"`
		Columns struct {
			Width  int `yaml:"width"`
			Height int `yaml:"height"`
		} `yaml:"columns"`
	}
	ps := DecodeErrors("f.yaml", &root, root.Decode(&v))
	if len(ps) != 1 || ps[0].Line != 3 || ps[0].Col != 3 || !strings.Contains(ps[0].Message, "cannot unmarshal !!str `wide`") {
		t.Errorf("got %v, want one problem at f.yaml:3:3", ps)
	}
}

func TestProblems(t *testing.T) {
	ps := Problems{
		{File: "m.yaml", Line: 2, Col: 1, Message: "mapping"},
		{File: "h.yaml", Line: 3, Col: 5, Message: "late"},
		{File: "h.yaml", Message: "no position"},
		{File: "h.yaml", Line: 3, Col: 1, Message: "early"},
		{Message: "no file"},
	}
	ps.Sort("h.yaml")
	var err error = ps
	want := "h.yaml: no position\nh.yaml:3:1: early\nh.yaml:3:5: late\nno file\nm.yaml:2:1: mapping"
	if got := err.Error(); got != want {
		t.Errorf("sorted problems:\n%s\nwant:\n%s", got, want)
	}
	var back Problems
	if !errors.As(err, &back) || len(back) != 5 {
		t.Errorf("errors.As does not give the Problems back")
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"concurrency", "timeout", "token", "token_file"}
	for word, want := range map[string]string{
		"concurency": ` (did you mean "concurrency"?)`,
		"tokne":      ` (did you mean "token"?)`,
		"colour":     "",
	} {
		if got := Suggest(word, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
	// Equally near words: always the same one, whatever the order given.
	for range 20 {
		if got := Suggest("tokens", []string{"token_", "token", "tokenz"}); got != ` (did you mean "token"?)` {
			t.Fatalf("tie broken as %q", got)
		}
	}
}

type dialect struct {
	Delimiter string `yaml:"delimiter"`
	SkipRows  int    `yaml:"skip_rows"`
}

type testConfig struct {
	Version int `yaml:"version"`
	CSV     struct {
		dialect      `yaml:",inline"`
		DecimalComma bool `yaml:"decimal_comma"`
	} `yaml:"csv"`
	Columns map[string]struct {
		Name string `yaml:"name"`
	} `yaml:"columns"`
	List   []dialect `yaml:"list"`
	Opaque yaml.Node `yaml:"opaque"`
}

func TestDecode(t *testing.T) {
	text := `version: one
csv:
  delimeter: ";"
  skip_rows: 1
  decimal_comma: true
columns:
  a: {name: A, nmae: B}
list:
  - {delimiter: ",", skiprows: 2}
opaque: {anything: goes}
colums: {}
`
	var c testConfig
	d, err := Decode("c.yaml", []byte(text), &c)
	if err != nil {
		t.Fatal(err)
	}
	d.Addf("columns.b.name", "columns.b.name is required")
	d.Addf("csv.delimiter", "csv.delimiter is required")
	d.Addf("", "something about the whole file")
	want := []string{
		"c.yaml:1:1: cannot unmarshal !!str `one` into int",
		"c.yaml:1:1: something about the whole file",
		"c.yaml:2:1: csv.delimiter is required",
		`c.yaml:3:3: unknown key "delimeter" in csv (did you mean "delimiter"?)`,
		"c.yaml:6:1: columns.b.name is required",
		`c.yaml:7:16: unknown key "nmae" in columns.a (did you mean "name"?)`,
		`c.yaml:9:22: unknown key "skiprows" in list[0] (did you mean "skip_rows"?)`,
		`c.yaml:11:1: unknown key "colums" (did you mean "columns"?)`,
	}
	got := strings.Split(d.Err().Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c.CSV.SkipRows != 1 || !c.CSV.DecimalComma || c.Columns["a"].Name != "A" {
		t.Errorf("decoded %+v", c)
	}

	for text, want := range map[string]string{
		// Found at the end of the file, on line 2.
		"a: [1\n": "c.yaml:2:1: did not find expected ',' or ']'",
		"- a\n":   "c.yaml:1:1: want a mapping of keys to values",
	} {
		if _, err := Decode("c.yaml", []byte(text), &c); err == nil || err.Error() != want {
			t.Errorf("Decode(%q) = %v, want %q", text, err, want)
		}
	}
	d, err = Decode("c.yaml", nil, &c)
	if err != nil || d.Err() != nil {
		t.Errorf("an empty file: %v, %v", err, d.Err())
	}
	d.Addf("version", "version must be 1")
	if got := d.Err().Error(); got != "c.yaml:1:1: version must be 1" {
		t.Errorf("a problem of an empty file: %q", got)
	}
}

// FuzzDecode: any input decodes without a panic, and every problem is
// placed inside the file.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(unclosedList))
	f.Add([]byte("version: 1\ncsv: {delimeter: x}\ncolumns: {a: {nmae: b}}\nlist: [{skiprows: 1}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c testConfig
		d, err := Decode("f.yaml", data, &c)
		if err == nil {
			d.Addf("columns.a.name", "a problem")
			err = d.Err()
		}
		var ps Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("Decode error %v is not Problems", err)
		}
		lines := testutil.YAMLLines(data)
		for _, p := range ps {
			if p.Line < 1 || p.Line > lines+1 || p.Col < 1 {
				t.Errorf("%v is outside the file (%d lines)", p, lines)
			}
		}
	})
}

func TestProblemsIsAnError(t *testing.T) {
	var err error = Problems{{File: "h.yaml", Line: 3, Col: 5, Message: "one"}, {File: "h.yaml", Message: "two"}, {Message: "three"}}
	var ps Problems
	if !errors.As(err, &ps) || err.Error() != "h.yaml:3:5: one\nh.yaml: two\nthree" {
		t.Errorf("Problems.Error() = %q", err.Error())
	}
}

// TestReplacedKey: a key a newer setting replaced is reported once, with
// what replaced it, instead of as an unknown key.
func TestReplacedKey(t *testing.T) {
	var c struct {
		Name string `yaml:"name"`
	}
	d, err := Decode("c.yaml", []byte("name: x\nold_key: true\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	d.Replaced("old_key", "new_key: a or b")
	d.Replaced("absent", "never reported")
	if got, want := fmt.Sprint(d.Err()), "c.yaml:2:1: old_key was replaced by new_key: a or b"; got != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}
