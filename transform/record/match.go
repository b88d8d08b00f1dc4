package record

import (
	"math/bits"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// matcher tests a string against a schema pattern.
type matcher interface {
	MatchString(s string) bool
}

// compilePattern compiles a schema pattern. Small ASCII patterns with only
// text anchors (all the record schema uses) run on a bitmask NFA built
// from the same compiled program regexp uses, several times faster on
// these short values; anything else uses regexp itself.
func compilePattern(pattern string) (matcher, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if m := newMaskNFA(pattern); m != nil {
		return m, nil
	}
	return re, nil
}

// maskNFA simulates a program of at most 64 instructions with one bit per
// instruction.
type maskNFA struct {
	start   int
	match   uint64        // the match instruction
	accepts [128]uint64   // instructions that consume each ASCII byte
	out     [64]uint64    // successor of each consuming instruction
	closure [64][4]uint64 // epsilon closure per instruction, per (at begin, at end)
	// anchored: the pattern can only start at the beginning of the text,
	// so the start state need not be re-entered at later positions.
	anchored bool
}

func newMaskNFA(pattern string) *maskNFA {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil || len(prog.Inst) > 64 {
		return nil
	}
	m := &maskNFA{start: prog.Start}
	for pc, inst := range prog.Inst {
		switch inst.Op {
		case syntax.InstRune, syntax.InstRune1:
			if inst.Op == syntax.InstRune && syntax.Flags(inst.Arg)&syntax.FoldCase != 0 {
				return nil
			}
			for c := rune(0); c < 128; c++ {
				if inst.MatchRune(c) {
					m.accepts[c] |= 1 << pc
				}
			}
			for _, r := range inst.Rune {
				if r >= 128 {
					return nil
				}
			}
			m.out[pc] = 1 << inst.Out
		case syntax.InstMatch:
			m.match |= 1 << pc
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(inst.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
				return nil
			}
		case syntax.InstAlt, syntax.InstAltMatch, syntax.InstCapture, syntax.InstNop, syntax.InstFail:
		default:
			return nil // any-rune instructions: leave to regexp
		}
	}
	var consumers uint64
	for pc := range prog.Inst {
		for flags := 0; flags < 4; flags++ {
			m.closure[pc][flags] = epsilon(prog, pc, flags&1 != 0, flags&2 != 0)
		}
		if m.out[pc] != 0 {
			consumers |= 1 << pc
		}
	}
	later := m.closure[m.start][0] | m.closure[m.start][2]
	m.anchored = later&(consumers|m.match) == 0
	return m
}

// epsilon returns the instructions reachable from pc without consuming.
func epsilon(prog *syntax.Prog, pc int, atBegin, atEnd bool) uint64 {
	var set uint64
	stack := []int{pc}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if set&(1<<p) != 0 {
			continue
		}
		set |= 1 << p
		inst := prog.Inst[p]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, int(inst.Out), int(inst.Arg))
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, int(inst.Out))
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(inst.Arg)
			if (op&syntax.EmptyBeginText == 0 || atBegin) && (op&syntax.EmptyEndText == 0 || atEnd) {
				stack = append(stack, int(inst.Out))
			}
		}
	}
	return set
}

func (m *maskNFA) close(set uint64, atBegin, atEnd bool) uint64 {
	flags := 0
	if atBegin {
		flags |= 1
	}
	if atEnd {
		flags |= 2
	}
	var out uint64
	for s := set; s != 0; s &= s - 1 {
		out |= m.closure[bits.TrailingZeros64(s)][flags]
	}
	return out
}

// MatchString reports whether the pattern matches anywhere in s, as
// regexp.MatchString does.
func (m *maskNFA) MatchString(s string) bool {
	cur := m.close(1<<m.start, true, len(s) == 0)
	for i := 0; i < len(s); i++ {
		if cur&m.match != 0 {
			return true
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			// Non-ASCII never matches these patterns' characters; skip
			// the whole rune and restart, as an unanchored search would.
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size - 1
			cur = 0
		} else {
			var next uint64
			for t := cur & m.accepts[c]; t != 0; t &= t - 1 {
				next |= m.out[bits.TrailingZeros64(t)]
			}
			cur = next
		}
		if !m.anchored {
			cur |= 1 << m.start // a match may also start here
		}
		if cur == 0 {
			return false
		}
		cur = m.close(cur, false, i+1 == len(s))
	}
	return cur&m.match != 0
}
