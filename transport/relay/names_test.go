package relay_test

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

func TestNameProblem(t *testing.T) {
	for name, want := range map[string]string{
		"plan.csv":                      "",
		"Jobplans 2026-04 (final).csv":  "",
		"médecins.csv":                  "",
		"":                              "not a file name",
		"..":                            "not a file name",
		"../x.csv":                      "leads out of the folder",
		"a/../../x.csv":                 "leads out of the folder",
		"/etc/passwd":                   "absolute path",
		"in/x.csv":                      "slash",
		`a\b.csv`:                       "backslash",
		"bad\nname.csv":                 "control character U+000A",
		"tab\t.csv":                     "control character U+0009",
		"\x1b[31mred.csv":               "control character U+001B",
		"del\x7f.csv":                   "control character U+007F",
		"c1\u0085.csv":                  "control character U+0085",
		"nul\x00.csv":                   "control character U+0000",
		"\xff\xfe.csv":                  "not valid UTF-8",
		"rtl\u202egpj.csv":              "invisible formatting character U+202E",
		"zero\u200bwidth.csv":           "invisible formatting character U+200B",
		"line\u2028sep.csv":             "invisible formatting character U+2028",
		strings.Repeat("a", 200):        "",
		strings.Repeat("a", 201):        "201 bytes long",
		strings.Repeat("é", 100) + ".c": "202 bytes long",
	} {
		got := relay.NameProblem(name)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("NameProblem(%s) = %q, want %q", relay.QuoteName(name), got, want)
		}
	}
}

func TestReadyMarkerProblem(t *testing.T) {
	for m, want := range map[string]string{
		".done":                       "",
		".ok":                         "",
		"_READY":                      "",
		"":                            "empty",
		".tmp":                        "always skipped",
		".Part":                       "always skipped",
		"/done":                       "slash",
		".do\nne":                     "control character",
		"." + strings.Repeat("d", 32): "33 bytes long",
	} {
		got := relay.ReadyMarkerProblem(m)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("ReadyMarkerProblem(%q) = %q, want %q", m, got, want)
		}
	}
}

// FuzzNameProblem: a name that is taken is a plain, printable, short
// name in one folder, and QuoteName shows every name as printable ASCII
// that reads back as the name.
func FuzzNameProblem(f *testing.F) {
	for _, s := range []string{"plan.csv", "../x", "/abs", "a\\b", "bad\nname", "\x1b[2J", "\xff", "rtl\u202e", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q := relay.QuoteName(name)
		for i := 0; i < len(q); i++ {
			if q[i] < 0x20 || q[i] > 0x7e {
				t.Fatalf("QuoteName(%q) = %q holds byte %#x", name, q, q[i])
			}
		}
		if back, err := strconv.Unquote(q); err != nil || back != name {
			t.Fatalf("QuoteName(%q) = %q reads back as %q, %v", name, q, back, err)
		}
		if relay.NameProblem(name) != "" {
			return
		}
		if !utf8.ValidString(name) || len(name) > relay.MaxNameBytes || name == "" || name == "." || name == ".." ||
			strings.ContainsAny(name, `/\`) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
			t.Fatalf("NameProblem(%q) accepts it", name)
		}
	})
}
