package mapping

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/xeipuuv/gojsonschema"
	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// SchemaJSON is the JSON Schema of the mapping-file format. The list of
// allowed field names is added from the record's field table at load time.
//
//go:embed mapping.schema.json
var SchemaJSON []byte

var formatSchema = func() *gojsonschema.Schema {
	var doc map[string]any
	if err := json.Unmarshal(SchemaJSON, &doc); err != nil {
		panic("mapping: embedded schema: " + err.Error())
	}
	fields := doc["properties"].(map[string]any)["fields"].(map[string]any)
	fields["propertyNames"] = map[string]any{"enum": record.Keys()}
	s, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(doc))
	if err != nil {
		panic("mapping: embedded schema: " + err.Error())
	}
	return s
}()

// Problem is one mistake in a mapping file, at file:line:col (every
// configuration file reports its problems this way: internal/lint).
type Problem = lint.Problem

// Problems is every mistake found in a mapping file; it is an error.
type Problems = lint.Problems

// LoadFile reads, checks and compiles a mapping file. A mapping with any
// problem returns Problems listing all of them.
func LoadFile(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return Load(path, data)
}

// Load checks and compiles a mapping held in memory; name is used in
// problem positions.
func Load(name string, data []byte) (*Mapping, error) {
	doc := &document{file: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{lint.YAMLError(name, err)}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: name, Line: 1, Col: 1, Message: "a mapping file must be a YAML (or JSON) object"}}
	}
	doc.root = root.Content[0]
	value, err := nodeValue(doc.root)
	if err != nil {
		if ne, ok := err.(*nodeError); ok {
			doc.add(ne.node, "%s", ne.msg)
			return nil, doc.problems
		}
		return nil, Problems{{File: name, Line: 1, Col: 1, Message: err.Error()}}
	}
	res, err := formatSchema.Validate(gojsonschema.NewGoLoader(value))
	if err != nil {
		return nil, Problems{{File: name, Line: 1, Col: 1, Message: err.Error()}}
	}
	for _, e := range res.Errors() {
		doc.schemaProblem(e)
	}
	// Check the meaning too when the shape is wrong, so that one run lists
	// every problem; but not when the spec cannot be read or its format is
	// unknown, as every later check would only repeat that.
	shapeOK := len(doc.problems) == 0
	var spec Spec
	if err := doc.root.Decode(&spec); err != nil {
		doc.decodeProblems(err, shapeOK)
		doc.sort()
		return nil, doc.problems
	}
	if !shapeOK && !slices.Contains([]string{"csv", "json", "jsonl", "xlsx"}, spec.Format) {
		doc.sort()
		return nil, doc.problems
	}
	sum := sha256.Sum256(data)
	m := compile(doc, &spec)
	if len(doc.problems) > 0 {
		doc.sort()
		return nil, doc.problems
	}
	m.SHA256 = hex.EncodeToString(sum[:])
	return m, nil
}

// document tracks positions while a mapping is checked.
type document struct {
	file     string
	root     *yaml.Node
	problems Problems
}

func (d *document) add(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Col: col, Message: fmt.Sprintf(format, args...)})
}

func (d *document) sort() { d.problems.Sort(d.file) }

// decodeProblems reports the errors of decoding the spec, each at its line.
// When the schema check found problems, only repeated keys are reported: the
// schema does not see them, and other decode errors repeat its findings.
func (d *document) decodeProblems(err error, all bool) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		d.add(d.root, "%v", err)
		return
	}
	for _, p := range lint.DecodeErrors(d.file, d.root, err) {
		if all || strings.Contains(p.Message, "already defined") {
			d.problems = append(d.problems, p)
		}
	}
}

