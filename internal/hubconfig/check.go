package hubconfig

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/record"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"golang.org/x/crypto/ssh"
)

// validName is what source and destination names may look like: they name
// folders and ledger rows.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkConfig checks what decoding cannot: required fields, types,
// references between sources and destinations and, with deep set, the
// files and folders named. It resolves token_file and token_env.
func checkConfig(d *decoder, cfg *Config, deep bool) {
	root := cfg.pos[""]
	if cfg.StateDir == "" {
		d.addAt(root, "state_dir is required: the folder for the ledger and the hub's working files")
	}
	if err := CheckListenAddr(cfg.Listen); cfg.ListenSet && err != nil {
		d.addAt(cfg.pos["listen"], "listen: %v", err)
	}
	if len(cfg.Sources) == 0 {
		d.addAt(orAt(cfg.pos, "sources", root), "at least one source is required")
	}
	if len(cfg.Destinations) == 0 {
		d.addAt(orAt(cfg.pos, "destinations", root), "at least one destination is required")
	}

	dests := map[string]bool{}
	for i := range cfg.Destinations {
		c := &cfg.Destinations[i]
		checkName(d, c.pos, c.Name, "destination", dests)
		checkDestination(d, c, label("destination", c.Name, i), deep)
	}
	sources := map[string]bool{}
	localDirs := map[string]string{}
	mappings := map[string]bool{}
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		what := label("source", s.Name, i)
		checkName(d, s.pos, s.Name, "source", sources)
		checkSource(d, s, what, deep)
		if s.Type == SourceLocal && s.Dir != "" {
			if other, ok := localDirs[s.Dir]; ok {
				d.addAt(s.pos["dir"], "%s watches the same folder as source %q; one source per folder", what, other)
			}
			localDirs[s.Dir] = s.Name
		}
		if len(s.Destinations) == 0 {
			d.addAt(orAt(s.pos, "destinations", s.pos[""]), "%s: at least one destination is required", what)
		}
		for _, name := range s.Destinations {
			if !dests[name] {
				d.addAt(s.pos["destinations"], "%s: no destination is named %q", what, name)
			}
		}
		if s.Mapping == "" {
			d.addAt(s.pos[""], "%s: mapping is required", what)
		} else if deep && !mappings[s.Mapping] {
			mappings[s.Mapping] = true
			checkMapping(d, s, what)
		}
		checkStaff(d, s, what, deep)
	}
	// Problems in the hub file first, in file order; then the others'.
	d.problems.Sort(d.file)
}

func orAt(at positions, key string, fallback pos) pos {
	if p, ok := at[key]; ok {
		return p
	}
	return fallback
}

func checkName(d *decoder, at positions, name, kind string, seen map[string]bool) {
	switch {
	case name == "":
		d.addAt(at[""], "%s: name is required", kind)
	case !validName.MatchString(name):
		d.addAt(at["name"], "%s name %q: use letters, digits, '.', '_' and '-' only", kind, name)
	case seen[name]:
		d.addAt(at["name"], "%s name %q is used twice", kind, name)
	}
	seen[name] = true
}

// notFor reports keys given that a type does not use.
func notFor(d *decoder, at positions, kind string, keys ...string) {
	for _, k := range keys {
		if p, ok := at[k]; ok {
			d.addAt(p, "%s is not used by %s", k, kind)
		}
	}
}

// label names a source or destination in problems: by name, or by its
// place in the list when it has none.
func label(kind, name string, i int) string {
	if name == "" {
		return fmt.Sprintf("%s #%d", kind, i+1)
	}
	return fmt.Sprintf("%s %q", kind, name)
}

