package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/filewatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
)

// Environment variables read by watch (flags override them).
const (
	envToken         = "JOBPLAN_HUB_TOKEN"
	envSFTPPassword  = "JOBPLAN_HUB_SFTP_PASSWORD"
	envSFTPPassphase = "JOBPLAN_HUB_SFTP_KEY_PASSPHRASE"
)

var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log lines as `text` or json"},
	&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log debug lines too"},
	&cli.BoolFlag{Name: "progress", Usage: "a status line under the log: files, records delivered per second, pending, time to go (default: when stderr is a terminal and the log is text)"},
}

// newLogger returns the hub's logger and, if asked for or stderr is a
// terminal, the status line the log is written above (else nil).
func newLogger(c *cli.Context) (*slog.Logger, *hubProgress, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if c.Bool("verbose") {
		opts.Level = slog.LevelDebug
	}
	format := c.String("log-format")
	var prog *hubProgress
	out := c.App.ErrWriter
	if c.Bool("progress") && format != "text" {
		return nil, nil, fmt.Errorf("--progress draws over a text log; it cannot go with --log-format %s", format)
	}
	if c.Bool("progress") || (!c.IsSet("progress") && format == "text" && isTerminal(out)) {
		prog = newHubProgress(out)
		out = prog
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), prog, nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), prog, nil
	}
	return nil, nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the hub: watch every source in a hub file and deliver to its destinations",
		Description: `Runs until SIGINT or SIGTERM; files in flight are finished (or left claimed,
to be processed again on the next start) and the ledger is closed cleanly.
SIGHUP, or saving the hub file or a mapping or staff extract it names,
reloads them: a file with problems is reported and the running
configuration is kept. See README.md "## Hub" for the file.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "hub `FILE` (YAML)", Required: true},
			&cli.StringFlag{Name: "state", Usage: "state `DIR` (overrides state_dir)"},
		}, append(listenFlags, logFlags...)...),
		Action: func(c *cli.Context) error {
			log, prog, err := newLogger(c)
			if err != nil {
				return usageError(c, err.Error())
			}
			file := c.String("config")
			load := func() (*hubConfig, error) {
				cfg, err := loadHubConfig(file)
				if err != nil {
					return nil, err
				}
				if s := c.String("state"); s != "" {
					if cfg.StateDir, err = filepath.Abs(s); err != nil {
						return nil, err
					}
				}
				return cfg, nil
			}
			cfg, err := load()
			if err != nil {
				fmt.Fprintln(c.App.ErrWriter, err)
				return exitError{1}
			}
			lc, err := listenFrom(c, cfg)
			if err != nil {
				return usageError(c, err.Error())
			}
			return serve(c.Context, cfg, load, file, lc, log, prog)
		},
	}
}

// How configuration files are watched: a changed file is read again once
// it has been left alone for configQuiet (as long as a source's default
// settle time: an export job may pause while writing a staff extract),
// and the files are looked at every configRecheck without an event too
// (network mounts, replaced folders).
const (
	configQuiet   = 2 * time.Second
	configRecheck = 30 * time.Second
)

// hubGCPercent is the hub's GOGC unless the environment sets one.
const hubGCPercent = 400

// serve runs the hub until a signal stops it. With reload set, SIGHUP, or
// a change to the content of configFile or of a mapping or staff extract
// it names, re-reads the configuration and, if it is sound, restarts the
// hub with it; the ledger stays open throughout, and so does the HTTP
// server of lc (a reload does not move it). prog, if not nil, is kept up
// to date.
func serve(parent context.Context, cfg *hubConfig, reload func() (*hubConfig, error), configFile string,
	lc listenConfig, log *slog.Logger, prog *hubProgress) error {
	// The hub's live heap is small and each file allocates buffers of its
	// own, so the default GOGC would collect every few files. The soft
	// memory limit set in main still bounds the heap.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(hubGCPercent)
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	if reload != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	unlock, err := lockStateDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := ledger.Open(ctx, cfg.StateDir)
	if err != nil {
		return err
	}
	defer l.Close()
	// The server stops (deferred) before the ledger closes.
	rec, stopHTTP, err := startHTTP(ctx, lc, cfg.StateDir, l, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	{
		// The health file, for the status command (see observe.WriteHealth).
		hctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			rec.WriteHealth(hctx, filepath.Join(cfg.StateDir, observe.HealthFile))
		}()
		defer func() { cancel(); <-done }()
	}
	if cfg.PruneAfter > 0 {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			pruneLoop(pctx, l, cfg.StateDir, cfg.PruneAfter, pruneEvery, log)
		}()
		defer func() { cancel(); <-done }()
	}
	if prog != nil {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			prog.run(pctx, rec, l)
		}()
		defer func() { cancel(); <-done }()
	}

	// changed carries a configuration file whose content changed; one
	// pending reload is enough.
	changed := make(chan string, 1)
	// sums is the content the running configuration was loaded from.
	var sums map[string]filewatch.Sum
	if reload != nil {
		sums = filewatch.SumsOf(reloadFiles(configFile, cfg))
	}
	var previous *hubConfig // the configuration to fall back to
	for {
		if prog != nil {
			prog.setDestinations(cfg)
		}
		hub, release, err := buildHub(ctx, cfg, l, log, rec)
		if err != nil {
			if previous == nil {
				return err
			}
			log.Error("reloaded configuration could not be started; going back to the previous one", "err", err)
			cfg, previous = previous, nil
			continue
		}
		stopWatching := func() {}
		if reload != nil {
			select {
			case <-changed: // seen by the last watcher, and read since
			default:
			}
			stopWatching = watchConfigFiles(ctx, sums, changed, log)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- hub.Run(runCtx) }()

		next, nextSums, err := waitForReload(ctx, done, hup, changed, cfg, reload, configFile, sums, log)
		stopWatching()
		cancel()
		if next == nil {
			release()
			if ctx.Err() != nil {
				log.Info("stopped by signal")
				return nil
			}
			if err == nil {
				err = errors.New("hub stopped unexpectedly")
			}
			return err
		}
		log.Info("reloading configuration")
		if err := <-done; err != nil {
			release()
			return err
		}
		release()
		cfg, previous = next, cfg
		sums = nextSums
	}
}

// reloadFiles are the files whose change reloads the hub: the hub file
// (if any), and every mapping, staff extract and staff-extract
// configuration it names.
func reloadFiles(configFile string, cfg *hubConfig) []string {
	var files []string
	add := func(f string) {
		if f != "" && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	add(configFile)
	for _, src := range cfg.Sources {
		add(src.Mapping)
		add(src.Staff)
		if ext := strings.ToLower(filepath.Ext(src.StaffFormat)); ext == ".yaml" || ext == ".yml" {
			add(src.StaffFormat)
		}
	}
	return files
}

// watchConfigFiles watches the files of sums (each with the content the
// running configuration was read from) and sends each one that changes on
// changed, without waiting: one pending reload is enough. The returned
// stop waits for the watcher to exit.
func watchConfigFiles(ctx context.Context, sums map[string]filewatch.Sum, changed chan<- string, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := filewatch.Watch(ctx, sums, filewatch.Options{
			Quiet:   configQuiet,
			Recheck: configRecheck,
			Changed: func(path string) {
				select {
				case changed <- path:
				default:
				}
			},
			Error: func(err error) { log.Warn("watching configuration files", "err", err) },
		})
		if err != nil {
			log.Warn("not watching the configuration files for changes; reload with SIGHUP", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// waitForReload waits until the hub stops (returning its error and a nil
// config), or SIGHUP or a changed file brings a sound new configuration,
// which it returns with the content of its files. The files are hashed
// before they are read again, so that a save made meanwhile is seen as a
// change by the next watch rather than lost.
func waitForReload(ctx context.Context, done <-chan error, hup <-chan os.Signal, changed <-chan string, cfg *hubConfig,
	reload func() (*hubConfig, error), configFile string, sums map[string]filewatch.Sum, log *slog.Logger) (*hubConfig, map[string]filewatch.Sum, error) {
	for {
		var why []any
		select {
		case err := <-done:
			return nil, nil, err
		case <-hup:
			why = []any{"cause", "SIGHUP"}
		case f := <-changed:
			why = []any{"cause", "file changed", "file", f}
		}
		if ctx.Err() != nil {
			continue
		}
		log.Info("reading the configuration again", why...)
		before := filewatch.SumsOf(slices.Collect(maps.Keys(sums)))
		next, err := reload()
		if err != nil {
			log.Error("reload: the configuration has problems; keeping the running one", append(why, "problems", err.Error())...)
			continue
		}
		if next.StateDir != cfg.StateDir {
			log.Error("reload: state_dir cannot change while running; keeping the running configuration",
				"running", cfg.StateDir, "new", next.StateDir)
			continue
		}
		nextSums := make(map[string]filewatch.Sum)
		for _, f := range reloadFiles(configFile, next) {
			if s, ok := before[f]; ok {
				nextSums[f] = s
			} else {
				nextSums[f] = filewatch.SumOf(f) // new to this configuration
			}
		}
		return next, nextSums, nil
	}
}

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "watch one folder or SFTP directory and deliver what arrives (a one-source hub)",
		ArgsUsage: "SOURCE",
		Description: `SOURCE is a local folder or sftp://user@host[:port]/path. Processed files
