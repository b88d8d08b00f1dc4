package observe_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// fixture is a state folder with a ledger holding one processed file
// whose outputs are in files/1/, and a Server over it.
type fixture struct {
	dir string
	l   *ledger.Ledger
	rec *observe.Recorder
	srv *httptest.Server
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	id, err := l.ClaimFile(t.Context(), ledger.FileInfo{Source: "trust-a", Name: "<b>plans</b>.csv", Size: 10, ModTime: time.Now(), SHA256: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(dir, relay.FilesDir, "1")
	write(t, filepath.Join(files, "plans.report.json"), `{"input":"plans.csv","counts":{"accepted":7,"rejected":2,"duplicates":1,"superseded":0},"findings":[]}`)
	write(t, filepath.Join(files, "plans.report.html"), "<!DOCTYPE html><title>report</title><p>the report</p>")
	write(t, filepath.Join(files, "plans.jobplans.jsonl"), `{"assignment_number":"20000001"}`)
	write(t, filepath.Join(files, "plans.rejected.csv"), "Surname\nTestperson\n")
	write(t, filepath.Join(files, "plans.errors.csv"), "\ufeffLine,Rule\r\n3,V01\r\n")
	write(t, filepath.Join(files, "other.errors.csv"), "not this file's\r\n")
	if err := os.Symlink(filepath.Join(dir, ledger.FileName), filepath.Join(files, "escape.report.json")); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkFile(t.Context(), id, ledger.FileProcessed, "", filepath.Join(files, "plans.report.json")); err != nil {
		t.Fatal(err)
	}
	rec := observe.NewRecorder(l)
	rec.Configure([]string{"trust-a"}, []string{"esr"})
	s, err := observe.NewServer(observe.ServerConfig{StateDir: dir, Ledger: l, Recorder: rec, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{dir: dir, l: l, rec: rec, srv: srv}
}

// write writes a file, creating its folder.
var write = testutil.WriteFile

// get fetches path (escaped as given) with an optional bearer token.
func (f *fixture) get(t *testing.T, path, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHealthzWaitsForEverySource(t *testing.T) {
	f := newFixture(t, "")
	f.rec.Configure([]string{"trust-a", "supplier-b"}, nil)

	code, body := f.get(t, "/healthz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "source trust-a: not reached yet") ||
		!strings.Contains(body, "source supplier-b: not reached yet") {
		t.Errorf("before any poll: %d %q; want 503 naming both sources", code, body)
	}
	f.rec.SourcePolled("trust-a", nil)
	f.rec.SourcePolled("supplier-b", errors.New("sftp list /out on b:22:\nconnection refused"))
	code, body = f.get(t, "/healthz", "")
	if code != http.StatusServiceUnavailable || body != "source supplier-b: sftp list /out on b:22: connection refused\n" {
		t.Errorf("one failing: %d %q; want 503 and the failing source's error on one line", code, body)
	}
	f.rec.SourcePolled("supplier-b", nil)
	if code, body = f.get(t, "/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("all reached: %d %q; want 200 ok", code, body)
	}
	// A later failure makes it unhealthy again.
	f.rec.SourcePolled("trust-a", errors.New("open /srv/drop: no such file or directory"))
	if code, body = f.get(t, "/healthz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "source trust-a: open /srv/drop") {
		t.Errorf("after a failed scan: %d %q; want 503", code, body)
	}
}

func TestHealthzGivesErrorsOnlyWithTheToken(t *testing.T) {
	const token = "s3cret-t0ken"
	f := newFixture(t, token)
	f.rec.Configure([]string{"trust-a", "supplier-b"}, nil)
	f.rec.SourcePolled("trust-a", nil)
	f.rec.SourcePolled("supplier-b", errors.New("sftp list /out on b.example.org:22: connection refused"))
	for _, tc := range []struct {
		path, bearer string
		want         string
	}{
		{"/healthz", "", "source supplier-b: failing\n"},
		{"/healthz", "wrong", "source supplier-b: failing\n"},
		{"/healthz?token=nope", "", "source supplier-b: failing\n"},
		{"/healthz", token, "source supplier-b: sftp list /out on b.example.org:22: connection refused\n"},
		{"/healthz?token=" + token, "", "source supplier-b: sftp list /out on b.example.org:22: connection refused\n"},
	} {
		if code, body := f.get(t, tc.path, tc.bearer); code != http.StatusServiceUnavailable || body != tc.want {
			t.Errorf("GET %s (bearer %q): %d %q, want 503 %q", tc.path, tc.bearer, code, body, tc.want)
		}
	}
	// Not reached yet says nothing of the source: shown to anyone.
	f.rec.Configure([]string{"trust-a", "supplier-b", "trust-c"}, nil)
	f.rec.SourcePolled("supplier-b", nil)
	if code, body := f.get(t, "/healthz", ""); code != http.StatusServiceUnavailable || body != "source trust-c: not reached yet\n" {
		t.Errorf("a source not reached yet: %d %q", code, body)
	}
}

func TestTokenIsRequiredExceptForHealthz(t *testing.T) {
	const token = "s3cret-t0ken"
	f := newFixture(t, token)
	f.rec.SourcePolled("trust-a", nil)
	for _, tc := range []struct {
		path, bearer string
		want         int
	}{
		{"/healthz", "", http.StatusOK},
		{"/", "", http.StatusUnauthorized},
		{"/", "wrong", http.StatusUnauthorized},
		{"/", token + "x", http.StatusUnauthorized},
		{"/", token, http.StatusOK},
		{"/?token=" + token, "", http.StatusOK},
		{"/?token=nope", "", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", token, http.StatusOK},
		{"/files/1/plans.report.html", "", http.StatusUnauthorized},
		{"/files/1/plans.report.html?token=" + token, "", http.StatusOK},
	} {
		if code, body := f.get(t, tc.path, tc.bearer); code != tc.want {
			t.Errorf("GET %s (bearer %q): %d, want %d: %s", tc.path, tc.bearer, code, tc.want, body)
		}
	}
	// Opened with ?token=, the page's report links carry it.
	_, page := f.get(t, "/?token="+token, "")
	if !strings.Contains(page, `href="/files/1/plans.report.html?token=`+token+`"`) {
		t.Errorf("the page's report link lacks the token:\n%s", page)
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8080", "", true},
		{"[::1]:8080", "", true},
		{"localhost:0", "", true},
		{"127.0.0.2:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"192.0.2.10:8080", "", false},
		{"hub.example.org:8080", "", false},
		{"0.0.0.0:8080", "t", true},
		{"nonsense", "t", false},
	} {
		err := observe.CheckListen(tc.addr, tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, %q) = %v, want ok %v", tc.addr, tc.token, err, tc.ok)
		}
	}
}

func TestFilesServesReportsOnly(t *testing.T) {
	f := newFixture(t, "")
	if code, body := f.get(t, "/files/1/plans.report.html", ""); code != http.StatusOK || !strings.Contains(body, "the report") {
		t.Errorf("the report: %d %q", code, body)
	}
	for _, path := range []string{
		"/files/1/..%2F..%2Fledger.db",
		"/files/1/..%2f..%2fledger.db",
		"/files/1/%2E%2E%2F%2E%2E%2Fledger.db",
		"/files/1/../../ledger.db",
		"/files/..%2F..%2F/ledger.db",
		"/files/1/..%5C..%5Cledger.db",
		"/files/1/plans.jobplans.jsonl", // records: not a report
		"/files/1/plans.rejected.csv",   // source rows with names
		"/files/1/escape.report.json",   // a link out of the folder
		"/files/0/plans.report.html",
		"/files/-1/plans.report.html",
		"/files/2/plans.report.html",
		"/files/1/.ack.json",
		"/ledger.db",
	} {
		code, body := f.get(t, path, "")
		if code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %.80q", path, code, body)
		}
		if strings.Contains(body, "SQLite") || strings.Contains(body, "Testperson") || strings.Contains(body, "20000001") {
			t.Errorf("GET %s leaked content: %.80q", path, body)
		}
	}
}

func TestPageAndReportsCarryContentSecurityPolicy(t *testing.T) {
	f := newFixture(t, "")
	const csp = "default-src 'none'; style-src 'unsafe-inline'"
	for _, path := range []string{"/", "/files/1/plans.report.html", "/files/1/plans.report.json"} {
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != csp {
			t.Errorf("GET %s: Content-Security-Policy %q, want %q", path, got, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", path, got)
		}
	}
}

func TestStatusPageIsEscapedAndSelfContained(t *testing.T) {
	f := newFixture(t, "")
	f.rec.SourcePolled("trust-a", errors.New(`scan failed: <img src=x onerror="alert(1)">`))
	code, page := f.get(t, "/", "")
	if code != http.StatusOK {
		t.Fatalf("status page: %d", code)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="10">`,
		`&lt;b&gt;plans&lt;/b&gt;.csv`, // the file name, escaped
		`&lt;img src=x onerror=&#34;alert(1)&#34;&gt;`,
		`<td class="n">7</td><td class="n">2</td>`, // accepted, rejected from report.json
		`href="/files/1/plans.report.html"`,
		"trust-a",
		"Files: 0 claimed · 1 processed · 0 quarantined.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []string{"<b>plans", "<img", "<script", "http://", "https://", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestStatusPageListsFilesLeftAlone(t *testing.T) {
	if code, page := newFixture(t, "").get(t, "/", ""); code != http.StatusOK || strings.Contains(page, `id="refused"`) {
		t.Fatalf("status page %d with a table of files left alone, want none while there are none", code)
	}
	f := newFixture(t, "") // the page keeps what it read for a few seconds
	for name, reason := range map[string]string{
		"bad\x1b[2J<b>name</b>.csv": "the name holds the control character U+001B",
		"plan.csv.done":             "ready marker without its file plan.csv",
	} {
		if err := f.l.SetRefusal(t.Context(), "trust-a", name, reason); err != nil {
			t.Fatal(err)
		}
	}
	code, page := f.get(t, "/", "")
	if code != http.StatusOK {
		t.Fatalf("status page: %d", code)
	}
	for _, want := range []string{
		`<table id="refused">`,
		`<code>&#34;bad\x1b[2J&lt;b&gt;name&lt;/b&gt;.csv&#34;</code>`,
		"the name holds the control character U&#43;001B", // html/template escapes +
		`<code>&#34;plan.csv.done&#34;</code>`,
		"ready marker without its file plan.csv",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "\x1b") {
		t.Error("page holds a raw escape character")
	}
}

func TestStatusPageSaysDueNow(t *testing.T) {
	f := newFixture(t, "")
	if _, err := f.l.EnqueueFile(t.Context(), 1, "esr", []ledger.Record{{AssignmentNumber: "10000001",
		EffectiveDate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Payload: []byte(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	_, page := f.get(t, "/", "")
	if !strings.Contains(page, "<td>due now</td>") || strings.Contains(page, "1970") {
		t.Errorf("the delivery queue does not say due now:\n%s", page)
	}
}
