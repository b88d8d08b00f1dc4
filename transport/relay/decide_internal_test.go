package relay

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

type namedItem struct {
	name  string
	size  int64
	mtime time.Time
}

func (i namedItem) Name() string                                { return i.name }
func (i namedItem) Size() int64                                 { return i.size }
func (i namedItem) ModTime() time.Time                          { return i.mtime }
func (i namedItem) Open(context.Context) (io.ReadCloser, error) { return nil, io.EOF }
func (i namedItem) Done(context.Context, Ack) error             { return nil }

// TestDecide is handle's first step: what the ledger knows of the
// content decides what becomes of the item.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	s := &sourceRun{spec: SourceSpec{Name: "drop"}}
	it := namedItem{"a.csv", 10, t0}
	seen := func(source, name string, state ledger.FileState, mtime time.Time) *ledger.FileRecord {
		return &ledger.FileRecord{ID: 1, State: state,
			FileInfo: ledger.FileInfo{Source: source, Name: name, Size: 10, ModTime: mtime}}
	}
	for _, tc := range []struct {
		name string
		seen *ledger.FileRecord
		want decision
	}{
		{"new content", nil, claim},
		{"claimed by a run that stopped", seen("drop", "a.csv", ledger.FileClaimed, t0), resume},
		{"a copy claimed by a run that stopped", seen("other", "b.csv", ledger.FileClaimed, t0), resume},
		{"this item, processed, not acknowledged", seen("drop", "a.csv", ledger.FileProcessed, t0), reacknowledge},
		{"this item, quarantined, not acknowledged", seen("drop", "a.csv", ledger.FileQuarantined, t0), reacknowledge},
		{"the same content processed as another file", seen("drop", "b.csv", ledger.FileProcessed, t0), skipSeen},
		{"the same content processed from another source", seen("other", "a.csv", ledger.FileProcessed, t0), skipSeen},
		{"dropped again later", seen("drop", "a.csv", ledger.FileProcessed, t0.Add(-time.Hour)), skipSeen},
		{"quarantined before as another file", seen("drop", "b.csv", ledger.FileQuarantined, t0), claim},
	} {
		if got := decide(s, it, tc.seen); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
