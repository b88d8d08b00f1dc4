package reconcile

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
)

// decodePlanRecord reads one line of jobplans.jsonl into x exactly as
// json.Unmarshal would. Reading a million records with json.Unmarshal was
// half of reconcile's time, so the flat objects convert writes are read by
// a fast path, which hands any line it is not sure of (escapes, nesting,
// keys that differ from a field's only in case, anything malformed) to
// json.Unmarshal. FuzzPlanRecord holds the two to the same result.
func decodePlanRecord(b []byte, v *planView) error {
	if fastPlanRecord(b, v) {
		return nil
	}
	return slowPlanRecord(b, v)
}

// slowPlanRecord reads a record with json.Unmarshal.
func slowPlanRecord(b []byte, v *planView) error {
	var x planRecord
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*v = planView{emp: []byte(x.Emp), asg: []byte(x.Asg), contract: []byte(x.Contract), date: []byte(x.Date)}
	for _, d := range []struct {
		src *decimal.Dec
		dst *optDec
	}{{x.Total, &v.total}, {x.APA, &v.apa}, {x.Pct, &v.pct}, {x.Band, &v.band}} {
		if d.src != nil {
			*d.dst = optDec{*d.src, true}
		}
	}
	return nil
}

// planView is a record as read: its texts point into the line read.
type planView struct {
	emp, asg, contract, date []byte
	total, apa, pct, band    optDec
}

// optDec is a decimal that may be absent (null).
type optDec struct {
	v  decimal.Dec
	ok bool
}

func (o optDec) ptr() *decimal.Dec {
	if !o.ok {
		return nil
	}
	return &o.v
}

// planKeys are the record keys planRecord reads.
var planKeys = []string{"employee_number", "assignment_number", "contract_type", "effective_date",
	"total_contracted_pas", "apa_eps", "on_call_supplement_pct", "on_call_band_wales"}

// fastPlanRecord decodes a flat JSON object into v, or reports false when
// json.Unmarshal must decide.
func fastPlanRecord(b []byte, x *planView) bool {
	*x = planView{}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, end, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		end, kind, ok := plainValue(b, i)
		if !ok || !x.set(key, kind, b[i:end]) {
			return false
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

type valueKind uint8

const (
	kindString valueKind = iota
	kindNumber
	kindNull
	kindBool
)

// set stores one value, or reports false when json.Unmarshal must decide
// (a value of another type than the field's, which it refuses; a key that
// only folds to a field's; a number the decimal does not take).
func (x *planView) set(key []byte, kind valueKind, val []byte) bool {
	var str *[]byte
	var dec *optDec
	switch string(key) {
	case "employee_number":
		str = &x.emp
	case "assignment_number":
		str = &x.asg
	case "contract_type":
		str = &x.contract
	case "effective_date":
		str = &x.date
	case "total_contracted_pas":
		dec = &x.total
	case "apa_eps":
		dec = &x.apa
	case "on_call_supplement_pct":
		dec = &x.pct
	case "on_call_band_wales":
		dec = &x.band
	default:
		// json.Unmarshal matches keys without regard to case, by Unicode
		// folding rules of its own outside ASCII: such a key is its to read.
		for _, c := range key {
			if c >= utf8.RuneSelf {
				return false
			}
		}
		for _, k := range planKeys {
			if len(key) == len(k) && bytes.EqualFold(key, []byte(k)) {
				return false
			}
		}
		return true // a key reconcile does not read
	}
	switch {
	case kind == kindNull:
		// null leaves a string as it is and sets a pointer to nil.
		if dec != nil {
			*dec = optDec{}
		}
		return true
	case str != nil && kind == kindString:
		*str = val[1 : len(val)-1]
		return true
	case dec != nil && kind == kindNumber:
		var d decimal.Dec
		if d.UnmarshalJSON(val) != nil {
			return false
		}
		*dec = optDec{d, true}
		return true
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] that needs no decoding: no
// escapes, no control characters, valid UTF-8. It returns the text between
// the quotes and the index after the closing quote.
func plainString(b []byte, i int) (text []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			text = b[i+1 : j]
			if !ascii && !utf8.Valid(text) {
				return nil, 0, false // json.Unmarshal replaces bad bytes
			}
			return text, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// plainValue finds the end of a string, number, null, true or false at
// b[i]; ok is false for anything else (objects, arrays, malformed values).
func plainValue(b []byte, i int) (end int, kind valueKind, ok bool) {
	if i >= len(b) {
		return 0, 0, false
	}
	switch c := b[i]; {
	case c == '"':
		_, end, ok := plainString(b, i)
		return end, kindString, ok
	case c == 'n':
		return literal(b, i, "null", kindNull)
	case c == 't':
		return literal(b, i, "true", kindBool)
	case c == 'f':
		return literal(b, i, "false", kindBool)
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := number(b, i)
		return end, kindNumber, ok
	}
	return 0, 0, false
}

func literal(b []byte, i int, word string, kind valueKind) (int, valueKind, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, 0, false
	}
	return i + len(word), kind, true
}

// number checks JSON's number grammar, -?(0|[1-9][0-9]*)(.[0-9]+)?
// ([eE][+-]?[0-9]+)?, and returns its end.
func number(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i, _ = digits(i)
	default:
		return 0, false
	}
	var ok bool
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return 0, false
		}
	}
	return i, true
}
