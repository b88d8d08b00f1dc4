// Package extsort sorts more records than memory should hold. Records are
// kept in memory up to a budget; beyond it each full buffer is sorted and
// written as a run to one temporary file, and Sorted merges the runs. Memory
// stays near the budget however many records there are, and a small input
// never touches the disk.
//
// The sort is stable: records that compare equal come out in the order
// they were added.
package extsort

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Sorter collects records and returns them in order. Add records, then
// call Sorted (as often as needed: each call starts again from the first
// record), and Close when done, which removes the temporary file.
type Sorter struct {
	cmp    func(a, b []byte) int
	dir    string
	budget int

	arena []byte
	recs  []span // records in arena, in the order added

	f    *os.File
	w    *bufio.Writer
	size int64 // bytes written to f
	runs []run

	n      int64
	sorted bool
}

type span struct{ off, n uint32 }

// run is a sorted run in the temporary file.
type run struct{ off, n int64 }

// MinBudget is the smallest budget New accepts; smaller ones are raised.
const MinBudget = 4 << 10

// New returns a Sorter ordering records by cmp. budget is the memory (in
// bytes of records, plus 8 a record) kept before a run is written to a
// temporary file in dir ("" for os.TempDir()).
func New(dir string, budget int, cmp func(a, b []byte) int) *Sorter {
	return &Sorter{cmp: cmp, dir: dir, budget: max(budget, MinBudget)}
}

// Add copies rec into the sorter.
func (s *Sorter) Add(rec []byte) error {
	if s.sorted {
		return errors.New("extsort: Add after Sorted")
	}
	if len(rec) > maxRecord {
		return fmt.Errorf("extsort: record of %d bytes is too large", len(rec))
	}
	if len(s.recs) > 0 && len(s.arena)+len(rec)+8*(len(s.recs)+1) > s.budget {
		if err := s.spill(); err != nil {
			return err
		}
	}
	s.recs = append(s.recs, span{off: uint32(len(s.arena)), n: uint32(len(rec))})
	s.arena = append(s.arena, rec...)
	s.n++
	return nil
}

// maxRecord keeps a record's offset in the arena within 32 bits.
const maxRecord = 1 << 30

// Len is the number of records added.
func (s *Sorter) Len() int64 { return s.n }

// Spilled reports whether records were written to disk.
func (s *Sorter) Spilled() bool { return len(s.runs) > 0 }

func (s *Sorter) rec(sp span) []byte { return s.arena[sp.off : sp.off+sp.n : sp.off+sp.n] }

// sortBuffer sorts the buffer, stably: records that compare equal keep
// the order they were added in, which is the order of their offsets in the
// arena, then of their lengths (empty records share an offset with the
// record after them, and only with identical empty ones otherwise). A
// pdqsort with that tie-break is faster than a stable merge sort.
func (s *Sorter) sortBuffer() {
	slices.SortFunc(s.recs, func(a, b span) int {
		if c := s.cmp(s.rec(a), s.rec(b)); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.off, b.off), cmp.Compare(a.n, b.n))
	})
}

// spill sorts the buffer and appends it to the temporary file as a run.
func (s *Sorter) spill() error {
	s.sortBuffer()
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, ".sort-*.tmp")
		if err != nil {
			return fmt.Errorf("create sort file: %w", err)
		}
		s.f = f
		s.w = bufio.NewWriterSize(f, 64<<10)
	}
	start := s.size
	var hdr [binary.MaxVarintLen64]byte
	for _, sp := range s.recs {
		k := binary.PutUvarint(hdr[:], uint64(sp.n))
		s.w.Write(hdr[:k])
		s.w.Write(s.rec(sp))
		s.size += int64(k) + int64(sp.n)
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write sort file: %w", err)
	}
	s.runs = append(s.runs, run{off: start, n: s.size - start})
	s.recs = s.recs[:0]
	s.arena = s.arena[:0]
	return nil
}

