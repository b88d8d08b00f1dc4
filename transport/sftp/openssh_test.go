package sftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// TestOpenSSHServer runs the Source and Sink against OpenSSH's own
// sftp-server over loopback, the implementation most suppliers run. It
// skips if the binary is missing, except in CI.
func TestOpenSSHServer(t *testing.T) {
	bin := sftptest.RequireServerBinary(t)
	openssh := func(t *testing.T, opts sftptest.Options) *sftptest.Server {
		opts.ServerBinary = bin
		return startServer(t, opts)
	}
	// hasPosixRename reports what the server advertises, so each subtest
	// knows which rename path it exercised.
	hasPosixRename := func(t *testing.T, srv *sftptest.Server) bool {
		c, err := sftp.Dial(context.Background(), baseConfig(srv))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		_, ok := c.SFTP().HasExtension("posix-rename@openssh.com")
		return ok
	}

	t.Run("sink with posix-rename", func(t *testing.T) {
		srv := openssh(t, sftptest.Options{})
		if !hasPosixRename(t, srv) {
			t.Fatal("OpenSSH sftp-server does not advertise posix-rename@openssh.com")
		}
		transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, sinkConfig(t, srv))))
	})

	t.Run("sink with plain rename", func(t *testing.T) {
		// SFTP v3 rename will not replace a file, so the overwrite in the
		// conformance test takes the remove-then-rename path.
		srv := openssh(t, sftptest.Options{HideExtensions: true})
		if hasPosixRename(t, srv) {
			t.Fatal("posix-rename still advertised")
		}
		transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, sinkConfig(t, srv))))
	})

	t.Run("sink with plain rename, as ProFTPD", func(t *testing.T) {
		// OpenSSH's sftp-server behind a proxy that answers a rename onto
		// an existing name as ProFTPD does.
		srv := openssh(t, sftptest.Options{HideExtensions: true})
		srv.SetRenameOverExisting(sftptest.RenameAlreadyExists)
		transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, sinkConfig(t, srv))))
	})

	t.Run("pinned key of a server with three key types", func(t *testing.T) {
		srv := openssh(t, sftptest.Options{HostKeyTypes: []string{"ed25519", "ecdsa", "rsa"}})
		cfg := baseConfig(srv)
		cfg.HostKeyFingerprints = sftp.Fingerprints{srv.Fingerprints[0]} // ed25519, which x/crypto would not pick
		dialAndList(t, srv, cfg)
	})

	t.Run("wrong password backs off", func(t *testing.T) {
		srv := openssh(t, sftptest.Options{})
		cfg := sinkConfig(t, srv)
		cfg.Password = "wrong"
		s := newSink(t, cfg)
		for range 5 {
			err := put(t, s, "plan.ndjson", "rows")
			wantLoginError(t, err, "authentication refused", func(err error) bool { return errors.Is(err, sftp.ErrAuthFailed) })
		}
		if n := srv.FailedLogins(); n != 1 {
			t.Errorf("server saw %d failed logins for 5 puts, want 1", n)
		}
	})

	t.Run("sink no_rename", func(t *testing.T) {
		srv := openssh(t, sftptest.Options{})
		srv.SetRefuseRename(true)
		cfg := sinkConfig(t, srv)
		cfg.NoRename = true
		transporttest.TestSink(t, sinkTarget(t, srv, newSink(t, cfg)))
	})

	t.Run("source", func(t *testing.T) {
		srv := openssh(t, sftptest.Options{})
		src, _ := newSource(t, baseConfig(srv))
		transporttest.TestSource(t, transporttest.SourceTarget{
			Source: src,
			Drop: func(name string, data []byte) error {
				return os.WriteFile(srv.Path("inbox", name), data, 0o644)
			},
			Exists: func(name string) bool { return exists(srv.Path("inbox", name)) },
			Quiet:  quiet,
		})
		if got := list(t, srv.Path("inbox", "processed")); !slices.Equal(got, []string{"a.csv", "b.csv", "c.csv"}) {
			t.Errorf("processed holds %q", got)
		}
	})

	t.Run("source archives without rename", func(t *testing.T) {
		srv := openssh(t, sftptest.Options{HideExtensions: true})
		srv.SetRefuseRename(true)
		cfg := baseConfig(srv)
		cfg.NoRename = true
		src, _ := newSource(t, cfg)
		writeFile(t, srv.Path("inbox", "bad.csv"), "not a job plan")
		done(t, next(t, src), relay.Quarantined)
		if got := list(t, srv.Path("inbox")); !slices.Equal(got, []string{"quarantine"}) {
			t.Errorf("inbox holds %q, want only quarantine/", got)
		}
		if got := readFile(t, srv.Path("inbox", "quarantine", "bad.csv")); got != "not a job plan" {
			t.Errorf("quarantine/bad.csv = %q", got)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		// A Sink uploads into the folder a Source polls: the Source must
		// only ever see whole files, never the Sink's .part names.
		srv := openssh(t, sftptest.Options{})
		sink := newSink(t, baseConfig(srv))
		src, _ := newSource(t, baseConfig(srv))
		want := map[string][]byte{}
		for i := range 4 {
			want[fmt.Sprintf("plan-%d.csv", i)] = bytes.Repeat([]byte(fmt.Sprintf("row %d\n", i)), 30_000+i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		uploaded := make(chan error, 1)
		go func() {
			for name, data := range want {
				if err := sink.Put(ctx, name, bytes.NewReader(data)); err != nil {
					uploaded <- fmt.Errorf("Put(%s): %w", name, err)
					return
				}
			}
			uploaded <- nil
		}()
		got := map[string]bool{}
		for range want {
			it := next(t, src)
			data, ok := want[it.Name()]
			sum := sha256.Sum256(data)
			if !ok || got[it.Name()] || readItem(t, it) != string(data) || it.SHA256() != hex.EncodeToString(sum[:]) {
				t.Fatalf("unexpected item %s (%d bytes)", it.Name(), it.Size())
			}
			got[it.Name()] = true
			done(t, it, relay.Processed)
		}
		if err := <-uploaded; err != nil {
			t.Fatal(err)
		}
		if names := list(t, srv.Path("inbox")); !slices.Equal(names, []string{"processed"}) {
			t.Errorf("inbox holds %q, want only processed/", names)
		}
		if names := list(t, srv.Path("inbox", "processed")); len(names) != len(want) {
			t.Errorf("processed holds %q, want %d files", names, len(want))
		}
	})
}
