// Package relay moves files from sources through a processor into the
// ledger, whose queues each destination's dispatcher (transport/dispatch)
// drains. The interfaces it needs are declared here, where they are used;
// the packages beside it (localdir, sftp) provide concrete types that
// satisfy them.
package relay

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrSourceClosed is returned by Source.Next once the source has been closed.
var ErrSourceClosed = errors.New("source closed")

// Source yields files that are ready to process: fully written (settled)
// and claimed, so no other worker takes them.
type Source interface {
	// Next blocks until a claimed Item is ready, ctx is done, or the source
	// is closed (ErrSourceClosed).
	Next(ctx context.Context) (Item, error)
	// Close stops the source. Items already returned stay valid.
	Close() error
}

// Item is one claimed input file.
type Item interface {
	// Name is the file's base name as the supplier dropped it.
	Name() string
	// Size and ModTime are as observed when the file was claimed.
	Size() int64
	ModTime() time.Time
	// Open returns the content. It may be called more than once.
	Open(ctx context.Context) (io.ReadCloser, error)
	// Done acknowledges the item once its outputs are durable. The source
	// then archives or quarantines it (or deletes/moves it remotely).
	// Done must be safe to retry.
	Done(ctx context.Context, ack Ack) error
}

// LiveItem is an optional interface of an Item whose file a writer may
// still change after it was claimed: a supplier export written slowly
// under its final name, with pauses longer than the settle time. Before
// the hub records a file's outcome in the ledger (or acknowledges it as
// processed before), it asks Changed; if the file changed, the hub throws
// the conversion away, queues nothing, and calls Retake.
type LiveItem interface {
	// Changed compares the file as it is now with the file as it was
	// claimed (size, modification time and, where the source knows it,
	// identity) and returns "" if they are the same, or else what
	// changed, in a few words.
	Changed(ctx context.Context) (string, error)
	// Retake gives the item back to its source unacknowledged. The
	// source hands it out again once it has settled; Done is not called
	// for this item.
	Retake(ctx context.Context) error
}

// RegrownItem is an optional interface of an Item that its source handed
// out again because the file changed after it had been archived: a
// writer that still held it open when it was taken wrote on into it (the
// open descriptor follows the file wherever it is moved). The hub
// converts it again like any new content; the records sent before keep
// their idempotency keys, so only the new ones are sent. The file's
// record in the ledger notes why it was taken again (its reason, which a
// processed file otherwise leaves empty), for status and the status page.
type RegrownItem interface {
	// GrewAfterArchive says, in a few words (sizes, when), how the file
	// changed after it was archived, or "" if it was not taken again.
	GrewAfterArchive() string
}

// Outcome says what happened to a file.
type Outcome int

const (
	// Processed: the file was converted; some rows may have been rejected.
	Processed Outcome = iota
	// Quarantined: the file could not be processed at all.
	Quarantined
)

func (o Outcome) String() string {
	switch o {
	case Processed:
		return "processed"
	case Quarantined:
		return "quarantined"
	}
	return "unknown"
}

// Ack is what the relay tells a source when it is done with an item.
type Ack struct {
	Outcome Outcome
	// Reason is a one-line explanation for a quarantined file.
	Reason string
	// Reports are paths of report files to place beside the archived or
	// quarantined input where the source can (local folders).
	Reports []string
}