are archived (folder: SOURCE/archive, SFTP: path/processed) beside their
reports; accepted records go to --out (an outbox folder, one JSON Lines
file per input) and/or are POSTed to --forward. Without either, --out is
./out. The SFTP password and key passphrase are best given in
` + envSFTPPassword + ` and ` + envSFTPPassphase + `, the API token
in ` + envToken + ` or --token-file: command lines are visible to other users.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "mapping", Aliases: []string{"m"}, Usage: "supplier mapping `FILE`", Required: true},
			&cli.StringFlag{Name: "staff", Usage: "cross-check every plan against the trust's ESR staff extract `FILE` (rules R1-R6)"},
			&cli.StringFlag{Name: "staff-format", Usage: staffFormatUsage},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "outbox `DIR` for the records files"},
			&cli.StringFlag{Name: "forward", Usage: "ESR API `URL` to POST each record to"},
			&cli.StringFlag{Name: "token-file", Usage: "`FILE` holding the API bearer token"},
			&cli.StringFlag{Name: "token", EnvVars: []string{envToken}, Usage: "API bearer `TOKEN` (prefer the environment variable)"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "records in flight to --forward"},
			&cli.StringFlag{Name: "state", Value: ".jobplan-hub", Usage: "state `DIR`: ledger and working files"},
			&cli.StringFlag{Name: "pattern", Usage: "only file names matching this `GLOB`"},
			&cli.DurationFlag{Name: "settle-time", Usage: "how long a file must stay unchanged before it is taken (default 2s)"},
			&cli.DurationFlag{Name: "poll-interval", Usage: "SFTP listing / folder rescan interval (default 10s / 30s)"},
			&cli.IntFlag{Name: "workers", Value: 2, Usage: "files processed at once"},
			&cli.StringFlag{Name: "prune-after", Usage: "prune the state folder of files finished `AGE` ago (e.g. 90d), at start and daily; see prune"},
			fileModeFlag,
			&cli.StringFlag{Name: "known-hosts", Usage: "SFTP: known_hosts `FILE` listing the server"},
			&cli.StringSliceFlag{Name: "host-key-fingerprint", Usage: "SFTP: pinned host key, `SHA256:...` as ssh-keygen -lf prints it (repeat for several)"},
			&cli.StringFlag{Name: "key-file", Usage: "SFTP: private key `FILE`"},
			&cli.StringFlag{Name: "key-passphrase", EnvVars: []string{envSFTPPassphase}, Usage: "SFTP: key passphrase (prefer the environment variable)"},
			&cli.StringFlag{Name: "password", EnvVars: []string{envSFTPPassword}, Usage: "SFTP: password (prefer the environment variable)"},
		}, append(listenFlags, logFlags...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError(c, "give one SOURCE folder or sftp:// URL")
			}
			log, prog, err := newLogger(c)
			if err != nil {
				return usageError(c, err.Error())
			}
			cfg, err := watchConfig(c)
			if err != nil {
				fmt.Fprintln(c.App.ErrWriter, err)
				return exitError{1}
			}
			lc, err := listenFrom(c, cfg)
			if err != nil {
				return usageError(c, err.Error())
			}
			// Saving the mapping or staff extract (or SIGHUP) reloads them.
			reload := func() (*hubConfig, error) { return watchConfig(c) }
			return serve(c.Context, cfg, reload, "", lc, log, prog)
		},
	}
}

