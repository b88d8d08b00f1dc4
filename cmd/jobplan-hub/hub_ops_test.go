package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/nhs-esr/jobplan-hub/internal/chromiumtest"
	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
)

// inZone runs the test with the local time zone set to zone.
func inZone(t *testing.T, zone *time.Location) {
	t.Helper()
	was := time.Local
	time.Local = zone
	t.Cleanup(func() { time.Local = was })
}

// TestStatusTimesCarryTheirZone: every time status prints is local time
// with its offset from UTC, the health's and a refused reload's too.
func TestStatusTimesCarryTheirZone(t *testing.T) {
	inZone(t, time.FixedZone("BST", 3600))
	dir, _ := seedLedger(t)
	at := time.Date(2026, 4, 1, 11, 30, 0, 0, time.UTC)
	h := observe.Health{At: at, Problems: []observe.Problem{{Kind: observe.ProblemLoop, Name: "dispatcher esr",
		Condition: observe.ConditionStalled, Since: at.Add(-time.Minute), Error: "last alive 1m40s ago, due again within 40s"},
		{Kind: observe.ProblemSource, Name: "supplier-b", Condition: "authentication refused", Since: at.Add(-time.Hour), RetryAt: at}},
		ReloadFailed: &observe.ReloadFailed{At: at.Add(-time.Hour), Problems: []string{
			`hub.yaml:7:18: "soon" is not a duration (write it like 500ms, 2s or 5m)`,
			`hub.yaml:10:5: source "trust-a": no destination is named "nowhere"`}}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, observe.HealthFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"health: 2 problem(s) (the running hub, as of 2026-04-01 12:30:00 +01:00):\n" +
			"  loop dispatcher esr: stalled since 2026-04-01 12:29:00 +01:00\n" +
			"    last alive 1m40s ago, due again within 40s\n" +
			// The next login's time has come: due now, not a time gone by.
			"  source supplier-b: authentication refused since 2026-04-01 11:30:00 +01:00, next attempt due now\n",
		"reload refused at 2026-04-01 11:30:00 +01:00: the hub runs on the configuration it had:\n" +
			`  hub.yaml:7:18: "soon" is not a duration (write it like 500ms, 2s or 5m)` + "\n" +
			`  hub.yaml:10:5: source "trust-a": no destination is named "nowhere"` + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks\n%s\nin\n%s", want, stdout)
		}
	}
	// Every time printed carries its offset.
	bare := regexp.MustCompile(`\d\d:\d\d:\d\d(?: [+-]\d\d:\d\d)?`)
	for _, m := range bare.FindAllString(stdout, -1) {
		if !strings.HasSuffix(m, " +01:00") {
			t.Errorf("a time without its zone: %q in\n%s", m, stdout)
		}
	}
}

