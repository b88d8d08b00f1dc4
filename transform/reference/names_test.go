package reference

import (
	"math"
	"testing"
)

func TestCompareNames(t *testing.T) {
	m := newNameMatcher(DefaultTitles)
	cases := []struct {
		name                string
		planSur, planFore   string
		staffSur, staffFore string
		want                NameVerdict
		minScore, maxScore  float64 // checked when want is not NameMatch
	}{
		{name: "accent", planSur: "Siân", planFore: "Ó Fictíon", staffSur: "Sian", staffFore: "O Fiction", want: NameMatch},
		{name: "accent other side", planSur: "Sian", planFore: "Zoe", staffSur: "Siân", staffFore: "Zoë", want: NameMatch},
		{name: "case and spaces", planSur: "  TESTPERSON ", planFore: "alpha", staffSur: "Testperson", staffFore: "Alpha", want: NameMatch},
		{name: "hyphen", planSur: "Smith Jones", planFore: "Ann", staffSur: "Smith-Jones", staffFore: "Ann", want: NameMatch},
		{name: "hyphen run together", planSur: "SmithJones", planFore: "Ann", staffSur: "Smith-Jones", staffFore: "Ann", want: NameMatch},
		{name: "apostrophe", planSur: "OBrien", planFore: "Ann", staffSur: "O'Brien", staffFore: "Ann", want: NameMatch},
		{name: "typographic apostrophe", planSur: "O’Brien", planFore: "Ann", staffSur: "O'Brien", staffFore: "Ann", want: NameMatch},
		{name: "title in forenames", planSur: "Testperson", planFore: "Dr Alpha", staffSur: "Testperson", staffFore: "Alpha", want: NameMatch},
		{name: "title with full stop", planSur: "Testperson", planFore: "Prof. A.", staffSur: "Testperson", staffFore: "Alpha Beatrix", want: NameMatch},
		{name: "initial", planSur: "Testperson", planFore: "A", staffSur: "Testperson", staffFore: "Alpha", want: NameMatch},
		{name: "initials with stops", planSur: "Testperson", planFore: "A.B.", staffSur: "Testperson", staffFore: "Alpha Beatrix", want: NameMatch},
		{name: "known by middle name", planSur: "Testperson", planFore: "Beatrix", staffSur: "Testperson", staffFore: "Alpha Beatrix", want: NameMatch},
		{name: "no forename in plan", planSur: "Testperson", planFore: "", staffSur: "Testperson", staffFore: "Alpha", want: NameMatch},
		{name: "folded letters", planSur: "Søren", planFore: "Łukasz", staffSur: "Soren", staffFore: "Lukasz", want: NameMatch},
		{name: "wrong person", planSur: "Smith", planFore: "John", staffSur: "Patel", staffFore: "Priya", want: NameDifferent, maxScore: 0.3},
		{name: "same forename other surname", planSur: "Smith", planFore: "Alpha", staffSur: "Patel", staffFore: "Alpha", want: NameDifferent, maxScore: 0.7},
		{name: "misspelt surname", planSur: "Fictional", planFore: "Cai", staffSur: "Fictionel", staffFore: "Cai", want: NameDifferent, minScore: 0.9, maxScore: 0.95},
		{name: "different forename", planSur: "Testperson", planFore: "Jon", staffSur: "Testperson", staffFore: "John", want: NameDifferent, minScore: 0.9},
		{name: "swapped", planSur: "Alpha", planFore: "Testperson", staffSur: "Testperson", staffFore: "Alpha", want: NameSwapped},
		{name: "a title alone is kept", planSur: "Dr", planFore: "", staffSur: "Dr", staffFore: "Who", want: NameMatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, score := m.compare(c.planSur, c.planFore, c.staffSur, c.staffFore)
			if got != c.want {
				t.Fatalf("verdict %d (score %.3f), want %d", got, score, c.want)
			}
			if c.want == NameDifferent {
				if score < c.minScore || (c.maxScore > 0 && score > c.maxScore) {
					t.Errorf("score %.3f outside [%.2f, %.2f]", score, c.minScore, c.maxScore)
				}
			}
		})
	}
}

func TestSimilarityIsLevenshtein(t *testing.T) {
	// "fictional cai" vs "fictionel cai": one substitution in 13 runes.
	if got, want := similarity("fictional cai", "fictionel cai"), 1-1.0/13; math.Abs(got-want) > 1e-12 {
		t.Errorf("similarity = %v, want %v", got, want)
	}
	if got := similarity("", ""); got != 1 {
		t.Errorf("similarity of empty names = %v", got)
	}
}

func TestNormTokens(t *testing.T) {
	for in, want := range map[string][]string{
		"Mary-Jane O'Neil": {"mary", "jane", "oneil"},
		"  Dr.  A.B. ":     {"dr", "a", "b"},
		"Ó Fictíon":        {"o", "fiction"},
		"ZOË":              {"zoe"},
		"Ærø":              {"aero"},
	} {
		buf, spans := normTokens(nil, nil, in)
		var got []string
		for _, sp := range spans {
			got = append(got, string(buf[sp[0]:sp[1]]))
		}
		if len(got) != len(want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: got %q, want %q", in, got, want)
				break
			}
		}
	}
}

func TestCompareASCIIDoesNotAllocate(t *testing.T) {
	m := newNameMatcher(DefaultTitles)
	allocs := testing.AllocsPerRun(100, func() {
		if v, _ := m.compare("SMITH-JONES", "Dr Ann", "Smith Jones", "Ann B"); v != NameMatch {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("compare of matching ASCII names allocates %.0f times", allocs)
	}
}
