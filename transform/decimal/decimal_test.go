package decimal

import (
	"errors"
	"testing"
)

func TestParseAndFormat(t *testing.T) {
	tests := []struct {
		in    string
		comma bool
		want  string
		err   error
	}{
		{"7.5", false, "7.5", nil},
		{"7.50", false, "7.5", nil},
		{"10", false, "10", nil},
		{"-0.25", false, "-0.25", nil},
		{"+2", false, "2", nil},
		{".5", false, "0.5", nil},
		{"3,75", true, "3.75", nil},
		{"0.1234560", false, "0.123456", nil},
		{"0.1234567", false, "", ErrRange},
		{"1.2.3", false, "", ErrSyntax},
		{"abc", false, "", ErrSyntax},
		{"", false, "", ErrSyntax},
		{"-", false, "", ErrSyntax},
		{"3,75", false, "", ErrSyntax},
		{"99999999999999", false, "", ErrRange},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.comma)
		if !errors.Is(err, tt.err) {
			t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	h := func(s string) Dec {
		d, err := Parse(s, false)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got := h("30").Div(h("4")); got != h("7.5") {
		t.Errorf("30/4 = %s", got)
	}
	if got := h("1").Div(h("3")); got != h("0.333333") {
		t.Errorf("1/3 = %s", got)
	}
	if got := h("2").Div(h("3")); got != h("0.666667") {
		t.Errorf("2/3 = %s", got)
	}
	if got := h("0.125").Round2(); got != h("0.13") {
		t.Errorf("round 0.125 = %s", got)
	}
	if got := h("-0.125").Round2(); got != h("-0.13") {
		t.Errorf("round -0.125 = %s", got)
	}
	if got := h("42").Mul(h("4")).Div(h("4")).Div(h("42")); got != One {
		t.Errorf("42*4/4/42 = %s", got)
	}
	if h("7.333333").Places() != 6 || h("7.5").Places() != 1 || h("7").Places() != 0 {
		t.Error("Places wrong")
	}
	if !h("7.25").IsMultipleOf(h("0.25")) || h("7.3").IsMultipleOf(h("0.25")) {
		t.Error("IsMultipleOf wrong")
	}
	if f, _ := FromFloat(7.4999999999); f.Round2().String() != "7.5" {
		t.Errorf("FromFloat artefact: %s", f.Round2())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"7.5", "-0.25", "10", "3,75", "0.000001", "1e5", ""} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, comma bool) {
		d, err := Parse(s, comma)
		if err != nil {
			return
		}
		// Round trip: the printed form parses back to the same value.
		back, err := Parse(d.String(), false)
		if err != nil || back != d {
			t.Fatalf("round trip %q -> %s -> %v, %v", s, d, back, err)
		}
	})
}