// TestStatusSaysDueNowForAProbeDue: during an outage whose next probe
// has come, the table and the outage line say "due now", not a time
// gone by.
func TestStatusSaysDueNowForAProbeDue(t *testing.T) {
	dir, _ := seedLedger(t)
	l, err := ledger.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetHealth(t.Context(), ledger.Health{Destination: "esr", Since: time.Now().Add(-time.Hour), Probes: 2,
		NextProbeAt: time.Now().Add(-time.Minute), LastError: "the receiver answered 503 Service Unavailable: maintenance"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, stdout, stderr := runCLI(t, "status", "--state", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^esr +1 +1 .* due now$`).MatchString(stdout) ||
		!strings.Contains(stdout, "2 probe(s) failed, next probe due now: the receiver answered 503") {
		t.Errorf("status does not say due now for the probe:\n%s", stdout)
	}
}

// checkFileProcessedLine finds the JSON log's "file processed" line and
// checks that it gives the report's counts.
func checkFileProcessedLine(t *testing.T, log string, c reportCounts) {
	t.Helper()
	for line := range strings.Lines(log) {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["msg"] != "file processed" {
			continue
		}
		for key, want := range map[string]int{"accepted": c.Accepted, "rejected": c.Rejected, "warnings": c.Warnings,
			"held_back": c.HeldBack, "duplicates": c.Duplicates, "superseded": c.Superseded} {
			if got, ok := l[key].(float64); !ok || int(got) != want {
				t.Errorf("file processed: %s = %v, want %d:\n%s", key, l[key], want, line)
			}
		}
		return
	}
	t.Errorf("no file processed line in:\n%s", log)
}

// checkBuildInfo compares jobplan_hub_build_info with what `go version
// -m` reads from the binary.
func checkBuildInfo(t *testing.T, mf map[string]*dto.MetricFamily) {
	t.Helper()
	bin := buildBinary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	want := map[string]string{"version": "unknown", "revision": "unknown"}
	modified := false
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case i == 0 && len(f) == 2:
			want["goversion"] = f[1]
		case len(f) >= 3 && f[0] == "mod":
			want["version"] = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			want["revision"] = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) == 2 && f[0] == "build" && f[1] == "vcs.modified=true":
			modified = true
		}
	}
	if modified {
		want["revision"] += "-modified"
	}
	fam := mf["jobplan_hub_build_info"]
	if fam == nil || len(fam.GetMetric()) != 1 {
		t.Fatalf("jobplan_hub_build_info: %v", fam)
	}
	m := fam.GetMetric()[0]
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || m.GetGauge().GetValue() != 1 {
		t.Errorf("jobplan_hub_build_info %v = %v, want %v = 1 (go version -m:\n%s)", got, m.GetGauge().GetValue(), want, out)
	}
}

// dom loads path of the hub's page in headless Chromium (with the token
// as a query parameter), or, without Chromium outside CI, fetches it.
func dom(t *testing.T, h *httpHub, path string) string {
	t.Helper()
	if chromiumtest.Available(t) {
		return chromiumtest.Run(t, t.TempDir(), "--dump-dom", h.base+path)
	}
	code, body := h.get(t, path, false)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, code)
	}
	return body
}

// fileRows are the ids of the files a page lists.
func fileRows(page string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-file-id="(\d+)"`).FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// link is the href of the page's link whose text is label.
func link(t *testing.T, page, label string) string {
	t.Helper()
	m := regexp.MustCompile(`<a href="([^"]+)"[^>]*>` + regexp.QuoteMeta(label) + `</a>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link %q in:\n%s", label, page)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// checkFileListInChromium follows the file list's filter and paging
// links in Chromium, over the hub's two files (1 processed, 2
// quarantined).
func checkFileListInChromium(t *testing.T, h *httpHub) {
	t.Helper()
	page := dom(t, h, "/?token="+h.token)
	if got := fileRows(page); strings.Join(got, ",") != "2,1" {
		t.Errorf("the page lists files %v, want 2,1", got)
	}
	quarantined := link(t, page, "quarantined (1)")
	if !strings.Contains(quarantined, "token="+h.token) {
		t.Errorf("the filter link %q lacks the token", quarantined)
	}
	page = dom(t, h, quarantined)
	if got := fileRows(page); strings.Join(got, ",") != "2" || !strings.Contains(page, "<strong>quarantined (1)</strong>") {
		t.Errorf("quarantined files: %v", got)
	}
	// A page of the files older than 2, and back.
	page = dom(t, h, "/?before=2&token="+h.token)
	if got := fileRows(page); strings.Join(got, ",") != "1" {
		t.Errorf("files before 2: %v, want 1", got)
	}
	page = dom(t, h, link(t, page, "← newer"))
	if got := fileRows(page); strings.Join(got, ",") != "2" {
		t.Errorf("following ← newer: %v, want 2", got)
	}
	if older := link(t, page, "older →"); older != "/?before=2&token="+h.token {
		t.Errorf("older link %q", older)
	}
}

