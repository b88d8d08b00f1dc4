package transform

import (
	"hash/fnv"
	"time"

	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// dedupIndex remembers, per assignment, the plan kept so far, so that only
// the latest effective plan of each assignment is sent (V4) and identical
// repeats are sent once. It holds 24 bytes per distinct assignment, not the
// plans themselves.
type dedupIndex struct {
	byAssignment map[uint64]dedupEntry
	drop         []uint64 // bitset over spooled records superseded later
	spooled      uint32
	droppedAny   bool
}

type dedupEntry struct {
	hash uint64 // of the record's canonical JSON
	idx  uint32 // position in the spool
	date int32  // effective date, days since 1970
	line uint32 // first source line
}

type dupKind int

const (
	dupNone      dupKind = iota
	dupIdentical         // same plan again: not sent
	dupOlder             // an older plan than one already kept: not sent
	dupNewer             // replaces the kept plan
	dupConflict          // same date, different values: replaces the kept plan
)

type verdict struct {
	kind      dupKind
	spool     bool
	otherLine int
	otherDate string
}

func newDedupIndex() *dedupIndex {
	return &dedupIndex{byAssignment: make(map[uint64]dedupEntry)}
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

// offer decides what to do with an accepted plan.
func (x *dedupIndex) offer(p *record.JobPlan, json []byte, line int, keepAll bool) verdict {
	key, ok := assignmentKey(p.Text(record.AssignmentNumber))
	h := fnv.New64a()
	h.Write(json)
	e := dedupEntry{hash: h.Sum64(), idx: x.spooled, date: days(p.Text(record.EffectiveDate)), line: uint32(line)}
	if !ok {
		x.spooled++
		return verdict{spool: true}
	}
	old, seen := x.byAssignment[key]
	v := verdict{otherLine: int(old.line), otherDate: dateOf(old.date)}
	switch {
	case !seen:
		v.kind, v.spool = dupNone, true
	case old.hash == e.hash:
		v.kind = dupIdentical
	case keepAll:
		v.kind, v.spool = dupNone, true
	case e.date < old.date:
		v.kind = dupOlder
	case e.date > old.date:
		v.kind, v.spool = dupNewer, true
	default:
		v.kind, v.spool = dupConflict, true
	}
	if v.kind == dupNewer || v.kind == dupConflict {
		x.markDropped(old.idx)
	}
	if v.spool {
		x.byAssignment[key] = e
		x.spooled++
	}
	return v
}

func (x *dedupIndex) markDropped(i uint32) {
	for int(i/64) >= len(x.drop) {
		x.drop = append(x.drop, 0)
	}
	x.drop[i/64] |= 1 << (i % 64)
	x.droppedAny = true
}

func (x *dedupIndex) dropped(i uint32) bool {
	return int(i/64) < len(x.drop) && x.drop[i/64]&(1<<(i%64)) != 0
}

func (x *dedupIndex) anyDropped() bool { return x.droppedAny }
