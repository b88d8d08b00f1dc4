package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nhs-esr/jobplan-hub/internal/chromiumtest"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
)

const sampleCSV = "../../samples/sard-wide/jobplans-2026-04.csv"

// refusedAssignment is the record the test receiver rejects for good.
const refusedAssignment = "20000001"

// recordReceiver stands in for the ESR API: it accepts every record but
// refusedAssignment's, which it rejects with 422.
type recordReceiver struct {
	mu       sync.Mutex
	accepted map[string]bool // idempotency keys
}

func (r *recordReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var rec struct {
		Assignment string `json:"assignment_number"`
	}
	if err := json.NewDecoder(req.Body).Decode(&rec); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if rec.Assignment == refusedAssignment {
		http.Error(w, "plan refused", http.StatusUnprocessableEntity)
		return
	}
	r.mu.Lock()
	r.accepted[req.Header.Get("Idempotency-Key")] = true
	r.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func (r *recordReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted)
}

// httpHub is a running hub binary serving HTTP, and how to talk to it.
type httpHub struct {
	proc  *hubProcess
	log   *testutil.Buffer
	base  string // http://127.0.0.1:port
	token string
	drop  string
}

var listeningRE = regexp.MustCompile(`"msg":"status page listening","addr":"([^"]+)"`)

// startHTTPHub runs `jobplan-hub run` over a local drop folder that
// delivers to recv, serving HTTP on a free loopback port with a token.
func startHTTPHub(t *testing.T, recv string) *httpHub {
	t.Helper()
	bin, root, drop := hubDirs(t)
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, fmt.Sprintf(`state_dir: state
listen: 127.0.0.1:0
sources:
  - name: trust-a
    type: local
    dir: drop
    settle_time: 30ms
    rescan_interval: 100ms
    mapping: %s
    destinations: [esr]
destinations:
  - name: esr
    type: esr_api
    url: %s
    backoff_base: 10ms
    backoff_max: 50ms
`, mappingFile, recv))
	tokenFile := filepath.Join(root, "token")
	const token = "t0ken-for-the-page"
	testutil.WriteFile(t, tokenFile, token+"\n")

	h := &httpHub{log: &testutil.Buffer{}, token: token, drop: drop}
	h.proc = startHub(t, bin, h.log, "run", "--config", hubFile, "--log-format", "json", "--listen-token-file", tokenFile)
	testutil.Eventually(t, "the status page to listen", func() bool { return listeningRE.MatchString(h.log.String()) })
	h.base = "http://" + listeningRE.FindStringSubmatch(h.log.String())[1]
	return h
}

// get fetches path, with the bearer token if auth is set.
func (h *httpHub) get(t *testing.T, path string, auth bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", h.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := http.DefaultClient.Do(req)
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

// metrics scrapes /metrics and parses it with the Prometheus text parser.
func (h *httpHub) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := h.get(t, "/metrics", true)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return mf
}

// value is the value of the metric of family name whose labels include
// labels (name=value pairs); -1 if there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := mf[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// reportCounts are the counts of a report.json.
type reportCounts struct {
	Accepted, Rejected, Warnings, Duplicates, Superseded int
	HeldBack                                             int `json:"held_back"`
}

// sampleCounts reads the sample's report.json counts from the hub's state.
func sampleCounts(t *testing.T, state string) reportCounts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "files", "1", "jobplans-2026-04.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Counts reportCounts `json:"counts"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Counts
}