func checkSource(d *decoder, s *Source, what string, deep bool) {
	if s.Pattern != "" {
		if _, err := filepath.Match(s.Pattern, ""); err != nil {
			d.addAt(s.pos["pattern"], "%s: pattern %q: %v", what, s.Pattern, err)
		}
	}
	if _, set := s.pos["ready_marker"]; set {
		if p := relay.ReadyMarkerProblem(s.ReadyMarker); p != "" {
			d.addAt(s.pos["ready_marker"], "%s: ready_marker %q: %s", what, s.ReadyMarker, p)
		}
	}
	switch s.Type {
	case SourceLocal:
		notFor(d, s.pos, "local sources (poll_interval is for sftp sources; local ones use rescan_interval)", "poll_interval")
		notFor(d, s.pos, "local sources", "sftp")
		if s.Dir == "" {
			d.addAt(s.pos[""], "%s: dir is required for a local source", what)
			return
		}
		if !filepath.IsAbs(s.Dir) {
			s.Dir = filepath.Join(d.dir, s.Dir)
		}
		if deep {
			if fi, err := os.Stat(s.Dir); err != nil {
				d.addAt(s.pos["dir"], "%s: dir: %v", what, err)
			} else if !fi.IsDir() {
				d.addAt(s.pos["dir"], "%s: dir %s is not a folder", what, s.Dir)
			}
		}
	case SourceSFTP:
		notFor(d, s.pos, "sftp sources (the server is polled: use poll_interval)", "rescan_interval", "poll_only")
		if _, ok := s.pos["sftp"]; !ok {
			d.addAt(s.pos[""], "%s: an sftp block (addr, user, host key, credentials) is required", what)
			return
		}
		if s.Dir == "" {
			d.addAt(s.pos[""], "%s: dir (the remote folder) is required", what)
		}
		c := s.SFTPConfig().WithDefaults()
		checkSFTP(d, s.pos, what, c.Validate(), deep, s.SFTP.KeyFile, s.SFTP.KnownHostsFile)
		checkSFTPKey(d, s.pos, what, s.SFTP.KeyFile, s.SFTP.KeyPassphrase, deep)
		switch c.AfterSuccess {
		case "move":
			if c.NoRename {
				notFor(d, s.pos, "sftp sources with no_rename (a file archived by copying cannot be followed)", "watch_after_archive")
			}
		case "delete":
			// Nothing on the server says a file is still open: a writer
			// that pauses for longer than settle_time goes on writing into
			// the file the hub deleted, and the rest is lost without a
			// word. A moved file that grows is taken again; a marker says
			// the file is complete.
			if s.ReadyMarker == "" {
				d.addAt(s.pos["sftp.after_success"], "%s: after_success delete needs a ready_marker: the hub cannot see that a file on the server is still being written, and the rest of one whose writer paused for longer than settle_time would be written into the deleted file and lost; use after_success: move (a file that grows after it was moved is taken again), or have the supplier write a ready marker", what)
			}
			notFor(d, s.pos, "sftp sources whose after_success is delete (a deleted file cannot be followed)", "watch_after_archive")
		default:
			d.addAt(s.pos["sftp.after_success"], "%s: after_success %q: want move or delete", what, c.AfterSuccess)
		}
	case "":
		d.addAt(s.pos[""], "%s: type is required: local or sftp", what)
	default:
		d.addAt(s.pos["type"], "%s: type %q: want local or sftp", what, s.Type)
	}
}

func checkSFTP(d *decoder, at positions, what string, err error, deep bool, keyFile, knownHosts string) {
	block := at["sftp"]
	for _, line := range errLines(err) {
		d.addAt(block, "%s: sftp: %s", what, line)
	}
	if !deep {
		return
	}
	for key, f := range map[string]string{"sftp.key_file": keyFile, "sftp.known_hosts_file": knownHosts} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			d.addAt(at[key], "%s: %s: %v", what, strings.TrimPrefix(key, "sftp."), err)
		}
	}
}

// checkSFTPKey parses the private key with its passphrase, as the hub
// will when it logs in, so that a wrong passphrase, a missing one or one
// given for a key that needs none is reported now, at its key.
func checkSFTPKey(d *decoder, at positions, what, keyFile, passphrase string, deep bool) {
	if !deep || keyFile == "" {
		return
	}
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return // checkSFTP reports a missing key file
	}
	_, err = ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing) && passphrase == "":
		d.addAt(at["sftp.key_file"], "%s: key_file %s is passphrase-protected: give key_passphrase", what, keyFile)
	case errors.As(err, &missing):
		if _, err := ssh.ParsePrivateKeyWithPassphrase(pemBytes, []byte(passphrase)); errors.Is(err, x509.IncorrectPasswordError) {
			d.addAt(at["sftp.key_passphrase"], "%s: key_passphrase does not decrypt key_file %s", what, keyFile)
		} else if err != nil {
			d.addAt(at["sftp.key_file"], "%s: key_file %s: %v", what, keyFile, err)
		}
	case err != nil:
		d.addAt(at["sftp.key_file"], "%s: key_file %s is not a private key ssh can read: %v", what, keyFile, err)
	case passphrase != "":
		d.addAt(at["sftp.key_passphrase"], "%s: key_passphrase is given but key_file %s is not passphrase-protected", what, keyFile)
	}
}

