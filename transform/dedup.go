package transform

import (
	"cmp"
	"container/heap"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"
)

// dedupIndex finds, at the end of a file, the plans not to send: repeats of
// an identical plan, plans replaced by a later effective plan for the same
// assignment (V4: only the latest plan per assignment is reconciled, unless
// the mapping keeps all), two different plans for one date (D3), and plans
// held back because a later plan of their assignment was refused (D4). It
// keeps 24 bytes per plan (accepted or rejected) in fixed-size chunks, so
// memory grows smoothly and never by doubling, and the plans' lines in a
// few bytes more (planLines).
type dedupIndex struct {
	seed     maphash.Seed
	chunks   [][]planTuple
	lines    planLines
	spooled  bitset // numbers of accepted plans, in file order
	dropped  bitset // numbers of accepted plans not to send
	rejected bitset // numbers of rejected plans
}

// planTuple is what dedup needs to know of a plan.
type planTuple struct {
	key    uint64 // packed assignment number
	hash   uint64 // of the record's canonical JSON (0 for rejected plans)
	record uint32 // the plan's number in the file: identifies it
	date   int32  // effective date, days since 1970; unknownDate if unreadable
}

// planLines keeps each plan's first and last source lines, for the
// findings about it, in a few bytes a plan: a plan's first line is
// usually the one after its predecessor's (one row a plan), so only where
// that does not hold (a blank, filtered or unreadable row between plans, a
// plan of several rows, several plans on one line) is it stored, and a
// last line only when it is not the first. Plans are added in number
// order.
type planLines struct {
	starts []recLine // where line - plan number changes, by plan number
	ends   []recLine // last lines of plans of more than one line
}

type recLine struct{ record, line uint32 }

func (p *planLines) add(record, first, last uint32) {
	if n := len(p.starts); n == 0 || p.starts[n-1].line+(record-p.starts[n-1].record) != first {
		p.starts = append(p.starts, recLine{record, first})
	}
	if last != first {
		p.ends = append(p.ends, recLine{record, last})
	}
}

// first is plan record's first line.
func (p *planLines) first(record uint32) int {
	i, _ := slices.BinarySearchFunc(p.starts, record, func(r recLine, rec uint32) int { return cmp.Compare(r.record, rec+1) })
	if i == 0 {
		return 0 // not added: cannot happen
	}
	s := p.starts[i-1]
	return int(s.line + (record - s.record))
}

// last is plan record's last line.
func (p *planLines) last(record uint32) int {
	if i, ok := slices.BinarySearchFunc(p.ends, record, func(r recLine, rec uint32) int { return cmp.Compare(r.record, rec) }); ok {
		return int(p.ends[i].line)
	}
	return p.first(record)
}

// planPos is where a plan is in the file.
type planPos struct {
	record, line, end int
}

// unknownDate sorts after every date: a rejected plan whose date could not
// be read may be the latest.
const unknownDate = math.MaxInt32

// Chunks start small, for the many small files a hub sees, and double up
// to chunkLen, for bulk loads.
const (
	firstChunkLen = 1 << 8
	chunkLen      = 1 << 16
)

func newDedupIndex() *dedupIndex { return &dedupIndex{seed: maphash.MakeSeed()} }

// add records an accepted plan written to the output.
func (x *dedupIndex) add(assignment, effective string, json []byte, at planPos) {
	x.spooled.set(uint32(at.record))
	key, ok := assignmentKey(assignment)
	if !ok {
		return // cannot happen for accepted plans (V1); never dropped
	}
	x.lines.add(uint32(at.record), uint32(at.line), uint32(at.end))
	x.push(planTuple{key: key, hash: maphash.Bytes(x.seed, json), record: uint32(at.record), date: days(effective)})
}

// addRejected records a rejected plan whose assignment number can be read:
// if it is (or may be) the latest of its assignment, older plans of that
// assignment are held back.
func (x *dedupIndex) addRejected(assignment, effective string, at planPos) {
	key, ok := assignmentKey(assignment)
	if !ok {
		return
	}
	x.rejected.set(uint32(at.record))
	x.lines.add(uint32(at.record), uint32(at.line), uint32(at.end))
	x.push(planTuple{key: key, record: uint32(at.record), date: days(effective)})
}