func TestRunServesHealthMetricsAndStatusPage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	recv := &recordReceiver{accepted: map[string]bool{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	h := startHTTPHub(t, srv.URL+"/jobplans")
	state := filepath.Join(filepath.Dir(h.drop), "state")

	// The drop folder is scanned at start: ready, and live.
	testutil.Eventually(t, "/healthz 200", func() bool {
		code, body := h.get(t, "/healthz", false)
		return code == http.StatusOK && body == "ok\n"
	})
	for _, path := range []string{"/livez", "/readyz"} {
		if code, body := h.get(t, path, false); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s: %d %q, want 200 ok", path, code, body)
		}
	}
	// Everything but the probes needs the token.
	for _, path := range []string{"/", "/metrics", "/files/1/jobplans-2026-04.report.html", "/?token=wrong"} {
		if code, _ := h.get(t, path, false); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
	}

	sample, err := os.ReadFile(sampleCSV)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(h.drop, "jobplans-2026-04.csv"), string(sample))

	// Done: the file processed and nothing pending for esr.
	var mf map[string]*dto.MetricFamily
	testutil.Eventually(t, "the file processed and its records delivered", func() bool {
		mf = h.metrics(t)
		// The ledger shows a delivery done a moment before its worker
		// counts it: wait for the counts too.
		return value(mf, "jobplan_hub_files_total", "source", "trust-a", "outcome", "processed") == 1 &&
			value(mf, "jobplan_hub_queue_pending", "destination", "esr") == 0 &&
			value(mf, "jobplan_hub_delivery_seconds", "destination", "esr") ==
				value(mf, "jobplan_hub_records_total", "source", "trust-a", "outcome", "accepted")
	})
	counts := sampleCounts(t, state)
	accepted, rejected := counts.Accepted, counts.Rejected
	if accepted < 2 || rejected < 1 || counts.Warnings < 1 {
		t.Fatalf("the sample should have accepted and rejected plans, and warnings: %+v", counts)
	}
	checkFileProcessedLine(t, h.log.String(), counts)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jobplan_hub_files_total", []string{"source", "trust-a", "outcome", "processed"}, 1},
		{"jobplan_hub_files_total", []string{"source", "trust-a", "outcome", "quarantined"}, 0},
		{"jobplan_hub_files_total", []string{"source", "trust-a", "outcome", "skipped"}, 0},
		{"jobplan_hub_records_total", []string{"source", "trust-a", "outcome", "accepted"}, float64(accepted)},
		{"jobplan_hub_records_total", []string{"source", "trust-a", "outcome", "rejected"}, float64(rejected)},
		{"jobplan_hub_deliveries_total", []string{"destination", "esr", "outcome", "delivered"}, float64(accepted - 1)},
		{"jobplan_hub_deliveries_total", []string{"destination", "esr", "outcome", "rejected"}, 1},
		{"jobplan_hub_deliveries_total", []string{"destination", "esr", "outcome", "duplicate"}, 0},
		{"jobplan_hub_queue_pending", []string{"destination", "esr"}, 0},
		{"jobplan_hub_file_processing_seconds", []string{"source", "trust-a"}, 1},           // observations
		{"jobplan_hub_delivery_seconds", []string{"destination", "esr"}, float64(accepted)}, // observations
		{"jobplan_hub_source_poll_errors_total", []string{"source", "trust-a"}, 0},
		{"jobplan_hub_ledger_files", []string{"state", "processed"}, 1},
		{"jobplan_hub_queue_rejected", []string{"destination", "esr"}, 1},
		{"jobplan_hub_reloads_total", []string{"outcome", "success"}, 0},
		{"jobplan_hub_reloads_total", []string{"outcome", "failure"}, 0},
		{"jobplan_hub_config_last_reload_successful", nil, 1},
	} {
		if got := value(mf, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if recv.count() != accepted-1 {
		t.Errorf("receiver holds %d records, want %d", recv.count(), accepted-1)
	}
	if v := value(mf, "jobplan_hub_source_last_success_timestamp_seconds", "source", "trust-a"); v <= 0 {
		t.Errorf("last successful poll: %v", v)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if mf[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	checkBuildInfo(t, mf)

	// A file without its header row: its first row of data is taken for
	// the header, and the reason it is quarantined must not quote it.
	_, headerless, _ := strings.Cut(string(sample), "\n")
	testutil.WriteFile(t, filepath.Join(h.drop, "no-header.csv"), headerless)
	testutil.Eventually(t, "the file without a header quarantined", func() bool {
		return value(h.metrics(t), "jobplan_hub_files_total", "source", "trust-a", "outcome", "quarantined") == 1
	})

	// Files outside a report are not served, whatever the path.
	for _, path := range []string{
		"/files/1/..%2F..%2Fledger.db", "/files/1/../../ledger.db", "/files/1/jobplans-2026-04.jobplans.jsonl",
		"/files/1/jobplans-2026-04.rejected.csv", "/files/..%2F..%2Fstate/ledger.db",
	} {
		if code, body := h.get(t, path, true); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %.60q", path, code, body)
		}
	}

	checkPageInChromium(t, h)

	// A source that cannot be scanned makes the hub unhealthy, with the
	// reason; once it is back, healthy again.
	moved := h.drop + ".away"
	if err := os.Rename(h.drop, moved); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "/healthz 503 naming the source", func() bool {
		code, body := h.get(t, "/healthz", true)
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "source trust-a: ") &&
			strings.Contains(body, "no such file or directory")
	})
	// Without the token, only the source's name. The hub is not ready,
	// but alive: a restart would not bring the folder back.
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := h.get(t, path, false); code != http.StatusServiceUnavailable || body != "source trust-a: failing\n" {
			t.Errorf("%s without the token: %d %q, want 503 naming only the source", path, code, body)
		}
	}
	if code, body := h.get(t, "/livez", false); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/livez while the source fails: %d %q, want 200 ok", code, body)
	}
	if err := os.Rename(moved, h.drop); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "/healthz 200 again", func() bool {
		code, _ := h.get(t, "/healthz", false)
		return code == http.StatusOK
	})

	checkRefusedReload(t, h)

	h.proc.stop(t, syscall.SIGTERM, 0)
	if _, err := http.Get(h.base + "/healthz"); err == nil {
		t.Error("the status page still answers after the hub stopped")
	}
	checkNoPersonalDataLogged(t, h.log.String())
}

