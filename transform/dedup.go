package transform

import (
	"cmp"
	"container/heap"
	"fmt"
	"hash/maphash"
	"slices"
	"time"
)

// dedupIndex finds, at the end of a file, the plans not to send: repeats of
// an identical plan, and (unless the mapping keeps all) plans replaced by a
// later effective plan for the same assignment (V4: only the latest plan per
// assignment is reconciled). It keeps 24 bytes per accepted plan in
// fixed-size chunks, so memory grows smoothly and never by doubling.
type dedupIndex struct {
	seed    maphash.Seed
	chunks  [][]planTuple
	spooled bitset // first lines of accepted plans, in file order
	dropped bitset // first lines of accepted plans not to send
	count   int
}

// planTuple is what dedup needs to know of an accepted plan.
type planTuple struct {
	key  uint64 // packed assignment number
	hash uint64 // of the record's canonical JSON
	line uint32 // first source line: identifies the plan in the file
	date int32  // effective date, days since 1970
}

// Chunks start small, for the many small files a hub sees, and double up
// to chunkLen, for bulk loads.
const (
	firstChunkLen = 1 << 8
	chunkLen      = 1 << 16
)

func newDedupIndex() *dedupIndex { return &dedupIndex{seed: maphash.MakeSeed()} }

// add records an accepted plan written to the output.
func (x *dedupIndex) add(assignment, effective string, json []byte, line int) {
	x.spooled.set(uint32(line))
	key, ok := assignmentKey(assignment)
	if !ok {
		return // cannot happen for accepted plans (V1); never dropped
	}
	if n := len(x.chunks); n == 0 {
		x.chunks = append(x.chunks, make([]planTuple, 0, firstChunkLen))
	} else if last := x.chunks[n-1]; len(last) == cap(last) {
		x.chunks = append(x.chunks, make([]planTuple, 0, min(2*cap(last), chunkLen)))
	}
	last := &x.chunks[len(x.chunks)-1]
	*last = append(*last, planTuple{key: key, hash: maphash.Bytes(x.seed, json), line: uint32(line), date: days(effective)})
	x.count++
}

// assignmentOf unpacks assignmentKey.
func assignmentOf(key uint64) string {
	s := fmt.Sprintf("%08d", key/1000)
	if suffix := key % 1000; suffix > 0 {
		s += fmt.Sprintf("-%d", suffix-1)
	}
	return s
}

// dupDecision is a plan not to send, and why.
type dupDecision struct {
	kind       dupKind
	assignment string
	line       int // the dropped plan
	date       string
	otherLine  int // the plan sent instead
	otherDate  string
}

type dupKind int

const (
	dupIdentical dupKind = iota // same plan again
	dupOlder                    // replaced by a later effective plan
	dupConflict                 // same date, different values: the later row is sent
)

// decide marks the plans not to send and reports each through drop, in
// assignment order.
func (x *dedupIndex) decide(keepAll bool, drop func(dupDecision)) {
	for _, c := range x.chunks {
		slices.SortFunc(c, compareTuples)
	}
	var group []planTuple
	flush := func() {
		if len(group) > 1 {
			x.decideGroup(group, keepAll, drop)
		}
		group = group[:0]
	}
	mergeChunks(x.chunks, func(t planTuple) {
		if len(group) > 0 && group[0].key != t.key {
			flush()
		}
		group = append(group, t)
	})
	flush()
}

func compareTuples(a, b planTuple) int {
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.line, b.line)
}

// decideGroup handles the plans of one assignment, in file order.
func (x *dedupIndex) decideGroup(g []planTuple, keepAll bool, drop func(dupDecision)) {
	// The plan sent is the latest effective one, the later row on a tie.
	win := g[0]
	for _, t := range g[1:] {
		if t.date >= win.date {
			win = t
		}
	}
	// Of identical copies, the first one is the one sent.
	firstOf := map[uint64]planTuple{}
	for _, t := range g {
		if _, ok := firstOf[t.hash]; !ok {
			firstOf[t.hash] = t
		}
	}
	for _, t := range g {
		first := firstOf[t.hash]
		d := dupDecision{assignment: assignmentOf(t.key), line: int(t.line), date: dateOf(t.date)}
		switch {
		case first.line != t.line:
			d.kind, d.otherLine, d.otherDate = dupIdentical, int(first.line), dateOf(first.date)
		case keepAll || t.hash == win.hash:
			continue
		case t.date < win.date:
			d.kind, d.otherLine, d.otherDate = dupOlder, int(win.line), dateOf(win.date)
		default:
			d.kind, d.otherLine, d.otherDate = dupConflict, int(win.line), dateOf(win.date)
		}
		x.dropped.set(t.line)
		drop(d)
	}
}

// mergeChunks calls fn for every tuple of the sorted chunks in order.
func mergeChunks(chunks [][]planTuple, fn func(planTuple)) {
	h := &tupleHeap{}
	for i, c := range chunks {
		if len(c) > 0 {
			h.items = append(h.items, cursor{chunk: i})
		}
	}
	h.chunks = chunks
	heap.Init(h)
	for h.Len() > 0 {
		top := &h.items[0]
		fn(chunks[top.chunk][top.pos])
		top.pos++
		if top.pos == len(chunks[top.chunk]) {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
}

type cursor struct{ chunk, pos int }

type tupleHeap struct {
	chunks [][]planTuple
	items  []cursor
}

func (h *tupleHeap) Len() int { return len(h.items) }
func (h *tupleHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return compareTuples(h.chunks[a.chunk][a.pos], h.chunks[b.chunk][b.pos]) < 0
}
func (h *tupleHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *tupleHeap) Push(x any)    { h.items = append(h.items, x.(cursor)) }
func (h *tupleHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

// bitset is a growable set of small integers.
type bitset []uint64

func (b *bitset) set(i uint32) {
	for int(i/64) >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) has(i uint32) bool { return int(i/64) < len(b) && b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// assignmentKey packs an assignment number (8 digits, optional -N) into an
// integer; ok is false for anything else (such plans were rejected by V1).
func assignmentKey(s string) (uint64, bool) {
	if len(s) < 8 {
		return 0, false
	}
	var k uint64
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		k = k*10 + uint64(s[i]-'0')
	}
	var suffix uint64
	if len(s) > 8 {
		if s[8] != '-' || len(s) > 11 || len(s) == 9 {
			return 0, false
		}
		for i := 9; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			suffix = suffix*10 + uint64(s[i]-'0')
		}
		suffix++ // "-0" differs from no suffix
	}
	return k*1000 + suffix, true
}

func days(iso string) int32 {
	t, err := time.Parse(time.DateOnly, iso)
	if err != nil {
		return 0
	}
	return int32(t.Unix() / 86400)
}

func dateOf(d int32) string { return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly) }
