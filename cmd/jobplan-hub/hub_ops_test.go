package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
		Condition: observe.ConditionStalled, Since: at.Add(-time.Minute), Error: "last alive 1m40s ago, due again within 40s"}},
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
		"health: 1 problem(s) (the running hub, as of 2026-04-01 12:30:00 +01:00):\n" +
			"  loop dispatcher esr: stalled since 2026-04-01 12:29:00 +01:00\n" +
			"    last alive 1m40s ago, due again within 40s\n",
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
