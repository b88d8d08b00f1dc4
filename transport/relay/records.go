package relay

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// badOutputError says the processor's records cannot be used; the input
// is then quarantined rather than retried.
type badOutputError struct{ err error }

func (e *badOutputError) Error() string { return "unusable converted records: " + e.err.Error() }
func (e *badOutputError) Unwrap() error { return e.err }

// ledgerRecords returns the processor's records as ledger records, as the
// processor made them: nothing is parsed or hashed again. It checks what
// the ledger relies on. Line is the record's line in the records file.
func ledgerRecords(out Output) ([]ledger.Record, error) {
	if _, err := os.Stat(out.Records); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &badOutputError{err} // the processor did not write it
		}
		return nil, err
	}
	if out.RecordsSHA256 == "" {
		return nil, &badOutputError{fmt.Errorf("%s: the processor did not describe its records", filepath.Base(out.Records))}
	}
	recs := make([]ledger.Record, len(out.Plans))
	for i, p := range out.Plans {
		line := i + 1
		date, err := time.Parse(time.DateOnly, p.EffectiveDate)
		switch {
		case p.AssignmentNumber == "":
			return nil, &badOutputError{fmt.Errorf("record %d: no assignment_number", line)}
		case err != nil:
			return nil, &badOutputError{fmt.Errorf("record %d: effective_date: %w", line, err)}
		case len(p.Payload) == 0 || len(p.Key) != 2*sha256.Size:
			return nil, &badOutputError{fmt.Errorf("record %d: no payload or idempotency key", line)}
		}
		recs[i] = ledger.Record{AssignmentNumber: p.AssignmentNumber, EffectiveDate: date, Line: line, Payload: p.Payload, Key: p.Key}
	}
	return recs, nil
}

// filePayload is the ledger payload of a file delivery (ledger.KindFile):
// which staged records file to put. Its idempotency key, like a record's,
// is the hash of its canonical JSON: the same output of the same input
// file is put once. (Kind and FileID repeat what the ledger knows, so
// that the keys of file deliveries queued before the ledger knew kinds
// stay the same.)
type filePayload struct {
	Kind    string `json:"kind"`
	FileID  int64  `json:"file_id"`
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Records int    `json:"records"`
}

// fileKind is filePayload.Kind.
const fileKind = "file"

// fileDelivery is the payload of the file delivery of file id's records
// file, called name, of n records with SHA-256 sum.
func fileDelivery(id int64, name, sum string, n int) ([]byte, error) {
	return json.Marshal(filePayload{Kind: fileKind, FileID: id, Name: name, SHA256: sum, Records: n})
}

// stagedFiles opens the records files of file deliveries in the hub's
// state folder: the dispatch.FileOpener of file destinations. Its errors
// are a delivery's reason, for operators: they say what failed without a
// package's name.
type stagedFiles struct{ hub *Hub }

// OpenFile opens the records file that file delivery d stands for.
func (s stagedFiles) OpenFile(ctx context.Context, d ledger.Delivery) (string, io.ReadCloser, error) {
	var p filePayload
	if err := json.Unmarshal(d.Payload, &p); err != nil || d.Kind != ledger.KindFile || p.Kind != fileKind || p.Name == "" ||
		filepath.Base(p.Name) != p.Name || p.FileID != d.FileID || p.FileID <= 0 {
		return "", nil, retry.Permanent(fmt.Errorf("delivery %d is not a file delivery", d.ID))
	}
	path := filepath.Join(s.hub.fileDir(p.FileID), p.Name)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Missing while its file is claimed means it is being
			// written again after a restart: try later. Otherwise it
			// was removed and will not come back.
			if rec, lerr := s.hub.ledger.File(ctx, p.FileID); lerr == nil && rec.State != ledger.FileClaimed {
				return "", nil, retry.Permanent(fmt.Errorf("staged records file %s is gone", path))
			}
		}
		return "", nil, err // "open <path>: ..."
	}
	return p.Name, f, nil
}

// reachReporter tells the hub's HealthObserver, if any, how each put to a
// file destination went.
type reachReporter struct {
	hub  *Hub
	dest string
	next dispatch.Deliverer
}

func (r reachReporter) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	rc, err := r.next.Deliver(ctx, p)
	if ctx.Err() == nil {
		r.hub.destinationReached(r.dest, err)
	}
	return rc, err
}
