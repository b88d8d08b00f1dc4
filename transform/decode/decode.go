// Package decode reads supplier exports (CSV or JSON) as a stream of Rows.
// Each Row keeps its source line numbers and raw bytes, so a rejected row
// can be written back exactly as the supplier sent it.
package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Row is one record of the input. Its slices are valid until the next call
// to Next.
type Row struct {
	Line    int // first source line, 1-based
	EndLine int // last source line
	// Fields holds a CSV row's cells, in header order.
	Fields []string
	// Value holds a JSON record (usually map[string]any, numbers as json.Number).
	Value any
	// Raw is the row's text as read (after decoding to UTF-8), without the
	// final line break.
	Raw []byte
}

// RowError is a row that could not be parsed. The reader can continue past
// it; Row.Raw holds what was read.
type RowError struct {
	Row    Row
	Column int // 1-based, 0 when unknown
	Err    error
}

func (e *RowError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("line %d, column %d: %v", e.Row.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Row.Line, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// FormatError means the input is not in the declared format at all; the
// whole file is unprocessable.
type FormatError struct {
	Line int
	Err  error
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *FormatError) Unwrap() error { return e.Err }

// Reader yields the rows of one input.
type Reader interface {
	// Next returns the next row, io.EOF at the end, a *RowError for a row
	// that could not be parsed (call Next again to continue), or another
	// error that ends the file.
	Next() (*Row, error)
	// NewRejectWriter returns a writer that reproduces the input's framing
	// (encoding, byte-order mark, header, JSON nesting) around raw rows.
	NewRejectWriter(w io.Writer) RejectWriter
}

// RejectWriter writes rejected rows in the input's own format.
type RejectWriter interface {
	WriteRow(raw []byte) error
	// Close finishes the framing; it does not close the underlying writer.
	Close() error
}

// Encoding names accepted in mapping files.
var encodings = map[string]encoding.Encoding{
	"utf-8":        unicode.UTF8,
	"utf-8-bom":    unicode.UTF8,
	"windows-1252": charmap.Windows1252,
	"cp1252":       charmap.Windows1252,
	"iso-8859-1":   charmap.ISO8859_1,
	"latin1":       charmap.ISO8859_1,
	"iso-8859-15":  charmap.ISO8859_15,
	"utf-16":       unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM),
	"utf-16le":     unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	"utf-16be":     unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
}

// Encodings lists the accepted encoding names.
func Encodings() []string {
	return []string{"utf-8", "utf-8-bom", "windows-1252", "cp1252", "iso-8859-1", "latin1", "iso-8859-15", "utf-16", "utf-16le", "utf-16be"}
}

// ErrUnknownEncoding is returned for an encoding name not in Encodings.
var ErrUnknownEncoding = errors.New("unknown encoding")

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// textInput decodes r to UTF-8 and strips a UTF-8 byte-order mark, which Go's
// encoding/csv would otherwise keep inside the first header (golang/go#9588).
type textInput struct {
	r       io.Reader
	enc     encoding.Encoding
	utf8    bool
	hadBOM  bool
	utf16BE bool
}

func newTextInput(r io.Reader, name string) (*textInput, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		name = "utf-8"
	}
	enc, ok := encodings[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (use one of %s)", ErrUnknownEncoding, name, strings.Join(Encodings(), ", "))
	}
	t := &textInput{enc: enc, utf8: enc == unicode.UTF8}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(64)
	if err := notText(head, name); err != nil {
		return nil, err
	}
	if t.utf8 {
		if head, _ := br.Peek(3); bytes.Equal(head, utf8BOM) {
			br.Discard(3)
			t.hadBOM = true
		}
		t.r = br
		return t, nil
	}
	if name == "utf-16" {
		head, _ := br.Peek(2)
		switch {
		case len(head) == 2 && head[0] == 0xFF && head[1] == 0xFE:
		case len(head) == 2 && head[0] == 0xFE && head[1] == 0xFF:
			t.utf16BE = true
		default:
			return nil, &FormatError{Err: errors.New("encoding utf-16 needs a byte-order mark at the start of the file; use utf-16le or utf-16be")}
		}
		t.hadBOM = true
		t.r = transform.NewReader(br, unicode.BOMOverride(unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()))
		return t, nil
	}
	t.r = enc.NewDecoder().Reader(br)
	return t, nil
}

// binarySignatures are the first bytes of files that are often sent in
// place of a CSV or JSON export.
var binarySignatures = []struct {
	magic, what string
}{
	{"\x1f\x8b", "a gzip-compressed file"},
	{"PK\x03\x04", "a zip archive (an .xlsx workbook is one)"},
	{"\xd0\xcf\x11\xe0", "an old-style Excel workbook (.xls) or other Office file"},
	{"%PDF", "a PDF document"},
}

