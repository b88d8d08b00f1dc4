package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/outbox"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// spoolDir is where SFTP sources keep downloads, inside the state folder.
const spoolDir = "spool"

// staffChecker loads a staff extract (once: loaded caches them) and logs
// what it holds and its problems, without personal data.
func staffChecker(path, format string, loaded map[[2]string]transform.PlanChecker, log *slog.Logger) (transform.PlanChecker, error) {
	key := [2]string{path, format}
	if k := loaded[key]; k != nil {
		return k, nil
	}
	var problems bytes.Buffer
	x, cfg, err := loadStaff(path, format, &problems)
	if err != nil {
		return nil, err
	}
	k, err := reference.NewChecker(x, cfg.Checks)
	if err != nil {
		return nil, err
	}
	log.Info("staff extract loaded", "file", path, "assignments", x.Len(), "problems", len(x.Problems))
	if problems.Len() > 0 {
		log.Debug("staff extract problems", "file", path, "problems", problems.String())
	}
	loaded[key] = k
	return k, nil
}

// buildHub wires a checked config into a relay.Hub. Local sources start
// watching at once (until ctx ends or the hub closes them). The returned
// func releases what the hub does not own (SFTP sink connections). rec,
// if not nil, is told what the hub does (metrics, health).
func buildHub(ctx context.Context, cfg *hubconfig.Config, l *ledger.Ledger, log *slog.Logger, rec *observe.Recorder) (*relay.Hub, func(), error) {
	var closers []func() error
	release := func() {
		for _, c := range closers {
			c()
		}
	}
	fail := func(err error) (*relay.Hub, func(), error) {
		release()
		return nil, nil, err
	}

	rc := relay.Config{StateDir: cfg.StateDir, Ledger: l, Logger: log, FileMode: cfg.FileMode}
	// A nil *observe.Recorder must not become a non-nil interface.
	var onPoll func(source string) func(error)
	if rec != nil {
		var sources, dests []string
		for _, s := range cfg.Sources {
			sources = append(sources, s.Name)
		}
		for _, d := range cfg.Destinations {
			dests = append(dests, d.Name)
		}
		rec.Configure(sources, dests)
		rc.Observer = rec
		onPoll = func(source string) func(error) {
			return func(err error) { rec.SourcePolled(source, err) }
		}
	}
	fileDests := map[string]bool{} // destinations that take whole files
	for i := range cfg.Destinations {
		c := &cfg.Destinations[i]
		build := destinationTypes[c.Type]
		if build == nil {
			return fail(fmt.Errorf("destination %s: unknown type %q", c.Name, c.Type))
		}
		d, closer, err := build(c, cfg)
		if err != nil {
			return fail(fmt.Errorf("destination %s: %w", c.Name, err))
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		d.Name = c.Name
		d.Dispatch = dispatch.Config{
			Concurrency: c.Concurrency,
			MaxAttempts: c.MaxAttempts,
			Backoff:     retry.Backoff{Base: c.BackoffBase, Max: c.BackoffMax},
			Breaker:     c.Breaker,
		}
		if rec != nil {
			d.Dispatch.Observer = rec
		}
		fileDests[c.Name] = d.Files != nil
		rc.Destinations = append(rc.Destinations, d)
	}

	// Mappings and staff extracts are loaded once, however many sources
	// share them.
	maps := map[string]*mapping.Mapping{}
	staff := map[[2]string]transform.PlanChecker{}
	procs := map[[4]string]*convertProcessor{}
	for _, s := range cfg.Sources {
		durable := slices.ContainsFunc(s.Destinations, func(d string) bool { return fileDests[d] })
		key := [4]string{s.Mapping, s.Staff, s.StaffFormat, strconv.FormatBool(durable)}
		p := procs[key]
		if p == nil {
			m := maps[s.Mapping]
			if m == nil {
				var err error
				if m, err = mapping.LoadFile(s.Mapping); err != nil {
					return fail(fmt.Errorf("source %s: mapping %s:\n%w", s.Name, s.Mapping, err))
				}
				maps[s.Mapping] = m
			}
			p = &convertProcessor{m: m, recordsDurable: durable, fileMode: cfg.FileMode}
			if s.Staff != "" {
				k, err := staffChecker(s.Staff, s.StaffFormat, staff, log)
				if err != nil {
					return fail(fmt.Errorf("source %s: %w", s.Name, err)) // err names the extract
				}
				p.checks = []transform.PlanChecker{k}
			}
			procs[key] = p
		}
		srcLog := log.With("source", s.Name)
		var polled func(error)
		if onPoll != nil {
			polled = onPoll(s.Name)
		}
		var src relay.Source
		switch s.Type {
		case hubconfig.SourceLocal:
			ld, err := localdir.New(ctx, localdir.Options{
				Dir:            s.Dir,
				Pattern:        s.Pattern,
				SettleTime:     s.SettleTime,
				RescanInterval: s.RescanInterval,
				PollOnly:       s.PollOnly,
				Logger:         srcLog,
				OnScan:         polled,
				ReadyMarker:    s.ReadyMarker,

				WatchAfterArchive: s.WatchAfterArchive,
			})
			if err != nil {
				return fail(fmt.Errorf("source %s: %w", s.Name, err))
			}
			src = ld
		case hubconfig.SourceSFTP:
			ss, err := sftp.NewSource(s.SFTPConfig(), sftp.SourceOptions{
				SpoolDir:    filepath.Join(cfg.StateDir, spoolDir, s.Name),
				Logger:      srcLog,
				OnPoll:      polled,
				ReadyMarker: s.ReadyMarker,

				WatchAfterArchive: s.WatchAfterArchive,
			})
			if err != nil {
				return fail(fmt.Errorf("source %s: %w", s.Name, err))
			}
			src = ss
		default:
			return fail(fmt.Errorf("source %s: unknown type %q", s.Name, s.Type))
		}
		// Until the hub runs, the sources are ours to close.
		closers = append(closers, src.Close)
		rc.Sources = append(rc.Sources, relay.SourceSpec{
			Name: s.Name, Source: src, Processor: p, Destinations: s.Destinations, Workers: s.Workers,
		})
	}
	hub, err := relay.New(rc)
	if err != nil {
		return fail(err)
	}
	// Sources are closed by hub.Run; closing them again is harmless.
	return hub, release, nil
}

// destinationType builds the deliverer of a destination of one type: a
// relay.Destination with Records or Files set (buildHub fills in the rest),
// and what to close once the hub is done with it, or nil.
type destinationType func(c *hubconfig.Destination, cfg *hubconfig.Config) (relay.Destination, func() error, error)

// destinationTypes are the factories of the hub file's destination types:
// a new type is one more function here.
var destinationTypes = map[string]destinationType{
	hubconfig.DestESR:    esrAPIDestination,
	hubconfig.DestOutbox: outboxDestination,
	hubconfig.DestSFTP:   sftpDestination,
}

// esrAPIDestination posts each record to the ESR API.
func esrAPIDestination(c *hubconfig.Destination, _ *hubconfig.Config) (relay.Destination, func() error, error) {
	sink, err := httpsink.New(c.HTTPSink())
	if err != nil {
		return relay.Destination{}, nil, err
	}
	return relay.Destination{Records: sink}, nil, nil
}

// outboxDestination writes each input's records file into a folder.
func outboxDestination(c *hubconfig.Destination, cfg *hubconfig.Config) (relay.Destination, func() error, error) {
	sink, err := outbox.New(c.Dir, cfg.FileMode)
	if err != nil {
		return relay.Destination{}, nil, err
	}
	return relay.Destination{Files: sink}, nil, nil
}

// sftpDestination uploads each input's records file to an SFTP server; its
// connection is closed once the hub is done.
func sftpDestination(c *hubconfig.Destination, _ *hubconfig.Config) (relay.Destination, func() error, error) {
	sink, err := sftp.NewSink(c.SFTP)
	if err != nil {
		return relay.Destination{}, nil, err
	}
	return relay.Destination{Files: sink}, sink.Close, nil
}
