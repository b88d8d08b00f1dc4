package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A date format is written either in the notation people use (dd/mm/yyyy,
// d/m/yy, yyyy-mm-dd, dd-MMM-yyyy) or as a Go layout (02/01/2006). Both
// compile to the same elements, matched by this file's own reader rather
// than time.Parse, so that a value of the wrong shape (M02) is told apart
// from a date that does not exist, such as 31/02/2026 (V4), and a two-digit
// year is never given a century nobody chose.

type dateElemKind uint8

const (
	elemLiteral   dateElemKind = iota
	elemDay                    // 1 or 2 digits (d, Go 2)
	elemDay2                   // exactly 2 digits (dd, Go 02)
	elemDaySpace               // space-padded day (Go _2)
	elemMonth                  // 1 or 2 digits (m)
	elemMonth2                 // exactly 2 digits (mm)
	elemMonthAbbr              // Jan, Feb... (MMM)
	elemMonthName              // January... (MMMM)
	elemYear4                  // yyyy
	elemYear2                  // yy
	elemTime                   // the time of day and zone after the date, read by time.Parse and discarded
)

type dateElem struct {
	kind dateElemKind
	text string // literal text, or the Go layout of a time tail
	// lenient lets dd or mm of the notation take one digit too where
	// separators (or the ends) delimit it, so 1/4/2026 is read by
	// dd/mm/yyyy; Go layouts keep 02 to two digits, as package time does.
	lenient bool
}

// dateFormat is one compiled date format.
type dateFormat struct {
	written string // as in the mapping, for messages
	elems   []dateElem
	// yearFrom is the first year of the century two-digit years are read
	// in (two_digit_years_from); 0 when the format has a four-digit year.
	yearFrom int
}

func (f *dateFormat) hasTwoDigitYear() bool {
	for _, e := range f.elems {
		if e.kind == elemYear2 {
			return true
		}
	}
	return false
}

// compileDateFormat reads a format in either notation. A format with any
// ASCII digit is a Go layout (whose reference date is all digits); one
// without is the dd/mm/yyyy notation.
func compileDateFormat(s string) (*dateFormat, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("a date format cannot be blank")
	}
	var elems []dateElem
	var err error
	if strings.ContainsAny(s, "0123456789") {
		elems, err = goLayoutElems(s)
	} else {
		elems, err = notationElems(s)
	}
	if err != nil {
		return nil, err
	}
	var day, month, year int
	for i, e := range elems {
		switch e.kind {
		case elemDay, elemDay2, elemDaySpace:
			day++
		case elemMonth, elemMonth2, elemMonthAbbr, elemMonthName:
			month++
		case elemYear4, elemYear2:
			year++
		case elemTime:
			if i != len(elems)-1 {
				return nil, errors.New("the time of day must come after the date")
			}
		}
		// A 1-or-2-digit element directly followed by digits could be
		// read more than one way (is 1112026 1/11/2026 or 11/1/2026?).
		if variableWidth(e.kind) && i+1 < len(elems) && isNumeric(elems[i+1].kind) {
			return nil, errors.New("a day or month of 1 or 2 digits (d, m) must be followed by a separator, not by more digits")
		}
	}
	if day != 1 || month != 1 || year != 1 {
		return nil, errors.New("a date format needs exactly one day, one month and one year")
	}
	return &dateFormat{written: s, elems: elems}, nil
}

func variableWidth(k dateElemKind) bool { return k == elemDay || k == elemMonth || k == elemDaySpace }

func isNumeric(k dateElemKind) bool {
	switch k {
	case elemDay, elemDay2, elemDaySpace, elemMonth, elemMonth2, elemYear4, elemYear2:
		return true
	}
	return false
}

func appendLiteral(elems []dateElem, s string) []dateElem {
	if s == "" {
		return elems
	}
	if n := len(elems); n > 0 && elems[n-1].kind == elemLiteral {
		elems[n-1].text += s
		return elems
	}
	return append(elems, dateElem{kind: elemLiteral, text: s})
}

