// Package decimal is an exact fixed-point number for PA values: an int64 of
// millionths. Supplier exports are parsed exactly, arithmetic (hours to PAs,
// annualised to weekly) keeps six places, and the record rounds to two, so
// no 7.4999999 float artefacts reach ESR.
package decimal

import (
	"errors"
	"math"
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

// ErrRange is returned for numbers too large or with too many places.
var ErrRange = errors.New("number out of range")

// FromInt returns n as a Dec.
func FromInt(n int64) Dec { return Dec(n * Scale) }

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
						return 0, ErrRange
					}
					continue
				}
				frac++
			}
			if v > (math.MaxInt64/10)/Scale {
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
		v *= 10
	}
	if neg {
		v = -v
	}
	return Dec(v), nil
}

// Mul returns d*e rounded half away from zero to six places.
func (d Dec) Mul(e Dec) Dec {
	return Dec(divRound(int64(d)*int64(e), Scale))
}

// Div returns d/e rounded half away from zero to six places; e must not be 0.
func (d Dec) Div(e Dec) Dec {
	return Dec(divRound(int64(d)*Scale, int64(e)))
}

func divRound(a, b int64) int64 {
	q, r := a/b, a%b
	if r == 0 {
		return q
	}
	if r < 0 {
		r = -r
	}
	if b < 0 {
		b = -b
	}
	if 2*r >= b {
		if (a < 0) != (b < 0) {
			q--
		} else {
			q++
		}
	}
	return q
}

// Round2 rounds d half away from zero to two decimal places.
func (d Dec) Round2() Dec {
	return Dec(divRound(int64(d), Scale/100) * (Scale / 100))
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

// Abs returns |d|.
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