// staffFormatArg resolves a --staff-format that names a configuration
// file; keywords pass unchanged.
func staffFormatArg(f string, abs func(string) string) string {
	if ext := strings.ToLower(filepath.Ext(f)); ext == ".yaml" || ext == ".yml" {
		return abs(f)
	}
	return f
}

// watchConfig builds the one-source hub configuration of watch and checks
// it like a hub file.
func watchConfig(c *cli.Context) (*hubConfig, error) {
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	cfg := &hubConfig{StateDir: abs(c.String("state")), pos: positions{}}
	if m := c.String("file-mode"); m != "" {
		mode, err := parseFileMode(m)
		if err != nil {
			return nil, fmt.Errorf("--file-mode %w", err)
		}
		cfg.FileMode = mode
	}
	if a := c.String("prune-after"); a != "" {
		age, err := parsePruneAge(a)
		if err != nil {
			return nil, fmt.Errorf("--prune-after %w", err)
		}
		cfg.PruneAfter = age
	}
	src := sourceConfig{
		Name: "watch", Mapping: abs(c.String("mapping")), Pattern: c.String("pattern"),
		Staff: abs(c.String("staff")), StaffFormat: staffFormatArg(c.String("staff-format"), abs),
		SettleTime: c.Duration("settle-time"), Workers: c.Int("workers"), pos: positions{},
	}
	arg := c.Args().First()
	if strings.HasPrefix(arg, "sftp://") {
		u, err := url.Parse(arg)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		if _, has := u.User.Password(); has {
			return nil, fmt.Errorf("source: do not put the password in the URL; use %s", envSFTPPassword)
		}
		src.Type, src.Dir, src.PollInterval = sourceSFTP, u.Path, c.Duration("poll-interval")
		src.SFTP.Addr, src.SFTP.User = u.Host, u.User.Username()
		src.SFTP.KnownHostsFile = abs(c.String("known-hosts"))
		src.SFTP.HostKeyFingerprints = c.StringSlice("host-key-fingerprint")
		src.SFTP.KeyFile = abs(c.String("key-file"))
		src.SFTP.KeyPassphrase = c.String("key-passphrase")
		src.SFTP.Password = c.String("password")
		src.pos["sftp"] = pos{}
	} else {
		src.Type, src.Dir, src.RescanInterval = sourceLocal, abs(arg), c.Duration("poll-interval")
		// The state folder inside the watched folder would be a
		// candidate input; localdir skips dot names only.
		if rel, err := filepath.Rel(src.Dir, cfg.StateDir); err == nil && filepath.IsLocal(rel) && !strings.HasPrefix(rel, ".") {
			return nil, fmt.Errorf("--state %s is inside the watched folder; use a dot name or another folder", cfg.StateDir)
		}
	}
	if c.String("forward") != "" {
		d := destConfig{Name: "forward", Type: destESR, URL: c.String("forward"), Concurrency: c.Int("concurrency"), pos: positions{}}
		d.Token = secret(c.String("token"))
		if f := c.String("token-file"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("--token-file: %w", err)
			}
			d.Token = secret(strings.TrimSpace(string(b)))
		}
		cfg.Destinations = append(cfg.Destinations, d)
		src.Destinations = append(src.Destinations, d.Name)
	}
	if out := c.String("out"); out != "" || c.String("forward") == "" {
		if out == "" {
			out = "out"
		}
		cfg.Destinations = append(cfg.Destinations, destConfig{Name: "out", Type: destOutbox, Dir: abs(out), pos: positions{}})
		src.Destinations = append(src.Destinations, "out")
	}
	cfg.Sources = []sourceConfig{src}
	d := &decoder{dir: wd, getenv: os.LookupEnv}
	checkHubConfig(d, cfg, true)
	if len(d.problems) > 0 {
		return nil, d.problems
	}
	return cfg, nil
}