// checkPageInChromium loads the status page in headless Chromium, as a
// browser with ?token= would, and follows its report link. Without
// Chromium (outside CI) it checks the HTML as served.
func checkPageInChromium(t *testing.T, h *httpHub) {
	t.Helper()
	page := h.base + "/?token=" + h.token
	var dom string
	if chromiumtest.Available(t) {
		dom = chromiumtest.Run(t, t.TempDir(), "--dump-dom", page)
	} else {
		var code int
		if code, dom = h.get(t, "/?token="+h.token, false); code != http.StatusOK {
			t.Fatalf("status page: %d", code)
		}
	}
	text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dom, " ")), " ")
	for _, want := range []string{"jobplan-hub status", "trust-a reachable", "jobplans-2026-04.csv trust-a processed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page shows no %q:\n%s", want, text)
		}
	}
	if !strings.Contains(dom, `<tr data-destination="esr">`) || !strings.Contains(dom, "plan refused") {
		t.Errorf("the page lacks the esr queue or the rejected delivery's reason:\n%s", dom)
	}
	link := regexp.MustCompile(`<tr data-file-id="1"[^>]*>(?s:.*?)<a href="([^"]+)">report</a>`).FindStringSubmatch(dom)
	if link == nil {
		t.Fatalf("no report link for file 1 in:\n%s", dom)
	}
	href := strings.ReplaceAll(link[1], "&amp;", "&")
	if !strings.HasPrefix(href, "/files/1/jobplans-2026-04.report.html?token=") {
		t.Errorf("report link %q", href)
	}
	code, body := h.get(t, href, false)
	if code != http.StatusOK || !strings.Contains(body, "jobplans-2026-04.csv") || !strings.Contains(body, "plans accepted") {
		t.Errorf("following the report link: %d %.200q", code, body)
	}
	// Names and PA values are not on the page.
	for _, name := range sampleSurnames(t) {
		if strings.Contains(text, name) {
			t.Errorf("the page shows the surname %q", name)
		}
	}
}

