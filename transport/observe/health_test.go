package observe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// refusedLogin is what an SFTP source or sink reports while a refused
// login backs off.
func refusedLogin(cause error) error {
	le := &sftp.LoginError{Addr: "b.example.org:22", Failures: 2, RetryAt: time.Now().Add(10 * time.Minute), Err: cause}
	return retry.Temporary(le, 10*time.Minute)
}

// TestHealthNamesWhatFails: refused logins, for sources and destinations,
// and a paused hub show on /healthz as what they are, also without the
// token; the token adds the error.
func TestHealthNamesWhatFails(t *testing.T) {
	const token = "s3cret-t0ken"
	f := newFixture(t, token)
	f.rec.Configure([]string{"trust-a", "supplier-b"}, []string{"esr", "copies"})
	f.rec.SourcePolled("trust-a", nil)
	authErr := refusedLogin(fmt.Errorf("sftp b.example.org:22 as hub: %w: tried [password]", sftp.ErrAuthFailed))
	f.rec.SourcePolled("supplier-b", authErr)
	hostKeyErr := refusedLogin(&sftp.HostKeyError{Host: "c.example.org:22", KeyType: "ssh-ed25519", Fingerprint: "SHA256:x", Reason: "does not match"})
	f.rec.DestinationReached("copies", hostKeyErr)
	// A failure of one delivery is the ledger's business, not health's.
	f.rec.DestinationReached("esr", errors.New("sftp put plan.jsonl: permission denied"))
	f.rec.StoragePaused(fmt.Errorf("ledger: %w", syscall.ENOSPC))

	code, body := f.get(t, "/healthz", "")
	want := "hub: storage full; intake and deliveries paused\n" +
		"source supplier-b: authentication refused\n" +
		"destination copies: host key mismatch\n"
	if code != http.StatusServiceUnavailable || body != want {
		t.Errorf("/healthz without the token: %d\n%s\nwant 503\n%s", code, body, want)
	}
	code, body = f.get(t, "/healthz", token)
	for _, frag := range []string{"source supplier-b: authentication refused: sftp b.example.org:22 as hub: authentication failed",
		"next attempt at", "destination copies: host key mismatch: host key for c.example.org:22 not trusted",
		"hub: storage full; intake and deliveries paused: ledger: "} {
		if code != http.StatusServiceUnavailable || !strings.Contains(body, frag) {
			t.Errorf("/healthz with the token: %d\n%s\nlacks %q", code, body, frag)
		}
	}

	// The page names them too.
	_, page := f.get(t, "/", token)
	for _, frag := range []string{`<tr data-source="supplier-b">`, `<span class="bad">authentication refused</span>`,
		`<li data-kind="destination"><span class="bad">destination copies: host key mismatch</span>`,
		`<li data-kind="hub"><span class="bad">hub: storage full; intake and deliveries paused</span>`} {
		if !strings.Contains(page, frag) {
			t.Errorf("the page lacks %s", frag)
		}
	}

	// Each clears once it works again (or fails otherwise: the login is
	// not known to be refused any more).
	f.rec.SourcePolled("supplier-b", nil)
	f.rec.DestinationReached("copies", errors.New("sftp put a.jsonl: permission denied"))
	f.rec.StoragePaused(nil)
	if code, body := f.get(t, "/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("all well again: %d %q", code, body)
	}
	if _, page := f.get(t, "/", token); !strings.Contains(page, `<p id="problems" class="ok">none</p>`) {
		t.Errorf("the page still lists problems")
	}
}

// TestWriteHealthKeepsTheFileForStatus: the health file follows the
// problems and goes when the hub stops.
func TestWriteHealthKeepsTheFileForStatus(t *testing.T) {
	dir := t.TempDir()
	rec := observe.NewRecorder(nil)
	rec.Configure([]string{"supplier-b"}, []string{"copies"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.WriteHealth(ctx, filepath.Join(dir, observe.HealthFile))
	}()
	read := func() *observe.Health {
		h, err := observe.ReadHealth(dir)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	transporttest.Eventually(t, 5*time.Second, func() bool {
		h := read()
		return h != nil && len(h.Problems) == 1 && h.Problems[0].Condition == "not reached yet"
	}, "the health file naming the source not reached yet")
	rec.SourcePolled("supplier-b", refusedLogin(fmt.Errorf("login: %w", sftp.ErrAuthFailed)))
	transporttest.Eventually(t, 5*time.Second, func() bool {
		h := read()
		return h != nil && len(h.Problems) == 1 && h.Problems[0].Condition == "authentication refused" &&
			!h.Problems[0].RetryAt.IsZero() && !h.Problems[0].Since.IsZero()
	}, "the health file naming the refused login")
	cancel()
	<-done
	if _, err := os.Stat(filepath.Join(dir, observe.HealthFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("health file left behind by a stopped hub: %v", err)
	}
	if h, err := observe.ReadHealth(dir); h != nil || err != nil {
		t.Errorf("ReadHealth without a file: %v, %v; want nil, nil", h, err)
	}
}
