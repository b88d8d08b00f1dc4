package observe

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// FuzzPageQuery: the status page's query parser never panics, accepts
// only what it documents, and the links it builds read back as the same
// query.
func FuzzPageQuery(f *testing.F) {
	for _, seed := range []string{"", "state=quarantined", "state=processed&before=81&token=t", "after=7", "before=0",
		"before=5&after=2", "stat=x", "state=done", "state=claimed&state=claimed", "before=-3", "before=99999999999999999999", "token="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		pq, err := parsePageQuery(q)
		if err != nil {
			return
		}
		if pq.before < 0 || pq.after < 0 || (pq.before != 0 && pq.after != 0) ||
			(pq.state != "" && !slices.Contains(fileStates, pq.state)) {
			t.Fatalf("%q accepted as %+v", raw, pq)
		}
		link := pageLink(q.Get("token"), pq.state, pq.before, pq.after)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatalf("link %q: %v", link, err)
		}
		again, err := parsePageQuery(u.Query())
		if err != nil || again != pq {
			t.Fatalf("%q: link %q reads back as %+v, %v; want %+v", raw, link, again, err, pq)
		}
	})
}

// FuzzReadCounts: the page's reader of a report.json's counts never
// panics, and reads back the counts of a report written as the real one
// is, whatever comes before them.
func FuzzReadCounts(f *testing.F) {
	f.Add(`{"input":"a.csv","counts":{"accepted":7,"rejected":2,"warnings":1,"held_back":1},"findings":[]}`, 3, 1, 4, 0)
	f.Add(`{"counts":`, 0, 0, 0, 0)
	f.Add(`[1,2]`, 1, 2, 3, 4)
	f.Fuzz(func(t *testing.T, raw string, accepted, rejected, warnings, heldBack int) {
		dir := t.TempDir()
		path := filepath.Join(dir, "r.report.json")
		if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		readCounts(path) // must not panic
		if len(raw) > 1<<17 {
			return // the counts would lie beyond what readCounts reads
		}
		want := relay.RecordCounts{Accepted: accepted, Rejected: rejected, Warnings: warnings, HeldBack: heldBack}
		b, err := json.Marshal(struct {
			Input    string         `json:"input"`
			Reason   string         `json:"reason"`
			Counts   map[string]int `json:"counts"`
			Findings []string       `json:"findings"`
		}{raw, raw, map[string]int{"accepted": accepted, "rejected": rejected, "warnings": warnings, "held_back": heldBack}, []string{raw}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readCounts(path); got == nil || *got != want {
			t.Fatalf("readCounts of %s = %+v, want %+v", b, got, want)
		}
	})
}
