package record

import "slices"

// The canonical form of a record is the one its idempotency key is the
// SHA-256 of, and the one record destinations are sent: the hub's ledger
// (transport/ledger, Canonical) has always made it from AppendJSON's
// output by decoding it and encoding it again with encoding/json, keys
// sorted and HTML characters left alone. AppendCanonicalJSON writes those
// same bytes straight from the plan, so that nothing parses a record back;
// the tests hold the two to each other.

// canonicalOrder lists the fields AppendJSON writes, in the byte order of
// their keys.
var canonicalOrder = func() []ID {
	var ids []ID
	for i := range Fields {
		if !Fields[i].Aux {
			ids = append(ids, ID(i))
		}
	}
	slices.SortFunc(ids, func(a, b ID) int {
		switch ka, kb := Fields[a].Key, Fields[b].Key; {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return ids
}()

// AppendCanonicalJSON appends p in canonical form: the fields AppendJSON
// writes, with the same values, keys in byte order, no space, strings
// escaped as encoding/json escapes them without HTML escaping.
func (p *JobPlan) AppendCanonicalJSON(b []byte) []byte {
	b = append(b, '{')
	for n, id := range canonicalOrder {
		if n > 0 {
			b = append(b, ',')
		}
		f := &Fields[id]
		b = append(b, '"')
		b = append(b, f.Key...)
		b = append(b, '"', ':')
		if !p.present[id] {
			switch {
			case f.Nullable:
				b = append(b, "null"...)
			case f.Kind == Decimal || f.Kind == Band:
				b = append(b, '0')
			default:
				b = append(b, '"', '"')
			}
			continue
		}
		switch f.Kind {
		case Text, Date:
			b = appendCanonicalString(b, p.text[id])
		case Decimal, Band:
			b = p.num[id].Append(b)
		}
	}
	return append(b, '}')
}

// appendCanonicalString appends s as encoding/json writes the string
// AppendString wrote it as: invalid UTF-8 is U+FFFD (AppendString's
// replacement, which encoding/json then leaves as it is), <, > and & stay
// as they are, \b and \f have their short escapes, and U+2028 and U+2029
// are escaped.
func appendCanonicalString(b []byte, s string) []byte { return appendString(b, s, &jsonSafe, true) }
