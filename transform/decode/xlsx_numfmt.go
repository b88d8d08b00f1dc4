package decode

import "strings"

// numClass is what a cell's number format makes of its number: a plain
// number, a percentage (0.05 shown as 5%), a date, a date with a time of
// day, or a time of day alone.
type numClass uint8

const (
	numPlain numClass = iota
	numPercent
	numDate
	numDateTime
	numTime
)

// builtInClass classifies Excel's built-in number formats (ECMA-376 part 1,
// 18.8.30), which a workbook names by id without writing their codes.
// Ids 27-36 and 50-58 are the East Asian date formats; 45-47 and 20-21
// times of day.
func builtInClass(id int) (numClass, bool) {
	switch {
	case id == 9 || id == 10:
		return numPercent, true
	case id >= 14 && id <= 17, id >= 27 && id <= 31, id >= 34 && id <= 36, id >= 50 && id <= 58:
		return numDate, true
	case id == 22:
		return numDateTime, true
	case id >= 18 && id <= 21, id >= 32 && id <= 33, id >= 45 && id <= 47:
		return numTime, true
	}
	return numPlain, id < 164 // 164 and up are the workbook's own codes
}

// classifyFormat reads a custom number format code ("dd/mm/yyyy",
// "0.00%", "[h]:mm", "#,##0.00;[Red]-#,##0.00"). Only the first section
// (positive numbers) decides. Text in quotes, escaped characters, and
// bracketed colours and locales are not format letters; [h], [m] and [s]
// are elapsed time.
func classifyFormat(code string) numClass {
	section := code
	var date, clock, percent bool
	for i := 0; i < len(section); i++ {
		c := section[i]
		switch c {
		case ';':
			i = len(section) // later sections format negatives, zero and text
		case '"':
			if j := strings.IndexByte(section[i+1:], '"'); j >= 0 {
				i += j + 1
			} else {
				i = len(section)
			}
		case '\\', '_', '*':
			i++ // the next character is literal (or padding)
		case '[':
			j := strings.IndexByte(section[i:], ']')
			if j < 0 {
				i = len(section)
				continue
			}
			inner := strings.ToLower(section[i+1 : i+j])
			if inner != "" && strings.Trim(inner, "hms") == "" {
				clock = true
			}
			i += j
		case '%':
			percent = true
		case 'd', 'D', 'y', 'Y':
			date = true
		case 'h', 'H', 's', 'S':
			clock = true
		case 'm', 'M':
			// m is a month beside days and years, minutes beside hours and
			// seconds; either way it is a date or time format.
			date = date || !clock
		}
	}
	switch {
	case date && clock:
		if onlyMinutes(section) {
			return numTime
		}
		return numDateTime
	case date:
		return numDate
	case clock:
		return numTime
	case percent:
		return numPercent
	}
	return numPlain
}

// onlyMinutes reports whether the date letters of a format with hours are
// all m (minutes): "hh:mm" is a time, "dd/mm/yyyy hh:mm" a date and time.
func onlyMinutes(code string) bool {
	lower := strings.ToLower(code)
	if i := strings.IndexByte(lower, ';'); i >= 0 {
		lower = lower[:i]
	}
	return !strings.ContainsAny(stripQuoted(lower), "dy")
}

// stripQuoted removes quoted text and bracketed parts from a format code.
func stripQuoted(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		switch code[i] {
		case '"':
			j := strings.IndexByte(code[i+1:], '"')
			if j < 0 {
				return b.String()
			}
			i += j + 1
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				return b.String()
			}
			i += j
		case '\\':
			i++
		default:
			b.WriteByte(code[i])
		}
	}
	return b.String()
}
