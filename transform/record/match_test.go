package record

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestTreeMatcherAgreesWithRegexp checks the fast matcher against Go's
// regexp on the schema's own patterns and random strings built from the
// characters that matter.
func TestTreeMatcherAgreesWithRegexp(t *testing.T) {
	patterns := []string{"^[0-9]{8}$", "^[0-9]{8}(-[0-9]{1,2})?$", "^[0-9]{1,6}$", "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "ab+c*", "^(x|y)?z$"}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("0123456789-abxyzé")
	for _, p := range patterns {
		fast, err := compilePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := fast.(*maskNFA); !ok {
			t.Errorf("%s: expected the fast matcher", p)
		}
		re := regexp.MustCompile(p)
		for i := 0; i < 20000; i++ {
			b := make([]byte, rng.IntN(14))
			for j := range b {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			s := string(b)
			if i%7 == 0 {
				s = "10002345-" + s // near misses of assignment numbers
			}
			if got, want := fast.MatchString(s), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: fast %v, regexp %v", p, s, got, want)
			}
		}
	}
}

func BenchmarkPattern(b *testing.B) {
	const p = "^[0-9]{8}(-[0-9]{1,2})?$"
	fast, _ := compilePattern(p)
	re := regexp.MustCompile(p)
	for _, m := range []struct {
		name string
		m    matcher
	}{{"nfa", fast}, {"regexp", re}} {
		b.Run(m.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if !m.m.MatchString("10002345-2") {
					b.Fatal("no match")
				}
			}
		})
	}
}
