package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// The hub file (hub.yaml) describes the sources a hub watches and the
// destinations it delivers to. README.md "## Hub" documents every field;
// keep the two in step.

// Source and destination types.
const (
	sourceLocal = "local"
	sourceSFTP  = "sftp"

	destESR    = "esr_api"
	destSFTP   = "sftp"
	destOutbox = "outbox"
)

// hubConfig is a decoded hub file. Paths are absolute (relative ones are
// taken from the hub file's folder) and ${ENV} references are resolved.
type hubConfig struct {
	File         string
	StateDir     string
	Sources      []sourceConfig
	Destinations []destConfig
	// Listen is the address of the status page, /healthz and /metrics
	// ("" or "off": none); ListenSet says the file gave it.
	Listen    string
	ListenSet bool
	// PruneAfter, if set, makes the hub prune its state folder of files
	// finished that long ago, at start and every pruneEvery (see
	// jobplan-hub prune).
	PruneAfter time.Duration
	// FileMode is the permission of the reports and records files the
	// hub writes (file_mode); 0 means 0600 (see parseFileMode).
	FileMode fs.FileMode
	// pos holds the position of each field, for problems found after
	// decoding ("state_dir", and so on).
	pos positions
}

type sourceConfig struct {
	Name           string
	Type           string
	Dir            string // local
	Pattern        string
	SettleTime     time.Duration
	PollInterval   time.Duration // sftp
	RescanInterval time.Duration // local
	PollOnly       bool          // local
	Workers        int
	SFTP           sftp.Config // sftp; its Dir, Pattern, SettleTime and PollInterval come from the fields above
	Mapping        string
	Staff          string // the trust's ESR staff extract: plans are cross-checked (R1-R6)
	StaffFormat    string // csv, esr-go or a staff-extract configuration file
	Destinations   []string
	pos            positions
}

type destConfig struct {
	Name string
	Type string
	// esr_api
	URL         string
	Token       secret
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
	// outbox
	Dir string
	// sftp
	SFTP sftp.Config
	pos  positions
}

// secret is a resolved secret. It prints as a placeholder, so a config
// value logged or formatted by mistake does not leak it.
type secret string

func (secret) String() string   { return "[secret]" }
func (secret) GoString() string { return "[secret]" }

// Problem is one mistake in a hub file.
type Problem struct {
	File      string
	Line, Col int
	Message   string
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Line == 0:
		return p.File + ": " + p.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
}

// Problems is every mistake found in a hub file; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// pos is a position in the hub file.
type pos struct{ line, col int }

// positions maps a field name to where it was written ("" is the block
// itself).
type positions map[string]pos

// decoder turns the hub file's YAML nodes into a hubConfig, collecting
// every problem with its position.
type decoder struct {
	file     string
	dir      string // relative paths are taken from here
	getenv   func(string) (string, bool)
	problems Problems
}

func (d *decoder) addf(n *yaml.Node, format string, args ...any) {
	p := Problem{File: d.file, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

func (d *decoder) addAt(at pos, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: at.line, Col: at.col, Message: fmt.Sprintf(format, args...)})
}

// loadHubConfig reads and checks a hub file. Any problem, including those
// of the mapping files it names, is returned as Problems.
func loadHubConfig(path string) (*hubConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hub file: %w", err)
	}
	return parseHubConfig(path, data, os.LookupEnv, true)
}

