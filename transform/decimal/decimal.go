// Package decimal is an exact fixed-point number for PA values: an int64 of
// millionths. Supplier exports are parsed exactly, arithmetic (hours to PAs,
// annualised to weekly) keeps six places, and the record rounds to two, so
// no 7.4999999 float artefacts reach ESR.
//
// Every operation is checked: a result that does not fit (beyond ±Max) is
// ErrRange, never a wrapped-around small number. A typo such as 18446752
// hours must be refused, not turned into 1.98 PAs.
package decimal

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
)

// Dec is a decimal number with six fixed places.
type Dec int64

// Scale is the number of units in 1.
const Scale = 1_000_000

// Common values.
const (
	Zero Dec = 0
	One  Dec = Scale
)

// ErrSyntax is returned for text that is not a plain decimal number.
var ErrSyntax = errors.New("not a number")

// ErrRange is returned for numbers too large to hold, and by any operation
// whose result is beyond ±Max.
var ErrRange = errors.New("number out of range")

// ErrPrecision is returned by Parse for a number with more than six
// decimal places that are not all zeros.
var ErrPrecision = errors.New("more than six decimal places")

// ErrDivByZero is returned by Div for a zero divisor.
var ErrDivByZero = errors.New("division by zero")

// Max is the largest Dec (about 9.2 million million). The range is kept
// symmetric, -Max..Max, so that Abs and negation never overflow.
const Max = Dec(math.MaxInt64)

// FromInt returns n as a Dec, or ErrRange when |n| is beyond Max.
func FromInt(n int64) (Dec, error) {
	if n > int64(Max)/Scale || n < -int64(Max)/Scale {
		return 0, ErrRange
	}
	return Dec(n * Scale), nil
}

// Int returns the constant n as a Dec, for values known when the program
// is written (defaults); it panics if n does not fit. Use FromInt for input.
func Int(n int64) Dec {
	d, err := FromInt(n)
	if err != nil {
		panic("decimal.Int: constant out of range")
	}
	return d
}

// FromFloat rounds f to six places. Used for expression results only.
func FromFloat(f float64) (Dec, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 9e12 {
		return 0, ErrRange
	}
	return Dec(math.Round(f * Scale)), nil
}

// Float returns d as a float64 (for expressions).
func (d Dec) Float() float64 { return float64(d) / Scale }

// Parse reads a plain decimal: optional sign, digits, optional point (or
// comma when decimalComma is set) and up to six fractional digits. It
// allocates nothing.
func Parse(s string, decimalComma bool) (Dec, error) {
	return ParseBytes(s, decimalComma)
}

// ParseBytes is Parse for string or []byte.
func ParseBytes[T string | []byte](s T, decimalComma bool) (Dec, error) {
	i, n := 0, len(s)
	if n == 0 {
		return 0, ErrSyntax
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		i++
	case '+':
		i++
	}
	sep := byte('.')
	if decimalComma {
		sep = ','
	}
	var v int64
	digits, frac := 0, -1
	for ; i < n; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if frac >= 0 {
				if frac == 6 {
					// Seventh place: only zeros are exact.
					if c != '0' {
						return 0, ErrPrecision
					}
					continue
				}
				frac++
			}
			if v > (int64(Max)-int64(c-'0'))/10 {
				return 0, ErrRange
			}
			v = v*10 + int64(c-'0')
			digits++
		case c == sep && frac < 0:
			frac = 0
		default:
			return 0, ErrSyntax
		}
	}
	if digits == 0 {
		return 0, ErrSyntax
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < 6; frac++ {
		if v > int64(Max)/10 {
			return 0, ErrRange
		}
		v *= 10
	}
	if neg {
		v = -v
	}
	return Dec(v), nil
}

// Add returns d+e, or ErrRange when the sum is beyond ±Max.
func (d Dec) Add(e Dec) (Dec, error) {
	s := d + e // wraps on overflow; detected below
	if (d > 0 && e > 0 && s < 0) || (d < 0 && e < 0 && s >= 0) || s == -Max-1 {
		return 0, ErrRange
	}
	return s, nil
}

// Sub returns d-e, or ErrRange when the difference is beyond ±Max.
func (d Dec) Sub(e Dec) (Dec, error) {
	if e == -Max-1 {
		return 0, ErrRange
	}
	return d.Add(-e)
}

