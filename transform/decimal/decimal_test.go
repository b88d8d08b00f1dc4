package decimal

import (
	"errors"
	"math"
	"math/big"
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
		{"0.1234567", false, "", ErrPrecision},
		{"9223372036854.775807", false, "9223372036854.775807", nil},
		{"99999999999999999999", false, "", ErrRange},
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
	ok := func(d Dec, err error) Dec {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got := ok(h("30").Div(h("4"))); got != h("7.5") {
		t.Errorf("30/4 = %s", got)
	}
	if got := ok(h("1").Div(h("3"))); got != h("0.333333") {
		t.Errorf("1/3 = %s", got)
	}
	if got := ok(h("2").Div(h("3"))); got != h("0.666667") {
		t.Errorf("2/3 = %s", got)
	}
	if got := ok(h("-2").Div(h("3"))); got != h("-0.666667") {
		t.Errorf("-2/3 = %s", got)
	}
	if got := ok(h("0.125").Round2()); got != h("0.13") {
		t.Errorf("round 0.125 = %s", got)
	}
	if got := ok(h("-0.125").Round2()); got != h("-0.13") {
		t.Errorf("round -0.125 = %s", got)
	}
	if got := ok(ok(ok(ok(h("42").Mul(h("4"))).Div(h("4"))).Div(h("42"))).Add(h("0.5"))); got != h("1.5") {
		t.Errorf("42*4/4/42+0.5 = %s", got)
	}
	if got := ok(h("0.000001").Mul(h("0.5"))); got != h("0.000001") {
		t.Errorf("0.000001*0.5 = %s, want half rounded away from zero", got)
	}
	if h("7.333333").Places() != 6 || h("7.5").Places() != 1 || h("7").Places() != 0 {
		t.Error("Places wrong")
	}
	if !h("7.25").IsMultipleOf(h("0.25")) || h("7.3").IsMultipleOf(h("0.25")) {
		t.Error("IsMultipleOf wrong")
	}
	if f, _ := FromFloat(7.4999999999); ok(f.Round2()).String() != "7.5" {
		t.Errorf("FromFloat artefact: %s", ok(f.Round2()))
	}
}

// TestOverflowRefused: results beyond ±Max are ErrRange, never a wrapped
// value. The first case is the issue's: 18446752 hours at 4 hours a PA
// overflowed the old int64 multiply and came out as 1.98 PAs.
func TestOverflowRefused(t *testing.T) {
	h := func(s string) Dec {
		d, err := Parse(s, false)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	type op func() (Dec, error)
	for name, f := range map[string]op{
		"18446752000 / 0.0001":        func() (Dec, error) { return h("18446752000").Div(h("0.0001")) },
		"Max + 0.000001":              func() (Dec, error) { return Max.Add(1) },
		"-Max - 0.000001":             func() (Dec, error) { return (-Max).Sub(1) },
		"-Max + -Max":                 func() (Dec, error) { return (-Max).Add(-Max) },
		"0 - MinInt64":                func() (Dec, error) { return Dec(0).Sub(-Max - 1) },
		"3037000.5 squared":           func() (Dec, error) { return h("3037000.5").Mul(h("3037000.5")) },
		"-4611687 * 2000000":          func() (Dec, error) { return h("-4611687").Mul(h("2000000")) },
		"Max / 0.5":                   func() (Dec, error) { return Max.Div(h("0.5")) },
		"1000000000 / 0.000001":       func() (Dec, error) { return h("1000000000").Div(1) },
		"Max rounded to 2 places":     func() (Dec, error) { return Max.Round2() },
		"FromInt(9223372036855)":      func() (Dec, error) { return FromInt(9223372036855) },
		"Parse 9223372036859":         func() (Dec, error) { return Parse("9223372036859", false) },
		"Parse 9223372036854.775808":  func() (Dec, error) { return Parse("9223372036854.775808", false) },
		"Parse -9223372036854.775808": func() (Dec, error) { return Parse("-9223372036854.775808", false) },
	} {
		d, err := f()
		if !errors.Is(err, ErrRange) {
			t.Errorf("%s = %s, %v; want ErrRange", name, d, err)
		}
	}
	if _, err := h("1").Div(0); !errors.Is(err, ErrDivByZero) {
		t.Errorf("1/0: err = %v, want ErrDivByZero", err)
	}
	// The 18446752 hours at 4 hours a PA: the old multiply by Scale
	// wrapped round and gave 1.98; the 128-bit quotient is exact (and the
	// mapping then refuses it as more than a week holds).
	if d, err := h("18446752").Div(h("4")); err != nil || d != h("4611688") {
		t.Errorf("18446752/4 = %s, %v; want 4611688", d, err)
	}
	// The edges themselves fit.
	if d, err := Parse("9223372036854.775807", false); err != nil || d != Max {
		t.Errorf("Parse(Max) = %s, %v", d, err)
	}
	if d, err := Max.Mul(One); err != nil || d != Max {
		t.Errorf("Max*1 = %s, %v", d, err)
	}
	if d, err := (-Max).Div(One); err != nil || d != -Max {
		t.Errorf("-Max/1 = %s, %v", d, err)
	}
}

// bigRound is n/d rounded half away from zero, exactly.
func bigRound(n, d *big.Int) *big.Int {
	neg := (n.Sign() < 0) != (d.Sign() < 0)
	an, ad := new(big.Int).Abs(n), new(big.Int).Abs(d)
	q, r := new(big.Int).QuoRem(an, ad, new(big.Int))
	if new(big.Int).Lsh(r, 1).Cmp(ad) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return q
}

// FuzzArithmetic checks every operation against math/big on random
// operands: the exact result rounded half away from zero when it is
// within ±Max, ErrRange otherwise.
func FuzzArithmetic(f *testing.F) {
	for _, seed := range [][2]int64{
		{18446752 * Scale, 4 * Scale}, {int64(Max), 1}, {-int64(Max), -1}, {math.MinInt64, 1},
		{3037000500000, 3037000500000}, {1, 2}, {-1, 2}, {7_500_000, 0}, {0, 0}, {5, -10},
		{int64(Max), Scale}, {int64(Max) / 2, 2 * Scale}, {999_999_999_999, 1},
	} {
		f.Add(seed[0], seed[1])
	}
	maxB := big.NewInt(int64(Max))
	scale := big.NewInt(Scale)
	fits := func(x *big.Int) bool { return new(big.Int).Abs(x).Cmp(maxB) <= 0 }
	f.Fuzz(func(t *testing.T, x, y int64) {
		a, b := Dec(x), Dec(y)
		bx, by := big.NewInt(x), big.NewInt(y)
		check := func(name string, got Dec, err error, want *big.Int, wantErr error) {
			t.Helper()
			switch {
			case wantErr != nil:
				if !errors.Is(err, wantErr) {
					t.Fatalf("%s(%d, %d) = %d, %v; want %v", name, x, y, got, err, wantErr)
				}
			case !fits(want):
				if !errors.Is(err, ErrRange) {
					t.Fatalf("%s(%d, %d) = %d, %v; exact %s is beyond ±Max, want ErrRange", name, x, y, got, err, want)
				}
			case err != nil || big.NewInt(int64(got)).Cmp(want) != 0:
				t.Fatalf("%s(%d, %d) = %d, %v; want %s", name, x, y, got, err, want)
			}
		}
		// Operands outside ±Max (only math.MinInt64) are not Decs any
		// operation returns; they must still not produce a wrong value.
		got, err := a.Add(b)
		check("Add", got, err, new(big.Int).Add(bx, by), nil)
		got, err = a.Sub(b)
		check("Sub", got, err, new(big.Int).Sub(bx, by), nil)
		got, err = a.Mul(b)
		check("Mul", got, err, bigRound(new(big.Int).Mul(bx, by), scale), nil)
		got, err = a.Div(b)
		if y == 0 {
			check("Div", got, err, nil, ErrDivByZero)
		} else {
			check("Div", got, err, bigRound(new(big.Int).Mul(bx, scale), by), nil)
		}
		got, err = a.Round2()
		step := big.NewInt(Scale / 100)
		check("Round2", got, err, new(big.Int).Mul(bigRound(bx, step), step), nil)
	})
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
