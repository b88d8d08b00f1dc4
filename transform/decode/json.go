package decode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// JSONOptions describes a JSON or JSON Lines export (Open tells them
// apart by Options.Format).
type JSONOptions struct {
	// RecordsPath is the dotted path of the array of records inside the
	// top-level object ("data.jobPlans"); empty for a top-level array.
	RecordsPath string
	Encoding    string
	// MaxLineBytes bounds a JSON Lines record (default 16 MiB).
	MaxLineBytes int
}

// ParseValue decodes one JSON document with numbers kept as json.Number, so
// decimals are read exactly.
func ParseValue(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// JSONReader streams the records of a JSON array without loading the file.
type JSONReader struct {
	in      *textInput
	tr      *tracker
	dec     *json.Decoder
	path    []string
	row     Row
	lineOff int64 // offset up to which newlines have been counted
	line    int   // 1-based line at lineOff
	done    bool
}

// NewJSONReader positions the reader at the first record. It returns a
// *FormatError when the file is not JSON or has no array at RecordsPath.
func NewJSONReader(r io.Reader, opts JSONOptions) (*JSONReader, error) {
	in, err := newTextInput(r, opts.Encoding)
	if err != nil {
		return nil, err
	}
	tr := &tracker{r: in.r}
	j := &JSONReader{in: in, tr: tr, dec: json.NewDecoder(tr), line: 1}
	if opts.RecordsPath != "" {
		j.path = strings.Split(opts.RecordsPath, ".")
	}
	if err := j.descend(j.path); err != nil {
		if head := bytes.TrimLeft(tr.buf, " \t\r\n"); len(head) > 0 && head[0] != '{' && head[0] != '[' {
			first, _, _ := bytes.Cut(head, []byte("\n"))
			hint := "it is not JSON, which starts with { or ["
			if bytes.ContainsAny(first, ",;\t|") {
				hint = "it looks like CSV, but the mapping says format: json"
			}
			err = fmt.Errorf("%w; the file starts with %q: %s", err, shortText(first, 60), hint)
		}
		return nil, &FormatError{Line: j.lineAt(j.dec.InputOffset()), Err: err}
	}
	return j, nil
}

func shortText(b []byte, n int) string {
	s := strings.TrimRight(string(b), "\r")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func (j *JSONReader) descend(path []string) error {
	tok, err := j.dec.Token()
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if len(path) == 0 {
		if tok != json.Delim('[') {
			return fmt.Errorf("expected an array of records, found %s", describeToken(tok))
		}
		return nil
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("expected an object containing %q, found %s", path[0], describeToken(tok))
	}
	for j.dec.More() {
		keyTok, err := j.dec.Token()
		if err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
		if key, _ := keyTok.(string); key == path[0] {
			return j.descend(path[1:])
		}
		var skip json.RawMessage
		if err := j.dec.Decode(&skip); err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
	}
	return fmt.Errorf("no %q key found where the records should be", path[0])
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return "a " + fmt.Sprintf("%T", tok)
}

// lineAt counts lines up to offset (offsets only move forward).
func (j *JSONReader) lineAt(off int64) int {
	if off > j.lineOff {
		j.line += bytes.Count(j.tr.span(j.lineOff, off), []byte{'\n'})
		j.lineOff = off
	}
	return j.line
}

// Next returns the next record of the array.
func (j *JSONReader) Next() (*Row, error) {
	if j.done {
		return nil, io.EOF
	}
	j.tr.release(j.lineOff)
	if !j.dec.More() {
		j.done = true
		if _, err := j.dec.Token(); err != nil {
			return nil, &FormatError{Line: j.lineAt(j.dec.InputOffset()), Err: fmt.Errorf("not valid JSON: %w", err)}
		}
		return nil, io.EOF
	}
	start := j.dec.InputOffset()
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		j.done = true
		line := j.lineAt(start)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line = j.lineAt(min(se.Offset, j.tr.base+int64(len(j.tr.buf))))
		}
		return nil, &FormatError{Line: line, Err: fmt.Errorf("not valid JSON: %w", err)}
	}
	end := j.dec.InputOffset()
	span := j.tr.span(start, end)
	lead := len(span) - len(bytes.TrimLeft(span, " \t\r\n,"))
	first := j.lineAt(start + int64(lead))
	last := j.lineAt(end)
	v, err := ParseValue(raw)
	if err != nil {
		return nil, &FormatError{Line: first, Err: err}
	}
	j.row = Row{Line: first, EndLine: last, Value: v, Raw: span[lead:]}
	return &j.row, nil
}

