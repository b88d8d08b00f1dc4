package sftp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wantLoginError checks that err is a refused login, backing off, for the
// reason condition.
func wantLoginError(t *testing.T, err error, condition string, cause func(error) bool) {
	t.Helper()
	var refused *sftp.LoginError
	switch {
	case !errors.As(err, &refused):
		t.Fatalf("got %v, want a *sftp.LoginError", err)
	case refused.Condition() != condition || !cause(err):
		t.Fatalf("got %v (%q), want %q", err, refused.Condition(), condition)
	case !retry.IsRetryable(err) || retry.After(err) <= 0:
		t.Fatalf("error %v: retryable %v after %v, want temporary with a delay", err, retry.IsRetryable(err), retry.After(err))
	}
}

// The default back-off tries again after 5, 10, 20 and 40 minutes, then
// every hour: at 0, 5, 15, 35 and 75 minutes in the first two hours.
const (
	loginWindow         = 2 * time.Hour
	loginStep           = 5 * time.Minute
	loginsInLoginWindow = 5
)

// TestSinkWrongPasswordBacksOff: however often deliveries are tried, a
// sink with a wrong password logs in a bounded number of times, counted
// by the server; each try in between fails at once without connecting.
func TestSinkWrongPasswordBacksOff(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := sinkConfig(t, srv)
	cfg.Password = "wrong"
	s := newSink(t, cfg)
	clock := &fakeClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	sftp.SetClock(s, clock.now)
	for elapsed := time.Duration(0); elapsed <= loginWindow; elapsed += loginStep {
		for range 3 { // several deliveries due at once
			err := put(t, s, "plan.ndjson", "rows")
			wantLoginError(t, err, "authentication refused", func(err error) bool { return errors.Is(err, sftp.ErrAuthFailed) })
		}
		clock.advance(loginStep)
	}
	if n := srv.FailedLogins(); n != loginsInLoginWindow {
		t.Errorf("server saw %d failed logins in %v, want %d", n, loginWindow, loginsInLoginWindow)
	}
}

// TestSourceHostKeyMismatchBacksOff: a source that refuses the server's
// host key does not connect again until the back-off has passed.
func TestSourceHostKeyMismatchBacksOff(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.HostKeyFingerprints = sftp.Fingerprints{otherFingerprint(t)}
	cfg.PollInterval = time.Millisecond
	src, _ := newSource(t, cfg)
	clock := &fakeClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	sftp.SetClock(src, clock.now)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := src.Next(ctx)
	wantLoginError(t, err, "host key mismatch", func(err error) bool {
		var hk *sftp.HostKeyError
		return errors.As(err, &hk)
	})
	perAttempt := srv.Connections() // one connection per key type asked for
	for elapsed := loginStep; elapsed <= loginWindow; elapsed += loginStep {
		clock.advance(loginStep)
		_, err := src.Next(ctx)
		wantLoginError(t, err, "host key mismatch", func(error) bool { return true })
	}
	if n := srv.Connections(); n != loginsInLoginWindow*perAttempt {
		t.Errorf("server saw %d connections in %v, want %d attempts of %d", n, loginWindow, loginsInLoginWindow, perAttempt)
	}
	if srv.FailedLogins() != 0 || srv.Logins() != 0 {
		t.Errorf("credentials were sent to an untrusted host: %d logins, %d failed", srv.Logins(), srv.FailedLogins())
	}
}

// TestLoginBackoffEndsWithASuccess: once a login works again, the back-off
// is forgotten.
func TestLoginBackoffEndsWithASuccess(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	srv.SetPassword("changed")
	s := newSink(t, sinkConfig(t, srv))
	clock := &fakeClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	sftp.SetClock(s, clock.now)
	for range 2 {
		wantLoginError(t, put(t, s, "plan.ndjson", "rows"), "authentication refused",
			func(err error) bool { return errors.Is(err, sftp.ErrAuthFailed) })
	}
	srv.SetPassword(testPassword) // the server's administrator puts it back
	wantLoginError(t, put(t, s, "plan.ndjson", "rows"), "authentication refused", func(error) bool { return true })
	clock.advance(sftp.DefaultLoginBackoff)
	if err := put(t, s, "plan.ndjson", "rows"); err != nil {
		t.Fatalf("Put once the back-off passed: %v", err)
	}
	if srv.FailedLogins() != 1 || srv.Logins() != 1 {
		t.Errorf("failed logins %d, logins %d; want 1 and 1", srv.FailedLogins(), srv.Logins())
	}
}