// schemaProblem places a JSON Schema error at the YAML node it is about.
func (d *document) schemaProblem(e gojsonschema.ResultError) {
	path := strings.Split(e.Context().String(), ".")[1:] // drop "(root)"
	msg := e.Description()
	if e.Type() == "additional_property_not_allowed" {
		if prop, ok := e.Details()["property"].(string); ok {
			path = append(path, prop)
			msg = fmt.Sprintf("unknown setting %q", prop)
			if len(path) == 1 {
				msg += " (allowed: " + strings.Join(topLevelKeys(), ", ") + ")"
			}
		}
	}
	if e.Type() == "condition_then" || e.Type() == "condition_else" {
		// "Must validate then as if was valid": the branch's own errors,
		// reported beside it, say what is wrong.
		return
	}
	if e.Type() == "enum" && len(path) == 1 && path[0] == "fields" {
		// The propertyNames check of fields: the same name is reported,
		// with its position, as invalid_property_name.
		return
	}
	if e.Type() == "invalid_property_name" {
		if prop, ok := e.Details()["property"].(string); ok && len(path) == 1 {
			path = append(path, prop)
		}
		msg = fmt.Sprintf("%q is not a field of the ESR job-plan record (see `jobplan-hub schema`)", path[len(path)-1])
	}
	where := strings.Join(path, ".")
	if where != "" {
		msg = where + ": " + msg
	}
	d.add(d.node(path...), "%s", msg)
}

// node returns the deepest node along path: the key node of a mapping entry,
// so positions point at the setting's name.
func (d *document) node(path ...string) *yaml.Node {
	n, at := d.root, d.root
	for i := 0; i < len(path); i++ {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			// Keys may contain dots, which the schema path splits: try
			// the longest join first.
			for j := len(path); j > i && !found; j-- {
				key := strings.Join(path[i:j], ".")
				for k := 0; k+1 < len(n.Content); k += 2 {
					if n.Content[k].Value == key {
						at, n = n.Content[k], n.Content[k+1]
						i = j - 1
						found = true
						break
					}
				}
			}
			if !found {
				return at
			}
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(path[i])
			if err != nil || idx >= len(n.Content) {
				return at
			}
			n = n.Content[idx]
			at = n
		default:
			return at
		}
	}
	return at
}

// value returns the value node along path (nil when absent).
func (d *document) value(path ...string) *yaml.Node {
	n := d.root
	for _, p := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for k := 0; k+1 < len(n.Content); k += 2 {
			if n.Content[k].Value == p {
				next = n.Content[k+1]
			}
		}
		n = next
	}
	return n
}

// keysInOrder returns the keys of the mapping at path in file order.
func (d *document) keysInOrder(path ...string) []string {
	n := d.value(path...)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var keys []string
	for k := 0; k+1 < len(n.Content); k += 2 {
		keys = append(keys, n.Content[k].Value)
	}
	return keys
}

// maxExpandedNodes bounds the values a mapping may expand to through
// aliases, so a "billion laughs" file is a problem, not an outage.
const maxExpandedNodes = 100_000

// nodeError is a problem found while reading the YAML tree, at its node.
type nodeError struct {
	node *yaml.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

// nodeValue converts YAML to JSON-like Go values for schema validation.
// Aliases are expanded; one that contains itself is an error.
func nodeValue(n *yaml.Node) (any, error) {
	x := &expander{active: map[*yaml.Node]bool{}, budget: maxExpandedNodes}
	return x.value(n)
}

type expander struct {
	active map[*yaml.Node]bool // anchors being expanded
	outer  *yaml.Node          // the outermost alias being expanded
	budget int
}

func (x *expander) value(n *yaml.Node) (any, error) {
	if x.budget--; x.budget < 0 {
		at := n
		if x.outer != nil {
			at = x.outer
		}
		return nil, &nodeError{at, fmt.Sprintf("aliases expand to more than %d values", maxExpandedNodes)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		return x.value(n.Content[0])
	case yaml.AliasNode:
		if x.active[n.Alias] {
			return nil, &nodeError{n, fmt.Sprintf("alias *%s is inside the value it names", n.Value)}
		}
		x.active[n.Alias] = true
		defer delete(x.active, n.Alias)
		if x.outer == nil {
			x.outer = n
			defer func() { x.outer = nil }()
		}
		return x.value(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for k := 0; k+1 < len(n.Content); k += 2 {
			v, err := x.value(n.Content[k+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[k].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := x.value(c)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, err
			}
			return b, nil
		case "!!int", "!!float":
			return json.Number(n.Value), nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// topLevelKeys are the settings of a mapping file, in Spec's order: what
// an unknown top-level setting is told it may be instead.
func topLevelKeys() []string {
	t := reflect.TypeFor[Spec]()
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}