// parseHubConfig decodes a hub file held in memory. With deep set it also
// checks what the file refers to: folders, mappings, key and token files.
func parseHubConfig(path string, data []byte, getenv func(string) (string, bool), deep bool) (*hubConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: path, dir: filepath.Dir(abs), getenv: getenv}
	cfg := &hubConfig{File: path, pos: positions{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		d.problems = append(d.problems, yamlProblem(path, err))
		return nil, d.problems
	}
	if len(root.Content) == 0 {
		d.addf(nil, "the file is empty")
		return nil, d.problems
	}
	d.hub(root.Content[0], cfg)
	checkHubConfig(d, cfg, deep)
	if len(d.problems) > 0 {
		return nil, d.problems
	}
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a YAML syntax error into a Problem with its line.
func yamlProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Col: 1, Message: "YAML syntax: " + m[2]}
	}
	return Problem{File: file, Message: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// fields walks a mapping node, calling set for each known key and
// reporting unknown and repeated keys. It records each key's position.
func (d *decoder) fields(n *yaml.Node, what string, at positions, set map[string]func(*yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.addf(n, "%s must be a mapping of keys to values", what)
		return
	}
	at[""] = pos{n.Line, n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := set[k.Value]
		if !ok {
			d.addf(k, "unknown key %q in %s%s", k.Value, what, suggest(k.Value, set))
			continue
		}
		if _, dup := at[k.Value]; dup {
			d.addf(k, "%s: key %q given twice", what, k.Value)
			continue
		}
		at[k.Value] = pos{k.Line, k.Column}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		fn(v)
	}
}

// suggest names a known key close to an unknown one.
func suggest(key string, known map[string]func(*yaml.Node)) string {
	best, bestDist := "", 3
	for k := range known {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) hub(n *yaml.Node, cfg *hubConfig) {
	d.fields(n, "the hub file", cfg.pos, map[string]func(*yaml.Node){
		"state_dir": func(v *yaml.Node) { cfg.StateDir = d.path(v) },
		"listen":    func(v *yaml.Node) { cfg.Listen, cfg.ListenSet = d.str(v), true },
		"prune_after": func(v *yaml.Node) {
			age, err := parsePruneAge(d.str(v))
			if err != nil {
				d.addf(v, "prune_after %v", err)
				return
			}
			cfg.PruneAfter = age
		},
		"file_mode": func(v *yaml.Node) {
			mode, err := parseFileMode(d.str(v))
			if err != nil {
				d.addf(v, "file_mode %v", err)
				return
			}
			cfg.FileMode = mode
		},
		"sources": func(v *yaml.Node) {
			for _, item := range d.list(v, "sources") {
				cfg.Sources = append(cfg.Sources, d.source(item))
			}
		},
		"destinations": func(v *yaml.Node) {
			for _, item := range d.list(v, "destinations") {
				cfg.Destinations = append(cfg.Destinations, d.destination(item))
			}
		},
	})
}

func (d *decoder) source(n *yaml.Node) sourceConfig {
	s := sourceConfig{pos: positions{}}
	d.fields(n, "a source", s.pos, map[string]func(*yaml.Node){
		"name":            func(v *yaml.Node) { s.Name = d.str(v) },
		"type":            func(v *yaml.Node) { s.Type = d.str(v) },
		"dir":             func(v *yaml.Node) { s.Dir = d.str(v) }, // local path or remote folder: resolved in check
		"pattern":         func(v *yaml.Node) { s.Pattern = d.str(v) },
		"settle_time":     func(v *yaml.Node) { s.SettleTime = d.duration(v) },
		"poll_interval":   func(v *yaml.Node) { s.PollInterval = d.duration(v) },
		"rescan_interval": func(v *yaml.Node) { s.RescanInterval = d.duration(v) },
		"poll_only":       func(v *yaml.Node) { s.PollOnly = d.boolean(v) },
		"workers":         func(v *yaml.Node) { s.Workers = d.integer(v, 1, 64) },
		"mapping":         func(v *yaml.Node) { s.Mapping = d.path(v) },
		"staff":           func(v *yaml.Node) { s.Staff = d.path(v) },
		"staff_format":    func(v *yaml.Node) { s.StaffFormat = d.staffFormat(v) },
		"destinations":    func(v *yaml.Node) { s.Destinations = d.strList(v, "destinations") },
		"sftp":            func(v *yaml.Node) { s.SFTP = d.sftp(v, s.pos, true) },
	})
	return s
}

// staffFormat reads a staff_format: a keyword, or a configuration file
// resolved like any other path.
func (d *decoder) staffFormat(v *yaml.Node) string {
	f := d.str(v)
	if ext := strings.ToLower(filepath.Ext(f)); ext == ".yaml" || ext == ".yml" {
		return d.path(v)
	}
	return f
}

func (d *decoder) destination(n *yaml.Node) destConfig {
	c := destConfig{pos: positions{}}
	d.fields(n, "a destination", c.pos, map[string]func(*yaml.Node){
		"name":         func(v *yaml.Node) { c.Name = d.str(v) },
		"type":         func(v *yaml.Node) { c.Type = d.str(v) },
		"url":          func(v *yaml.Node) { c.URL = d.str(v) },
		"token":        func(v *yaml.Node) { c.Token = secret(d.str(v)) },
		"token_file":   func(v *yaml.Node) { c.TokenFile = d.path(v) },
		"token_env":    func(v *yaml.Node) { c.TokenEnv = d.str(v) },
		"client_cert":  func(v *yaml.Node) { c.ClientCert = d.path(v) },
		"client_key":   func(v *yaml.Node) { c.ClientKey = d.path(v) },
		"ca":           func(v *yaml.Node) { c.CA = d.path(v) },
		"timeout":      func(v *yaml.Node) { c.Timeout = d.duration(v) },
		"concurrency":  func(v *yaml.Node) { c.Concurrency = d.integer(v, 1, 256) },
		"max_attempts": func(v *yaml.Node) { c.MaxAttempts = d.integer(v, 0, 1<<30) },
		"backoff_base": func(v *yaml.Node) { c.BackoffBase = d.duration(v) },
		"backoff_max":  func(v *yaml.Node) { c.BackoffMax = d.duration(v) },
		"dir":          func(v *yaml.Node) { c.Dir = d.str(v) },
		"sftp":         func(v *yaml.Node) { c.SFTP = d.sftp(v, c.pos, false) },
	})
	return c
}

// sftp decodes an sftp block: the connection settings of sftp.Config. For
// sources the folder, pattern and timings are source keys, not sftp keys.
func (d *decoder) sftp(n *yaml.Node, parent positions, source bool) sftp.Config {
	var c sftp.Config
	at := positions{}
	set := map[string]func(*yaml.Node){
		"addr":                 func(v *yaml.Node) { c.Addr = d.str(v) },
		"user":                 func(v *yaml.Node) { c.User = d.str(v) },
		"password":             func(v *yaml.Node) { c.Password = d.str(v) },
		"key_file":             func(v *yaml.Node) { c.KeyFile = d.path(v) },
		"key_passphrase":       func(v *yaml.Node) { c.KeyPassphrase = d.str(v) },
		"known_hosts_file":     func(v *yaml.Node) { c.KnownHostsFile = d.path(v) },
		"host_key_fingerprint": func(v *yaml.Node) { c.HostKeyFingerprints = d.strOrList(v, "host_key_fingerprint") },
		"no_rename":            func(v *yaml.Node) { c.NoRename = d.boolean(v) },
		"no_stat":              func(v *yaml.Node) { c.NoStat = d.boolean(v) },
		"dial_timeout":         func(v *yaml.Node) { c.DialTimeout = d.duration(v) },
		"login_backoff":        func(v *yaml.Node) { c.LoginBackoff = d.duration(v) },
		"login_backoff_max":    func(v *yaml.Node) { c.LoginBackoffMax = d.duration(v) },
	}
	if source {
		set["after_success"] = func(v *yaml.Node) { c.AfterSuccess = d.str(v) }
		set["processed_dir"] = func(v *yaml.Node) { c.ProcessedDir = d.str(v) }
		set["quarantine_dir"] = func(v *yaml.Node) { c.QuarantineDir = d.str(v) }
	}
	d.fields(n, "the sftp settings", at, set)
	for k, p := range at {
		if k != "" {
			parent["sftp."+k] = p
		}
	}
	return c
}

func (d *decoder) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.addf(n, "%s must be a list", what)
		return nil
	}
	return n.Content
}

