package httpsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
	"gopkg.in/yaml.v3"
)

// A Shape turns the hub's record (one JSON object, keys as in the record
// schema) into the JSON body the receiver wants. It is written in the hub
// file as the JSON to send, with operators where record values go:
//
//	payload:
//	  header:
//	    vpd: "123"                   # constants: strings, numbers, true/false, null
//	    sendingSystem: ${SYSTEM_ID}  # ${ENV} in a string constant
//	  jobPlan:
//	    assignmentNumber: {$field: assignment_number}
//	    effectiveDate: {$field: effective_date}
//	    onCallBand: {$field: on_call_band_wales, $if_null: omit}
//	  record: {$record: true}        # the whole record, as the hub makes it
//
// Operators are one-key mappings whose key starts with "$": $field (a
// record field, its value as the record holds it: numbers stay exact
// numbers), $record (the whole record), and $if_null beside $field
// ("omit" leaves the member out when the value is null; "null", the
// default, sends null). A key that is to start with "$" is written with
// "$$". Mappings become objects in the order written, lists arrays.
//
// A Shape is compiled once (CompileShape) and applied to each record
// (Apply); it is safe for concurrent use.
type Shape struct {
	root *shapeNode
}

type shapeKind uint8

const (
	shapeConst  shapeKind = iota // JSON written as is
	shapeObject                  // members in order
	shapeArray                   // elements in order
	shapeField                   // a record field's value
	shapeRecord                  // the whole record
)

type shapeNode struct {
	kind       shapeKind
	json       []byte // shapeConst: the JSON
	field      string // shapeField
	omitIfNull bool   // shapeField as an object member
	members    []shapeMember
	elems      []*shapeNode
	line, col  int
}

type shapeMember struct {
	key   []byte // the key, JSON-encoded, with its colon
	value *shapeNode
}

// ShapeError is a problem in a payload shape, at its position in the hub
// file.
type ShapeError struct {
	Line, Col int
	Msg       string
}

