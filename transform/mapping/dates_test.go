package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDateFormats(t *testing.T) {
	type want struct {
		value string
		iso   string // "" when refused
		why   string // for a date that does not exist (V4); "" for a shape error (M02)
	}
	tests := []struct {
		format   string
		yearFrom int
		values   []want
	}{
		{format: "dd/mm/yyyy", values: []want{
			{"01/04/2026", "2026-04-01", ""},
			{"31/12/1999", "1999-12-31", ""},
			{"1/04/2026", "2026-04-01", ""}, // dd takes one digit where a separator follows
			{"1/4/2026", "2026-04-01", ""},
			{"01-04-2026", "", ""},
			{"01/04/26", "", ""},
			{"01/04/2026 ", "", ""},
			{"31/02/2026", "", "31 February 2026 does not exist"},
			{"29/02/2025", "", "29 February 2025 does not exist (2025 is not a leap year)"},
			{"29/02/2024", "2024-02-29", ""},
			{"31/04/2026", "", "31 April 2026 does not exist"},
			{"00/04/2026", "", "there is no day 0"},
			{"12/13/2026", "", "there is no month 13"},
			{"12/00/2026", "", "there is no month 0"},
		}},
		{format: "d/m/yy", yearFrom: 1970, values: []want{
			{"1/4/26", "2026-04-01", ""},
			{"01/04/26", "2026-04-01", ""},
			{"1/4/69", "2069-04-01", ""},
			{"1/4/70", "1970-04-01", ""},
			{"1/4/2026", "", ""},
			{"30/2/26", "", "30 February 2026 does not exist"},
		}},
		{format: "d/m/yy", yearFrom: 2000, values: []want{{"1/4/99", "2099-04-01", ""}, {"1/4/00", "2000-04-01", ""}}},
		{format: "yyyy-mm-dd", values: []want{{"2026-04-01", "2026-04-01", ""}, {"2026-4-1", "2026-04-01", ""}, {"2026-02-30", "", "30 February 2026 does not exist"}}},
		{format: "dd-MMM-yyyy", values: []want{
			{"01-Apr-2026", "2026-04-01", ""},
			{"01-APR-2026", "2026-04-01", ""},
			{"01-apr-2026", "2026-04-01", ""},
			{"07-Sept-2026", "2026-09-07", ""},
			{"07-Sep-2026", "2026-09-07", ""},
			{"01-April-2026", "", ""},
			{"31-Jun-2026", "", "31 June 2026 does not exist"},
			{"01-Foo-2026", "", ""},
		}},
		{format: "d MMMM yyyy", values: []want{{"7 October 2026", "2026-10-07", ""}, {"7 Oct 2026", "", ""}}},
		{format: "dd/mm/yyyy hh:mm", values: []want{{"01/04/2026 00:00", "2026-04-01", ""}, {"01/04/2026 25:00", "", ""}, {"01/04/2026", "", ""}}},
		{format: "yyyy-mm-ddThh:mm:ss", values: []want{{"2026-04-01T09:30:00", "2026-04-01", ""}}},
		{format: "yyyymmdd", values: []want{{"20260401", "2026-04-01", ""}, {"20260431", "", "31 April 2026 does not exist"}, {"2026041", "", ""}}},
		{format: "ddmmyyyy", values: []want{{"01042026", "2026-04-01", ""}, {"1042026", "", ""}}}, // no separator: two digits each
		// Go layouts.
		{format: "02/01/2006", values: []want{{"01/04/2026", "2026-04-01", ""}, {"31/02/2026", "", "31 February 2026 does not exist"}, {"1/4/2026", "", ""}}},
		{format: "2/1/2006", values: []want{{"1/4/2026", "2026-04-01", ""}, {"01/04/2026", "2026-04-01", ""}}},
		{format: "2 Jan 2006", values: []want{{"7 Oct 2026", "2026-10-07", ""}}},
		{format: "_2 Jan 2006", values: []want{{" 7 Oct 2026", "2026-10-07", ""}, {"17 Oct 2026", "2026-10-17", ""}}},
		{format: "2006-01-02T15:04:05Z07:00", values: []want{
			{"2026-04-01T23:30:00+01:00", "2026-04-01", ""}, // the date as written
			{"2026-04-01T00:00:00Z", "2026-04-01", ""},
			{"2026-04-01T00:00:00.123Z", "2026-04-01", ""},
			{"2026-04-01", "", ""},
		}},
		{format: "02/01/06", yearFrom: 2000, values: []want{{"01/04/26", "2026-04-01", ""}}},
	}
	for _, tt := range tests {
		f, err := compileDateFormat(tt.format)
		if err != nil {
			t.Fatalf("compile %q: %v", tt.format, err)
		}
		f.yearFrom = tt.yearFrom
		for _, w := range tt.values {
			iso, err := f.parse(w.value)
			var ns *errNoSuchDate
			switch {
			case w.iso != "":
				if err != nil || iso != w.iso {
					t.Errorf("%q with %q = %q, %v; want %s", w.value, tt.format, iso, err, w.iso)
				}
			case w.why != "":
				if !errors.As(err, &ns) || ns.why != w.why {
					t.Errorf("%q with %q: error %v; want a date that does not exist: %s", w.value, tt.format, err, w.why)
				}
			default:
				if err != errDateShape {
					t.Errorf("%q with %q = %q, %v; want a shape error", w.value, tt.format, iso, err)
				}
			}
		}
	}
}