// notText says what the start of a file is when it cannot be text in the
// declared encoding: a known binary format, or UTF-16 declared as an 8-bit
// encoding (and the reverse), so a refused file says what is wrong with it.
func notText(head []byte, declared string) error {
	for _, sig := range binarySignatures {
		if bytes.HasPrefix(head, []byte(sig.magic)) {
			return &FormatError{Err: fmt.Errorf("the file is %s, not text: export it as %s text and send that", sig.what, "CSV or JSON")}
		}
	}
	utf16 := strings.HasPrefix(declared, "utf-16")
	switch {
	case !utf16 && (bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF})):
		return &FormatError{Err: fmt.Errorf("the file is UTF-16 (it starts with a UTF-16 byte-order mark), but the mapping says encoding %s; set encoding: utf-16", declared)}
	case !utf16 && looksUTF16(head, 1):
		return &FormatError{Err: fmt.Errorf("the file looks like UTF-16 little-endian text (every other byte is zero), but the mapping says encoding %s; set encoding: utf-16le", declared)}
	case !utf16 && looksUTF16(head, 0):
		return &FormatError{Err: fmt.Errorf("the file looks like UTF-16 big-endian text (every other byte is zero), but the mapping says encoding %s; set encoding: utf-16be", declared)}
	case utf16 && bytes.HasPrefix(head, utf8BOM):
		return &FormatError{Err: fmt.Errorf("the file starts with a UTF-8 byte-order mark, so it is UTF-8, but the mapping says encoding %s; set encoding: utf-8", declared)}
	}
	return nil
}

// looksUTF16 reports whether the bytes at odd (zero at 1) or even (zero
// at 0) offsets of head are all zero and the others are not: ASCII text in
// UTF-16.
func looksUTF16(head []byte, zeroAt int) bool {
	if len(head) < 8 {
		return false
	}
	n := len(head) &^ 1
	for i := 0; i < n; i += 2 {
		if head[i+zeroAt] != 0 || head[i+1-zeroAt] == 0 {
			return false
		}
	}
	return true
}

// encodeWriter writes UTF-8 text to w in the input's encoding, with its
// byte-order mark if the input had one.
func (t *textInput) encodeWriter(w io.Writer) io.Writer {
	switch {
	case t.utf8:
		return &bomWriter{w: w, bom: t.hadBOM}
	case t.hadBOM && t.utf16BE:
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewEncoder().Writer(w)
	case t.hadBOM:
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Writer(w)
	}
	return t.enc.NewEncoder().Writer(w)
}

type bomWriter struct {
	w   io.Writer
	bom bool
}

func (b *bomWriter) Write(p []byte) (int, error) {
	if b.bom {
		b.bom = false
		if _, err := b.w.Write(utf8BOM); err != nil {
			return 0, err
		}
	}
	return b.w.Write(p)
}

// tracker remembers the bytes its consumer has read, so that the span of a
// record between two input offsets can be recovered.
type tracker struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
}

func (t *tracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// span returns the bytes between two input offsets.
func (t *tracker) span(from, to int64) []byte { return t.buf[from-t.base : to-t.base] }

// release forgets bytes before offset; it compacts lazily so the per-row
// cost stays small.
func (t *tracker) release(offset int64) {
	n := int(offset - t.base)
	if n < 64<<10 || n < len(t.buf)/2 {
		return
	}
	copy(t.buf, t.buf[n:])
	t.buf = t.buf[:len(t.buf)-n]
	t.base = offset
}

// trimLineBreaks removes leading blank lines (counting them) and the trailing
// line break from a raw record.
func trimLineBreaks(raw []byte) (trimmed []byte, skippedLines int) {
	for {
		switch {
		case bytes.HasPrefix(raw, []byte("\n")):
			raw = raw[1:]
		case bytes.HasPrefix(raw, []byte("\r\n")):
			raw = raw[2:]
		default:
			switch {
			case bytes.HasSuffix(raw, []byte("\r\n")):
				raw = raw[:len(raw)-2]
			case bytes.HasSuffix(raw, []byte("\n")):
				raw = raw[:len(raw)-1]
			default:
				// Last record at end of file: encoding/csv drops a final \r.
				raw = bytes.TrimSuffix(raw, []byte("\r"))
			}
			return raw, skippedLines
		}
		skippedLines++
	}
}

// ParseDelimiter reads a CSV delimiter as configuration files write it:
// one character, or "tab" (also "\t"); empty means a comma.
func ParseDelimiter(s string) (rune, error) {
	switch {
	case s == "":
		return ',', nil
	case strings.EqualFold(s, "tab") || s == "\t" || s == `\t`:
		return '\t', nil
	case utf8.RuneCountInString(s) == 1:
		r, _ := utf8.DecodeRuneInString(s)
		return r, nil
	}
	return 0, fmt.Errorf("%q must be one character, or \"tab\"", s)
}
