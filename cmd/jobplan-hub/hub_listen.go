package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
)

// envListenToken holds the token the status page, /metrics and reports
// require (flags: --listen-token-file).
const envListenToken = "JOBPLAN_HUB_LISTEN_TOKEN"

var listenFlags = []cli.Flag{
	&cli.StringFlag{Name: "listen", Value: observe.DefaultListen,
		Usage: "serve the status page, /livez, /readyz, /healthz and /metrics on `ADDR` (\"\" or off: do not); beyond loopback a token is required"},
	&cli.StringFlag{Name: "listen-token-file", TakesFile: true, Usage: "`FILE` holding the token required by the status page and /metrics (or " + envListenToken + ")"},
}

// listenConfig is where and how the hub serves HTTP; addr "" is off.
type listenConfig struct {
	addr, token string
}

// listenFrom resolves --listen (over the hub file's listen, over the
// default) and the token, and refuses an address beyond loopback
// without a token.
func listenFrom(c *cli.Context, cfg *hubconfig.Config) (listenConfig, error) {
	addr := c.String("listen")
	if !c.IsSet("listen") && cfg.ListenSet {
		addr = cfg.Listen
	}
	if addr == "off" {
		addr = ""
	}
	lc := listenConfig{addr: addr, token: os.Getenv(envListenToken)}
	if f := c.String("listen-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return listenConfig{}, fmt.Errorf("--listen-token-file: %w", err)
		}
		lc.token = strings.TrimSpace(string(b))
		if lc.token == "" {
			return listenConfig{}, fmt.Errorf("--listen-token-file %s is empty", f)
		}
	}
	if lc.addr == "" {
		return lc, nil
	}
	if err := hubconfig.CheckListenAddr(lc.addr); err != nil {
		return listenConfig{}, fmt.Errorf("--listen: %w", err)
	}
	if err := observe.CheckListen(lc.addr, lc.token); err != nil {
		return listenConfig{}, err
	}
	return lc, nil
}

// startHTTP starts serving the hub's status page, its probes (/livez,
// /readyz, /healthz) and metrics over l, unless lc is off. The recorder is returned either way: the
// status line uses it too. The returned stop shuts the server down and
// waits for it.
func startHTTP(ctx context.Context, lc listenConfig, stateDir string, l *ledger.Ledger, log *slog.Logger) (*observe.Recorder, func(), error) {
	rec := observe.NewRecorder(l)
	if lc.addr == "" {
		return rec, func() {}, nil
	}
	srv, err := observe.NewServer(observe.ServerConfig{StateDir: stateDir, Ledger: l, Recorder: rec, Token: lc.token, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", lc.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen: %w", err)
	}
	log.Info("status page listening", "addr", ln.Addr().String(), "token", lc.token != "")
	ctx, cancel := context.WithCancel(ctx)
	// The server's goroutine ends when stop cancels ctx, or earlier if
	// serving fails; either way stop waits for it.
	done := make(chan error, 1)
	go func() {
		err := srv.Run(ctx, ln)
		if err != nil && ctx.Err() == nil {
			// Failed while the hub runs on: say so now, not at shutdown.
			log.Error("status page stopped serving; the hub runs on without it", "err", err)
			err = nil
		}
		done <- err
	}()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			log.Error("status page stopped", "err", err)
		}
	}
	return rec, stop, nil
}
