// Package sftp collects job-plan exports from SFTP drop folders and uploads
// converted files to SFTP servers.
//
// Dial opens an authenticated connection and verifies the server's host key,
// failing closed: a pinned SHA256 fingerprint or a known_hosts file is
// required. Source polls a remote directory and hands out files once their
// size and modification time have settled; Sink uploads whole files under a
// temporary name and renames them into place, so readers never see a partial
// upload. Both reconnect on their own after a dropped connection.
package sftp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultPort         = "22"
	DefaultPattern      = "*"
	DefaultSettleTime   = 2 * time.Second
	DefaultPollInterval = 10 * time.Second
	DefaultDialTimeout  = 30 * time.Second
	// A refused login or host key is tried again after 5 minutes, then
	// 10, 20, 40 and every hour: retrying sooner cannot help and would
	// lock the account or get the hub's address banned.
	DefaultLoginBackoff    = 5 * time.Minute
	DefaultLoginBackoffMax = time.Hour
)

// Actions for Config.AfterSuccess.
const (
	AfterSuccessMove   = "move"
	AfterSuccessDelete = "delete"
)

// Config describes one SFTP endpoint, used as a source, a sink or both.
// Secrets (Password, KeyPassphrase) arrive already resolved: callers read
// them from files or the environment, never from the hub file itself.
type Config struct {
	// Addr is host:port; the port defaults to 22.
	Addr string `yaml:"addr"`
	User string `yaml:"user"`
	// Password enables password authentication when non-empty.
	Password string `yaml:"password"`
	// KeyFile is a private key (OpenSSH or PEM format; ed25519, RSA or
	// ECDSA) used for public-key authentication when non-empty.
	KeyFile string `yaml:"key_file"`
	// KeyPassphrase decrypts KeyFile if the key is passphrase-protected.
	KeyPassphrase string `yaml:"key_passphrase"`
	// KnownHostsFile is an OpenSSH known_hosts file listing the server.
	KnownHostsFile string `yaml:"known_hosts_file"`
	// HostKeyFingerprints pin the server's host keys, each written as
	// "SHA256:..." exactly as `ssh-keygen -lf` prints it. The server must
	// present a key matching one of them; listing several lets a key be
	// rotated without a failed connection. A server holding keys of
	// several types (a stock OpenSSH server has ed25519, ECDSA and RSA
	// keys) is asked for each type in turn until it presents a pinned
	// one; no credentials are sent before that. In YAML, one fingerprint
	// or a list. They take precedence over KnownHostsFile.
	HostKeyFingerprints Fingerprints `yaml:"host_key_fingerprint"`
	// Dir is the remote directory to poll (sources) or upload to (sinks).
	Dir string `yaml:"dir"`

	// Pattern is a path.Match glob selecting which file names a source
	// collects; default "*".
	Pattern string `yaml:"pattern"`
	// SettleTime is how long a file's size and modification time must stay
	// unchanged before a source collects it; default 2s.
	SettleTime time.Duration `yaml:"settle_time"`
	// PollInterval is the time between directory listings; default 10s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// AfterSuccess is what a source does with a processed remote file:
	// "move" (to ProcessedDir, the default) or "delete".
	AfterSuccess string `yaml:"after_success"`
	// ProcessedDir receives processed files; default Dir + "/processed".
	ProcessedDir string `yaml:"processed_dir"`
	// QuarantineDir receives files that could not be processed; default
	// Dir + "/quarantine".
	QuarantineDir string `yaml:"quarantine_dir"`
	// NoRename is for servers that refuse rename (object-store gateways,
	// some drop boxes): sinks write the final name directly, and sources
	// archive by copying and then deleting.
	NoRename bool `yaml:"no_rename"`
	// NoStat is for write-only drop boxes that refuse STAT: sinks then skip
	// the post-upload size check.
	NoStat bool `yaml:"no_stat"`
	// DialTimeout bounds connecting, the SSH handshake and starting the
	// SFTP session; default 30s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// LoginBackoff is how long a source or sink waits before logging in
	// again after the server refused the login or its host key was not
	// trusted; it doubles with each refusal up to LoginBackoffMax.
	// Defaults 5m and 1h.
	LoginBackoff    time.Duration `yaml:"login_backoff"`
	LoginBackoffMax time.Duration `yaml:"login_backoff_max"`
}

