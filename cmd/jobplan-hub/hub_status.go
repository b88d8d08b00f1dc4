package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/observe"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// waitPoll is how often status --wait looks at the ledger.
const waitPoll = 200 * time.Millisecond

var stateFlags = []cli.Flag{
	&cli.StringFlag{Name: "state", TakesFile: true, Usage: "the hub's state `DIR`"},
	&cli.StringFlag{Name: "config", TakesFile: true, Aliases: []string{"c"}, Usage: "hub `FILE` whose state_dir to use"},
}

// stateDir returns the state folder named by --state or --config.
func stateDir(c *cli.Context) (string, error) {
	switch s, f := c.String("state"), c.String("config"); {
	case s != "" && f != "":
		return "", fmt.Errorf("give --state or --config, not both")
	case s != "":
		return filepath.Abs(s)
	case f != "":
		if err := checkInputFile(f); err != nil {
			return "", err
		}
		return hubconfig.StateDirOf(f)
	}
	return "", fmt.Errorf("give --state DIR or --config FILE")
}

// openStateLedger opens the ledger of the state folder named by --state or
// --config; a missing flag is a usage error.
func openStateLedger(c *cli.Context) (*ledger.Ledger, string, error) {
	dir, err := stateDir(c)
	if err != nil {
		return nil, "", usageError(err.Error())
	}
	l, err := ledger.OpenExisting(c.Context, dir)
	if err != nil {
		return nil, "", err
	}
	return l, dir, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the hub's files by state and its deliveries per destination",
		Description: `Counts input files (claimed, processed, quarantined) and, per destination,
deliveries: pending (waiting for an attempt; "retrying" counts those that
failed at least once), rejected (refused for good; see "deliveries retry"),
delivered, duplicate (the receiver already had it) and superseded (a newer
plan replaced it before it was sent). For outbox and sftp destinations one
delivery is one file. A destination that fails as a whole is shown as
unavailable, with its probes. Then the ids the receiver gave the latest
delivered records (esr_api response_id), and each destination's latest
errors.

With --wait, it first waits until nothing is claimed or pending and at
least --min-files files are done, for scripts; exit status 1 on timeout.`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			durationFlag("wait", "wait up to `DURATION` for the hub to be idle", "no wait"),
			&cli.IntFlag{Name: "min-files", Usage: "with --wait: also wait for `N` files processed or quarantined"},
		}, stateFlags...),
		Action: func(c *cli.Context) error {
			l, dir, err := openStateLedger(c)
			if err != nil {
				return err
			}
			defer l.Close()
			st, timedOut, err := readStatus(c.Context, l, flagDuration(c, "wait"), c.Int("min-files"))
			if err != nil {
				return err
			}
			health, err := observe.ReadHealth(dir)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				err = printStatusJSON(c.App.Writer, dir, st, health)
			} else {
				err = printStatus(c.App.Writer, dir, st, health)
			}
			if err != nil {
				return err
			}
			if timedOut {
				return failed(exitProblems, fmt.Errorf("not idle after %v", flagDuration(c, "wait")))
			}
			return nil
		},
	}
}

// readStatus reads the status, first waiting up to wait for the hub to be
// idle with at least minFiles files done.
func readStatus(ctx context.Context, l *ledger.Ledger, wait time.Duration, minFiles int) (*relay.Status, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := relay.ReadStatus(ctx, l)
		if err != nil {
			return nil, false, err
		}
		done := st.Files[ledger.FileProcessed] + st.Files[ledger.FileQuarantined]
		if wait <= 0 || (st.Idle && done >= minFiles) {
			return st, false, nil
		}
		if time.Now().After(deadline) {
			return st, true, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

func printStatusJSON(w io.Writer, dir string, st *relay.Status, health *observe.Health) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		StateDir string `json:"state_dir"`
		*relay.Status
		// Health is what the running hub reports; absent when no hub runs.
		Health *observe.Health `json:"health,omitempty"`
	}{dir, st, health})
}

