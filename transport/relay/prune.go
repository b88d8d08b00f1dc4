package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	// file delivery requeued meanwhile keeps its records file.
	r.Files, r.Payloads, err = l.Prune(ctx, ids)
	if err != nil {
		return r, err
	}
	for _, id := range r.Files {
		if err := os.RemoveAll(filepath.Join(stateDir, FilesDir, fmt.Sprint(id))); err != nil {
			return r, fmt.Errorf("relay: prune: %w", err)
		}
	}
	for _, d := range oldSkipped {
		if err := os.RemoveAll(d); err != nil {
			return r, fmt.Errorf("relay: prune: %w", err)
		}
		r.Skipped++
	}
	return r, nil
}