func (e ShapeError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// ShapeErrors are every problem found in a payload shape.
type ShapeErrors []ShapeError

func (es ShapeErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Operator keys of a shape.
const (
	opField  = "$field"
	opRecord = "$record"
	opIfNull = "$if_null"
)

// JSON's number grammar: YAML also reads 0x1F, 0o17, 1_000, +1 and .inf
// as numbers, which JSON has no way to write.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// CompileShape compiles the payload shape n, a YAML mapping. resolve, if
// not nil, resolves ${ENV} references in string constants. Every problem
// is returned, as ShapeErrors.
func CompileShape(n *yaml.Node, resolve func(string) (string, error)) (*Shape, error) {
	c := &shapeCompiler{resolve: resolve}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		c.addf(n, "payload must be a mapping: the JSON object sent for each record")
		return nil, c.errs
	}
	root := c.node(n, false)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return &Shape{root: root}, nil
}

type shapeCompiler struct {
	resolve func(string) (string, error)
	errs    ShapeErrors
	depth   int
}

func (c *shapeCompiler) addf(n *yaml.Node, format string, args ...any) {
	c.errs = append(c.errs, ShapeError{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// maxShapeDepth bounds nesting (and the compiler's recursion).
const maxShapeDepth = 32

// node compiles n; member says whether n is the value of an object
// member (where $if_null: omit can leave it out).
func (c *shapeCompiler) node(n *yaml.Node, member bool) *shapeNode {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxShapeDepth {
		c.addf(n, "payload is nested more than %d deep", maxShapeDepth)
		return nil
	}
	out := &shapeNode{line: n.Line, col: n.Column}
	switch n.Kind {
	case yaml.ScalarNode:
		out.kind = shapeConst
		out.json = c.constant(n)
	case yaml.SequenceNode:
		out.kind = shapeArray
		for _, e := range n.Content {
			out.elems = append(out.elems, c.node(e, false))
		}
	case yaml.MappingNode:
		if isOperator(n) {
			return c.operator(n, member)
		}
		out.kind = shapeObject
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				c.addf(k, "a payload key must be a plain name")
				continue
			}
			key := k.Value
			if strings.HasPrefix(key, "$$") {
				key = key[1:] // isOperator took any other key starting with $
			}
			if seen[key] {
				c.addf(k, "payload key %q given twice", key)
				continue
			}
			seen[key] = true
			kj, _ := json.Marshal(key)
			out.members = append(out.members, shapeMember{key: append(kj, ':'), value: c.node(v, true)})
		}
	default:
		c.addf(n, "unexpected YAML here")
	}
	return out
}

// isOperator reports whether mapping n holds operators: any key starting
// with a single "$".
func isOperator(n *yaml.Node) bool {
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if strings.HasPrefix(k, "$") && !strings.HasPrefix(k, "$$") {
			return true
		}
	}
	return false
}

func (c *shapeCompiler) operator(n *yaml.Node, member bool) *shapeNode {
	out := &shapeNode{line: n.Line, col: n.Column}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !strings.HasPrefix(k, "$") || strings.HasPrefix(k, "$$") {
			for j := 0; j < len(n.Content); j += 2 {
				if op := n.Content[j]; strings.HasPrefix(op.Value, "$") && !strings.HasPrefix(op.Value, "$$") {
					c.addf(op, "%q beside other keys: an operator ($field, $record) is a mapping of its own; write a key that starts with $ as $$", op.Value)
					return out
				}
			}
		}
	}
	var field, record, ifNull *yaml.Node
	unknown := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var slot **yaml.Node
		switch k.Value {
		case opField:
			slot = &field
		case opRecord:
			slot = &record
		case opIfNull:
			slot = &ifNull
		default:
			c.addf(k, "unknown payload operator %q: want $field (with $if_null) or $record, each a mapping of its own", k.Value)
			unknown = true
			continue
		}
		if *slot != nil {
			c.addf(k, "%s given twice", k.Value)
			continue
		}
		*slot = v
	}
	switch {
	case field != nil && record != nil:
		c.addf(n, "give $field or $record, not both")
	case field != nil:
		out.kind = shapeField
		if field.Kind != yaml.ScalarNode || field.Tag != "!!str" || field.Value == "" {
			c.addf(field, "$field takes the name of a record field, such as assignment_number")
		}
		out.field = field.Value
	case record != nil:
		out.kind = shapeRecord
		if record.Kind != yaml.ScalarNode || record.Tag != "!!bool" || record.Value != "true" {
			c.addf(record, "write the whole record as {$record: true}")
		}
	case !unknown:
		c.addf(n, "$if_null goes beside $field")
		return out
	}
	if ifNull != nil {
		switch {
		case out.kind != shapeField:
			if !unknown {
				c.addf(ifNull, "$if_null goes beside $field")
			}
		case ifNull.Kind != yaml.ScalarNode || (ifNull.Value != "omit" && ifNull.Value != "null"):
			c.addf(ifNull, "$if_null: want omit or null")
		case ifNull.Value == "omit" && !member:
			c.addf(ifNull, "$if_null: omit leaves out an object member; here there is none to leave out")
		default:
			out.omitIfNull = ifNull.Value == "omit"
		}
	}
	return out
}

// constant encodes a scalar as JSON, by its YAML type.
func (c *shapeCompiler) constant(n *yaml.Node) []byte {
	switch n.Tag {
	case "!!null":
		return []byte("null")
	case "!!bool":
		if v := strings.ToLower(n.Value); v == "true" || v == "false" {
			return []byte(v)
		}
	case "!!int", "!!float":
		if jsonNumber.MatchString(n.Value) {
			return []byte(n.Value)
		}
		c.addf(n, "%q: write a number as JSON does (digits, a point, an exponent), or quote it to send a string", n.Value)
		return nil
	case "!!str", "!!timestamp":
		s := n.Value
		if c.resolve != nil && n.Tag == "!!str" {
			var err error
			if s, err = c.resolve(s); err != nil {
				c.addf(n, "%v", err)
			}
		}
		b, _ := json.Marshal(s)
		return b
	}
	c.addf(n, "%q (%s) cannot be sent as JSON", n.Value, n.Tag)
	return nil
}