func printStatus(w io.Writer, dir string, st *relay.Status, health *observe.Health) error {
	fmt.Fprintf(w, "state %s", dir)
	if st.Idle {
		fmt.Fprint(w, " (idle)")
	}
	printHealth(w, health)
	fmt.Fprintf(w, "\n\nfiles: %d claimed, %d processed, %d quarantined\n\n",
		st.Files[ledger.FileClaimed], st.Files[ledger.FileProcessed], st.Files[ledger.FileQuarantined])
	printRefused(w, st.Refused)
	printNotes(w, st.Notes)
	if len(st.Destinations) == 0 {
		_, err := fmt.Fprintln(w, "no deliveries yet")
		return err
	}
	width := len("destination")
	for _, d := range st.Destinations {
		width = max(width, len(d.Name))
	}
	fmt.Fprintf(w, "%-*s  pending  retrying  rejected  delivered  duplicate  superseded  next attempt\n", width, "destination")
	for _, d := range st.Destinations {
		retrying := fmt.Sprint(d.Retrying)
		next := "-"
		switch {
		case d.DueNow:
			next = "due now"
		case d.NextAttemptAt != nil:
			next = observe.FormatTime(*d.NextAttemptAt)
		}
		fmt.Fprintf(w, "%-*s  %7d  %8s  %8d  %9d  %9d  %10d  %s\n", width, d.Name,
			d.Pending, retrying, d.Rejected, d.Delivered, d.Duplicate, d.Superseded, next)
	}
	for _, d := range st.Destinations {
		if o := d.Unavailable; o != nil {
			next := "due now"
			if o.NextProbeAt.After(time.Now()) {
				next = observe.FormatTime(o.NextProbeAt)
			}
			fmt.Fprintf(w, "\n%s is unavailable since %s: deliveries held, %d probe(s) failed, next probe %s: %s\n",
				d.Name, observe.FormatTime(o.Since), o.Probes, next, oneLine(o.LastError))
		}
	}
	for _, d := range st.Destinations {
		if len(d.RemoteIDs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nlatest ids given by %s:\n", d.Name)
		for _, r := range d.RemoteIDs {
			fmt.Fprintf(w, "  %s  delivery %d  %s  %s  id %s\n", observe.FormatTime(r.At), r.ID, r.Assignment, r.EffectiveDate, oneLine(r.RemoteID))
		}
	}
	for _, d := range st.Destinations {
		if len(d.Errors) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nlast errors for %s:\n", d.Name)
		for _, e := range d.Errors {
			fmt.Fprintf(w, "  %s  delivery %d  %s  %s after %d attempt(s): %s\n",
				observe.FormatTime(e.At), e.ID, e.Subject(), e.State, e.Attempts, oneLine(e.Error))
		}
	}
	return nil
}

// printRefused lists the files the sources leave alone; their names are
// quoted already (relay.QuoteName), so none can drive the terminal.
func printRefused(w io.Writer, refused []relay.RefusedFile) {
	if len(refused) == 0 {
		return
	}
	fmt.Fprintf(w, "files left alone (not taken):\n")
	for _, r := range refused {
		reason := oneLine(r.Reason)
		if strings.IndexFunc(reason, unicode.IsControl) >= 0 {
			reason = relay.QuoteName(reason) // never the case today; never raw
		}
		fmt.Fprintf(w, "  %s  %s  since %s: %s\n", r.Source, r.Name, observe.FormatTime(r.Since), reason)
	}
	fmt.Fprintln(w)
}

// printNotes lists the latest files the hub noted something about: taken
// again because they grew after they were archived.
func printNotes(w io.Writer, notes []relay.FileNote) {
	if len(notes) == 0 {
		return
	}
	fmt.Fprintf(w, "notes on recent files:\n")
	for _, n := range notes {
		fmt.Fprintf(w, "  %s  %s  file %d  %s: %s\n", n.Source, n.Name, n.ID, observe.FormatTime(n.At), oneLine(n.Note))
	}
	fmt.Fprintln(w)
}

// printHealth prints the problems the running hub reports, if one runs,
// and a reload it refused.
func printHealth(w io.Writer, h *observe.Health) {
	if h == nil {
		return
	}
	if len(h.Problems) == 0 {
		fmt.Fprintf(w, "\n\nhealth: ok (the running hub, as of %s)", observe.FormatTime(h.At))
	} else {
		fmt.Fprintf(w, "\n\nhealth: %d problem(s) (the running hub, as of %s):", len(h.Problems), observe.FormatTime(h.At))
	}
	for _, p := range h.Problems {
		fmt.Fprintf(w, "\n  %s", p.Line(false))
		if !p.Since.IsZero() {
			fmt.Fprintf(w, " since %s", observe.FormatTime(p.Since))
		}
		switch {
		case p.RetryAt.IsZero():
		case !p.RetryAt.After(time.Now()):
			fmt.Fprint(w, ", next attempt due now")
		default:
			fmt.Fprintf(w, ", next attempt %s", observe.FormatTime(p.RetryAt))
		}
		if p.Error != "" {
			fmt.Fprintf(w, "\n    %s", oneLine(p.Error))
		}
	}
	if f := h.ReloadFailed; f != nil {
		fmt.Fprintf(w, "\n\nreload refused at %s: the hub runs on the configuration it had:", observe.FormatTime(f.At))
		for _, p := range f.Problems {
			fmt.Fprintf(w, "\n  %s", oneLine(p))
		}
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func deliveriesCommand() *cli.Command {
	return &cli.Command{
		Name:  "deliveries",
		Usage: "work with the delivery queue",
		Subcommands: []*cli.Command{{
			Name:  "retry",
			Usage: "requeue rejected deliveries of one destination",
			Description: `Moves rejected deliveries back to pending, due at once, with their
attempt count reset. A running hub sends them at its next poll (within
10 seconds). A requeued plan older than another pending plan for the same
assignment is superseded straight away.`,
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "destination", Aliases: []string{"d"}, Usage: "destination `NAME`", Required: true},
				&cli.Int64Flag{Name: "file-id", Usage: "only the records of input file `ID` (see status)"},
				&cli.StringFlag{Name: "assignment", Usage: "only the records of assignment `NUMBER`"},
				&cli.BoolFlag{Name: "all", Usage: "every rejected delivery of the destination"},
			}, stateFlags...),
			Action: func(c *cli.Context) error {
				filter := ledger.RequeueFilter{FileID: c.Int64("file-id"), AssignmentNumber: c.String("assignment")}
				narrowed := filter.FileID != 0 || filter.AssignmentNumber != ""
				switch {
				case c.Bool("all") && narrowed:
					return usageError("--all cannot be combined with --file-id or --assignment")
				case !c.Bool("all") && !narrowed:
					return usageError("choose what to requeue: --file-id, --assignment or --all")
				}
				l, _, err := openStateLedger(c)
				if err != nil {
					return err
				}
				defer l.Close()
				dest := c.String("destination")
				known, err := l.Destinations(c.Context)
				if err != nil {
					return err
				}
				if !slices.Contains(known, dest) {
					if len(known) == 0 {
						return usageError(fmt.Sprintf("--destination %q: the ledger has no deliveries for any destination yet", dest))
					}
					return usageError(fmt.Sprintf("--destination %q has no deliveries in the ledger (destinations with deliveries: %s)%s",
						dest, strings.Join(known, ", "), lint.Suggest(dest, known)))
				}
				n, err := l.Requeue(c.Context, dest, filter)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "requeued %d rejected deliveries for %s\n", n, dest)
				return nil
			},
		}},
	}
}
