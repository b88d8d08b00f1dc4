package relay

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
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

// fileKind marks a ledger delivery that stands for a whole file.
const fileKind = "file"

// filePayload is the ledger payload of a file delivery. Its idempotency
// key, like a record's, is the hash of its canonical JSON: the same output
// of the same input file is put once.
type filePayload struct {
	Kind    string `json:"kind"`
	FileID  int64  `json:"file_id"`
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Records int    `json:"records"`
}

// fileRecord is the ledger record of a file delivery. Its assignment is
// "file:<id>", so that only a newer output of the same input (processed
// again after a restart) can supersede it.
func fileRecord(id int64, name, sum string, n int) (ledger.Record, error) {
	b, err := json.Marshal(filePayload{Kind: fileKind, FileID: id, Name: name, SHA256: sum, Records: n})
	if err != nil {
		return ledger.Record{}, err
	}
	return ledger.Record{
		AssignmentNumber: "file:" + strconv.FormatInt(id, 10),
		EffectiveDate:    time.Now().UTC(),
		Payload:          b,
	}, nil
}

// fileDeliverer puts staged records files to a file destination. It lets a
// file destination share the dispatcher (retries, backoff, status) of the
// record destinations.
type fileDeliverer struct {
	hub  *Hub
	name string // the destination's
	sink Sink
}

func (d *fileDeliverer) Deliver(ctx context.Context, key string, body []byte) (httpsink.Receipt, error) {
	var p filePayload
	if err := json.Unmarshal(body, &p); err != nil || p.Kind != fileKind || p.Name == "" ||
		filepath.Base(p.Name) != p.Name || p.FileID <= 0 {
		return httpsink.Receipt{}, retry.Permanent(fmt.Errorf("relay: delivery %s is not a file delivery", key))
	}
	path := filepath.Join(d.hub.fileDir(p.FileID), p.Name)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Missing while its file is claimed means it is being
			// written again after a restart: try later. Otherwise it
			// was removed and will not come back.
			if rec, lerr := d.hub.ledger.File(ctx, p.FileID); lerr == nil && rec.State != ledger.FileClaimed {
				return httpsink.Receipt{}, retry.Permanent(fmt.Errorf("relay: staged records file %s is gone", path))
			}
		}
		return httpsink.Receipt{}, fmt.Errorf("relay: %w", err)
	}
	defer f.Close()
	err = d.sink.Put(ctx, p.Name, f)
	if ctx.Err() == nil {
		d.hub.destinationReached(d.name, err)
	}
	if err != nil {
		return httpsink.Receipt{}, err
	}
	return httpsink.Receipt{Result: httpsink.Delivered}, nil
}
