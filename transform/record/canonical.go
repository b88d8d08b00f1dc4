package record

import (
	"slices"
	"strings"
)

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
	ids := slices.Clone(schemaOrder)
	slices.SortFunc(ids, func(a, b ID) int { return strings.Compare(Fields[a].Key, Fields[b].Key) })
	return ids
}()

// AppendCanonicalJSON appends p in canonical form: the fields AppendJSON
// writes, with the same values, keys in byte order, no space, strings
// escaped as encoding/json escapes them without HTML escaping (invalid
// UTF-8 is U+FFFD, AppendString's replacement, which encoding/json then
// leaves as it is; <, > and & stay as they are; \b and \f have their
// short escapes; U+2028 and U+2029 are escaped).
func (p *JobPlan) AppendCanonicalJSON(b []byte) []byte {
	return p.appendObject(b, canonicalOrder, &jsonSafe, true)
}