// checkRefusedReload saves a hub file with a problem: the running hub
// goes on, the page shows a banner with the problem, status names it and
// the reload counter counts it; a sound save clears it.
func checkRefusedReload(t *testing.T, h *httpHub) {
	t.Helper()
	hubFile := filepath.Join(filepath.Dir(h.drop), "hub.yaml")
	state := filepath.Join(filepath.Dir(h.drop), "state")
	good := testutil.ReadFile(t, hubFile)
	testutil.WriteFile(t, hubFile, strings.Replace(good, "settle_time: 30ms", "settle_time: soon", 1))
	testutil.Eventually(t, "the refused reload counted", func() bool {
		return value(h.metrics(t), "jobplan_hub_reloads_total", "outcome", "failure") == 1
	})
	mf := h.metrics(t)
	if v := value(mf, "jobplan_hub_config_last_reload_successful"); v != 0 {
		t.Errorf("jobplan_hub_config_last_reload_successful = %v after a refused reload", v)
	}
	const problem = `"soon" is not a duration (write it like 500ms, 2s or 5m)`
	page := dom(t, h, "/?token="+h.token)
	banner := regexp.MustCompile(`(?s)<div id="reload-failed"[^>]*>.*?</div>`).FindString(page)
	if !strings.Contains(banner, "The configuration was not reloaded") || !strings.Contains(banner, "hub.yaml:7:18: "+problem) {
		t.Errorf("the page's banner does not name the problem:\n%s", banner)
	}
	checkFileListInChromium(t, h)
	testutil.Eventually(t, "status to name the refused reload", func() bool {
		_, out, _ := runCLI(t, "status", "--state", state)
		return strings.Contains(out, "reload refused at ") && strings.Contains(out, "hub.yaml:7:18: "+problem)
	})

	testutil.WriteFile(t, hubFile, strings.Replace(good, "settle_time: 30ms", "settle_time: 40ms", 1))
	testutil.Eventually(t, "the sound reload counted", func() bool {
		mf := h.metrics(t)
		return value(mf, "jobplan_hub_reloads_total", "outcome", "success") == 1 &&
			value(mf, "jobplan_hub_config_last_reload_successful") == 1
	})
	if page := dom(t, h, "/?token="+h.token); strings.Contains(page, "reload-failed") {
		t.Error("the banner stays after a sound reload")
	}
}

// TestStartErrorsNameNoPackage: a hub that cannot be built (at start, or
// a reload whose hub cannot start, shown in the page's banner) says which
// source or destination and what failed, without a package's name.
func TestStartErrorsNameNoPackage(t *testing.T) {
	root := t.TempDir()
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(t.Context(), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(root, "no-such-folder")
	for _, tc := range []struct {
		name string
		cfg  hubconfig.Config
		want string
	}{
		{"local source", hubconfig.Config{
			Sources:      []hubconfig.Source{{Name: "trust-a", Type: hubconfig.SourceLocal, Dir: missing, Mapping: mappingFile, Destinations: []string{"box"}}},
			Destinations: []hubconfig.Destination{{Name: "box", Type: hubconfig.DestOutbox, Dir: filepath.Join(root, "out")}},
		}, "source trust-a: stat " + missing + ": no such file or directory"},
		{"outbox", hubconfig.Config{
			Destinations: []hubconfig.Destination{{Name: "box", Type: hubconfig.DestOutbox}},
		}, "destination box: no directory configured"},
		{"esr_api", hubconfig.Config{
			Destinations: []hubconfig.Destination{{Name: "esr", Type: hubconfig.DestESR, URL: "ftp://esr.example/jobplans"}},
		}, `destination esr: url "ftp://esr.example/jobplans": want an http(s)://host/path address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.StateDir = filepath.Join(root, "state")
			_, _, err := buildHub(t.Context(), &cfg, l, slog.New(slog.DiscardHandler), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("buildHub: %v, want %q", err, tc.want)
			}
		})
	}
}
