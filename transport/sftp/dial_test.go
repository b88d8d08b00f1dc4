package sftp_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// dial connects with cfg and proves the session works by listing the
// inbox, where the test put a marker file.
func dialAndList(t *testing.T, srv *sftptest.Server, cfg sftp.Config) {
	t.Helper()
	writeFile(t, srv.Path("inbox", "marker.txt"), "x")
	c, err := sftp.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	infos, err := c.SFTP().ReadDir("inbox")
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	if len(infos) != 1 || infos[0].Name() != "marker.txt" {
		t.Fatalf("ReadDir(inbox) = %v, want [marker.txt]", infos)
	}
}

// wantPermanent checks that err is classified as not worth retrying and
// that its message contains every fragment.
func wantPermanent(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("got nil error, want a failure")
	}
	if retry.IsRetryable(err) {
		t.Errorf("error %q is retryable, want permanent", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func otherFingerprint(t *testing.T) string {
	_, pub := newKey(t, "ed25519")
	return ssh.FingerprintSHA256(pub)
}

func TestDialPinnedFingerprint(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	dialAndList(t, srv, baseConfig(srv))
}

func TestDialWrongPinnedKeyRefused(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.HostKeyFingerprints = sftp.Fingerprints{otherFingerprint(t)}
	_, err := sftp.Dial(context.Background(), cfg)
	wantPermanent(t, err, srv.Addr, "ssh-ed25519", srv.Fingerprint, cfg.HostKeyFingerprints[0])
	var hkErr *sftp.HostKeyError
	if !errors.As(err, &hkErr) {
		t.Fatalf("error %v is not a *HostKeyError", err)
	}
	if hkErr.KeyType != "ssh-ed25519" || hkErr.Fingerprint != srv.Fingerprint || hkErr.Host != srv.Addr {
		t.Errorf("HostKeyError = %+v, want ssh-ed25519 %s from %s", hkErr, srv.Fingerprint, srv.Addr)
	}
	if n := srv.Logins(); n != 0 {
		t.Errorf("server saw %d logins, want 0: credentials must not be sent to an untrusted host", n)
	}
}

// TestDialPinnedKeyOfStockServer dials a server holding ed25519, ECDSA and
// RSA host keys, as a stock OpenSSH server does, with each one pinned: the
// ssh package prefers ECDSA, so without asking for the pinned key's type
// only a pinned ECDSA key would be accepted.
func TestDialPinnedKeyOfStockServer(t *testing.T) {
	srv := startServer(t, sftptest.Options{HostKeyTypes: []string{"ed25519", "ecdsa", "rsa"}})
	types := []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}
	for i, fp := range srv.Fingerprints {
		t.Run(types[i], func(t *testing.T) {
			cfg := baseConfig(srv)
			cfg.HostKeyFingerprints = sftp.Fingerprints{fp}
			before := srv.Logins()
			dialAndList(t, srv, cfg)
			if srv.Logins() != before+1 {
				t.Errorf("logins went from %d to %d, want one more", before, srv.Logins())
			}
		})
	}
	t.Run("one of several pins", func(t *testing.T) {
		cfg := baseConfig(srv)
		cfg.HostKeyFingerprints = sftp.Fingerprints{otherFingerprint(t), srv.Fingerprints[2]}
		dialAndList(t, srv, cfg)
	})
	t.Run("wrong pin", func(t *testing.T) {
		cfg := baseConfig(srv)
		cfg.HostKeyFingerprints = sftp.Fingerprints{otherFingerprint(t), otherFingerprint(t)}
		before := srv.Logins()
		_, err := sftp.Dial(context.Background(), cfg)
		// Every key the server offered is named, for comparison with
		// what its administrator publishes.
		wantPermanent(t, err, append(types, srv.Fingerprints...)...)
		wantPermanent(t, err, cfg.HostKeyFingerprints...)
		var hkErr *sftp.HostKeyError
		if !errors.As(err, &hkErr) || len(hkErr.OtherKeys) != 2 {
			t.Errorf("error %v is not a *HostKeyError naming three keys", err)
		}
		if srv.Logins() != before {
			t.Errorf("server saw %d logins, want none: credentials must not be sent to an untrusted host", srv.Logins()-before)
		}
	})
}

func TestDialWithoutHostKeyConfigRefused(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.HostKeyFingerprints = nil
	_, err := sftp.Dial(context.Background(), cfg)
	wantPermanent(t, err, "host_key_fingerprint", "known_hosts_file")
	if n := srv.Logins(); n != 0 {
		t.Errorf("server saw %d logins, want 0", n)
	}
}

func TestDialBadFingerprintSyntax(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.HostKeyFingerprints = sftp.Fingerprints{"MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"}
	_, err := sftp.Dial(context.Background(), cfg)
	wantPermanent(t, err, "SHA256:")
}

func TestDialKnownHosts(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	_, otherKey := newKey(t, "ed25519")
	writeKnownHosts := func(lines ...string) string {
		p := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgWith := func(file string) sftp.Config {
		cfg := baseConfig(srv)
		cfg.HostKeyFingerprints = nil
		cfg.KnownHostsFile = file
		return cfg
	}

	t.Run("match", func(t *testing.T) {
		file := writeKnownHosts(
			knownhosts.Line([]string{"elsewhere.example:22"}, otherKey),
			knownhosts.Line([]string{srv.Addr}, srv.HostKey),
		)
		dialAndList(t, srv, cfgWith(file))
	})
	t.Run("mismatch", func(t *testing.T) {
		file := writeKnownHosts(knownhosts.Line([]string{srv.Addr}, otherKey))
		_, err := sftp.Dial(context.Background(), cfgWith(file))
		wantPermanent(t, err, srv.Addr, "ssh-ed25519", srv.Fingerprint, "different key", ssh.FingerprintSHA256(otherKey))
		var keyErr *knownhosts.KeyError
		if !errors.As(err, &keyErr) || len(keyErr.Want) != 1 {
			t.Errorf("error %v does not wrap the knownhosts.KeyError", err)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		file := writeKnownHosts(knownhosts.Line([]string{"elsewhere.example:22"}, srv.HostKey))
		_, err := sftp.Dial(context.Background(), cfgWith(file))
		wantPermanent(t, err, srv.Addr, "ssh-ed25519", srv.Fingerprint, "not listed")
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := sftp.Dial(context.Background(), cfgWith(filepath.Join(t.TempDir(), "nope")))
		wantPermanent(t, err, "known_hosts")
	})
}

func TestDialKeyAuth(t *testing.T) {
	edPriv, edPub := newKey(t, "ed25519")
	rsaPriv, rsaPub := newKey(t, "rsa")
	srv := startServer(t, sftptest.Options{AuthorizedKeys: []ssh.PublicKey{edPub, rsaPub}})
	// Encrypting and decrypting run bcrypt_pbkdf, which is slow (seconds
	// under -race): encrypt one key once and share it.
	encrypted := writeKey(t, edPriv, "s3cret")
	for _, tc := range []struct {
		name       string
		keyFile    string
		passphrase string
	}{
		{"ed25519", writeKey(t, edPriv, ""), ""},
		{"rsa", writeKey(t, rsaPriv, ""), ""},
		{"ed25519 with passphrase", encrypted, "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(srv)
			cfg.Password = "" // the key alone must get us in
			cfg.KeyFile = tc.keyFile
			cfg.KeyPassphrase = tc.passphrase
			before := srv.Logins()
			dialAndList(t, srv, cfg)
			if srv.Logins() != before+1 {
				t.Errorf("logins went from %d to %d, want one more", before, srv.Logins())
			}
		})
	}

	t.Run("passphrase missing", func(t *testing.T) {
		cfg := baseConfig(srv)
		cfg.KeyFile = encrypted
		_, err := sftp.Dial(context.Background(), cfg)
		wantPermanent(t, err, "key_passphrase")
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		cfg := baseConfig(srv)
		cfg.KeyFile = encrypted
		cfg.KeyPassphrase = "guess"
		_, err := sftp.Dial(context.Background(), cfg)
		wantPermanent(t, err, "decrypt key file")
	})
	t.Run("key not authorized", func(t *testing.T) {
		stranger, _ := newKey(t, "ed25519")
		cfg := baseConfig(srv)
		cfg.Password = ""
		cfg.KeyFile = writeKey(t, stranger, "")
		_, err := sftp.Dial(context.Background(), cfg)
		wantPermanent(t, err, "publickey")
		if !errors.Is(err, sftp.ErrAuthFailed) {
			t.Errorf("error %v is not ErrAuthFailed", err)
		}
	})
	t.Run("key rejected then password", func(t *testing.T) {
		stranger, _ := newKey(t, "ed25519")
		cfg := baseConfig(srv)
		cfg.KeyFile = writeKey(t, stranger, "")
		dialAndList(t, srv, cfg)
	})
}

func TestDialPassword(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	dialAndList(t, srv, baseConfig(srv))

	cfg := baseConfig(srv)
	cfg.Password = "wrong"
	_, err := sftp.Dial(context.Background(), cfg)
	wantPermanent(t, err, "password", srv.User)
	if !errors.Is(err, sftp.ErrAuthFailed) {
		t.Errorf("error %v is not ErrAuthFailed", err)
	}
}

func TestDialNetworkErrorIsTemporary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	cfg := sftp.Config{Addr: addr, User: "u", Password: "p", HostKeyFingerprints: sftp.Fingerprints{otherFingerprint(t)}}
	_, err = sftp.Dial(context.Background(), cfg)
	if err == nil || !retry.IsRetryable(err) {
		t.Fatalf("Dial to a closed port: got %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name %s", err, addr)
	}
}

func TestDialCanceled(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sftp.Dial(ctx, baseConfig(srv))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a canceled context: got %v, want context.Canceled", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := sftp.Config{Addr: "sftp.example.nhs.uk", Dir: "/drop"}.WithDefaults()
	if cfg.Addr != "sftp.example.nhs.uk:22" {
		t.Errorf("Addr = %q, want port 22 added", cfg.Addr)
	}
	if cfg.ProcessedDir != "/drop/processed" || cfg.QuarantineDir != "/drop/quarantine" {
		t.Errorf("ProcessedDir, QuarantineDir = %q, %q", cfg.ProcessedDir, cfg.QuarantineDir)
	}
	if cfg.Pattern != "*" || cfg.AfterSuccess != "move" || cfg.SettleTime != sftp.DefaultSettleTime || cfg.PollInterval != sftp.DefaultPollInterval {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if got := (sftp.Config{Addr: "::1"}).WithDefaults().Addr; got != "[::1]:22" {
		t.Errorf("IPv6 Addr = %q, want [::1]:22", got)
	}
}

func TestNewSourceRejectsBadConfig(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	cfg := baseConfig(srv)
	cfg.AfterSuccess = "archive"
	cfg.ProcessedDir = "inbox/"
	cfg.Pattern = "["
	_, err := sftp.NewSource(cfg, sftp.SourceOptions{SpoolDir: t.TempDir()})
	for _, want := range []string{"after_success", "pattern"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewSource error %v does not mention %q", err, want)
		}
	}
	cfg = baseConfig(srv)
	cfg.QuarantineDir = "inbox"
	if _, err := sftp.NewSource(cfg, sftp.SourceOptions{SpoolDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "quarantine_dir") {
		t.Errorf("NewSource with quarantine_dir = dir: got %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
addr: sftp.trust.nhs.uk:2222
user: jobplans
key_file: /etc/jobplan-hub/id_ed25519
known_hosts_file: /etc/jobplan-hub/known_hosts
host_key_fingerprint: SHA256:q/5h09pwtg+uCtVxzzNzhVbr4j6So91NIKd1j4Jr4AA
dir: /exports
pattern: "*.csv"
settle_time: 5s
poll_interval: 1m
after_success: delete
processed_dir: /exports/done
quarantine_dir: /exports/bad
no_rename: true
no_stat: true
dial_timeout: 15s
`
	var cfg sftp.Config
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	want := sftp.Config{
		Addr: "sftp.trust.nhs.uk:2222", User: "jobplans",
		KeyFile: "/etc/jobplan-hub/id_ed25519", KnownHostsFile: "/etc/jobplan-hub/known_hosts",
		HostKeyFingerprints: sftp.Fingerprints{"SHA256:q/5h09pwtg+uCtVxzzNzhVbr4j6So91NIKd1j4Jr4AA"},
		Dir:                 "/exports", Pattern: "*.csv",
		SettleTime: 5 * time.Second, PollInterval: time.Minute, AfterSuccess: "delete",
		ProcessedDir: "/exports/done", QuarantineDir: "/exports/bad",
		NoRename: true, NoStat: true, DialTimeout: 15 * time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", cfg, want)
	}
	// Several pins, for a key rotation or a server holding several keys.
	var pins sftp.Config
	const list = "host_key_fingerprint: [SHA256:q/5h09pwtg+uCtVxzzNzhVbr4j6So91NIKd1j4Jr4AA, SHA256:Ej0kFx4vNDnzLvy4rBfZrWn2fWubkGKSz3xeVmkE1AA]\n"
	if err := yaml.Unmarshal([]byte(list), &pins); err != nil {
		t.Fatal(err)
	}
	if len(pins.HostKeyFingerprints) != 2 || pins.HostKeyFingerprints[1] != "SHA256:Ej0kFx4vNDnzLvy4rBfZrWn2fWubkGKSz3xeVmkE1AA" {
		t.Errorf("decoded %q", pins.HostKeyFingerprints)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestSinkRemembersThePinnedKeyType: the first connection asks for key
// types in turn until the pinned RSA key shows; after a dropped
// connection, the next asks for RSA first.
func TestSinkRemembersThePinnedKeyType(t *testing.T) {
	srv := startServer(t, sftptest.Options{HostKeyTypes: []string{"ed25519", "ecdsa", "rsa"}})
	cfg := sinkConfig(t, srv)
	cfg.HostKeyFingerprints = sftp.Fingerprints{srv.Fingerprints[2]}
	s := newSink(t, cfg)
	if err := put(t, s, "one.ndjson", "1"); err != nil {
		t.Fatal(err)
	}
	first := srv.Connections()
	t.Logf("first put: %d connections", first)
	if first < 2 {
		t.Fatalf("%d connections for the first put, want one per key type asked for before RSA", first)
	}
	srv.DropConnections()
	err := put(t, s, "two.ndjson", "2")
	if err != nil && retry.IsRetryable(err) {
		err = put(t, s, "two.ndjson", "2") // the drop was noticed mid-put
	}
	if err != nil {
		t.Fatalf("Put after a dropped connection: %v", err)
	}
	if got := srv.Connections() - first; got != 1 {
		t.Errorf("%d connections after the drop, want 1 (RSA asked for first)", got)
	}
	if srv.Logins() != 2 {
		t.Errorf("%d logins, want 2", srv.Logins())
	}
}
