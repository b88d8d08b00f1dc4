package record

import (
	"unicode/utf8"
)

// AppendJSON appends p as one JSON object, keys in schema order, without
// aux fields: the records file's form. The same plan always gives the
// same bytes.
func (p *JobPlan) AppendJSON(b []byte) []byte {
	return p.appendObject(b, schemaOrder, &htmlSafe, false)
}

// schemaOrder lists the fields AppendJSON writes, in schema order.
var schemaOrder = func() []ID {
	var ids []ID
	for i := range Fields {
		if !Fields[i].Aux {
			ids = append(ids, ID(i))
		}
	}
	return ids
}()

// appendObject appends the fields ids of p as one JSON object, strings
// written by appendString(safe, shortEscapes).
func (p *JobPlan) appendObject(b []byte, ids []ID, safe *[utf8.RuneSelf]bool, shortEscapes bool) []byte {
	b = append(b, '{')
	for n, id := range ids {
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
			b = appendString(b, p.text[id], safe, shortEscapes)
		case Decimal, Band:
			b = p.num[id].Append(b)
		}
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
// Control characters and HTML-significant bytes are escaped, so a record
// is safe to embed in an HTML report.
func AppendString(b []byte, s string) []byte { return appendString(b, s, &htmlSafe, false) }

// htmlSafe and jsonSafe mark the ASCII bytes written as they are, in
// AppendJSON and in the canonical form (which leaves <, > and & alone).
var htmlSafe, jsonSafe = func() (html, plain [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
		html[c] = plain[c] && c != '<' && c != '>' && c != '&'
	}
	return html, plain
}()

// appendString appends s as a JSON string, the bytes safe[c] as they are;
// shortEscapes writes \b and \f as encoding/json does rather than as
// \u0008 and \u000c.
func appendString(b []byte, s string, safe *[utf8.RuneSelf]bool, shortEscapes bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && shortEscapes:
				b = append(b, '\\', 'b')
			case c == '\f' && shortEscapes:
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