func (x *dedupIndex) push(t planTuple) {
	if n := len(x.chunks); n == 0 {
		x.chunks = append(x.chunks, make([]planTuple, 0, firstChunkLen))
	} else if last := x.chunks[n-1]; len(last) == cap(last) {
		x.chunks = append(x.chunks, make([]planTuple, 0, min(2*cap(last), chunkLen)))
	}
	last := &x.chunks[len(x.chunks)-1]
	*last = append(*last, t)
}

// assignmentOf unpacks assignmentKey.
func assignmentOf(key uint64) string {
	s := fmt.Sprintf("%08d", key/1000)
	if suffix := key % 1000; suffix > 0 {
		s += fmt.Sprintf("-%d", suffix-1)
	}
	return s
}

// dupPolicy is the mapping's duplicates setting.
type dupPolicy struct {
	keepAll  bool // keep: all, rather than only the latest plan
	lastWins bool // same_date: last_wins, rather than refuse
}

// dupDecision is a plan not to send, and why.
type dupDecision struct {
	kind       dupKind
	assignment string
	line       int // the plan not sent: its first line,
	endLine    int // its last line
	record     int // and its number in the file
	date       string
	otherLine  int // D1, D2, D3 warning: the plan sent instead; D4: the refused plan
	otherDate  string
	// lines are the first lines of the plans of one date refused together
	// (D3 error), or that caused a hold-back (D4 by an ambiguous date);
	// lineRecs, for D3, their plan numbers.
	lines, lineRecs []int
	// causeAmbiguous: D4 because of a D3 refusal, not a rejected plan.
	causeAmbiguous bool
}

type dupKind int

const (
	dupIdentical dupKind = iota // D1: same plan again; the first copy is sent
	dupOlder                    // D2: replaced by a later effective plan
	dupConflict                 // D3 warning (same_date: last_wins): the later row is sent
	dupAmbiguous                // D3 error (same_date: refuse): none of that date is sent
	dupHeldBack                 // D4: a later plan of the assignment was refused
)