// Sorted returns the records in order, after the last Add. Each call
// returns a new iterator from the first record; iterators may be used one
// after another or side by side.
func (s *Sorter) Sorted() (*Iter, error) {
	if !s.sorted {
		s.sorted = true
		s.sortBuffer()
	}
	it := &Iter{s: s}
	if len(s.runs) == 0 {
		it.mem = true
		return it, nil
	}
	// The runs on disk, then the buffer as the last run: ties go to the
	// run added first, which keeps the sort stable.
	bufSize := min(max(s.budget/(len(s.runs)+1), 4<<10), 64<<10)
	h := &cursorHeap{cmp: s.cmp}
	for i, r := range s.runs {
		c := &cursor{order: i, disk: bufio.NewReaderSize(io.NewSectionReader(s.f, r.off, r.n), bufSize)}
		if err := c.next(s); err != nil {
			return nil, err
		}
		if !c.done {
			h.items = append(h.items, c)
		}
	}
	if len(s.recs) > 0 {
		c := &cursor{order: len(s.runs), mem: true}
		if err := c.next(s); err != nil {
			return nil, err
		}
		h.items = append(h.items, c)
	}
	heap.Init(h)
	it.heap = h
	return it, nil
}

// Close removes the temporary file. It may be called more than once.
func (s *Sorter) Close() error {
	s.arena, s.recs = nil, nil
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

// Iter yields the sorted records.
type Iter struct {
	s    *Sorter
	mem  bool // everything is in the buffer
	pos  int
	heap *cursorHeap
	rec  []byte
	err  error
}

// Next advances to the next record; false at the end or on an error.
func (it *Iter) Next() bool {
	if it.err != nil {
		return false
	}
	if it.mem {
		if it.pos >= len(it.s.recs) {
			return false
		}
		it.rec = it.s.rec(it.s.recs[it.pos])
		it.pos++
		return true
	}
	h := it.heap
	if h.Len() == 0 {
		return false
	}
	top := h.items[0]
	// The record is copied out: the cursor's buffer is reused by its next.
	it.rec = append(it.rec[:0], top.cur...)
	if err := top.next(it.s); err != nil {
		it.err = err
		return false
	}
	if top.done {
		heap.Pop(h)
	} else {
		heap.Fix(h, 0)
	}
	return true
}

// Record is the current record, valid until the next call to Next.
func (it *Iter) Record() []byte { return it.rec }

// Err is the error that stopped Next, if any.
func (it *Iter) Err() error { return it.err }

// cursor reads one run.
type cursor struct {
	order int // run number: ties go to the lower
	disk  *bufio.Reader
	mem   bool
	pos   int
	buf   []byte
	cur   []byte
	done  bool // the run is read to its end
}

func (c *cursor) next(s *Sorter) error {
	if c.mem {
		if c.pos >= len(s.recs) {
			c.cur, c.done = nil, true
			return nil
		}
		c.cur = s.rec(s.recs[c.pos])
		c.pos++
		return nil
	}
	n, err := binary.ReadUvarint(c.disk)
	if err == io.EOF {
		c.cur, c.done = nil, true
		return nil
	}
	if err != nil || n > maxRecord {
		return fmt.Errorf("read sort file: %w", corrupt(err))
	}
	if uint64(cap(c.buf)) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if _, err := io.ReadFull(c.disk, c.buf); err != nil {
		return fmt.Errorf("read sort file: %w", corrupt(err))
	}
	c.cur = c.buf
	return nil
}

func corrupt(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

type cursorHeap struct {
	cmp   func(a, b []byte) int
	items []*cursor
}

func (h *cursorHeap) Len() int { return len(h.items) }
func (h *cursorHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := h.cmp(a.cur, b.cur); c != 0 {
		return c < 0
	}
	return a.order < b.order
}
func (h *cursorHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *cursorHeap) Push(x any)    { h.items = append(h.items, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}
