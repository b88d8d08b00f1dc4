// Package spool holds a stream of bytes written once and read back from
// the start: in memory up to a bound, beyond it in a temporary file, so
// that memory stays bounded however much is written and a small stream
// never costs a file (creating and removing one per input costs more than
// converting a small input).
package spool

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Spool is written with Write, read with Reader, and removed with Close.
type Spool struct {
	dir, prefix string
	inMemory    int
	mem         []byte
	f           *os.File
	n           int64
}

// New returns a spool that keeps up to inMemory bytes in memory, then
// moves to a temporary file named prefix*.tmp in dir ("" for
// os.TempDir()).
func New(dir, prefix string, inMemory int) *Spool {
	return &Spool{dir: dir, prefix: prefix, inMemory: inMemory}
}

func (s *Spool) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.f == nil && len(s.mem)+len(p) <= s.inMemory {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, s.prefix+"*.tmp")
		if err != nil {
			return 0, fmt.Errorf("create spool: %w", err)
		}
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, fmt.Errorf("write spool: %w", err)
		}
		s.mem = nil
	}
	n, err := s.f.Write(p)
	if err != nil {
		err = fmt.Errorf("write spool: %w", err)
	}
	return n, err
}

// Len is the number of bytes written.
func (s *Spool) Len() int64 { return s.n }

// Reader returns everything written, from the start. A later Reader starts
// again from the start; do not write while reading.
func (s *Spool) Reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	return s.f, nil
}

// Close removes the temporary file, if any. It may be called more than
// once.
func (s *Spool) Close() error {
	s.mem = nil
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	s.f = nil
	if rerr := os.Remove(name); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