// errLines splits a joined error into its lines.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func checkDestination(d *decoder, c *Destination, what string, deep bool) {
	httpKeys := []string{"url", "token", "token_file", "token_env", "client_cert", "client_key", "ca", "timeout"}
	httpKeys = append(httpKeys, "payload", "oauth2", "response_id")
	switch c.Type {
	case DestESR:
		notFor(d, c.pos, "esr_api destinations", "dir", "sftp")
		checkESRAPI(d, c, what, deep)
		checkESR(d, c, what, deep)
	case DestOutbox:
		notFor(d, c.pos, "outbox destinations", append(httpKeys, "sftp")...)
		if c.Dir == "" {
			d.addAt(c.pos[""], "%s: dir is required for an outbox", what)
		} else if !filepath.IsAbs(c.Dir) {
			c.Dir = filepath.Join(d.dir, c.Dir)
		}
	case DestSFTP:
		notFor(d, c.pos, "sftp destinations", httpKeys...)
		if _, ok := c.pos["sftp"]; !ok {
			d.addAt(c.pos[""], "%s: an sftp block (addr, user, host key, credentials) is required", what)
			return
		}
		if c.Dir == "" {
			d.addAt(c.pos[""], "%s: dir (the remote folder) is required", what)
		}
		c.SFTP.Dir = c.Dir
		checkSFTP(d, c.pos, what, c.SFTP.WithDefaults().Validate(), deep, c.SFTP.KeyFile, c.SFTP.KnownHostsFile)
		checkSFTPKey(d, c.pos, what, c.SFTP.KeyFile, c.SFTP.KeyPassphrase, deep)
	case "":
		d.addAt(c.pos[""], "%s: type is required: esr_api, sftp or outbox", what)
	default:
		d.addAt(c.pos["type"], "%s: type %q: want esr_api, sftp or outbox", what, c.Type)
	}
	if c.BackoffBase > 0 && c.BackoffMax > 0 && c.BackoffMax < c.BackoffBase {
		d.addAt(c.pos["backoff_max"], "%s: backoff_max is shorter than backoff_base", what)
	}
	if b := c.Breaker; b.ProbeInterval > 0 && b.ProbeIntervalMax > 0 && b.ProbeIntervalMax < b.ProbeInterval {
		d.addAt(c.pos["probe_interval_max"], "%s: probe_interval_max is shorter than probe_interval", what)
	}
}

func checkESR(d *decoder, c *Destination, what string, deep bool) {
	if c.URL == "" {
		d.addAt(c.pos[""], "%s: url is required", what)
		return
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		d.addAt(c.pos["url"], "%s: url: want https://host/path", what)
		return
	} else if u.User != nil {
		d.addAt(c.pos["url"], "%s: url must not carry credentials; use token, token_file or token_env", what)
		return
	}
	var given []string
	for _, k := range []string{"token", "token_file", "token_env"} {
		if _, ok := c.pos[k]; ok {
			given = append(given, k)
		}
	}
	if len(given) > 1 {
		d.addAt(c.pos[given[1]], "%s: give only one of %s", what, strings.Join(given, ", "))
		return
	}
	switch {
	case c.TokenEnv != "":
		v, ok := d.getenv(c.TokenEnv)
		if !ok {
			d.addAt(c.pos["token_env"], "%s: environment variable %s is not set", what, c.TokenEnv)
		}
		c.Token = Secret(strings.TrimSpace(v))
	case c.TokenFile != "" && deep:
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			d.addAt(c.pos["token_file"], "%s: token_file: %v", what, err)
		} else if c.Token = Secret(strings.TrimSpace(string(b))); c.Token == "" {
			d.addAt(c.pos["token_file"], "%s: token_file %s is empty", what, c.TokenFile)
		}
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		d.addAt(orAt(c.pos, "client_cert", orAt(c.pos, "client_key", c.pos[""])), "%s: give client_cert and client_key together", what)
		return
	}
	if !deep {
		return
	}
	_, err := httpsink.New(c.HTTPSink())
	if err != nil {
		at := orAt(c.pos, "url", c.pos[""])
		for _, k := range []string{"client_cert", "ca"} {
			if p, ok := c.pos[k]; ok && (errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), strings.ReplaceAll(k, "_", " "))) {
				at = p
			}
		}
		d.addAt(at, "%s: %s", what, strings.TrimPrefix(err.Error(), "httpsink: "))
	}
}

