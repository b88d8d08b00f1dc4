package observe_test

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// inZone runs the test with the local time zone set to zone.
func inZone(t *testing.T, zone *time.Location) {
	t.Helper()
	was := time.Local
	time.Local = zone
	t.Cleanup(func() { time.Local = was })
}

// text is the page's text as a reader sees it: tags dropped, entities
// of the few characters html/template escapes in text read back.
func text(page string) string {
	s := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " ")
	s = strings.NewReplacer("&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

func TestStatusPageTimesCarryTheirZone(t *testing.T) {
	inZone(t, time.FixedZone("BST", 3600))
	f := newFixture(t, "")
	f.rec.SourcePolled("trust-a", nil)
	_, page := f.get(t, "/", "")
	txt := text(page)
	if !strings.Contains(txt, "Times are the hub's local time (BST, UTC+01:00); the reports give UTC.") {
		t.Errorf("the page does not say its time rule:\n%s", txt)
	}
	times := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( [+-]\d\d:\d\d)?`).FindAllStringSubmatch(txt, -1)
	if len(times) < 4 {
		t.Fatalf("only %d times on the page:\n%s", len(times), txt)
	}
	for _, m := range times {
		if m[1] != " +01:00" {
			t.Errorf("a time without its zone: %q", m[0])
		}
	}
}

// longReason is a quarantine reason of 300 characters.
var longReason = "not in the layout the mapping expects: the file has no column " +
	strings.Repeat(`"Programmed activities (direct clinical care)", `, 5) + "(41 columns found; the report names them)"

func TestStatusPageShortensALongReason(t *testing.T) {
	f := newFixture(t, "")
	id, err := f.l.ClaimFile(t.Context(), ledger.FileInfo{Source: "trust-a", Name: "wide.csv", ModTime: time.Now(), SHA256: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.dir, relay.FilesDir, fmt.Sprint(id))
	write(t, filepath.Join(dir, "wide.report.json"), `{"input":"wide.csv","status":"failed"}`)
	write(t, filepath.Join(dir, "wide.report.html"), "<p>failed</p>")
	if err := f.l.MarkFile(t.Context(), id, ledger.FileQuarantined, longReason, filepath.Join(dir, "wide.report.json")); err != nil {
		t.Fatal(err)
	}
	_, page := f.get(t, "/", "")
	row := regexp.MustCompile(`(?s)<tr data-file-id="2" data-state="quarantined">.*?</tr>`).FindString(page)
	cell := regexp.MustCompile(`<td title="([^"]*)">quarantined: ([^<]*)</td>`).FindStringSubmatch(row)
	if cell == nil {
		t.Fatalf("no shortened reason with a title in:\n%s", row)
	}
	title, shown := text(cell[1]), text(cell[2])
	if title != longReason {
		t.Errorf("the title is not the whole reason:\n%s", title)
	}
	short, rest, ok := strings.Cut(shown, "… (the report gives it whole)")
	if !ok || rest != "" || len([]rune(short)) >= observe.ShortReason || !strings.HasPrefix(longReason, short) {
		t.Errorf("the reason shown %q: want a prefix under %d characters, cut with … and pointing to the report", shown, observe.ShortReason)
	}
	if !strings.Contains(row, `<a href="/files/2/wide.report.html">report</a>`) {
		t.Errorf("the row has no report link:\n%s", row)
	}
	// A short reason is shown whole, with no title.
	if err := f.l.MarkFile(t.Context(), id, ledger.FileQuarantined, "no header", filepath.Join(dir, "wide.report.json")); err != nil {
		t.Fatal(err)
	}
	_, page = f.get(t, "/", "")
	if !strings.Contains(page, "<td>quarantined: no header</td>") {
		t.Errorf("a short reason is not shown as it is")
	}
}

func TestStatusPageShowsARefusedReload(t *testing.T) {
	f := newFixture(t, "")
	if _, page := f.get(t, "/", ""); strings.Contains(page, "reload-failed") {
		t.Fatal("a banner before any reload")
	}
	f.rec.Reloaded(errors.New("hub.yaml:7:18: \"soon\" is not a duration (write it like 500ms, 2s or 5m)\n" +
		"hub.yaml:10:5: source \"trust-a\": no destination is named \"<nowhere>\""))
	_, page := f.get(t, "/", "")
	banner := regexp.MustCompile(`(?s)<div id="reload-failed" class="banner" role="alert">.*?</div>`).FindString(page)
	for _, want := range []string{
		"The configuration was not reloaded",
		"the hub runs on the configuration it had",
		`<li><code>hub.yaml:7:18: &#34;soon&#34; is not a duration (write it like 500ms, 2s or 5m)</code></li>`,
		`<li><code>hub.yaml:10:5: source &#34;trust-a&#34;: no destination is named &#34;&lt;nowhere&gt;&#34;</code></li>`,
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %s:\n%s", want, banner)
		}
	}
	f.rec.Reloaded(nil)
	if _, page := f.get(t, "/", ""); strings.Contains(page, "reload-failed") {
		t.Error("the banner stays after a reload that succeeded")
	}
}