// notationElems reads dd/mm/yyyy notation: d or dd (day), m or mm, M or MM
// (month number), mmm or MMM (Jan), mmmm or MMMM (January), yy or yyyy,
// then optionally a time hh:mm or hh:mm:ss (discarded). Letters are read
// without regard to case; a T between date and time is a literal.
func notationElems(s string) ([]dateElem, error) {
	var elems []dateElem
	for i := 0; i < len(s); {
		rest := s[i:]
		lower := strings.ToLower(rest)
		if strings.HasPrefix(lower, "hh:mm") {
			layout, n := "15:04", 5
			if strings.HasPrefix(lower, "hh:mm:ss") {
				layout, n = "15:04:05", 8
			}
			if i+n != len(s) {
				return nil, fmt.Errorf("only the end of a date format may hold a time of day (hh:mm or hh:mm:ss)")
			}
			elems = append(elems, dateElem{kind: elemTime, text: layout})
			break
		}
		c := lower[0]
		run := 1
		for run < len(lower) && lower[run] == c {
			run++
		}
		switch {
		case c == 'd' && run <= 2:
			elems = append(elems, dateElem{kind: [3]dateElemKind{0, elemDay, elemDay2}[run]})
		case c == 'm' && run <= 4:
			elems = append(elems, dateElem{kind: [5]dateElemKind{0, elemMonth, elemMonth2, elemMonthAbbr, elemMonthName}[run]})
		case c == 'y' && (run == 2 || run == 4):
			elems = append(elems, dateElem{kind: map[int]dateElemKind{2: elemYear2, 4: elemYear4}[run]})
		case c == 'd' || c == 'm' || c == 'y':
			return nil, fmt.Errorf("%q is not a date element (use d or dd, m, mm, MMM or MMMM, yy or yyyy)", rest[:run])
		case c == 't' && run == 1:
			elems = appendLiteral(elems, rest[:1])
		case c >= 'a' && c <= 'z':
			return nil, fmt.Errorf("%q is not a date element (use d or dd, m, mm, MMM or MMMM, yy or yyyy; a Go layout such as 02/01/2006 can say more)", rest[:1])
		default:
			elems = appendLiteral(elems, rest[:run])
		}
		i += run
	}
	for i := range elems {
		k := elems[i].kind
		delimitedAfter := i+1 == len(elems) || elems[i+1].kind == elemLiteral && !startsWithDigit(elems[i+1].text)
		delimitedBefore := i == 0 || elems[i-1].kind == elemLiteral
		if (k == elemDay2 || k == elemMonth2) && delimitedAfter && delimitedBefore {
			elems[i].lenient = true
		}
	}
	return elems, nil
}

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// goLayoutElems reads a Go layout with the same chunking as package time
// (nextStdChunk). Date elements become the reader's own; time-of-day and
// zone elements at the end become one time tail checked by time.Parse.
func goLayoutElems(layout string) ([]dateElem, error) {
	var elems []dateElem
	timeFrom := -1 // offset of the first time element
	for i := 0; i < len(layout); {
		kind, n, isTime := goChunk(layout[i:])
		switch {
		case n == 0:
			if timeFrom < 0 {
				elems = appendLiteral(elems, layout[i:i+1])
			}
			i++
			continue
		case isTime:
			if timeFrom < 0 {
				timeFrom = i
			}
		case kind == elemLiteral:
			return nil, fmt.Errorf("%q in a Go layout is not supported in a date format (weekday names and days of the year cannot be checked against the date)", layout[i:i+n])
		case timeFrom >= 0:
			return nil, errors.New("the time of day must come after the date")
		default:
			elems = append(elems, dateElem{kind: kind})
		}
		i += n
	}
	if timeFrom >= 0 {
		// Literals between the date and the first time element (a space,
		// a T) belong to the date part, so the tail starts on an element.
		elems = append(elems, dateElem{kind: elemTime, text: layout[timeFrom:]})
	}
	return elems, nil
}

