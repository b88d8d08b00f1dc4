package lint

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Doc is a small YAML configuration (a staff-extract or payroll
// configuration) decoded into a struct, with the positions of what was
// written, so that the checks made after decoding report each problem
// where its setting is, or would be, written.
type Doc struct {
	file     string
	root     *yaml.Node // the top mapping; nil for an empty file
	problems Problems
}

// Decode parses data and decodes it into v, a pointer to a struct whose
// fields carry yaml tags. A key that v has no field for (reported with
// the known key nearest to it, so that a typo does not silently turn a
// setting off) and a value of the wrong type are problems of the returned
// Doc, at their positions; the caller adds its own with Addf and ends with
// Err. A file that is not YAML, or not a mapping of keys to values, is an
// error (Problems) at once.
func Decode(file string, data []byte, v any) (*Doc, error) {
	d := &Doc{file: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{YAMLError(file, err)}
	}
	if len(root.Content) == 0 {
		return d, nil // empty: every setting takes its default
	}
	d.root = root.Content[0]
	if d.root.Kind != yaml.MappingNode {
		return nil, Problems{At(file, d.root, "want a mapping of keys to values")}
	}
	d.checkKeys(d.root, reflect.TypeOf(v), "")
	if err := d.root.Decode(v); err != nil {
		d.problems = append(d.problems, DecodeErrors(file, &root, err)...)
	}
	return d, nil
}

// Addf adds a problem at the setting path names (dotted keys, such as
// "columns.assignment_number"): at its key, or when it is not written at
// the nearest enclosing key that is; "" is the start of the file.
func (d *Doc) Addf(path, format string, args ...any) {
	p := Problem{File: d.file, Line: 1, Col: 1, Message: fmt.Sprintf(format, args...)}
	if at := d.key(path); at != nil {
		p.Line, p.Col = at.Line, at.Column
	}
	d.problems = append(d.problems, p)
}

// Replaced reports a top-level key that an older version of the file
// took, and that a newer setting replaced, with what replaced it (hint
// names the new setting first) instead
// of as an unknown key: its old meaning must not be silently dropped.
func (d *Doc) Replaced(key, hint string) {
	if d.root == nil {
		return
	}
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		k := d.root.Content[i]
		if k.Value != key {
			continue
		}
		msg := fmt.Sprintf("%s was replaced by %s", key, hint)
		for j, p := range d.problems {
			if p.Line == k.Line && p.Col == k.Column {
				d.problems[j].Message = msg
				return
			}
		}
		d.problems = append(d.problems, At(d.file, k, "%s", msg))
	}
}

// Err returns every problem found, in file order, or nil.
func (d *Doc) Err() error {
	if len(d.problems) == 0 {
		return nil
	}
	d.problems.Sort(d.file)
	return d.problems
}

// key returns the key node of the deepest setting along path that is
// written (nil when none is).
func (d *Doc) key(path string) *yaml.Node {
	n, at := d.root, d.root
	if path == "" || n == nil {
		return at
	}
	for _, k := range strings.Split(path, ".") {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return at
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				at, n, found = n.Content[i], n.Content[i+1], true
				break
			}
		}
		if !found {
			return at
		}
	}
	return at
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeType            = reflect.TypeFor[yaml.Node]()
)

// checkKeys reports the keys of n that type t has no field for, at the
// key, naming where (the dotted path of n) and the nearest known key.
func (d *Doc) checkKeys(n *yaml.Node, t reflect.Type, where string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return // read by its own code
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // a type error, reported by Decode
		}
		fields := yamlFields(t)
		known := make([]string, 0, len(fields))
		for k := range fields {
			known = append(known, k)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				in := ""
				if where != "" {
					in = " in " + where
				}
				d.problems = append(d.problems, At(d.file, k, "unknown key %q%s%s", k.Value, in, Suggest(k.Value, known)))
				continue
			}
			d.checkKeys(v, ft, join(where, k.Value))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.checkKeys(n.Content[i+1], t.Elem(), join(where, n.Content[i].Value))
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			d.checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", where, i))
		}
	}
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

// yamlFields maps each key yaml.v3 decodes into a struct of type t to
// the field's type, following ",inline" fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}
