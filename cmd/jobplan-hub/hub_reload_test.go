package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

// TestReloadedStaffExtractChangesTheVerdict runs the hub in process, as
// `run` wires it. A plan whose assignment the staff extract does not hold
// is rejected (R1); the trust saves its next extract, which holds the
// assignment; the hub reloads it without a restart, and the same plan is
// accepted.
func TestReloadedStaffExtractChangesTheVerdict(t *testing.T) {
	root := t.TempDir()
	drop, outbox := filepath.Join(root, "drop"), filepath.Join(root, "outbox")
	testutil.WriteFile(t, filepath.Join(drop, ".keep"), "")
	extract := testutil.ReadFile(t, "../../samples/reference/input/staff.csv")
	staffFile := filepath.Join(root, "staff.csv")
	testutil.WriteFile(t, staffFile, extract)
	testutil.WriteFile(t, filepath.Join(root, "staff-extract.yaml"), testutil.ReadFile(t, "../../samples/reference/input/staff-extract.yaml"))
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, `state_dir: state
sources:
  - name: trust-a
    type: local
    dir: drop
    settle_time: 30ms
    rescan_interval: 100ms
    mapping: `+mappingFile+`
    staff: staff.csv
    staff_format: staff-extract.yaml
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: outbox
`)
	// One plan, for an assignment the sample extract does not hold.
	sample := strings.Split(testutil.ReadFile(t, "../../samples/sard-wide/jobplans-2026-04.csv"), "\r\n")
	plan := sample[0] + "\r\n" + sample[16] + "\r\n"
	if !strings.HasPrefix(sample[16], "20000013,20000013,") || strings.Contains(extract, "\n20000013,") {
		t.Fatalf("the samples changed: line 17 is %q", sample[16])
	}

	cfg, err := hubconfig.Load(hubFile)
	if err != nil {
		t.Fatal(err)
	}
	log := &testutil.Buffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, func() (*hubconfig.Config, error) { return hubconfig.Load(hubFile) }, nil,
			listenConfig{}, slog.New(slog.NewTextHandler(log, nil)), nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	archived := func(name string) string { return filepath.Join(drop, localdir.ArchiveDir, name) }
	dropFile := func(name, content string) {
		testutil.WriteFile(t, filepath.Join(root, name), content)
		if err := os.Rename(filepath.Join(root, name), filepath.Join(drop, name)); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, name+" archived", func() bool { return testutil.Exists(archived(name)) })
	}

	dropFile("before.csv", plan)
	if errs := testutil.ReadFile(t, archived("before.csv.before.errors.csv")); !strings.Contains(errs, ",Assignment number,Assignment Number,20000013,R1,Assignment number not in the staff record,Error,") {
		t.Fatalf("the plan is not rejected for R1:\n%s", errs)
	}
	if testutil.Exists(filepath.Join(outbox, "before.jobplans.jsonl")) && strings.Contains(testutil.ReadFile(t, filepath.Join(outbox, "before.jobplans.jsonl")), "20000013") {
		t.Fatal("the rejected plan was delivered")
	}

	// Tomorrow's extract holds the assignment; export jobs save it by
	// renaming a new file over the old one.
	testutil.WriteFile(t, staffFile+".new", extract+"20000013,20000013,\"Comma, Surname\",Mo,Medical and Dental,Active Assignment,123 Example Hospitals NHS Trust,\n")
	if err := os.Rename(staffFile+".new", staffFile); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the new extract to be loaded", func() bool {
		s := log.String()
		return strings.Contains(s, `cause="file changed"`) && strings.Count(s, "staff extract loaded") == 2 && strings.Count(s, "hub started") == 2
	})

	// The same plan, saved again (other line ends: the same content would
	// be recognised as done).
	dropFile("after.csv", strings.ReplaceAll(plan, "\r\n", "\n"))
	delivered := filepath.Join(outbox, "after.jobplans.jsonl")
	testutil.Eventually(t, "the plan delivered to the outbox", func() bool { return testutil.Exists(delivered) })
	if records := testutil.ReadFile(t, delivered); !strings.Contains(records, `"assignment_number":"20000013"`) {
		t.Errorf("after the reload the plan is not delivered: %q", records)
	}
	if testutil.Exists(archived("after.csv.after.errors.csv")) {
		t.Errorf("after the reload the plan has findings:\n%s", testutil.ReadFile(t, archived("after.csv.after.errors.csv")))
	}
}

// TestReloadRotatesTheToken: a new token saved in the token_file is used
// for the deliveries after a reload (SIGHUP, as systemctl reload sends),
// without a restart (README.md, "Rotating tokens and keys").
func TestReloadRotatesTheToken(t *testing.T) {
	root := t.TempDir()
	drop := filepath.Join(root, "drop")
	testutil.WriteFile(t, filepath.Join(drop, ".keep"), "")
	var mu sync.Mutex
	tokens := map[string]string{} // assignment -> the Authorization it came with
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rec struct {
			Assignment string `json:"assignment_number"`
		}
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		tokens[rec.Assignment] = r.Header.Get("Authorization")
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(receiver.Close)
	tokenFile := filepath.Join(root, "esr-token")
	testutil.WriteFile(t, tokenFile, "first-token\n")
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, `state_dir: state
sources:
  - name: trust-a
    type: local
    dir: drop
    settle_time: 30ms
    rescan_interval: 100ms
    mapping: `+mappingFile+`
    destinations: [esr]
destinations:
  - name: esr
    type: esr_api
    url: `+receiver.URL+`/jobplans
    token_file: esr-token
`)
	cfg, err := hubconfig.Load(hubFile)
	if err != nil {
		t.Fatal(err)
	}
	log := &testutil.Buffer{}
	reload := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, func() (*hubconfig.Config, error) { return hubconfig.Load(hubFile) }, reload,
			listenConfig{}, slog.New(slog.NewTextHandler(log, nil)), nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	sample := strings.Split(testutil.ReadFile(t, "../../samples/sard-wide/jobplans-2026-04.csv"), "\r\n")
	deliver := func(name, line, assignment string) string {
		t.Helper()
		testutil.WriteFile(t, filepath.Join(root, name), sample[0]+"\r\n"+line+"\r\n")
		if err := os.Rename(filepath.Join(root, name), filepath.Join(drop, name)); err != nil {
			t.Fatal(err)
		}
		var got string
		testutil.Eventually(t, assignment+" delivered", func() bool {
			mu.Lock()
			defer mu.Unlock()
			got = tokens[assignment]
			return got != ""
		})
		return got
	}
	if got := deliver("a.csv", sample[1], strings.Split(sample[1], ",")[1]); got != "Bearer first-token" {
		t.Fatalf("first delivery with %q", got)
	}
	testutil.WriteFile(t, tokenFile, "second-token\n")
	reload <- syscall.SIGHUP
	testutil.Eventually(t, "the reload", func() bool { return strings.Count(log.String(), "hub started") == 2 })
	if got := deliver("b.csv", sample[2], strings.Split(sample[2], ",")[1]); got != "Bearer second-token" {
		t.Errorf("after the reload, delivered with %q, want the new token", got)
	}
	if strings.Contains(log.String(), "second-token") || strings.Contains(log.String(), "first-token") {
		t.Error("a token is in the log")
	}
}