// manyFiles adds files 2..n+1 to the fixture's ledger: every fourth
// quarantined, the rest processed.
func manyFiles(t *testing.T, f *fixture, n int) {
	t.Helper()
	for i := range n {
		id, err := f.l.ClaimFile(t.Context(), ledger.FileInfo{Source: "trust-a", Name: fmt.Sprintf("f%03d.csv", i+2), ModTime: time.Now(), SHA256: fmt.Sprint("s", i)})
		if err != nil {
			t.Fatal(err)
		}
		state := ledger.FileProcessed
		if id%4 == 0 {
			state = ledger.FileQuarantined
		}
		if err := f.l.MarkFile(t.Context(), id, state, "", ""); err != nil {
			t.Fatal(err)
		}
	}
}

// rows returns the ids and states of the page's file table, and its
// paging links.
func rows(t *testing.T, page string) (ids []string, states map[string]int, links map[string]string) {
	t.Helper()
	states = map[string]int{}
	for _, m := range regexp.MustCompile(`<tr data-file-id="(\d+)" data-state="(\w+)">`).FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
		states[m[2]]++
	}
	links = map[string]string{}
	nav := regexp.MustCompile(`(?s)<nav id="file-pages">(.*?)</nav>`).FindStringSubmatch(page)
	if nav == nil {
		t.Fatalf("no paging links:\n%s", page)
	}
	for _, m := range regexp.MustCompile(`<a href="([^"]+)"[^>]*>([^<]+)</a>`).FindAllStringSubmatch(nav[1], -1) {
		links[m[2]] = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, states, links
}

