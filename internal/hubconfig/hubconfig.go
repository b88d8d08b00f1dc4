// Package hubconfig is the hub file's language (hub.yaml: the sources a
// hub watches and the destinations it delivers to): its typed
// configuration, ${ENV} expansion, and every problem reported at
// file:line:col (internal/lint) with a suggestion for a mistyped key.
// README.md "### The hub file" documents every key.
//
// A key lives in four places, each one line or block, all in this
// package but the last:
//
//  1. declared: a field of Config, Source or Destination;
//  2. decoded: an entry of hubKeys, sourceKeys, destinationKeys or
//     sftpKeys (decode.go), which also makes the key known;
//  3. checked: in check.go (checkSource, checkDestination, ...), for what
//     decoding one value cannot tell (required keys, keys another key
//     rules out, files that must exist);
//  4. documented: a row of the table in README.md "### The hub file"
//     (TestEveryKeyIsDocumented fails without it).
package hubconfig

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// Source and destination types.
const (
	SourceLocal = "local"
	SourceSFTP  = "sftp"

	DestESR    = "esr_api"
	DestSFTP   = "sftp"
	DestOutbox = "outbox"
)

// Config is a decoded hub file. Paths are absolute (relative ones are
// taken from the hub file's folder) and ${ENV} references are resolved.
type Config struct {
	// File is the hub file; "" for a configuration built in code (watch).
	File         string
	StateDir     string
	Sources      []Source
	Destinations []Destination
	// Listen is the address of the status page, /healthz and /metrics
	// ("" or "off": none); ListenSet says the file gave it.
	Listen    string
	ListenSet bool
	// PruneAfter, if set, makes the hub prune its state folder of files
	// finished that long ago, at start and every day (see jobplan-hub
	// prune).
	PruneAfter time.Duration
	// FileMode is the permission of the reports and records files the
	// hub writes (file_mode); 0 means 0600 (see ParseFileMode).
	FileMode fs.FileMode
	// pos holds the position of each field, for problems found after
	// decoding ("state_dir", and so on).
	pos positions
}

// Source is one entry of sources.
type Source struct {
	Name           string
	Type           string
	Dir            string // local path or remote folder
	Pattern        string
	SettleTime     time.Duration
	PollInterval   time.Duration // sftp
	RescanInterval time.Duration // local
	PollOnly       bool          // local
	Workers        int
	SFTP           sftp.Config // sftp; its Dir, Pattern, SettleTime and PollInterval come from the fields above (SFTPConfig)
	Mapping        string
	Staff          string // the trust's ESR staff extract: plans are cross-checked (R1-R6)
	StaffFormat    string // csv, esr-go or a staff-extract configuration file (see IsStaffConfigFile)
	Destinations   []string
	// ReadyMarker (".done"): a file x.csv is taken only once x.csv.done
	// is beside it, and the two are archived together.
	ReadyMarker string
	// WatchAfterArchive (watch_after_archive) is how long an archived
	// file is looked at in case it grows (then it is taken again): 0 for
	// the default, negative for never (the hub file's 0s).
	WatchAfterArchive time.Duration
	pos               positions
}

// Destination is one entry of destinations.
type Destination struct {
	Name string
	Type string
	// esr_api
	URL         string
	Token       Secret
	TokenFile   string
	TokenEnv    string
	ClientCert  string
	ClientKey   string
	CA          string
	Timeout     time.Duration
	Concurrency int
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// every type: the destination-level breaker
	Breaker dispatch.BreakerConfig
	// esr_api: the receiver's contract (payload, oauth2, response_id);
	// the OAuth2 client secret may also come from a file or a variable.
	API                               httpsink.APIOptions
	ClientSecretFile, ClientSecretEnv string
	// outbox
	Dir string
	// sftp
	SFTP sftp.Config
	pos  positions
}

// Secret is a resolved secret. It prints as a placeholder, so a config
// value logged or formatted by mistake does not leak it.
type Secret string

func (Secret) String() string   { return "[secret]" }
func (Secret) GoString() string { return "[secret]" }

