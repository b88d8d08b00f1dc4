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

// PruneReport says what Prune did (or, dry, would do).
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

// Prune keeps a long-running hub's state folder from growing without end.
// For files finished before before with nothing left to deliver (and
// nothing rejected, which may be retried), it
// empties the payloads of their delivered records in the ledger (keeping
// what recognises them again: content hashes and idempotency keys) and
// removes their outputs from <state>/files/<id>/; it also removes the
// "already processed" reports older than before. Reports archived beside
// the inputs stay (they are hard links or copies). With dry set it only
// counts the files. It is safe while the hub runs.
func Prune(ctx context.Context, l *ledger.Ledger, stateDir string, before time.Time, dry bool) (PruneReport, error) {
	var r PruneReport
	ids, err := l.Prunable(ctx, before)
	if err != nil {
		return r, err
	}
	skipped, _ := filepath.Glob(filepath.Join(stateDir, SkippedDir, "*"))
	var oldSkipped []string
	for _, d := range skipped {
		if fi, err := os.Stat(d); err == nil && fi.ModTime().Before(before) {
			oldSkipped = append(oldSkipped, d)
		}
	}
	if dry {
		r.Files, r.Skipped = ids, len(oldSkipped)
		return r, nil
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