// sampleSurnames are the Surname and Forename values of the sample.
func sampleSurnames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(sampleCSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1 // the sample has malformed rows on purpose
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, row := range rows[1:] {
		for _, col := range []int{2, 3} {
			if col < len(row) && len(row[col]) > 2 {
				names = append(names, row[col])
			}
		}
	}
	return names
}

// sampleFirstRow is the first row of data of the sample.
func sampleFirstRow(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(sampleCSV)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.SplitN(string(b), "\n", 3)
	return strings.Split(strings.TrimSpace(rows[1]), ",")
}

// checkNoPersonalDataLogged fails if a log line at INFO or above holds a
// surname or forename of the sample, the refused record's assignment
// number, or a value of the sample's first row (which a file without its
// header row would quote as its columns).
func checkNoPersonalDataLogged(t *testing.T, log string) {
	t.Helper()
	for _, msg := range []string{`"msg":"delivery rejected"`, `"msg":"file quarantined"`} {
		if !strings.Contains(log, msg) {
			t.Fatalf("the log has no %s line, so the check proves nothing:\n%s", msg, log)
		}
	}
	values := append(sampleSurnames(t), refusedAssignment)
	for _, v := range sampleFirstRow(t) {
		if len(v) > 3 { // "10", "0.5": too short to tell from anything else
			values = append(values, v)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("not a JSON log line: %q", sc.Text())
			continue
		}
		level, _ := line["level"].(string)
		if level == "DEBUG" {
			continue
		}
		lines++
		// The time stamp holds digits that can match a PA value ("0.25"
		// in "20:12:30.2556"); every other attribute is checked.
		delete(line, "time")
		rest, err := json.Marshal(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range values {
			if strings.Contains(string(rest), s) {
				t.Errorf("%s line holds %q: %s", level, s, sc.Text())
			}
		}
	}
	if lines < 3 {
		t.Errorf("only %d log lines", lines)
	}
}

func TestListenBeyondLoopbackNeedsAToken(t *testing.T) {
	t.Setenv(envListenToken, "")
	root := t.TempDir()
	drop := filepath.Join(root, "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := func(listen string) string {
		p := filepath.Join(t.TempDir(), "hub.yaml")
		testutil.WriteFile(t, p, fmt.Sprintf(`state_dir: %s
%ssources:
  - {name: a, type: local, dir: %s, mapping: %s, destinations: [box]}
destinations:
  - {name: box, type: outbox, dir: %s}
`, filepath.Join(root, "state"), listen, drop, mappingFile, filepath.Join(root, "out")))
		return p
	}
	const refusal = "is not loopback: refusing to serve without a token"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run, all interfaces", []string{"run", "--config", hubFile(""), "--listen", "0.0.0.0:0"}, refusal},
		{"run, no host", []string{"run", "--config", hubFile(""), "--listen", ":0"}, refusal},
		{"run, hub file", []string{"run", "--config", hubFile("listen: \"[::]:0\"\n")}, refusal},
		{"run, empty token file", []string{"run", "--config", hubFile(""), "--listen", "0.0.0.0:0",
			"--listen-token-file", os.DevNull}, "is empty"},
		{"run, bad address", []string{"run", "--config", hubFile(""), "--listen", "8080"}, "want host:port"},
		{"watch", []string{"watch", "--mapping", mappingFile, "--state", filepath.Join(root, ".w"),
			"--listen", "192.0.2.1:8080", drop}, refusal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "state")); err == nil {
		t.Error("a refused hub created its state folder")
	}
	// The hub file's listen is checked like every other field.
	code, stdout, stderr := runCLI(t, "config", "check", hubFile("listen: nonsense\n"))
	if code != 1 || !strings.Contains(stdout+stderr, "listen: want host:port") {
		t.Errorf("config check: exit %d, %q %q", code, stdout, stderr)
	}
}