func (d *decoder) strList(n *yaml.Node, what string) []string {
	var out []string
	for _, item := range d.list(n, what) {
		out = append(out, d.str(item))
	}
	return out
}

// strOrList reads one value or a list of values.
func (d *decoder) strOrList(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{d.str(n)}
	}
	return d.strList(n, what)
}

// str returns a scalar's text with ${ENV} references resolved.
func (d *decoder) str(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		d.addf(n, "want a single value here, not a list or mapping")
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	s, err := interpolate(n.Value, d.getenv)
	if err != nil {
		d.addf(n, "%v", err)
	}
	return s
}

// path returns a local path, made absolute against the hub file's folder.
func (d *decoder) path(n *yaml.Node) string {
	s := d.str(n)
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(d.dir, s)
}

func (d *decoder) duration(n *yaml.Node) time.Duration {
	s := d.str(n)
	if s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.addf(n, "%q is not a duration (write it like 500ms, 2s or 5m)", n.Value)
		return 0
	}
	if v < 0 {
		d.addf(n, "%q: a duration must not be negative", n.Value)
		return 0
	}
	return v
}

func (d *decoder) integer(n *yaml.Node, lo, hi int) int {
	s := d.str(n)
	v, err := strconv.Atoi(s)
	if err != nil {
		d.addf(n, "%q is not a whole number", n.Value)
		return 0
	}
	if v < lo || v > hi {
		d.addf(n, "%d is out of range: want %d to %d", v, lo, hi)
		return 0
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node) bool {
	switch strings.ToLower(d.str(n)) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off", "":
		return false
	}
	d.addf(n, "%q is not true or false", n.Value)
	return false
}

// parseFileMode reads file_mode (and --file-mode): permission bits in
// octal, such as 0640. The default, 0600, lets only the hub's own user
// read the reports and records, because they hold personal data; 0640
// lets its group (HR analysts reading a share) read them too, 0644
// everyone. The hub must read and write its own files, and nobody else
// may write or execute them.
func parseFileMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("%q: not a file mode; write it in octal, like 0640", s)
	}
	switch m := fs.FileMode(v); {
	case m&0o600 != 0o600:
		return 0, fmt.Errorf("%04o: the hub must be able to read and write its own files (06..)", m)
	case m&0o133 != 0:
		return 0, fmt.Errorf("%04o: only the hub may write its reports, and nobody execute them; give readers r: 0640 (group), 0644 (everyone)", m)
	default:
		return m, nil
	}
}

// envName is what may appear between ${ and }.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// interpolate replaces ${NAME} with the environment variable NAME; "$$"
// stands for a literal "$". An unset variable is an error (an empty one
// is not). Error messages name the variable, never a value.
func interpolate(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var errs []error
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				errs = append(errs, errors.New(`"${" without a closing "}"`))
				return s, errors.Join(errs...)
			}
			name := s[i+2 : i+2+end]
			i += 2 + end
			if !envName.MatchString(name) {
				errs = append(errs, fmt.Errorf("${%s}: not an environment variable name", name))
				continue
			}
			v, ok := getenv(name)
			if !ok {
				errs = append(errs, fmt.Errorf("environment variable %s is not set", name))
				continue
			}
			b.WriteString(v)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), errors.Join(errs...)
}
