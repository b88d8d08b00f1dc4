package outdir_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform"
)

// TestGivenInputHashIsQuoted: a caller that has hashed the input already
// (the hub) gives the hash, and the report quotes it rather than hashing
// the input again; otherwise the report's hash is the input's. The input
// is counted to its end either way. Written describes the records file.
func TestGivenInputHashIsQuoted(t *testing.T) {
	in := cleanInput(t)
	sum := sha256.Sum256([]byte(in))
	for _, given := range []string{"", "0123abcd"} {
		o := opts()
		o.InputSHA256 = given
		var w transform.Written
		o.Written = &w
		res := convert(t, t.TempDir(), "plans.csv", in, o)
		rep := readReport(t, res.Paths.Report)
		want := given
		if want == "" {
			want = hex.EncodeToString(sum[:])
		}
		if rep.InputSHA256 != want || rep.InputBytes != int64(len(in)) {
			t.Errorf("given %q: report quotes %q over %d bytes, want %q over %d", given, rep.InputSHA256, rep.InputBytes, want, len(in))
		}
		records := read(t, res.Paths.Records)
		if rs := sha256.Sum256([]byte(records)); w.SHA256 != rs || len(w.Records) != strings.Count(records, "\n") || len(w.Records) != 2 {
			t.Errorf("written %d records with hash %x; the file has %d, hash %x", len(w.Records), w.SHA256, strings.Count(records, "\n"), rs)
		}
	}
}