// WithDefaults returns a copy of c with empty options set to their defaults.
func (c Config) WithDefaults() Config {
	c.Addr = withDefaultPort(strings.TrimSpace(c.Addr))
	c.HostKeyFingerprints = c.HostKeyFingerprints.trimmed()
	if c.Pattern == "" {
		c.Pattern = DefaultPattern
	}
	if c.SettleTime == 0 {
		c.SettleTime = DefaultSettleTime
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.LoginBackoff == 0 {
		c.LoginBackoff = DefaultLoginBackoff
	}
	if c.LoginBackoffMax == 0 {
		c.LoginBackoffMax = max(DefaultLoginBackoffMax, c.LoginBackoff)
	}
	if c.AfterSuccess == "" {
		c.AfterSuccess = AfterSuccessMove
	}
	if c.Dir != "" {
		if c.ProcessedDir == "" {
			c.ProcessedDir = path.Join(c.Dir, "processed")
		}
		if c.QuarantineDir == "" {
			c.QuarantineDir = path.Join(c.Dir, "quarantine")
		}
	}
	return c
}

// Validate reports every problem with the connection settings at once.
// It expects defaults to have been applied.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is required"))
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if c.User == "" {
		errs = append(errs, errors.New("user is required"))
	}
	if c.Password == "" && c.KeyFile == "" {
		errs = append(errs, errors.New("set password or key_file (or both)"))
	}
	if len(c.HostKeyFingerprints) == 0 && c.KnownHostsFile == "" {
		errs = append(errs, errHostKeyUnconfigured)
	}
	for _, fp := range c.HostKeyFingerprints {
		if err := checkFingerprint(fp); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SettleTime < 0 || c.PollInterval < 0 || c.DialTimeout < 0 || c.LoginBackoff < 0 || c.LoginBackoffMax < 0 {
		errs = append(errs, errors.New("settle_time, poll_interval, dial_timeout, login_backoff and login_backoff_max must not be negative"))
	}
	if c.LoginBackoffMax < c.LoginBackoff {
		errs = append(errs, errors.New("login_backoff_max is shorter than login_backoff"))
	}
	return errors.Join(errs...)
}

// validateDir adds the checks a Source or Sink needs on top of Validate.
func (c Config) validateDir(source bool) error {
	var errs []error
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	if source {
		if _, err := path.Match(c.Pattern, ""); err != nil {
			errs = append(errs, fmt.Errorf("pattern %q: %w", c.Pattern, err))
		}
		switch c.AfterSuccess {
		case AfterSuccessMove, AfterSuccessDelete:
		default:
			errs = append(errs, fmt.Errorf("after_success %q: want %q or %q", c.AfterSuccess, AfterSuccessMove, AfterSuccessDelete))
		}
		// Moving a file onto its own path deletes it on some servers
		// (Win32-OpenSSH), so the archive folders must differ from Dir.
		dir := path.Clean(c.Dir)
		if c.AfterSuccess == AfterSuccessMove && path.Clean(c.ProcessedDir) == dir {
			errs = append(errs, errors.New("processed_dir must differ from dir"))
		}
		if path.Clean(c.QuarantineDir) == dir {
			errs = append(errs, errors.New("quarantine_dir must differ from dir"))
		}
	}
	return errors.Join(errs...)
}

// withDefaultPort appends ":22" to an address without a port, including a
// bare or bracketed IPv6 literal.
func withDefaultPort(addr string) string {
	if addr == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	return net.JoinHostPort(host, DefaultPort)
}

// checkFingerprint accepts only the unpadded SHA256 form that ssh-keygen
// prints, so a pasted MD5 or hex fingerprint is caught at startup rather
// than reported as a host-key mismatch.
func checkFingerprint(fp string) error {
	b64, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok {
		return fmt.Errorf("host_key_fingerprint %q: want the SHA256:... form printed by ssh-keygen -lf", fp)
	}
	sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil || len(sum) != 32 {
		return fmt.Errorf("host_key_fingerprint %q: not a base64 SHA-256 digest", fp)
	}
	return nil
}

// Fingerprints are pinned host key fingerprints. In YAML they are one
// string or a list of strings.
type Fingerprints []string

// UnmarshalYAML accepts a single fingerprint or a list of them.
func (f *Fingerprints) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*f = Fingerprints{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return fmt.Errorf("host_key_fingerprint: want a fingerprint or a list of them: %w", err)
	}
	*f = list
	return nil
}

// trimmed returns the fingerprints without surrounding spaces and
// without empty ones; nil if none is left.
func (f Fingerprints) trimmed() Fingerprints {
	var out Fingerprints
	for _, fp := range f {
		if fp = strings.TrimSpace(fp); fp != "" {
			out = append(out, fp)
		}
	}
	return out
}

// normalizeFingerprint drops base64 padding, which some tools print and
// ssh.FingerprintSHA256 does not.
func normalizeFingerprint(fp string) string {
	return strings.TrimRight(strings.TrimSpace(fp), "=")
}