func TestDateFormatProblems(t *testing.T) {
	for format, want := range map[string]string{
		"":                 "cannot be blank",
		"dd/mm":            "exactly one day, one month and one year",
		"dd/mm/yyyy/dd":    "exactly one day",
		"ddd/mm/yyyy":      `"ddd" is not a date element`,
		"dd/mm/yyy":        `"yyy" is not a date element`,
		"dd/mm/yyyy q":     `"q" is not a date element`,
		"hh:mm dd/mm/yyyy": "only the end of a date format may hold a time",
		"dmyyyy":           "must be followed by a separator",
		"Mon 02/01/2006":   "weekday names",
		"2006-002":         "days of the year",
		"15:04 02/01/2006": "the time of day must come after the date",
	} {
		_, err := compileDateFormat(format)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compile %q: error %v, want one containing %q", format, err, want)
		}
	}
	for format, human := range map[string]string{
		"02/01/2006":                "dd/mm/yyyy",
		"2 Jan 2006":                "d MMM yyyy",
		"2006-01-02T15:04:05Z07:00": "yyyy-mm-ddThh:mm:ss(zone)",
		"d/m/yy":                    "d/m/yy",
	} {
		f, err := compileDateFormat(format)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.human(); got != human {
			t.Errorf("human(%q) = %q, want %q", format, got, human)
		}
	}
}

// FuzzDate checks the date reader never panics, that what it accepts is a
// real date, and that on Go layouts with a four-digit year it agrees with
// time.Parse: the same values accepted, with the same date.
func FuzzDate(f *testing.F) {
	for _, s := range [][2]string{
		{"02/01/2006", "01/04/2026"}, {"02/01/2006", "31/02/2026"}, {"2/1/2006", "1/4/2026"},
		{"2 Jan 2006", "7 Oct 2026"}, {"_2 January 2006", " 7 October 2026"}, {"2006-01-02T15:04:05Z07:00", "2026-04-01T00:00:00.5+01:00"},
		{"dd/mm/yyyy", "01/04/2026"}, {"d/m/yy", "1/4/26"}, {"dd-MMM-yyyy", "01-Apr-2026"}, {"20060102", "20260229"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, format, value string) {
		df, err := compileDateFormat(format)
		if err != nil {
			return
		}
		df.yearFrom = 1970
		iso, err := df.parse(value)
		if err == nil {
			if _, perr := time.Parse(time.DateOnly, iso); perr != nil {
				t.Fatalf("%q with %q gave %q, not a date", value, format, iso)
			}
		}
		if !strings.ContainsAny(format, "0123456789") || df.hasTwoDigitYear() || strings.Contains(strings.ToLower(value), "sept") {
			return
		}
		gt, gerr := time.Parse(format, value)
		switch {
		case gerr == nil && (err != nil || iso != gt.Format(time.DateOnly)):
			t.Fatalf("%q with %q: time.Parse gives %s, this reader %q, %v", value, format, gt.Format(time.DateOnly), iso, err)
		case gerr != nil && err == nil:
			t.Fatalf("%q with %q: time.Parse refuses it (%v), this reader gives %s", value, format, gerr, iso)
		}
	})
}
