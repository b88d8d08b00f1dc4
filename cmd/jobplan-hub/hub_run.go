package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
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
	&cli.BoolFlag{Name: "progress", Usage: "a status line under the log: files, records delivered per second, pending, time to go", DefaultText: "when stderr is a terminal and the log is text"},
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
			&cli.StringFlag{Name: "config", TakesFile: true, Aliases: []string{"c"}, Usage: "hub `FILE` (YAML)", Required: true},
			&cli.StringFlag{Name: "state", TakesFile: true, Usage: "state `DIR` (overrides state_dir)"},
		}, append(listenFlags, logFlags...)...),
		Action: func(c *cli.Context) error {
			file := c.String("config")
			return serveCommand(c, func() (*hubconfig.Config, error) {
				if err := checkInputFile(file); err != nil {
					return nil, err
				}
				cfg, err := hubconfig.Load(file)
				if err != nil {
					return nil, err
				}
				if s := c.String("state"); s != "" {
					if cfg.StateDir, err = filepath.Abs(s); err != nil {
						return nil, err
					}
				}
				return cfg, nil
			})
		},
	}
}

// serveCommand is the action of run and watch: it reads the
// configuration with load and serves it until a signal; load reads it
// again on each reload.
func serveCommand(c *cli.Context, load func() (*hubconfig.Config, error)) error {
	log, prog, err := newLogger(c)
	if err != nil {
		return usageError(err.Error())
	}
	cfg, err := load()
	if err != nil {
		// A hub file that does not pass config check: the hub cannot
		// start (status 2, as a convert whose mapping does not load).
		return failed(exitCannot, err)
	}
	lc, err := listenFrom(c, cfg)
	if err != nil {
		return usageError(err.Error())
	}
	return serveUntilSignalled(c.Context, cfg, load, lc, log, prog)
}

// hubGCPercent is the hub's GOGC unless the environment sets one.
const hubGCPercent = 400

// serveUntilSignalled serves the hub (see serve) until SIGINT or SIGTERM;
// SIGHUP reloads its configuration.
func serveUntilSignalled(parent context.Context, cfg *hubconfig.Config, load func() (*hubconfig.Config, error),
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
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := serve(ctx, cfg, load, hup, lc, log, prog); err != nil {
		return err
	}
	log.Info("stopped by signal")
	return nil
}

// serve runs the hub of cfg until ctx ends. With load set, a value on
// reload, or a change to a file the configuration was read from, reads it
// again (relay.Supervisor). The state folder stays locked and the ledger
// open throughout, and so does the HTTP server of lc (a reload does not
// move it). prog, if not nil, is kept up to date. Every goroutine serve
// starts has ended when it returns.
func serve(ctx context.Context, cfg *hubconfig.Config, load func() (*hubconfig.Config, error), reload <-chan os.Signal,
	lc listenConfig, log *slog.Logger, prog *hubProgress) error {
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
	// The health file, for the status command (see observe.WriteHealth).
	defer goUntilDone(ctx, func(ctx context.Context) { rec.WriteHealth(ctx, filepath.Join(cfg.StateDir, observe.HealthFile)) })()
	if cfg.PruneAfter > 0 {
		defer goUntilDone(ctx, func(ctx context.Context) { pruneLoop(ctx, l, cfg.StateDir, cfg.PruneAfter, pruneEvery, log) })()
	}
	if prog != nil {
		defer goUntilDone(ctx, func(ctx context.Context) { prog.run(ctx, rec, l) })()
	}

	// setup is how the supervisor starts the hub of a configuration.
	setup := func(cfg *hubconfig.Config) *relay.Setup {
		return &relay.Setup{Files: cfg.Files(), Start: func(ctx context.Context) (*relay.Hub, func(), error) {
			if prog != nil {
				prog.setDestinations(cfg)
			}
			return buildHub(ctx, cfg, l, log, rec)
		}}
	}
	notifier := systemdNotifier{log: log}
	defer notifier.stoppingWhenDone(ctx)()
	sup := relay.Supervisor{Signals: reload, Logger: log, Observer: rec, Notify: notifier.state}
	if load != nil {
		sup.Load = func() (*relay.Setup, error) {
			next, err := load()
			if err != nil {
				return nil, err
			}
			if next.StateDir != cfg.StateDir {
				return nil, fmt.Errorf("state_dir cannot change while running (running %s, new %s)", cfg.StateDir, next.StateDir)
			}
			return setup(next), nil
		}
	}
	return sup.Run(ctx, setup(cfg))
}

