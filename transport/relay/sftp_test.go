package relay_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// TestSFTPSourceAndSink runs the hub from an SFTP drop folder to the API
// and to an SFTP destination on the same (in-process) server: the source
// hashes while downloading (relay.Hasher) and archives remotely.
func TestSFTPSourceAndSink(t *testing.T) {
	srv := sftptest.Start(t, sftptest.Options{Password: "pw"})
	for _, d := range []string{"inbox", "outgoing"} {
		if err := os.MkdirAll(srv.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conn := func(dir string) sftp.Config {
		return sftp.Config{
			Addr: srv.Addr, User: srv.User, Password: "pw", HostKeyFingerprints: sftp.Fingerprints{srv.Fingerprint}, Dir: dir,
			SettleTime: 30 * time.Millisecond, PollInterval: 30 * time.Millisecond,
		}
	}
	e := newEnv(t)
	src, err := sftp.NewSource(conn("inbox"), sftp.SourceOptions{SpoolDir: filepath.Join(e.state, "spool"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := sftp.NewSink(conn("outgoing"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	api, err := httpsink.New(httpsink.Config{URL: e.recv.srv.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fast := dispatch.Config{Backoff: retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}, PollInterval: 50 * time.Millisecond}
	hub, err := relay.New(relay.Config{
		StateDir: e.state, Ledger: e.ledger, Logger: quiet,
		Sources: []relay.SourceSpec{{Name: "supplier", Source: src, Processor: e.proc, Destinations: []string{"esr", "partner"}}},
		Destinations: []relay.Destination{
			{Name: "esr", Records: api, Dispatch: fast},
			{Name: "partner", Files: sink, Dispatch: fast},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	if err := os.WriteFile(srv.Path("inbox", "a.csv"), []byte(planA), 0o644); err != nil {
		t.Fatal(err)
	}
	transporttest.Eventually(t, waitLimit, func() bool {
		return exists(srv.Path("inbox", "processed", "a.csv")) && e.dest("esr").Delivered == 3 && e.dest("partner").Delivered == 1
	}, "a.csv archived on the server and delivered; status %+v", e.status())
	if got := read(t, srv.Path("outgoing", "a.jobplans.jsonl")); strings.Count(got, "\n") != 3 {
		t.Errorf("uploaded records file:\n%s", got)
	}

	// The same content again, under another name: recognised, archived,
	// nothing sent.
	if err := os.WriteFile(srv.Path("inbox", "b.csv"), []byte(planA), 0o644); err != nil {
		t.Fatal(err)
	}
	transporttest.Eventually(t, waitLimit, func() bool { return exists(srv.Path("inbox", "processed", "b.csv")) }, "b.csv archived")
	if s := e.status(); s.Files[ledger.FileProcessed] != 1 || e.dest("esr").Delivered != 3 || e.dest("partner").Delivered != 1 || e.proc.calls.Load() != 1 {
		t.Errorf("after the copy: files %v, esr %+v, partner %+v, %d conversions", s.Files, e.dest("esr"), e.dest("partner"), e.proc.calls.Load())
	}
	if exists(srv.Path("outgoing", "b.jobplans.jsonl")) {
		t.Error("the copy's records were uploaded again")
	}
}

// TestSFTPLoginRefusalsBackOffAndShow runs a hub with an SFTP source whose
// password is wrong and an SFTP destination whose host key is not the
// pinned one: each is tried once, backs off for minutes, and shows in the
// health as what it is.
func TestSFTPLoginRefusalsBackOffAndShow(t *testing.T) {
	supplier := sftptest.Start(t, sftptest.Options{Password: "pw"})
	partner := sftptest.Start(t, sftptest.Options{Password: "pw"})
	for _, d := range []string{supplier.Path("inbox"), partner.Path("outgoing")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	srcCfg := sftp.Config{Addr: supplier.Addr, User: supplier.User, Password: "wrong", HostKeyFingerprints: sftp.Fingerprints{supplier.Fingerprint},
		Dir: "inbox", SettleTime: 30 * time.Millisecond, PollInterval: 30 * time.Millisecond}
	src, err := sftp.NewSource(srcCfg, sftp.SourceOptions{SpoolDir: filepath.Join(e.state, "spool"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	local, err := localdir.New(t.Context(), localdir.Options{Dir: e.drop, SettleTime: 20 * time.Millisecond, RescanInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := sftp.NewSink(sftp.Config{Addr: partner.Addr, User: partner.User, Password: "pw",
		HostKeyFingerprints: sftp.Fingerprints{supplier.Fingerprint}, Dir: "outgoing"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	rec := observe.NewRecorder(e.ledger)
	rec.Configure([]string{"supplier", "drop"}, []string{"partner"})
	fast := dispatch.Config{Backoff: retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}, PollInterval: 50 * time.Millisecond}
	hub, err := relay.New(relay.Config{
		StateDir: e.state, Ledger: e.ledger, Logger: quiet, Observer: rec,
		Backoff: retry.Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		Sources: []relay.SourceSpec{
			{Name: "supplier", Source: src, Processor: e.proc, Destinations: []string{"partner"}},
			{Name: "drop", Source: local, Processor: e.proc, Destinations: []string{"partner"}},
		},
		Destinations: []relay.Destination{{Name: "partner", Files: sink, Dispatch: fast}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	e.dropFile("a.csv", planA)
	condition := func(kind, name string) string {
		for _, p := range rec.Health().Problems {
			if p.Kind == kind && p.Name == name {
				return p.Condition
			}
		}
		return ""
	}
	transporttest.Eventually(t, waitLimit, func() bool {
		return condition("source", "supplier") == "authentication refused" && condition("destination", "partner") == "host key mismatch"
	}, "both refusals in the health: %+v", rec.Health())
	// More work while both back off: a second file, processed and queued.
	e.dropFile("b.csv", "20000001,2026-04-01,7.5\n")
	transporttest.Eventually(t, waitLimit, func() bool { return e.status().Files[ledger.FileProcessed] == 2 }, "b.csv processed")
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("partner").Retrying == 2 }, "both deliveries tried once; %+v", e.dest("partner"))
	if n := supplier.FailedLogins(); n != 1 {
		t.Errorf("the supplier saw %d failed logins, want 1", n)
	}
	// One login attempt asks for each key type in turn: one connection each.
	if n := partner.Connections(); n == 0 || n > 5 {
		t.Errorf("the partner saw %d connections, want those of one login attempt", n)
	}
	if partner.Logins()+partner.FailedLogins() != 0 {
		t.Error("credentials were sent to a server whose host key is not trusted")
	}
	if next := e.dest("partner").NextAttemptAt; next == nil || time.Until(*next) < time.Minute {
		t.Errorf("next delivery attempt %v, want minutes away", next)
	}
}
