package reconcile

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
)

// Progress is told how a reconciliation is going, for a progress bar: each
// stage (reading the plans, reading payroll, comparing) with its total, in
// bytes or in records, then what is done of it. Calls come from the
// goroutine that reconciles.
type Progress interface {
	Stage(name string, total int64, bytes bool)
	Add(n int64)
}

func stage(p Progress, name string, total int64, bytes bool) {
	if p != nil {
		p.Stage(name, total, bytes)
	}
}

// progressReader counts what is read into a Progress.
type progressReader struct {
	r io.Reader
	p Progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if r.p != nil && n > 0 {
		r.p.Add(int64(n))
	}
	return n, err
}

// The sort records of plans and payroll rows are compact: strings length
// first, numbers as varints, optional decimals behind a presence byte.

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendOptDec(b []byte, d *decimal.Dec) []byte {
	if d == nil {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), int64(*d))
}

var errCorrupt = errors.New("reconcile: corrupt sort record")

// recReader reads a sort record; bad is set, and zero values returned,
// once it runs out or finds nonsense.
type recReader struct {
	b   []byte
	bad bool
}

// first is the record's first string (its sort key) without reading on.
func (r recReader) first() []byte { return r.bytes() }

func (r *recReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *recReader) optDec() *decimal.Dec {
	if len(r.b) == 0 {
		r.bad = true
		return nil
	}
	present := r.b[0]
	r.b = r.b[1:]
	if present == 0 {
		return nil
	}
	d := decimal.Dec(r.varint())
	return &d
}
