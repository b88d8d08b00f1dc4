package relay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// PruneReport says what Prune did (or PrunePlan would do).
type PruneReport struct {
	// Files are the finished files whose outputs in FilesDir were
	// removed and whose delivered records' payloads were emptied.
	Files []int64
	// Payloads counts the record payloads emptied.
	Payloads int
	// Skipped counts the "already processed" reports removed from
	// SkippedDir.
	Skipped int
}

// PrunePlan counts what Prune would do with the same arguments, changing
// nothing.
func PrunePlan(ctx context.Context, l *ledger.Ledger, stateDir string, before time.Time) (PruneReport, error) {
	ids, old, err := prunable(ctx, l, stateDir, before)
	if err != nil {
		return PruneReport{}, err
	}
	leftover, err := prunedLeftovers(ctx, l, stateDir)
	return PruneReport{Files: append(ids, leftover...), Skipped: len(old)}, err
}

// Prune keeps a long-running hub's state folder from growing without end.
// For files finished before before with nothing left to deliver (and
// nothing rejected, which may be retried), it empties the payloads of
// their delivered records in the ledger (keeping what recognises them
// again: content hashes and idempotency keys) and removes their outputs
// from <state>/files/<id>/; it also removes the "already processed"
// reports older than before. Reports archived beside the inputs stay
// (they are hard links or copies). It is safe while the hub runs.
func Prune(ctx context.Context, l *ledger.Ledger, stateDir string, before time.Time) (PruneReport, error) {
	var r PruneReport
	ids, oldSkipped, err := prunable(ctx, l, stateDir, before)
	if err != nil {
		return r, err
	}
	// The ledger first: only the outputs of files it has pruned go, so a
	// file delivery requeued meanwhile keeps its records file. The
	// outputs of files pruned by an earlier run that was cut short go too.
	var errs []error
	r.Files, r.Payloads, err = l.Prune(ctx, ids)
	errs = append(errs, err)
	leftover, err := prunedLeftovers(ctx, l, stateDir)
	errs = append(errs, err)
	for _, id := range append(r.Files, leftover...) {
		errs = append(errs, os.RemoveAll(filepath.Join(stateDir, FilesDir, strconv.FormatInt(id, 10))))
	}
	for _, d := range oldSkipped {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Skipped++
	}
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("relay: prune: %w", err)
	}
	return r, nil
}

// prunable returns the files and "already processed" report folders to
// prune.
func prunable(ctx context.Context, l *ledger.Ledger, stateDir string, before time.Time) ([]int64, []string, error) {
	ids, err := l.Prunable(ctx, before)
	if err != nil {
		return nil, nil, err
	}
	skipped, _ := filepath.Glob(filepath.Join(stateDir, SkippedDir, "*"))
	var old []string
	for _, d := range skipped {
		if fi, err := os.Stat(d); err == nil && fi.ModTime().Before(before) {
			old = append(old, d)
		}
	}
	return ids, old, nil
}

// prunedLeftovers returns the ids of file folders still in FilesDir whose
// files the ledger shows pruned.
func prunedLeftovers(ctx context.Context, l *ledger.Ledger, stateDir string) ([]int64, error) {
	entries, err := os.ReadDir(filepath.Join(stateDir, FilesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, e := range entries {
		if id, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && e.IsDir() {
			ids = append(ids, id)
		}
	}
	return l.PrunedAmong(ctx, ids)
}
