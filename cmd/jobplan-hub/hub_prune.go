package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// pruneEvery is how often a hub with prune_after prunes its state folder.
const pruneEvery = 24 * time.Hour

// pruneLoop prunes the state folder of files finished more than age ago,
// at once and then every interval, until ctx ends; it returns then.
func pruneLoop(ctx context.Context, l *ledger.Ledger, stateDir string, age, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r, err := relay.Prune(ctx, l, stateDir, time.Now().Add(-age))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error("pruning the state folder", "err", err)
		case len(r.Files) > 0 || r.Skipped > 0:
			log.Info("pruned the state folder", "files", len(r.Files), "payloads", r.Payloads, "skipped_reports", r.Skipped, "older_than", age)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func pruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "free the state folder of finished files' outputs and delivered payloads",
		Description: `For input files finished more than --older-than ago whose records were all
delivered (nothing pending, nothing rejected), removes their outputs from
the state folder (files/<id>/) and empties their records' payloads in the
ledger, and removes "already processed" reports as old. What recognises a
file or a record again (content hashes, idempotency keys) is kept, so
nothing is processed or sent twice after a prune, and the reports
archived beside the inputs stay. Safe while the hub runs; run it from cron
or a systemd timer. The ledger file does not shrink (SQLite reuses the
space).`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "older-than", Usage: "age of files to prune: `AGE` such as 90d, 12h (at least 1h)", Required: true},
			&cli.BoolFlag{Name: "dry-run", Usage: "only count what would be pruned"},
		}, stateFlags...),
		Action: func(c *cli.Context) error {
			age, err := hubconfig.ParsePruneAge(c.String("older-than"))
			if err != nil {
				return usageError("--older-than " + err.Error())
			}
			l, dir, err := openStateLedger(c)
			if err != nil {
				return err
			}
			defer l.Close()
			before := time.Now().Add(-age)
			if c.Bool("dry-run") {
				r, err := relay.PrunePlan(c.Context, l, dir, before)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "would prune %d files and %d already-processed reports\n", len(r.Files), r.Skipped)
				return nil
			}
			r, err := relay.Prune(c.Context, l, dir, before)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "pruned %d files (%d record payloads) and %d already-processed reports\n", len(r.Files), r.Payloads, r.Skipped)
			return nil
		},
	}
}
