package reference

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// DefaultTitles are the titles and honorifics ignored when comparing names.
var DefaultTitles = []string{"dr", "doctor", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sir", "dame", "lord", "lady", "rev", "revd", "reverend"}

// NameVerdict is the outcome of comparing two names.
type NameVerdict uint8

const (
	// NameMatch: the same name once case, accents, hyphens, apostrophes,
	// titles and initials are set aside.
	NameMatch NameVerdict = iota
	// NameSwapped: surname and forenames are the other way round.
	NameSwapped
	// NameDifferent: not the same; the score says how close.
	NameDifferent
)

// nameMatcher compares names. It is read-only after creation.
type nameMatcher struct {
	titles map[string]bool
}

func newNameMatcher(titles []string) *nameMatcher {
	m := &nameMatcher{titles: map[string]bool{}}
	for _, t := range titles {
		buf, spans := normTokens(nil, nil, t)
		for _, sp := range spans {
			m.titles[string(buf[sp[0]:sp[1]])] = true
		}
	}
	return m
}

// span is a token's [start, end) in a normalised buffer.
type span [2]int

// name is a normalised name: lower-case ASCII-folded tokens.
type name struct {
	buf   []byte
	spans []span
}

func (n *name) tok(i int) []byte { return n.buf[n.spans[i][0]:n.spans[i][1]] }

// parse normalises s into buf and spans (normally on the caller's stack)
// and drops titles when other tokens remain.
func (m *nameMatcher) parse(buf []byte, spans []span, s string) name {
	buf, spans = normTokens(buf, spans, s)
	titles := 0
	for _, sp := range spans {
		if m.titles[string(buf[sp[0]:sp[1]])] {
			titles++
		}
	}
	if titles == 0 || titles == len(spans) {
		return name{buf, spans}
	}
	keep := spans[:0]
	for _, sp := range spans {
		if !m.titles[string(buf[sp[0]:sp[1]])] {
			keep = append(keep, sp)
		}
	}
	return name{buf, keep}
}

// joined reports whether a's tokens, run together, equal b's run together:
// "Smith-Jones", "Smith Jones" and "SmithJones" are one surname, as are
// "O'Brien" and "OBrien".
func joined(a, b *name) bool {
	i, j := 0, 0 // token index
	ai, bj := 0, 0
	for {
		for i < len(a.spans) && ai == a.spans[i][1]-a.spans[i][0] {
			i, ai = i+1, 0
		}
		for j < len(b.spans) && bj == b.spans[j][1]-b.spans[j][0] {
			j, bj = j+1, 0
		}
		if i == len(a.spans) || j == len(b.spans) {
			return i == len(a.spans) && j == len(b.spans)
		}
		if a.buf[a.spans[i][0]+ai] != b.buf[b.spans[j][0]+bj] {
			return false
		}
		ai, bj = ai+1, bj+1
	}
}

// sameForename: equal, or one is an initial of the other.
func sameForename(a, b []byte) bool {
	switch {
	case len(a) == 1 || len(b) == 1:
		return len(a) > 0 && len(b) > 0 && a[0] == b[0]
	}
	return string(a) == string(b)
}

// forenamesAgree: either side gives no forename, or the first forename
// (or initial) of one appears among the other's (people are often known by
// a middle name: "J Robert" is "Robert").
func forenamesAgree(a, b *name) bool {
	if len(a.spans) == 0 || len(b.spans) == 0 {
		return true
	}
	for _, x := range []struct{ first, all *name }{{a, b}, {b, a}} {
		f := x.first.tok(0)
		for k := range x.all.spans {
			if sameForename(f, x.all.tok(k)) {
				return true
			}
		}
	}
	return false
}

// compare compares a plan's name with a staff record's. score is the
// similarity (1 = same, 0 = nothing alike) of the normalised names as
// "surname forename", computed only when they do not match.
func (m *nameMatcher) compare(planSurname, planForenames, staffSurname, staffForenames string) (NameVerdict, float64) {
	// Buffers on the stack: plain names need no allocation.
	var b0, b1, b2, b3 [64]byte
	var s0, s1, s2, s3 [8]span
	ps := m.parse(b0[:0], s0[:0], planSurname)
	pf := m.parse(b1[:0], s1[:0], planForenames)
	ss := m.parse(b2[:0], s2[:0], staffSurname)
	sf := m.parse(b3[:0], s3[:0], staffForenames)
	if joined(&ps, &ss) && forenamesAgree(&pf, &sf) {
		return NameMatch, 1
	}
	score := similarity(key(&ps, &pf), key(&ss, &sf))
	if len(pf.spans) > 0 && len(sf.spans) > 0 && joined(&ps, &sf) && joined(&pf, &ss) {
		return NameSwapped, score
	}
	return NameDifferent, score
}

// key is "surname firstforename" for the similarity score.
func key(sur, fore *name) string {
	var b strings.Builder
	for i := range sur.spans {
		b.Write(sur.tok(i))
	}
	if len(fore.spans) > 0 {
		b.WriteByte(' ')
		b.Write(fore.tok(0))
	}
	return b.String()
}

// similarity is 1 − Levenshtein distance ÷ the longer length, in runes.
func similarity(a, b string) float64 {
	n := max(utf8.RuneCountInString(a), utf8.RuneCountInString(b))
	if n == 0 {
		return 1
	}
	return 1 - float64(levenshtein.ComputeDistance(a, b))/float64(n)
}

// normTokens appends the normalised tokens of s to buf and their spans to
// spans: letters and digits lower-cased, accents removed (NFD, then marks
// dropped), apostrophes dropped ("O'Brien" is "obrien"), and anything else —
// spaces, hyphens, full stops, commas — separating tokens. Plain ASCII
// takes a path that allocates nothing.
func normTokens(buf []byte, spans []span, s string) ([]byte, []span) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		return normTokensUnicode(buf, spans, s)
	}
	start := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			fallthrough
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if start < 0 {
				start = len(buf)
			}
			buf = append(buf, c)
		case c == '\'' || c == '`':
			// joins: O'Brien
		default:
			if start >= 0 {
				spans = append(spans, span{start, len(buf)})
				start = -1
			}
		}
	}
	if start >= 0 {
		spans = append(spans, span{start, len(buf)})
	}
	return buf, spans
}

// foldings are letters that NFD does not decompose into a base letter and
// a mark.
var foldings = map[rune]string{
	'ø': "o", 'Ø': "o", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ß': "ss",
	'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th", 'ı': "i",
}

var stripMarks = runes.Remove(runes.In(unicode.Mn))

func normTokensUnicode(buf []byte, spans []span, s string) ([]byte, []span) {
	t := transform.Chain(norm.NFD, stripMarks, norm.NFC)
	folded, _, err := transform.String(t, s)
	if err != nil {
		folded = s
	}
	start := -1
	end := func() {
		if start >= 0 {
			spans = append(spans, span{start, len(buf)})
			start = -1
		}
	}
	for _, r := range folded {
		switch {
		case r == '\'' || r == '`' || r == '\u2019' || r == '\u2018' || r == '\u02BC':
			continue // apostrophes join
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if start < 0 {
				start = len(buf)
			}
			if f, ok := foldings[r]; ok {
				buf = append(buf, f...)
			} else {
				buf = utf8.AppendRune(buf, unicode.ToLower(r))
			}
		default:
			end()
		}
	}
	end()
	return buf, spans
}
