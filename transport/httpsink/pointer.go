package httpsink

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Pointer is a compiled JSON Pointer (RFC 6901), such as /data/id: the
// place in a response body where the receiver puts its own id for the
// record.
type Pointer struct {
	text   string
	tokens []string
}

// ParsePointer parses a JSON Pointer. It must name a member or an element
// ("/..."): the whole body is not an id.
func ParsePointer(s string) (Pointer, error) {
	if !strings.HasPrefix(s, "/") {
		return Pointer{}, fmt.Errorf("JSON pointer %q: want one starting with /, such as /data/id", s)
	}
	p := Pointer{text: s}
	for _, tok := range strings.Split(s[1:], "/") {
		// "~1" is "/" and "~0" is "~"; any other "~" is an error.
		for i := 0; i < len(tok); i++ {
			if tok[i] == '~' && (i+1 == len(tok) || (tok[i+1] != '0' && tok[i+1] != '1')) {
				return Pointer{}, fmt.Errorf("JSON pointer %q: %q: a ~ must be followed by 0 or 1", s, tok)
			}
		}
		p.tokens = append(p.tokens, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
	}
	return p, nil
}

func (p Pointer) String() string { return p.text }

// errNoID says the body holds no id where the pointer points.
var errNoID = errors.New("no id")

// ID returns the string or number the pointer points at in body, as text.
func (p Pointer) ID(body []byte) (string, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber() // ids are kept as written, never as floats
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("response is not JSON: %w", err)
	}
	for _, tok := range p.tokens {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return "", fmt.Errorf("%w at %s", errNoID, p.text)
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) || (len(tok) > 1 && tok[0] == '0') {
				return "", fmt.Errorf("%w at %s", errNoID, p.text)
			}
			v = x[i]
		default:
			return "", fmt.Errorf("%w at %s", errNoID, p.text)
		}
	}
	switch x := v.(type) {
	case string:
		if x != "" {
			return x, nil
		}
	case json.Number:
		return x.String(), nil
	}
	return "", fmt.Errorf("%w at %s: want a string or a number there", errNoID, p.text)
}
