package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// maxRecordLine bounds one line of a records file.
const maxRecordLine = 16 << 20

// badOutputError says the processor's records file cannot be used; the
// input is then quarantined rather than retried.
type badOutputError struct{ err error }

func (e *badOutputError) Error() string { return "unusable converted records: " + e.err.Error() }
func (e *badOutputError) Unwrap() error { return e.err }

// readRecords reads a JSON Lines records file into ledger records and
// returns them with the file's SHA-256. Line is the record's line in the
// records file.
func readRecords(path string) ([]ledger.Record, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", &badOutputError{err} // the processor did not write it
	}
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	h := sha256.New()
	sc := bufio.NewScanner(io.TeeReader(f, h))
	sc.Buffer(make([]byte, 0, 64<<10), maxRecordLine)
	var recs []ledger.Record
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var head struct {
			Assignment *string `json:"assignment_number"`
			Effective  *string `json:"effective_date"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, "", &badOutputError{fmt.Errorf("line %d: %w", line, err)}
		}
		if head.Assignment == nil || *head.Assignment == "" {
			return nil, "", &badOutputError{fmt.Errorf("line %d: no assignment_number", line)}
		}
		if head.Effective == nil {
			return nil, "", &badOutputError{fmt.Errorf("line %d: no effective_date", line)}
		}
		date, err := time.Parse(time.DateOnly, *head.Effective)
		if err != nil {
			return nil, "", &badOutputError{fmt.Errorf("line %d: effective_date: %w", line, err)}
		}
		recs = append(recs, ledger.Record{
			AssignmentNumber: *head.Assignment,
			EffectiveDate:    date,
			Line:             line,
			Payload:          bytes.Clone(b),
		})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, "", &badOutputError{err}
		}
		return nil, "", err
	}
	return recs, hex.EncodeToString(h.Sum(nil)), nil
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
// record destinations. Its errors are a delivery's reason, for operators:
// they say what failed without a package's name.
type fileDeliverer struct {
	hub  *Hub
	name string // the destination's
	sink Sink
}

func (d *fileDeliverer) Deliver(ctx context.Context, key string, body []byte) (httpsink.Receipt, error) {
	var p filePayload
	if err := json.Unmarshal(body, &p); err != nil || p.Kind != fileKind || p.Name == "" ||
		filepath.Base(p.Name) != p.Name || p.FileID <= 0 {
		return httpsink.Receipt{}, retry.Permanent(fmt.Errorf("delivery %s is not a file delivery", key))
	}
	path := filepath.Join(d.hub.fileDir(p.FileID), p.Name)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Missing while its file is claimed means it is being
			// written again after a restart: try later. Otherwise it
			// was removed and will not come back.
			if rec, lerr := d.hub.ledger.File(ctx, p.FileID); lerr == nil && rec.State != ledger.FileClaimed {
				return httpsink.Receipt{}, retry.Permanent(fmt.Errorf("staged records file %s is gone", path))
			}
		}
		return httpsink.Receipt{}, err // "open <path>: ..."
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
