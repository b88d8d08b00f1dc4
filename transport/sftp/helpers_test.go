package sftp_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

const (
	testPassword = "correct horse"
	testSettle   = 40 * time.Millisecond
	testPoll     = 20 * time.Millisecond
	// quiet is how long Next must find nothing: many poll intervals.
	quiet = 250 * time.Millisecond
)

// eventually waits for cond, polling, instead of sleeping for an event.
var eventually = testutil.EventuallyWithin

// startServer starts a pkg/sftp-backed test server with password auth and
// an "inbox" directory.
func startServer(t *testing.T, opts sftptest.Options) *sftptest.Server {
	t.Helper()
	if opts.Password == "" {
		opts.Password = testPassword
	}
	srv := sftptest.Start(t, opts)
	mkdir(t, srv.Path("inbox"))
	return srv
}

// baseConfig connects to srv by password, pinning its host key.
func baseConfig(srv *sftptest.Server) sftp.Config {
	return sftp.Config{
		Addr:                srv.Addr,
		User:                srv.User,
		Password:            testPassword,
		HostKeyFingerprints: sftp.Fingerprints{srv.Fingerprint},
		Dir:                 "inbox",
		SettleTime:          testSettle,
		PollInterval:        testPoll,
		DialTimeout:         5 * time.Second,
	}
}

func newSource(t *testing.T, cfg sftp.Config) (*sftp.Source, string) {
	t.Helper()
	spool := t.TempDir()
	src, err := sftp.NewSource(cfg, sftp.SourceOptions{
		SpoolDir:     spool,
		Logger:       testLogger(t),
		DoneAttempts: 3,
	})
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src, spool
}

// next returns the source's next item or fails the test.
func next(t *testing.T, src relay.Source) *sftp.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	it, err := src.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return it.(*sftp.Item)
}

// expectNothing checks that Next finds nothing for a while.
func expectNothing(t *testing.T, src relay.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), quiet)
	defer cancel()
	it, err := src.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		name := "<nil>"
		if it != nil {
			name = it.Name()
		}
		t.Fatalf("Next: got item %s, err %v; want nothing (deadline exceeded)", name, err)
	}
}

func done(t *testing.T, it relay.Item, outcome relay.Outcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := it.Done(ctx, relay.Ack{Outcome: outcome, Reason: "test"}); err != nil {
		t.Fatalf("Done(%s, %v): %v", it.Name(), outcome, err)
	}
}

func readItem(t *testing.T, it relay.Item) string {
	t.Helper()
	rc, err := it.Open(context.Background())
	if err != nil {
		t.Fatalf("Open(%s): %v", it.Name(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", it.Name(), err)
	}
	return string(b)
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// The file helpers every package's tests share; list returns the names
// in a folder, sorted (a missing folder is empty).
var (
	writeFile = testutil.WriteFile
	readFile  = testutil.ReadFile
	exists    = testutil.Exists
	list      = testutil.Names
)

// newKey generates a client key of the given kind ("ed25519" or "rsa").
func newKey(t *testing.T, kind string) (crypto.PrivateKey, ssh.PublicKey) {
	t.Helper()
	var priv crypto.PrivateKey
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, signer.PublicKey()
}

// writeKey writes priv in OpenSSH format, encrypted if passphrase is set.
func writeKey(t *testing.T, priv crypto.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test key")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test key", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_test")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testLogger sends the code's log output to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