// decide marks the plans not to send and reports each through drop, in
// assignment order.
func (x *dedupIndex) decide(p dupPolicy, drop func(dupDecision)) {
	for _, c := range x.chunks {
		slices.SortFunc(c, compareTuples)
	}
	var group []planTuple
	flush := func() {
		if len(group) > 1 {
			x.decideGroup(group, p, drop)
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
	return cmp.Compare(a.record, b.record)
}

// decideGroup handles the plans of one assignment, in file order.
func (x *dedupIndex) decideGroup(g []planTuple, p dupPolicy, drop func(dupDecision)) {
	// Refused plans: rejected ones, and parts withdrawn before the end
	// (M10), which are rejected too.
	var acc, refused []planTuple
	for _, t := range g {
		if x.rejected.has(t.record) || x.dropped.has(t.record) {
			refused = append(refused, t)
		} else {
			acc = append(acc, t)
		}
	}
	if len(acc) == 0 {
		return
	}
	asg := assignmentOf(g[0].key)
	line := func(t planTuple) int { return x.lines.first(t.record) }
	emit := func(t planTuple, d dupDecision) {
		d.assignment, d.line, d.endLine, d.record, d.date = asg, line(t), x.lines.last(t.record), int(t.record), dateOf(t.date)
		x.dropped.set(t.record)
		drop(d)
	}
	// 1. Two different plans for one date: which is current cannot be
	// known (refuse), unless the mapping says the later row is (last_wins).
	// Only the latest date matters when only the latest plan is kept.
	// Every step is linear in the group's size: an export may hold a great
	// many plans of one assignment.
	top := acc[0].date
	byDate := map[int32][]planTuple{} // in file order
	for _, t := range acc {
		top = max(top, t.date)
		byDate[t.date] = append(byDate[t.date], t)
	}
	done := map[uint32]bool{} // by plan number
	var ambiguous []planTuple // refused as D3
	seen := map[int32]bool{}
	for _, t := range acc { // dates in order of first appearance
		if seen[t.date] || (!p.keepAll && t.date != top) {
			continue
		}
		seen[t.date] = true
		same := byDate[t.date]
		distinct := false
		for _, u := range same {
			distinct = distinct || u.hash != same[0].hash
		}
		if !distinct {
			continue
		}
		if p.lastWins {
			// The later row's plan is sent (its first copy, step 2); the
			// rest of that date is not.
			win := same[len(same)-1]
			for _, u := range same {
				if u.hash != win.hash {
					done[u.record] = true
					emit(u, dupDecision{kind: dupConflict, otherLine: line(win), otherDate: dateOf(win.date)})
				}
			}
			continue
		}
		lines := make([]int, len(same))
		recs := make([]int, len(same))
		for j, u := range same {
			lines[j], recs[j] = line(u), int(u.record)
			done[u.record] = true
		}
		for _, u := range same {
			emit(u, dupDecision{kind: dupAmbiguous, lines: lines, lineRecs: recs})
		}
		ambiguous = append(ambiguous, same...)
	}
	var rest []planTuple
	for _, t := range acc {
		if !done[t.record] {
			rest = append(rest, t)
		}
	}
	// 2. A plan not newer than a refused plan of its assignment is held
	// back: sending it would make an older plan look current (or, when all
	// plans are kept, leave a hole in the history). The latest refused
	// plan (latest date, then latest row) decides: a plan is held back if
	// that one is later, or of the same date (unless last_wins and it is
	// an earlier row).
	var latest planTuple
	anyRefused, latestAmbiguous := false, false
	for i, lists := range [2][]planTuple{refused, ambiguous} {
		for _, f := range lists {
			if !anyRefused || f.date > latest.date || (f.date == latest.date && f.record > latest.record) {
				latest, anyRefused, latestAmbiguous = f, true, i == 1
			}
		}
	}
	heldBack := func(t planTuple) bool {
		return anyRefused && (latest.date > t.date || (latest.date == t.date && (!p.lastWins || latest.record > t.record)))
	}
	holdBack := func(t planTuple) {
		d := dupDecision{kind: dupHeldBack, otherLine: line(latest), causeAmbiguous: latestAmbiguous}
		if latest.date != unknownDate {
			d.otherDate = dateOf(latest.date)
		}
		if latestAmbiguous {
			for _, u := range byDate[latest.date] {
				d.lines = append(d.lines, line(u))
			}
		}
		emit(t, d)
	}
	firstOf := map[uint64]planTuple{} // of identical copies, the first is sent
	for _, t := range rest {
		if _, ok := firstOf[t.hash]; !ok {
			firstOf[t.hash] = t
		}
	}
	if p.keepAll {
		for _, t := range rest {
			if heldBack(t) {
				holdBack(t)
			} else if first := firstOf[t.hash]; first.record != t.record {
				emit(t, dupDecision{kind: dupIdentical, otherLine: line(first), otherDate: dateOf(first.date)})
			}
		}
		return
	}
	if len(rest) == 0 {
		return
	}
	// The plan sent is the latest effective one (its first copy); on a tie
	// of dates only copies of one plan are left here (step 1).
	win := rest[0]
	for _, t := range rest[1:] {
		if t.date >= win.date {
			win = t
		}
	}
	if heldBack(win) {
		for _, t := range rest {
			holdBack(t)
		}
		return
	}
	for _, t := range rest {
		first := firstOf[t.hash]
		switch {
		case first.record != t.record:
			emit(t, dupDecision{kind: dupIdentical, otherLine: line(first), otherDate: dateOf(first.date)})
		case t.hash != win.hash:
			emit(t, dupDecision{kind: dupOlder, otherLine: line(win), otherDate: dateOf(win.date)})
		}
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

// days is an ISO date as days since 1970, or unknownDate when it cannot be
// read (a rejected plan's).
func days(iso string) int32 {
	t, err := time.Parse(time.DateOnly, iso)
	if err != nil {
		return unknownDate
	}
	return int32(t.Unix() / 86400)
}

func dateOf(d int32) string { return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly) }
