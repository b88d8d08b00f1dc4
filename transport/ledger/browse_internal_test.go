package ledger

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFilesPagesThroughTheHistoryByState: pages of a state, newest first,
// older and newer, with the edges reported exactly.
func TestFilesPagesThroughTheHistoryByState(t *testing.T) {
	l, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Files 1..12: every third quarantined, file 12 still claimed.
	for i := 1; i <= 12; i++ {
		id, err := l.ClaimFile(t.Context(), FileInfo{Source: "s", Name: fmt.Sprintf("f%d.csv", i), ModTime: time.Now(), SHA256: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		state := FileProcessed
		switch {
		case i == 12:
			continue
		case i%3 == 0:
			state = FileQuarantined
		}
		if err := l.MarkFile(t.Context(), id, state, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p *FilePage) string {
		var s []string
		for _, f := range p.Files {
			s = append(s, fmt.Sprint(f.ID))
		}
		return fmt.Sprintf("%s older=%v newer=%v", strings.Join(s, ","), p.Older, p.Newer)
	}
	for _, tc := range []struct {
		q    FileQuery
		want string
	}{
		{FileQuery{Limit: 5}, "12,11,10,9,8 older=true newer=false"},
		{FileQuery{Limit: 5, Before: 8}, "7,6,5,4,3 older=true newer=true"},
		{FileQuery{Limit: 5, Before: 3}, "2,1 older=false newer=true"},
		{FileQuery{Limit: 5, After: 2}, "7,6,5,4,3 older=true newer=true"},
		{FileQuery{Limit: 5, After: 7}, "12,11,10,9,8 older=true newer=false"},
		{FileQuery{Limit: 20}, "12,11,10,9,8,7,6,5,4,3,2,1 older=false newer=false"},
		{FileQuery{State: FileQuarantined, Limit: 2}, "9,6 older=true newer=false"},
		{FileQuery{State: FileQuarantined, Limit: 2, Before: 6}, "3 older=false newer=true"},
		{FileQuery{State: FileQuarantined, Limit: 2, After: 3}, "9,6 older=true newer=false"},
		{FileQuery{State: FileQuarantined, Limit: 2, Before: 3}, " older=false newer=true"},
		{FileQuery{State: FileQuarantined, Limit: 2, After: 9}, " older=true newer=false"},
		{FileQuery{State: FileClaimed, Limit: 2}, "12 older=false newer=false"},
		{FileQuery{State: FileClaimed, Limit: 2, Before: 12}, " older=false newer=true"},
	} {
		p, err := l.Files(t.Context(), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(p); got != tc.want {
			t.Errorf("Files(%+v) = %s, want %s", tc.q, got, tc.want)
		}
	}
	for _, bad := range []FileQuery{{}, {Limit: 1, Before: 2, After: 1}, {Limit: 1, Before: -1}} {
		if _, err := l.Files(t.Context(), bad); err == nil {
			t.Errorf("Files(%+v) accepted", bad)
		}
	}
}

// TestFilesAndGaugeQueriesUseAnIndex: every query behind the status
// page's file list and the rejected gauge is a search of an index or of
// the primary key, never a scan of the history or a sort.
func TestFilesAndGaugeQueriesUseAnIndex(t *testing.T) {
	l, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// want is the start of the plan's search: with a state, the files of
	// that state only (files_state), else the primary key's range.
	type query struct {
		sql  string
		args []any
		want string
	}
	var queries []query
	for _, state := range []FileState{"", FileQuarantined} {
		want := "SEARCH files USING INTEGER PRIMARY KEY (rowid"
		if state != "" {
			want = "INDEX files_state (state=? AND rowid"
		}
		for _, q := range []FileQuery{{State: state, Limit: 50}, {State: state, Limit: 50, Before: 100}, {State: state, Limit: 50, After: 100}} {
			sql, args := filesQuery(q)
			queries = append(queries, query{sql, args, want})
		}
		for _, op := range []string{"<", ">"} {
			args := []any{int64(5)}
			if state != "" {
				args = []any{state, int64(5)}
			}
			queries = append(queries, query{beyondQuery(state, op), args, want})
		}
	}
	queries = append(queries, query{rejectedQuery, []any{"esr"}, "SEARCH deliveries USING COVERING INDEX deliveries_due (destination=? AND state=?)"})
	for _, q := range queries {
		rows, err := l.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		searches := slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, q.want) })
		scans := slices.ContainsFunc(plan, func(d string) bool {
			return (strings.HasPrefix(d, "SCAN") && d != "SCAN CONSTANT ROW") || strings.Contains(d, "TEMP B-TREE")
		})
		if !searches || scans {
			t.Errorf("%s\nplan %q: want %q, no scan or sort", q.sql, plan, q.want)
		}
	}
}

func TestPingAnswersWhileOpen(t *testing.T) {
	l, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(t.Context()); err != nil {
		t.Errorf("Ping of an open ledger: %v", err)
	}
	l.Close()
	if err := l.Ping(t.Context()); err == nil {
		t.Error("Ping of a closed ledger succeeded")
	}
}