// NewRejectWriter writes rejected records as a JSON array nested under the
// same path as the input, so the file can be fixed and sent again.
func (j *JSONReader) NewRejectWriter(w io.Writer) RejectWriter {
	var pre, post strings.Builder
	for _, p := range j.path {
		b, _ := json.Marshal(p)
		pre.WriteString("{" + string(b) + ":")
		post.WriteString("}")
	}
	return &jsonRejects{w: j.in.encodeWriter(w), prefix: pre.String() + "[\n", suffix: "\n]" + post.String() + "\n"}
}

type jsonRejects struct {
	w              io.Writer
	prefix, suffix string
	n              int
}

func (r *jsonRejects) WriteRow(raw []byte) error {
	sep := ",\n"
	if r.n == 0 {
		sep = r.prefix
	}
	r.n++
	if _, err := io.WriteString(r.w, sep); err != nil {
		return err
	}
	_, err := r.w.Write(raw)
	return err
}

func (r *jsonRejects) Close() error {
	if r.n == 0 {
		_, err := io.WriteString(r.w, strings.TrimSuffix(r.prefix, "\n")+strings.TrimPrefix(r.suffix, "\n"))
		return err
	}
	_, err := io.WriteString(r.w, r.suffix)
	return err
}

// JSONLinesReader streams a JSON Lines file; a bad line is a row error.
type JSONLinesReader struct {
	in   *textInput
	br   *bufio.Reader
	max  int
	line int
	buf  []byte
	row  Row
}

// NewJSONLinesReader reads r as JSON Lines.
func NewJSONLinesReader(r io.Reader, opts JSONOptions) (*JSONLinesReader, error) {
	in, err := newTextInput(r, opts.Encoding)
	if err != nil {
		return nil, err
	}
	max := opts.MaxLineBytes
	if max <= 0 {
		max = 16 << 20
	}
	return &JSONLinesReader{in: in, br: bufio.NewReaderSize(in.r, 64<<10), max: max}, nil
}

// ErrLineTooLong is a JSON Lines record over MaxLineBytes.
var ErrLineTooLong = errors.New("line too long")

// Next returns the next non-blank line's record.
func (l *JSONLinesReader) Next() (*Row, error) {
	for {
		l.buf = l.buf[:0]
		tooLong := false
		var err error
		for {
			var chunk []byte
			chunk, err = l.br.ReadSlice('\n')
			if len(l.buf)+len(chunk) > l.max {
				tooLong = true
			} else {
				l.buf = append(l.buf, chunk...)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read json lines: %w", err)
		}
		if len(l.buf) == 0 && !tooLong && err == io.EOF {
			return nil, io.EOF
		}
		l.line++
		raw, _ := trimLineBreaks(l.buf)
		if tooLong {
			l.row = Row{Line: l.line, EndLine: l.line, Raw: raw}
			return nil, &RowError{Row: l.row, Err: fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, l.max)}
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			if err == io.EOF {
				return nil, io.EOF
			}
			continue
		}
		v, perr := ParseValue(raw)
		l.row = Row{Line: l.line, EndLine: l.line, Raw: raw, Value: v}
		if perr != nil {
			return nil, &RowError{Row: l.row, Err: fmt.Errorf("not valid JSON: %w", perr)}
		}
		return &l.row, nil
	}
}

// NewRejectWriter writes rejected lines as JSON Lines.
func (l *JSONLinesReader) NewRejectWriter(w io.Writer) RejectWriter {
	return &linesRejects{w: l.in.encodeWriter(w)}
}

type linesRejects struct{ w io.Writer }

func (r *linesRejects) WriteRow(raw []byte) error {
	if _, err := r.w.Write(raw); err != nil {
		return err
	}
	_, err := r.w.Write([]byte{'\n'})
	return err
}

func (r *linesRejects) Close() error { return nil }
