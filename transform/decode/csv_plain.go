package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// With quote: none a CSV row is one line and its fields are the text
// between delimiters, byte for byte: a quote is data. encoding/csv cannot
// be told this; with LazyQuotes it still treats a field that starts with a
// quote as quoted, and reads on across lines, and rows, to the next
// quote.

// maxPlainLine bounds one line of a quote: none file, so that a file with
// no line breaks does not fill memory.
const maxPlainLine = 16 << 20

// ErrLineTooLongCSV is a line of a quote: none file over 16 MiB.
var ErrLineTooLongCSV = errors.New("line too long")

type plainLines struct {
	br      *bufio.Reader
	delim   string
	comment rune
	line    int
	buf     []byte
	fields  []string
	eof     bool
}

func newPlainCSVReader(in *textInput, opts CSVOptions, delim rune) (*CSVReader, error) {
	var d [utf8.UTFMax]byte
	n := utf8.EncodeRune(d[:], delim)
	p := &plainLines{br: bufio.NewReaderSize(in.r, 64<<10), delim: string(d[:n]), comment: opts.Comment}
	c := &CSVReader{in: in, plain: p}
	skip := opts.SkipRows
	if !opts.NoHeader {
		skip += max(opts.HeaderRow, 1) - 1
	}
	for range skip {
		if _, _, err := p.next(); err == io.EOF {
			if opts.NoHeader {
				return c, nil
			}
			return nil, &FormatError{Err: errors.New("the file is empty: no header row")}
		} else if err != nil {
			return nil, &FormatError{Err: fmt.Errorf("cannot read the header row: %w", err)}
		}
	}
	if opts.NoHeader {
		return c, nil
	}
	raw, eol, err := p.next()
	switch {
	case err == io.EOF:
		return nil, &FormatError{Err: errors.New("the file is empty: no header row")}
	case err != nil:
		return nil, &FormatError{Err: fmt.Errorf("cannot read the header row: %w", err)}
	}
	if err := c.setHeader(p.split(raw), append(raw, eol...)); err != nil {
		return nil, err
	}
	return c, nil
}

// next returns the next line that is not a comment, without its line
// break (returned as eol), counting lines.
func (p *plainLines) next() (raw, eol []byte, err error) {
	for {
		if p.eof {
			return nil, nil, io.EOF
		}
		p.buf = p.buf[:0]
		tooLong := false
		for {
			chunk, err := p.br.ReadSlice('\n')
			if len(p.buf)+len(chunk) > maxPlainLine {
				tooLong = true
			} else {
				p.buf = append(p.buf, chunk...)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				p.eof = true
				if len(p.buf) == 0 && !tooLong {
					return nil, nil, io.EOF
				}
			} else if err != nil {
				return nil, nil, fmt.Errorf("read csv: %w", err)
			}
			break
		}
		p.line++
		if tooLong {
			return nil, nil, fmt.Errorf("%w (over %d bytes)", ErrLineTooLongCSV, maxPlainLine)
		}
		raw = p.buf
		switch {
		case bytes.HasSuffix(raw, []byte("\r\n")):
			raw, eol = raw[:len(raw)-2], raw[len(raw)-2:]
		case bytes.HasSuffix(raw, []byte("\n")):
			raw, eol = raw[:len(raw)-1], raw[len(raw)-1:]
		default:
			// The last line, without a line break; a lone \r ending it is
			// half a CRLF, as encoding/csv also takes it.
			raw, eol = bytes.TrimSuffix(raw, []byte("\r")), nil
		}
		if p.comment != 0 {
			if r, _ := utf8.DecodeRune(raw); r == p.comment {
				continue
			}
		}
		return raw, eol, nil
	}
}

// split cuts a line at every delimiter; the fields are valid until the
// next call.
func (p *plainLines) split(raw []byte) []string {
	p.fields = p.fields[:0]
	s := string(raw) // one allocation a row; the fields share it
	for {
		i := strings.Index(s, p.delim)
		if i < 0 {
			p.fields = append(p.fields, s)
			return p.fields
		}
		p.fields = append(p.fields, s[:i])
		s = s[i+len(p.delim):]
	}
}

func (c *CSVReader) nextPlain() (*Row, error) {
	p := c.plain
	for {
		raw, _, err := p.next()
		if errors.Is(err, ErrLineTooLongCSV) {
			c.row = Row{Line: p.line, EndLine: p.line}
			return nil, &RowError{Row: c.row, Err: err}
		}
		if err != nil {
			return nil, err
		}
		fields := p.split(raw)
		if blank(fields) {
			continue
		}
		c.row = Row{Line: p.line, EndLine: p.line, Fields: fields, Raw: raw}
		return &c.row, nil
	}
}