// Mul returns d*e rounded half away from zero to six places, or ErrRange
// when the product is beyond ±Max. The product is formed in 128 bits.
func (d Dec) Mul(e Dec) (Dec, error) {
	neg, a, b := signs(d, e)
	hi, lo := bits.Mul64(a, b)
	if hi >= Scale { // the quotient by Scale would not fit in 64 bits
		return 0, ErrRange
	}
	q, r := bits.Div64(hi, lo, Scale)
	return result(neg, q, r, Scale)
}

// Div returns d/e rounded half away from zero to six places, ErrDivByZero
// when e is 0, or ErrRange when the quotient is beyond ±Max.
func (d Dec) Div(e Dec) (Dec, error) {
	if e == 0 {
		return 0, ErrDivByZero
	}
	neg, a, b := signs(d, e)
	hi, lo := bits.Mul64(a, Scale)
	if hi >= b { // the quotient would not fit in 64 bits
		return 0, ErrRange
	}
	q, r := bits.Div64(hi, lo, b)
	return result(neg, q, r, b)
}

// signs returns whether d*e (or d/e) is negative, and |d| and |e|.
func signs(d, e Dec) (neg bool, a, b uint64) {
	return (d < 0) != (e < 0), abs64(int64(d)), abs64(int64(e))
}

// abs64 is |v| as a uint64; exact for math.MinInt64 too.
func abs64(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // -MinInt64 wraps to MinInt64, whose uint64 is 2^63
	}
	return uint64(v)
}

// result rounds the magnitude q with remainder r of a division by b half
// away from zero, and applies the sign.
func result(neg bool, q, r, b uint64) (Dec, error) {
	if r >= b-r { // 2r >= b, without overflowing 2r
		q++
	}
	if q > uint64(Max) {
		return 0, ErrRange
	}
	if neg {
		return Dec(-int64(q)), nil
	}
	return Dec(q), nil
}

// divRound is a/b rounded half away from zero; b > 0, and a/b cannot
// overflow as |a/b| <= |a|.
func divRound(a, b int64) int64 {
	q, r := a/b, a%b
	if r == 0 {
		return q
	}
	if r < 0 {
		r = -r
	}
	if 2*r >= b {
		if a < 0 {
			q--
		} else {
			q++
		}
	}
	return q
}

// Round2 rounds d half away from zero to two decimal places, or returns
// ErrRange when rounding up would go beyond ±Max.
func (d Dec) Round2() (Dec, error) {
	const step = Scale / 100
	q := divRound(int64(d), step)
	if q > int64(Max)/step || q < -int64(Max)/step {
		return 0, ErrRange
	}
	return Dec(q * step), nil
}

// Places reports how many decimal places d needs (0..6).
func (d Dec) Places() int {
	v := int64(d)
	if v < 0 {
		v = -v
	}
	p := 6
	for p > 0 && v%10 == 0 {
		v /= 10
		p--
	}
	return p
}

// IsMultipleOf reports whether d is an exact multiple of step (step > 0).
func (d Dec) IsMultipleOf(step Dec) bool { return step > 0 && int64(d)%int64(step) == 0 }

// Abs returns |d|. Every Dec an operation returns is within ±Max, so the
// result is never negative.
func (d Dec) Abs() Dec {
	if d < 0 {
		return -d
	}
	return d
}

// IsWhole reports whether d has no fractional part.
func (d Dec) IsWhole() bool { return int64(d)%Scale == 0 }

// Append appends the shortest exact decimal form of d ("7.5", "10", "-0.25").
func (d Dec) Append(b []byte) []byte {
	v := int64(d)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/Scale, 10)
	f := v % Scale
	if f == 0 {
		return b
	}
	var buf [7]byte
	buf[0] = '.'
	for i := 6; i >= 1; i-- {
		buf[i] = byte('0' + f%10)
		f /= 10
	}
	end := 7
	for buf[end-1] == '0' {
		end--
	}
	return append(b, buf[:end]...)
}

// String returns the shortest exact decimal form of d.
func (d Dec) String() string { return string(d.Append(nil)) }

// MarshalJSON writes d as a JSON number.
func (d Dec) MarshalJSON() ([]byte, error) { return d.Append(nil), nil }

// UnmarshalJSON reads a JSON number (used by tests and config).
func (d *Dec) UnmarshalJSON(b []byte) error {
	v, err := ParseBytes(b, false)
	if err != nil {
		// JSON allows exponents; fall back to float for config values.
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil {
			return err
		}
		v, err = FromFloat(f)
		if err != nil {
			return err
		}
	}
	*d = v
	return nil
}

// UnmarshalText lets YAML configuration hold decimals.
func (d *Dec) UnmarshalText(b []byte) error { return d.UnmarshalJSON(b) }