// goUntilDone runs fn in a goroutine until ctx ends; the returned stop
// ends it and waits for it to return.
func goUntilDone(ctx context.Context, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() { cancel(); <-done }
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
			&cli.StringFlag{Name: "mapping", TakesFile: true, Aliases: []string{"m"}, Usage: "supplier mapping `FILE`", Required: true},
			&cli.StringFlag{Name: "staff", TakesFile: true, Usage: "cross-check every plan against the trust's ESR staff extract `FILE` (rules R1-R6)"},
			&cli.StringFlag{Name: "staff-format", TakesFile: true, Usage: staffFormatUsage},
			&cli.StringFlag{Name: "out", TakesFile: true, Aliases: []string{"o"}, Usage: "outbox `DIR` for the records files"},
			&cli.StringFlag{Name: "forward", Usage: "ESR API `URL` to POST each record to"},
			&cli.StringFlag{Name: "token-file", TakesFile: true, Usage: "`FILE` holding the API bearer token"},
			&cli.StringFlag{Name: "token", EnvVars: []string{envToken}, Usage: "API bearer `TOKEN` (prefer the environment variable)"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "records in flight to --forward"},
			&cli.StringFlag{Name: "state", TakesFile: true, Value: ".jobplan-hub", Usage: "state `DIR`: ledger and working files"},
			&cli.StringFlag{Name: "pattern", Usage: "only file names matching this `GLOB`"},
			durationFlag("settle-time", "how long (`DURATION`) a file must stay unchanged before it is taken", "2s"),
			&cli.StringFlag{Name: "ready-marker", Usage: "take x.csv only once x.csv`SUFFIX` (e.g. .done) is beside it; archive both"},
			durationFlag("poll-interval", "SFTP listing / folder rescan interval (`DURATION`)", "10s for SFTP, 30s for a folder"),
			&cli.IntFlag{Name: "workers", Value: 2, Usage: "files processed at once"},
			&cli.StringFlag{Name: "prune-after", Usage: "prune the state folder of files finished `AGE` ago (e.g. 90d), at start and daily; see prune"},
			fileModeFlag,
			&cli.StringFlag{Name: "known-hosts", TakesFile: true, Usage: "SFTP: known_hosts `FILE` listing the server"},
			&cli.StringSliceFlag{Name: "host-key-fingerprint", Usage: "SFTP: pinned host key, `SHA256:...` as ssh-keygen -lf prints it (repeat for several)"},
			&cli.StringFlag{Name: "key-file", TakesFile: true, Usage: "SFTP: private key `FILE`"},
			&cli.StringFlag{Name: "key-passphrase", EnvVars: []string{envSFTPPassphase}, Usage: "SFTP: key passphrase (prefer the environment variable)"},
			&cli.StringFlag{Name: "password", EnvVars: []string{envSFTPPassword}, Usage: "SFTP: password (prefer the environment variable)"},
		}, append(listenFlags, logFlags...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("give one SOURCE folder or sftp:// URL")
			}
			// Saving the mapping or staff extract (or SIGHUP) reloads them.
			return serveCommand(c, func() (*hubconfig.Config, error) { return watchConfig(c) })
		},
	}
}

// watchConfig builds the one-source hub configuration of watch and checks
// it like a hub file.
func watchConfig(c *cli.Context) (*hubconfig.Config, error) {
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
	for _, f := range []string{c.String("mapping"), c.String("staff")} {
		if err := checkInputFile(f); err != nil {
			return nil, err
		}
	}
	cfg := &hubconfig.Config{StateDir: abs(c.String("state"))}
	if m := c.String("file-mode"); m != "" {
		mode, err := hubconfig.ParseFileMode(m)
		if err != nil {
			return nil, fmt.Errorf("--file-mode %w", err)
		}
		cfg.FileMode = mode
	}
	if a := c.String("prune-after"); a != "" {
		age, err := hubconfig.ParsePruneAge(a)
		if err != nil {
			return nil, fmt.Errorf("--prune-after %w", err)
		}
		cfg.PruneAfter = age
	}
	staffFormat := c.String("staff-format")
	if hubconfig.IsStaffConfigFile(staffFormat) {
		staffFormat = abs(staffFormat)
	}
	src := hubconfig.Source{
		Name: "watch", Mapping: abs(c.String("mapping")), Pattern: c.String("pattern"),
		Staff: abs(c.String("staff")), StaffFormat: staffFormat,
		SettleTime: flagDuration(c, "settle-time"), Workers: c.Int("workers"),
	}
	if c.IsSet("ready-marker") {
		src.SetReadyMarker(c.String("ready-marker"))
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
		src.Type, src.Dir, src.PollInterval = hubconfig.SourceSFTP, u.Path, flagDuration(c, "poll-interval")
		src.SetSFTP(sftp.Config{
			Addr: u.Host, User: u.User.Username(),
			KnownHostsFile:      abs(c.String("known-hosts")),
			HostKeyFingerprints: c.StringSlice("host-key-fingerprint"),
			KeyFile:             abs(c.String("key-file")),
			KeyPassphrase:       c.String("key-passphrase"),
			Password:            c.String("password"),
		})
	} else {
		src.Type, src.Dir, src.RescanInterval = hubconfig.SourceLocal, abs(arg), flagDuration(c, "poll-interval")
		// The state folder inside the watched folder would be a
		// candidate input; localdir skips dot names only.
		if rel, err := filepath.Rel(src.Dir, cfg.StateDir); err == nil && filepath.IsLocal(rel) && !strings.HasPrefix(rel, ".") {
			return nil, fmt.Errorf("--state %s is inside the watched folder; use a dot name or another folder", cfg.StateDir)
		}
	}
	if c.String("forward") != "" {
		d := hubconfig.Destination{Name: "forward", Type: hubconfig.DestESR, URL: c.String("forward"), Concurrency: c.Int("concurrency")}
		d.Token = hubconfig.Secret(c.String("token"))
		if f := c.String("token-file"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("--token-file: %w", err)
			}
			d.Token = hubconfig.Secret(strings.TrimSpace(string(b)))
		}
		cfg.Destinations = append(cfg.Destinations, d)
		src.Destinations = append(src.Destinations, d.Name)
	}
	if out := c.String("out"); out != "" || c.String("forward") == "" {
		if out == "" {
			out = "out"
		}
		cfg.Destinations = append(cfg.Destinations, hubconfig.Destination{Name: "out", Type: hubconfig.DestOutbox, Dir: abs(out)})
		src.Destinations = append(src.Destinations, "out")
	}
	cfg.Sources = []hubconfig.Source{src}
	if err := hubconfig.Check(cfg, wd); err != nil {
		return nil, err
	}
	return cfg, nil
}