// TestStatusPageFiltersAndPagesTheFiles: the list is filtered by state
// and paged, 50 a page, newest first, the links keeping the filter and
// the token.
func TestStatusPageFiltersAndPagesTheFiles(t *testing.T) {
	const token = "s3cret-t0ken"
	f := newFixture(t, token)
	manyFiles(t, f, 129) // files 1..130; 4, 8, ..., 128 quarantined (32)

	code, page := f.get(t, "/?token="+token, "")
	if code != http.StatusOK {
		t.Fatalf("page %d", code)
	}
	ids, states, links := rows(t, page)
	if len(ids) != 50 || len(states) != 2 || ids[0] != "130" || ids[49] != "81" {
		t.Errorf("first page: %d files %v, want 130 down to 81", len(ids), ids)
	}
	if links["older →"] != "/?before=81&token="+token || links["← newer"] != "" || links["newest"] != "" {
		t.Errorf("first page's links: %v", links)
	}
	for _, want := range []string{`<strong>all (130)</strong>`, `<a href="/?state=quarantined&amp;token=` + token + `">quarantined (32)</a>`,
		`<a href="/?state=processed&amp;token=` + token + `">processed (98)</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the filter lacks %s", want)
		}
	}

	// Quarantined only: 32, on one page of 50.
	_, page = f.get(t, "/?state=quarantined&token="+token, "")
	ids, states, links = rows(t, page)
	if len(ids) != 32 || states["quarantined"] != 32 || ids[0] != "128" || ids[31] != "4" || len(links) != 0 {
		t.Errorf("quarantined: %d files %v %v, links %v; want 32 quarantined, 128 down to 4, no links", len(ids), ids, states, links)
	}
	if !strings.Contains(page, `<strong>quarantined (32)</strong>`) {
		t.Error("the current filter is not marked")
	}

	// Processed, paged: 98 = 50 + 48.
	_, page = f.get(t, "/?state=processed&token="+token, "")
	ids, states, links = rows(t, page)
	if len(ids) != 50 || states["processed"] != 50 || links["older →"] == "" {
		t.Fatalf("processed, first page: %d %v %v", len(ids), states, links)
	}
	older := links["older →"]
	if !strings.HasPrefix(older, "/?before=") || !strings.Contains(older, "state=processed") || !strings.Contains(older, "token="+token) {
		t.Errorf("older link %q loses the filter or the token", older)
	}
	_, page = f.get(t, older, "")
	ids, states, links = rows(t, page)
	if len(ids) != 48 || states["processed"] != 48 || ids[47] != "1" || links["older →"] != "" || links["← newer"] == "" || links["newest"] == "" {
		t.Errorf("processed, second page: %d files ending %v, links %v", len(ids), ids[len(ids)-1:], links)
	}
	// Back to newer: the first page again.
	_, page = f.get(t, links["← newer"], "")
	if back, _, _ := rows(t, page); len(back) != 50 || back[0] != "130" {
		t.Errorf("newer from the second page: %v", back)
	}

	for _, bad := range []string{"/?state=done", "/?before=x", "/?before=0", "/?before=5&after=2", "/?stat=quarantined", "/?state=processed&state=claimed"} {
		if code, body := f.get(t, bad, token); code != http.StatusBadRequest || !strings.HasPrefix(body, "status page: ") {
			t.Errorf("GET %s: %d %q, want 400", bad, code, body)
		}
	}
}

// TestErrorsCSVIsServedByItsName: a file's errors.csv is downloaded, with
// the token; no other CSV, and not another file's.
func TestErrorsCSVIsServedByItsName(t *testing.T) {
	const token = "s3cret-t0ken"
	f := newFixture(t, token)
	_, page := f.get(t, "/?token="+token, "")
	if !strings.Contains(page, `<a href="/files/1/plans.errors.csv?token=`+token+`" download>errors.csv</a>`) {
		t.Errorf("the page has no errors.csv link:\n%s", page)
	}
	req, err := http.NewRequest("GET", f.srv.URL+"/files/1/plans.errors.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != "attachment; filename=plans.errors.csv" || resp.ContentLength != int64(len("\ufeffLine,Rule\r\n3,V01\r\n")) {
		t.Errorf("errors.csv: %d %v", resp.StatusCode, resp.Header)
	}
	if code, _ := f.get(t, "/files/1/plans.errors.csv", ""); code != http.StatusUnauthorized {
		t.Errorf("errors.csv without the token: %d", code)
	}
	for _, path := range []string{
		"/files/1/other.errors.csv", // in the folder, but not this file's
		"/files/2/plans.errors.csv", // no such file id
		"/files/1/..%2Fplans.errors.csv",
		"/files/1/.plans.errors.csv",
		"/files/1/plans.rejected.csv",
	} {
		if code, body := f.get(t, path, token); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %.60q, want 404", path, code, body)
		}
	}
}

// TestStatusPageSaysDueNowForAProbeDue: during an outage whose probe has
// come, the next probe and the next attempt read "due now".
func TestStatusPageSaysDueNowForAProbeDue(t *testing.T) {
	f := newFixture(t, "")
	if _, err := f.l.EnqueueFile(t.Context(), 1, "esr", []ledger.Record{{AssignmentNumber: "10000001",
		EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Payload: []byte(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := f.l.SetHealth(t.Context(), ledger.Health{Destination: "esr", Since: time.Now().Add(-time.Hour),
		Probes: 2, NextProbeAt: time.Now().Add(-time.Minute), LastError: "dial tcp: connection refused"}); err != nil {
		t.Fatal(err)
	}
	_, page := f.get(t, "/", "")
	row := regexp.MustCompile(`(?s)<tr data-destination="esr">.*?</tr>`).FindString(page)
	if !strings.Contains(row, "2 probe(s) failed, next probe due now: dial tcp") || !strings.Contains(row, "<td>due now</td>") {
		t.Errorf("the outage's probe is not due now:\n%s", row)
	}
}

// TestStatusPageShowsFilesTakenAgain: a processed file whose ledger entry
// carries a note (taken again after it grew) is listed under the notes,
// and its note shows in the list of files.
func TestStatusPageShowsFilesTakenAgain(t *testing.T) {
	f := newFixture(t, "")
	id, err := f.l.ClaimFile(t.Context(), ledger.FileInfo{Source: "trust-a", Name: "slow.csv", ModTime: time.Now(), SHA256: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	const note = "taken again: it grew after it was archived (44 bytes when archived at 2026-04-01T10:00:00Z, 88 when taken again)"
	if err := f.l.MarkFile(t.Context(), id, ledger.FileProcessed, note, ""); err != nil {
		t.Fatal(err)
	}
	_, page := f.get(t, "/", "")
	table := regexp.MustCompile(`(?s)<h2>Notes on recent files</h2>.*?</table>`).FindString(page)
	if !strings.Contains(text(table), fmt.Sprintf(`%d trust-a "slow.csv"`, id)) || !strings.Contains(text(table), note) {
		t.Errorf("notes:\n%s", text(table))
	}
	row := regexp.MustCompile(fmt.Sprintf(`(?s)<tr data-file-id="%d" data-state="processed">.*?</tr>`, id)).FindString(page)
	if !strings.Contains(text(row), "processed: taken again: it grew after it was archived") {
		t.Errorf("file row:\n%s", text(row))
	}
}