// Load reads and checks a hub file, and what it names: folders, mappings
// (whose problems are reported in their own positions), staff-extract
// configurations, key and token files. Any problem is returned in
// lint.Problems. Staff extracts are only looked for, not read (that can
// take seconds): see ReadStaffExtracts.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hub file: %w", err)
	}
	return Parse(path, data, os.LookupEnv, true)
}

// Parse decodes a hub file held in memory. With deep set it also checks
// what the file refers to, as Load does.
func Parse(path string, data []byte, getenv func(string) (string, bool), deep bool) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: path, dir: filepath.Dir(abs), getenv: getenv}
	cfg := &Config{File: path, pos: positions{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p := lint.YAMLError(path, err)
		p.Message = "YAML syntax: " + p.Message
		return nil, lint.Problems{p}
	}
	if len(root.Content) == 0 {
		d.addAt(pos{1, 1}, "the file is empty")
		return nil, d.problems
	}
	d.hub(root.Content[0], cfg)
	checkConfig(d, cfg, deep)
	if len(d.problems) > 0 {
		return nil, d.problems
	}
	return cfg, nil
}

// Check checks a configuration built in code (the one-source hub of
// watch) as Load checks a hub file: relative paths are taken from dir.
// Its problems have no position.
func Check(cfg *Config, dir string) error {
	d := &decoder{dir: dir, getenv: os.LookupEnv}
	checkConfig(d, cfg, true)
	if len(d.problems) > 0 {
		return d.problems
	}
	return nil
}

// SetSFTP gives a source built in code its sftp block.
func (s *Source) SetSFTP(c sftp.Config) {
	s.SFTP = c
	if s.pos == nil {
		s.pos = positions{}
	}
	s.pos["sftp"] = pos{}
}

// SetReadyMarker gives a source built in code its ready marker, checked
// as the hub file's ready_marker key is.
func (s *Source) SetReadyMarker(marker string) {
	s.ReadyMarker = marker
	if s.pos == nil {
		s.pos = positions{}
	}
	s.pos["ready_marker"] = pos{}
}

// SFTPConfig is the source's SFTP connection with its folder, pattern and
// timings, which the hub file gives as source keys.
func (s *Source) SFTPConfig() sftp.Config {
	c := s.SFTP
	c.Dir, c.Pattern, c.SettleTime, c.PollInterval = s.Dir, s.Pattern, s.SettleTime, s.PollInterval
	return c
}

// HTTPSink is the HTTP client configuration of an esr_api destination.
func (c *Destination) HTTPSink() httpsink.Config {
	return httpsink.Config{
		URL:            c.URL,
		Token:          string(c.Token),
		ClientCertFile: c.ClientCert,
		ClientKeyFile:  c.ClientKey,
		CAFile:         c.CA,
		API:            c.API,
		Timeout:        c.Timeout,
		Connections:    c.Concurrency,
	}
}

// Files are the files the configuration was read from, whose change
// reloads the hub: the hub file (if any), and every mapping, staff
// extract and staff-extract configuration it names.
func (cfg *Config) Files() []string {
	var files []string
	add := func(f string) {
		if f != "" && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	add(cfg.File)
	for _, src := range cfg.Sources {
		add(src.Mapping)
		add(src.Staff)
		if IsStaffConfigFile(src.StaffFormat) {
			add(src.StaffFormat)
		}
	}
	return files
}

// CheckListenAddr accepts "", "off" and host:port.
func CheckListenAddr(addr string) error {
	if addr == "" || addr == "off" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("want host:port, \"\" or off: %w", err)
	}
	return nil
}

// StateDirOf reads only state_dir from a hub file, for the commands that
// just open the ledger (status, deliveries, prune). It does not need the
// secrets the rest of the file may refer to.
func StateDirOf(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read hub file: %w", err)
	}
	var doc struct {
		StateDir string `yaml:"state_dir"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	dir, err := interpolate(doc.StateDir, os.LookupEnv)
	if err != nil {
		return "", fmt.Errorf("%s: state_dir: %w", path, err)
	}
	if dir == "" {
		return "", fmt.Errorf("%s: no state_dir", path)
	}
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", err
		}
		dir = filepath.Join(filepath.Dir(abs), dir)
	}
	return dir, nil
}
