package decode

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// CSVOptions is the CSV dialect of one supplier layout.
type CSVOptions struct {
	Delimiter  rune   // default ','
	Encoding   string // see Encodings; default utf-8 (a BOM is stripped)
	HeaderRow  int    // 1-based row holding the column names after SkipRows; 0 means 1
	NoHeader   bool   // columns are then named "1", "2", ...
	SkipRows   int    // rows before the header to ignore (titles, notes)
	LazyQuotes bool   // accept bare quotes inside unquoted fields
	// NoQuotes reads every field as it stands: a quote character is data,
	// and a row is exactly one line (quote: none).
	NoQuotes bool
	Comment  rune // lines starting with it are ignored; 0 for none
}

// CSVReader streams the rows of a CSV export.
type CSVReader struct {
	in        *textInput
	tr        *tracker
	cr        *csv.Reader
	header    []string
	rawHeader []byte
	row       Row
	lastOff   int64
	lastLine  int
	crlf      bool
	plain     *plainLines // NoQuotes
}

// NewCSVReader reads the preamble and header of r.
func NewCSVReader(r io.Reader, opts CSVOptions) (*CSVReader, error) {
	in, err := newTextInput(r, opts.Encoding)
	if err != nil {
		return nil, err
	}
	delim := opts.Delimiter
	if delim == 0 {
		delim = ','
	}
	if !validDelim(delim) {
		return nil, fmt.Errorf("invalid CSV delimiter %q", delim)
	}
	if opts.NoQuotes {
		return newPlainCSVReader(in, opts, delim)
	}
	tr := &tracker{r: in.r}
	cr := csv.NewReader(tr)
	cr.Comma = delim
	cr.Comment = opts.Comment
	cr.LazyQuotes = opts.LazyQuotes
	cr.FieldsPerRecord = -1 // uneven rows are reported per row, not fatal
	cr.ReuseRecord = true
	c := &CSVReader{in: in, tr: tr, cr: cr}
	headerAt := opts.SkipRows + max(opts.HeaderRow, 1)
	if opts.NoHeader {
		headerAt = opts.SkipRows // title rows only
	}
	for i := 1; i <= headerAt; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if opts.NoHeader {
				break // no rows after the title rows: an empty export
			}
			return nil, &FormatError{Err: errors.New("the file is empty: no header row")}
		}
		if err != nil {
			if head := bytes.TrimLeft(tr.buf, " \t\r\n"); len(head) > 0 && (head[0] == '{' || head[0] == '[') {
				return nil, &FormatError{Err: fmt.Errorf("cannot read the header row: %w; the file starts with %q: it looks like JSON, but the mapping says format: csv", err, head[:1])}
			}
			return nil, &FormatError{Err: fmt.Errorf("cannot read the header row: %w", err)}
		}
		start := c.lastOff
		c.lastOff = cr.InputOffset()
		if i == headerAt && !opts.NoHeader {
			if err := c.setHeader(rec, tr.span(start, c.lastOff)); err != nil {
				return nil, err
			}
		}
		c.lastLine, _ = cr.FieldPos(0)
	}
	c.lastOff = cr.InputOffset()
	return c, nil
}

func (c *CSVReader) setHeader(rec []string, span []byte) error {
	c.header = make([]string, len(rec))
	for j, h := range rec {
		c.header[j] = strings.TrimSpace(h)
	}
	if blank(c.header) {
		return &FormatError{Err: errors.New("the header row is blank")}
	}
	c.crlf = len(span) >= 2 && string(span[len(span)-2:]) == "\r\n"
	raw, _ := trimLineBreaks(span)
	c.rawHeader = append([]byte(nil), raw...)
	return nil
}

func validDelim(r rune) bool {
	return r != 0 && r != '"' && r != '\r' && r != '\n' && utf8.ValidRune(r) && r != utf8.RuneError
}

// Header returns the column names, trimmed.
func (c *CSVReader) Header() []string { return c.header }

// Next returns the next non-blank row.
func (c *CSVReader) Next() (*Row, error) {
	if c.plain != nil {
		return c.nextPlain()
	}
	for {
		c.tr.release(c.lastOff)
		rec, err := c.cr.Read()
		start := c.lastOff
		c.lastOff = c.cr.InputOffset()
		if err == io.EOF {
			return nil, io.EOF
		}
		raw, skipped := trimLineBreaks(c.tr.span(start, c.lastOff))
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			c.row = Row{Line: pe.StartLine, EndLine: pe.Line, Raw: raw}
			if c.row.Line == 0 {
				c.row.Line = c.lastLine + 1 + skipped
			}
			c.lastLine = pe.Line
			return nil, &RowError{Row: c.row, Column: pe.Column, Err: pe.Err}
		}
		if err != nil {
			return nil, fmt.Errorf("read csv: %w", err)
		}
		line, _ := c.cr.FieldPos(0)
		end := line + bytes.Count(raw, newline)
		c.lastLine = end
		if blank(rec) {
			continue
		}
		c.row = Row{Line: line, EndLine: end, Fields: rec, Raw: raw}
		return &c.row, nil
	}
}

var newline = []byte{'\n'}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// NewRejectWriter writes the header and then each rejected row, in the
// input's encoding and with its BOM and line endings.
func (c *CSVReader) NewRejectWriter(w io.Writer) RejectWriter {
	eol := "\n"
	if c.crlf {
		eol = "\r\n"
	}
	return &csvRejects{w: c.in.encodeWriter(w), header: c.rawHeader, withHeader: c.header != nil, eol: eol}
}

type csvRejects struct {
	w          io.Writer
	header     []byte
	withHeader bool
	started    bool
	eol        string
}

func (r *csvRejects) start() error {
	r.started = true
	if !r.withHeader {
		return nil
	}
	_, err := io.WriteString(r.w, string(r.header)+r.eol)
	return err
}

func (r *csvRejects) WriteRow(raw []byte) error {
	if !r.started {
		if err := r.start(); err != nil {
			return err
		}
	}
	if _, err := r.w.Write(raw); err != nil {
		return err
	}
	_, err := io.WriteString(r.w, r.eol)
	return err
}

// Close writes the header if no row was written, so the file is still a
// valid template for the supplier.
func (r *csvRejects) Close() error {
	if !r.started {
		return r.start()
	}
	return nil
}