// goChunk recognises a std element of a Go layout at the start of s: its
// kind for date elements, or isTime for time-of-day and zone elements; n is
// 0 when s starts with a literal. Weekday and day-of-year elements return
// elemLiteral with their length, to be refused.
func goChunk(s string) (kind dateElemKind, n int, isTime bool) {
	has := func(p string) bool { return strings.HasPrefix(s, p) }
	startsLower := func(rest string) bool { return rest != "" && rest[0] >= 'a' && rest[0] <= 'z' }
	switch s[0] {
	case 'J':
		if has("January") {
			return elemMonthName, 7, false
		}
		if has("Jan") && !startsLower(s[3:]) {
			return elemMonthAbbr, 3, false
		}
	case 'M':
		if has("Monday") {
			return elemLiteral, 6, false
		}
		if has("Mon") && !startsLower(s[3:]) {
			return elemLiteral, 3, false
		}
		if has("MST") {
			return 0, 3, true
		}
	case '0':
		if len(s) >= 2 && s[1] >= '1' && s[1] <= '6' {
			switch s[1] {
			case '1':
				return elemMonth2, 2, false
			case '2':
				return elemDay2, 2, false
			case '6':
				return elemYear2, 2, false
			}
			return 0, 2, true // 03 hour, 04 minute, 05 second
		}
		if has("002") {
			return elemLiteral, 3, false
		}
	case '1':
		if has("15") {
			return 0, 2, true
		}
		return elemMonth, 1, false
	case '2':
		if has("2006") {
			return elemYear4, 4, false
		}
		return elemDay, 1, false
	case '_':
		if has("_2006") {
			return 0, 0, false // a literal _ before the year
		}
		if has("_2") {
			return elemDaySpace, 2, false
		}
		if has("__2") {
			return elemLiteral, 3, false
		}
	case '3', '4', '5':
		return 0, 1, true
	case 'P':
		if has("PM") {
			return 0, 2, true
		}
	case 'p':
		if has("pm") {
			return 0, 2, true
		}
	case '-':
		for _, z := range []string{"-070000", "-07:00:00", "-0700", "-07:00", "-07"} {
			if has(z) {
				return 0, len(z), true
			}
		}
	case 'Z':
		for _, z := range []string{"Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07"} {
			if has(z) {
				return 0, len(z), true
			}
		}
	case '.', ',':
		if len(s) >= 2 && (s[1] == '0' || s[1] == '9') {
			j := 1
			for j < len(s) && s[j] == s[1] {
				j++
			}
			if j == len(s) || s[j] < '0' || s[j] > '9' {
				return 0, j, true
			}
		}
	}
	return 0, 0, false
}

var monthNames = [12]string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// errNoSuchDate is a value of the right shape naming a day that does not
// exist; its message says why ("31 February 2026 does not exist").
type errNoSuchDate struct{ why string }

func (e *errNoSuchDate) Error() string { return e.why }

var errDateShape = errors.New("not in the format")

