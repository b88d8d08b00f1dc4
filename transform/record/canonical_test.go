package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
)

// reencode is the hub ledger's Canonical (transport/ledger) as it has
// always been, which transform cannot import: decode with numbers kept as
// written, encode again, keys sorted, HTML characters left alone.
func reencode(t testing.TB, payload []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", payload, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("trailing data after %s", payload)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// awkwardText holds every kind of character the two escapers treat
// differently: HTML characters, control characters with and without short
// escapes, DEL, invalid UTF-8, U+2028/U+2029, U+FFFD and non-ASCII.
var awkwardText = []string{
	"", "plain", `quote"back\slash`, "<b>&amp;</b>", "tab\tnl\ncr\r", "\b\f", "\x00\x01\x1f", "\x7f",
	"bad\xffutf8\xc3", "\u2028\u2029", "\ufffd", "Siân Ó'Brien", "日本", "😀", "a\u0085b",
}

func setAllText(p *JobPlan, s string) {
	for i := range Fields {
		if k := Fields[i].Kind; k == Text || k == Date {
			p.SetText(ID(i), s)
		}
	}
}

func TestCanonicalJSONIsTheLedgersForm(t *testing.T) {
	check := func(p *JobPlan) {
		t.Helper()
		want := reencode(t, p.AppendJSON(nil))
		if got := p.AppendCanonicalJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("canonical form\n got %s\nwant %s", got, want)
		}
	}
	check(&JobPlan{}) // every field null, zero or empty
	check(validPlan())
	for _, s := range awkwardText {
		p := validPlan()
		setAllText(p, s)
		check(p)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := &JobPlan{}
		for i := range Fields {
			switch k := Fields[i].Kind; {
			case rng.IntN(3) == 0:
				// left out: null, 0 or ""
			case k == Text || k == Date:
				p.SetText(ID(i), awkwardText[rng.IntN(len(awkwardText))])
			case k == Band:
				p.SetNum(ID(i), decimal.Int(int64(rng.IntN(10))))
			default:
				p.SetNum(ID(i), decimal.Dec(rng.Int64N(2_000_000_000)-1_000_000_000)) // ±1000, up to six places
			}
		}
		check(p)
	}
}

func TestCanonicalJSONSortsKeys(t *testing.T) {
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(validPlan().AppendCanonicalJSON(nil)))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v any
		dec.Decode(&v)
	}
	if len(keys) != len(canonicalOrder) || len(keys) < 30 {
		t.Fatalf("%d keys, want the %d fields AppendJSON writes", len(keys), len(canonicalOrder))
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Errorf("key %q before %q", keys[i-1], keys[i])
		}
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range awkwardText {
		f.Add(s, int64(7_500_000))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		p := validPlan()
		setAllText(p, s)
		p.SetNum(DCC, decimal.Dec(n%1_000_000_000_000))
		want := reencode(t, p.AppendJSON(nil))
		if got := p.AppendCanonicalJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("canonical form of %q\n got %s\nwant %s", s, got, want)
		}
	})
}