// checkESRAPI checks an esr_api destination's payload shape against the
// record's fields and its oauth2 settings, and resolves the client
// secret from client_secret_file or client_secret_env.
func checkESRAPI(d *decoder, c *Destination, what string, deep bool) {
	if s := c.API.Payload; s != nil {
		for _, e := range s.CheckFields(recordKeys()) {
			d.addAt(pos{e.Line, e.Col}, "%s: payload: %s", what, e.Msg)
		}
	}
	o := c.API.OAuth2
	if o == nil {
		return
	}
	block := c.pos["oauth2"]
	for _, k := range []string{"token", "token_file", "token_env"} {
		if _, ok := c.pos[k]; ok {
			d.addAt(c.pos[k], "%s: give %s or oauth2, not both", what, k)
			return
		}
	}
	var given []string
	for _, k := range []string{"oauth2.client_secret", "oauth2.client_secret_file", "oauth2.client_secret_env"} {
		if _, ok := c.pos[k]; ok {
			given = append(given, strings.TrimPrefix(k, "oauth2."))
		}
	}
	switch {
	case len(given) == 0:
		d.addAt(block, "%s: oauth2: give client_secret (use ${ENV}), client_secret_file or client_secret_env", what)
		return
	case len(given) > 1:
		d.addAt(c.pos["oauth2."+given[1]], "%s: oauth2: give only one of %s", what, strings.Join(given, ", "))
		return
	case c.ClientSecretEnv != "":
		v, ok := d.getenv(c.ClientSecretEnv)
		if !ok {
			d.addAt(c.pos["oauth2.client_secret_env"], "%s: oauth2: environment variable %s is not set", what, c.ClientSecretEnv)
		}
		o.ClientSecret = httpsink.Secret(strings.TrimSpace(v))
	case c.ClientSecretFile != "" && deep:
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			d.addAt(c.pos["oauth2.client_secret_file"], "%s: oauth2: client_secret_file: %v", what, err)
			return
		}
		if o.ClientSecret = httpsink.Secret(strings.TrimSpace(string(b))); o.ClientSecret == "" {
			d.addAt(c.pos["oauth2.client_secret_file"], "%s: oauth2: client_secret_file %s is empty", what, c.ClientSecretFile)
			return
		}
	}
	// The secret's absence is reported above (an unset variable), or is
	// not known yet (a file not read without deep): check the rest.
	rest := *o
	rest.ClientSecret = "given"
	for _, line := range errLines(rest.Check()) {
		d.addAt(block, "%s: %s", what, line)
	}
}

// recordKeys are the fields of the record the hub sends (aux fields, used
// by checks only, are not in it).
func recordKeys() []string {
	var keys []string
	for _, f := range record.Fields {
		if !f.Aux {
			keys = append(keys, f.Key)
		}
	}
	return keys
}

// checkMapping loads a source's mapping and reports its problems in the
// mapping file's own positions.
func checkMapping(d *decoder, s *Source, what string) {
	if _, err := os.Stat(s.Mapping); err != nil {
		d.addAt(s.pos["mapping"], "%s: mapping: %v", what, err)
		return
	}
	_, err := mapping.LoadFile(s.Mapping)
	var ps lint.Problems
	switch {
	case err == nil:
	case errors.As(err, &ps):
		for _, p := range ps {
			p.File = displayPath(p.File)
			d.problems = append(d.problems, p)
		}
	default:
		d.addAt(s.pos["mapping"], "%s: mapping: %v", what, err)
	}
}

// displayPath shortens an absolute path below the working folder to a
// relative one, as the user would type it.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(p) {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return p
}