// parse reads v. It returns the ISO date, errDateShape when v does not have
// the format's shape, or *errNoSuchDate when it has the shape but names no
// real day.
func (f *dateFormat) parse(v string) (string, error) {
	day, month, year := -1, -1, -1
	i := 0
	digits := func(min, max int) (int, bool) {
		n, j := 0, i
		for j < len(v) && j-i < max && v[j] >= '0' && v[j] <= '9' {
			n = n*10 + int(v[j]-'0')
			j++
		}
		if j-i < min {
			return 0, false
		}
		i = j
		return n, true
	}
	for _, e := range f.elems {
		var ok bool
		switch e.kind {
		case elemLiteral:
			ok = strings.HasPrefix(v[i:], e.text)
			i += len(e.text) * b2i(ok)
		case elemDay:
			day, ok = digits(1, 2)
		case elemDay2:
			day, ok = digits(2-b2i(e.lenient), 2)
		case elemDaySpace:
			if i < len(v) && v[i] == ' ' {
				i++
				day, ok = digits(1, 1)
			} else {
				day, ok = digits(1, 2)
			}
		case elemMonth:
			month, ok = digits(1, 2)
		case elemMonth2:
			month, ok = digits(2-b2i(e.lenient), 2)
		case elemYear4:
			year, ok = digits(4, 4)
		case elemYear2:
			var yy int
			if yy, ok = digits(2, 2); ok {
				// The 100 years from yearFrom: with 1970, 69 is 2069 and 70 is 1970.
				year = f.yearFrom/100*100 + yy
				if year < f.yearFrom {
					year += 100
				}
			}
		case elemMonthAbbr, elemMonthName:
			month, ok = f.monthName(v, &i, e.kind == elemMonthAbbr)
		case elemTime:
			// The time of day is checked for shape and then dropped: the
			// record holds the date as written.
			_, err := time.Parse(e.text, v[i:])
			ok = err == nil
			i = len(v) * b2i(ok)
		}
		if !ok {
			return "", errDateShape
		}
	}
	if i != len(v) {
		return "", errDateShape
	}
	switch {
	case month < 1 || month > 12:
		return "", &errNoSuchDate{fmt.Sprintf("there is no month %d", month)}
	case day < 1:
		return "", &errNoSuchDate{fmt.Sprintf("there is no day %d", day)}
	}
	if last := daysIn(time.Month(month), year); day > last {
		why := fmt.Sprintf("%d %s %d does not exist", day, time.Month(month), year)
		if month == 2 && day == 29 {
			why += fmt.Sprintf(" (%d is not a leap year)", year)
		}
		return "", &errNoSuchDate{why}
	}
	return formatISODate(year, month, day), nil
}

// formatISODate writes yyyy-mm-dd with a single allocation: dates are read on
// every row.
func formatISODate(year, month, day int) string {
	b := [10]byte{'0' + byte(year/1000%10), '0' + byte(year/100%10), '0' + byte(year/10%10), '0' + byte(year%10), '-',
		'0' + byte(month/10), '0' + byte(month%10), '-', '0' + byte(day/10), '0' + byte(day%10)}
	return string(b[:])
}

// monthName reads a month name at v[*i:], ignoring case: the three-letter
// abbreviation (or Sept), or the full name.
func (f *dateFormat) monthName(v string, i *int, abbr bool) (int, bool) {
	rest := strings.ToLower(v[*i:])
	for m, name := range monthNames {
		candidates := []string{name}
		if abbr {
			candidates = []string{name[:3]}
			if m == 8 {
				candidates = []string{"sept", "sep"}
			}
		}
		for _, c := range candidates {
			if strings.HasPrefix(rest, c) && !(len(rest) > len(c) && isLetter(rest[len(c)])) {
				*i += len(c)
				return m + 1, true
			}
		}
	}
	return 0, false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// human shows the format as a trust's analyst reads it: notation as
// written, a Go layout translated (02/01/2006 as dd/mm/yyyy).
func (f *dateFormat) human() string {
	if !strings.ContainsAny(f.written, "0123456789") {
		return f.written
	}
	var b strings.Builder
	for _, e := range f.elems {
		switch e.kind {
		case elemLiteral:
			b.WriteString(e.text)
		case elemDay, elemDaySpace:
			b.WriteString("d")
		case elemDay2:
			b.WriteString("dd")
		case elemMonth:
			b.WriteString("m")
		case elemMonth2:
			b.WriteString("mm")
		case elemMonthAbbr:
			b.WriteString("MMM")
		case elemMonthName:
			b.WriteString("MMMM")
		case elemYear4:
			b.WriteString("yyyy")
		case elemYear2:
			b.WriteString("yy")
		case elemTime:
			b.WriteString(timeTailHuman.Replace(e.text))
		}
	}
	return b.String()
}

var timeTailHuman = strings.NewReplacer("15", "hh", "03", "hh", "04", "mm", "05", "ss", "Z07:00", "(zone)", "-07:00", "(zone)", "Z0700", "(zone)", "-0700", "(zone)", "MST", "(zone)", "PM", "AM/PM")
