package hubconfig

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// pos is a position in the hub file.
type pos struct{ line, col int }

// positions maps a field name to where it was written ("" is the block
// itself).
type positions map[string]pos

// decoder turns the hub file's YAML nodes into a Config, collecting every
// problem with its position.
type decoder struct {
	file     string
	dir      string // relative paths are taken from here
	getenv   func(string) (string, bool)
	problems lint.Problems
}

func (d *decoder) addf(n *yaml.Node, format string, args ...any) {
	d.problems = append(d.problems, lint.At(d.file, n, format, args...))
}

func (d *decoder) addAt(at pos, format string, args ...any) {
	d.problems = append(d.problems, lint.Problem{File: d.file, Line: at.line, Col: at.col, Message: fmt.Sprintf(format, args...)})
}

// keys are the keys of one block: each decodes its value.
type keys map[string]func(*yaml.Node)

// fields walks a mapping node, calling set for each known key and
// reporting unknown and repeated keys. It records each key's position.
func (d *decoder) fields(n *yaml.Node, what string, at positions, set keys) {
	at[""] = pos{n.Line, n.Column}
	if n.Kind != yaml.MappingNode {
		d.addf(n, "%s must be a mapping of keys to values", what)
		return
	}
	known := slices.Collect(maps.Keys(set))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := set[k.Value]
		if !ok {
			d.addf(k, "unknown key %q in %s%s", k.Value, what, lint.Suggest(k.Value, known))
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

func (d *decoder) hub(n *yaml.Node, cfg *Config) {
	d.fields(n, "the hub file", cfg.pos, d.hubKeys(cfg))
}

// hubKeys are the keys at the top of the hub file.
func (d *decoder) hubKeys(cfg *Config) keys {
	return keys{
		"state_dir": func(v *yaml.Node) { cfg.StateDir = d.path(v) },
		"listen":    func(v *yaml.Node) { cfg.Listen, cfg.ListenSet = d.str(v), true },
		"prune_after": func(v *yaml.Node) {
			age, err := ParsePruneAge(d.str(v))
			if err != nil {
				d.addf(v, "prune_after %v", err)
				return
			}
			cfg.PruneAfter = age
		},
		"file_mode": func(v *yaml.Node) {
			mode, err := ParseFileMode(d.str(v))
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
	}
}

func (d *decoder) source(n *yaml.Node) Source {
	s := Source{pos: positions{}}
	d.fields(n, "a source", s.pos, d.sourceKeys(&s))
	return s
}

// sourceKeys are the keys of an entry of sources.
func (d *decoder) sourceKeys(s *Source) keys {
	return keys{
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
		"ready_marker":    func(v *yaml.Node) { s.ReadyMarker = d.str(v) },
		"watch_after_archive": func(v *yaml.Node) {
			if s.WatchAfterArchive = d.duration(v); s.WatchAfterArchive == 0 {
				s.WatchAfterArchive = -1 // 0s: never
			}
		},
	}
}

// staffFormat reads a staff_format: a keyword, or a configuration file
// resolved like any other path.
func (d *decoder) staffFormat(v *yaml.Node) string {
	if f := d.str(v); !IsStaffConfigFile(f) {
		return f
	}
	return d.path(v)
}

func (d *decoder) destination(n *yaml.Node) Destination {
	c := Destination{pos: positions{}}
	d.fields(n, "a destination", c.pos, d.destinationKeys(&c))
	return c
}

// destinationKeys are the keys of an entry of destinations.
func (d *decoder) destinationKeys(c *Destination) keys {
	return keys{
		"name":         func(v *yaml.Node) { c.Name = d.str(v) },
		"type":         func(v *yaml.Node) { c.Type = d.str(v) },
		"url":          func(v *yaml.Node) { c.URL = d.str(v) },
		"token":        func(v *yaml.Node) { c.Token = Secret(d.str(v)) },
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

		// The breaker (dispatch.BreakerConfig).
		"breaker_failures":   func(v *yaml.Node) { c.Breaker.Failures = d.integer(v, 1, 1000) },
		"probe_interval":     func(v *yaml.Node) { c.Breaker.ProbeInterval = d.duration(v) },
		"probe_interval_max": func(v *yaml.Node) { c.Breaker.ProbeIntervalMax = d.duration(v) },

		// esr_api: the receiver's contract (httpsink.APIOptions).
		"payload":     func(v *yaml.Node) { c.API.Payload = d.payload(v) },
		"oauth2":      func(v *yaml.Node) { c.API.OAuth2 = d.oauth2(v, c) },
		"response_id": func(v *yaml.Node) { c.API.ResponseID = d.pointer(v) },
	}
}

// payload compiles an esr_api payload shape; its problems are reported
// at their own positions in the hub file.
func (d *decoder) payload(n *yaml.Node) *httpsink.Shape {
	s, err := httpsink.CompileShape(n, func(v string) (string, error) { return interpolate(v, d.getenv) })
	var errs httpsink.ShapeErrors
	if errors.As(err, &errs) {
		for _, e := range errs {
			d.addAt(pos{e.Line, e.Col}, "payload: %s", e.Msg)
		}
		return nil
	}
	if err != nil {
		d.addf(n, "payload: %v", err)
	}
	return s
}

// oauth2 decodes an esr_api oauth2 block; the client secret's file and
// variable are resolved in check.
func (d *decoder) oauth2(n *yaml.Node, c *Destination) *httpsink.OAuth2 {
	o := &httpsink.OAuth2{}
	at := positions{}
	d.fields(n, "the oauth2 settings", at, keys{
		"token_url":          func(v *yaml.Node) { o.TokenURL = d.str(v) },
		"client_id":          func(v *yaml.Node) { o.ClientID = d.str(v) },
		"client_secret":      func(v *yaml.Node) { o.ClientSecret = httpsink.Secret(d.str(v)) },
		"client_secret_file": func(v *yaml.Node) { c.ClientSecretFile = d.path(v) },
		"client_secret_env":  func(v *yaml.Node) { c.ClientSecretEnv = d.str(v) },
		"scopes":             func(v *yaml.Node) { o.Scopes = d.strList(v, "scopes") },
		"auth_style":         func(v *yaml.Node) { o.AuthStyle = d.str(v) },
		"params": func(v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				d.addf(v, "params must be a mapping of form fields to values")
				return
			}
			o.Params = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				o.Params[v.Content[i].Value] = d.str(v.Content[i+1])
			}
		},
	})
	for k, p := range at {
		if k != "" {
			c.pos["oauth2."+k] = p
		}
	}
	return o
}

// pointer parses a JSON pointer such as response_id.
func (d *decoder) pointer(n *yaml.Node) *httpsink.Pointer {
	p, err := httpsink.ParsePointer(d.str(n))
	if err != nil {
		d.addf(n, "%v", err)
		return nil
	}
	return &p
}

// sftp decodes an sftp block: the connection settings of sftp.Config. For
// sources the folder, pattern and timings are source keys, not sftp keys.
func (d *decoder) sftp(n *yaml.Node, parent positions, source bool) sftp.Config {
	var c sftp.Config
	at := positions{}
	d.fields(n, "the sftp settings", at, d.sftpKeys(&c, source))
	for k, p := range at {
		if k != "" {
			parent["sftp."+k] = p
		}
	}
	return c
}

// sftpKeys are the keys of an sftp block; a source's has three more.
func (d *decoder) sftpKeys(c *sftp.Config, source bool) keys {
	set := keys{
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
	return set
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
	v, err := ParseDuration(s)
	if err != nil {
		d.addf(n, "%v", err)
		return 0
	}
	return v
}

// ParseDuration reads a duration as the hub file and the command line
// write them (500ms, 2s, 5m, 1h30m); the error says how to write one.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write it like 500ms, 2s or 5m)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q: a duration must not be negative", s)
	}
	return v, nil
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