// Fields returns the record fields the shape names with $field, and
// whether it sends the whole record.
func (s *Shape) Fields() (fields []string, record bool) {
	var walk func(*shapeNode)
	walk = func(n *shapeNode) {
		switch n.kind {
		case shapeField:
			if !slices.Contains(fields, n.field) {
				fields = append(fields, n.field)
			}
		case shapeRecord:
			record = true
		case shapeObject:
			for _, m := range n.members {
				walk(m.value)
			}
		case shapeArray:
			for _, e := range n.elems {
				walk(e)
			}
		}
	}
	walk(s.root)
	return fields, record
}

// CheckFields reports every $field that names none of known (the record's
// fields), and a shape that would send no assignment number or no
// effective date: the receiver could not tell whose plan it is.
func (s *Shape) CheckFields(known []string) ShapeErrors {
	var errs ShapeErrors
	var walk func(*shapeNode)
	sends := map[string]bool{}
	walk = func(n *shapeNode) {
		switch n.kind {
		case shapeField:
			if !slices.Contains(known, n.field) {
				errs = append(errs, ShapeError{Line: n.line, Col: n.col, Msg: fmt.Sprintf("$field %q is not a field of the record%s", n.field, closest(n.field, known))})
			}
			sends[n.field] = true
		case shapeRecord:
			sends["assignment_number"], sends["effective_date"] = true, true
		case shapeObject:
			for _, m := range n.members {
				walk(m.value)
			}
		case shapeArray:
			for _, e := range n.elems {
				walk(e)
			}
		}
	}
	walk(s.root)
	for _, must := range []string{"assignment_number", "effective_date"} {
		if !sends[must] {
			errs = append(errs, ShapeError{Line: s.root.line, Col: s.root.col,
				Msg: fmt.Sprintf("payload sends no %s: add {$field: %s} (or {$record: true}) where the receiver expects it", must, must)})
		}
	}
	return errs
}

// closest suggests the known name nearest to name, if one is close.
func closest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := levenshtein.ComputeDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Apply builds the body for one record (a JSON object). A field the shape
// names that the record lacks is an error: the shape and the record
// disagree, and sending null in its place would be a guess.
func (s *Shape) Apply(record []byte) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(record, &fields); err != nil {
		return nil, fmt.Errorf("payload shape: the record is not a JSON object: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(len(record) + 256)
	if err := s.root.write(&buf, record, fields); err != nil {
		return nil, fmt.Errorf("payload shape: %w", err)
	}
	return buf.Bytes(), nil
}

func (n *shapeNode) write(buf *bytes.Buffer, record []byte, fields map[string]json.RawMessage) error {
	switch n.kind {
	case shapeConst:
		buf.Write(n.json)
	case shapeRecord:
		buf.Write(bytes.TrimSpace(record))
	case shapeField:
		v, ok := fields[n.field]
		if !ok {
			return fmt.Errorf("the record has no field %q", n.field)
		}
		buf.Write(v)
	case shapeArray:
		buf.WriteByte('[')
		for i, e := range n.elems {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := e.write(buf, record, fields); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case shapeObject:
		buf.WriteByte('{')
		first := true
		for _, m := range n.members {
			if m.value.kind == shapeField && m.value.omitIfNull {
				v, ok := fields[m.value.field]
				if ok && string(v) == "null" {
					continue
				}
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.Write(m.key)
			if err := m.value.write(buf, record, fields); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	}
	return nil
}
