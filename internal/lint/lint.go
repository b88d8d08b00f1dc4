// Package lint reports the mistakes of the project's configuration files
// (mapping files, hub files, staff-extract and payroll configurations)
// one way: every mistake at once, each a Problem at file:line:col. It is
// the one place that turns yaml.v3's positions, some of which count lines
// from 0, into the 1-based lines and columns an editor shows.
package lint

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"gopkg.in/yaml.v3"
)

// Problem is one mistake in a file. Line and Col are 1-based; Line 0
// means the position is not known (or there is no file: a setting given
// on the command line).
type Problem struct {
	File      string
	Line, Col int
	Message   string
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Line == 0:
		return p.File + ": " + p.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
}

// Problems is every mistake found; it is an error, one line a problem.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort puts the problems of file first and the others after, by file;
// each file's in file order.
func (ps Problems) Sort(first string) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if ao, bo := a.File != first, b.File != first; ao != bo {
			if ao {
				return 1
			}
			return -1
		}
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// At is a problem at the position of node n; with n nil, at no position.
func At(file string, n *yaml.Node, format string, args ...any) Problem {
	p := Problem{File: file, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	return p
}

// yamlLine is how yaml.v3 starts a message with its line.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// parserErrors are the messages of yaml.v3's parser (as opposed to its
// scanner), whose "line N" counts from 0: N is the 0-based line of the
// construct that is not closed (the list, mapping or block that starts
// there), which is the 1-based line N+1.
var parserErrors = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// YAMLError places an error of yaml.Unmarshal (a syntax error) at its
// 1-based line, column 1: yaml.v3 gives no column. An error without a line
// is placed at 1:1.
func YAMLError(file string, err error) Problem {
	p := Problem{File: file, Line: 1, Col: 1, Message: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLine.FindStringSubmatch(p.Message); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = p.Message[len(m[0]):]
		if parserErrors[p.Message] {
			p.Line++
		}
	}
	return p
}

// DecodeErrors splits the error of decoding YAML nodes into Go values (a
// *yaml.TypeError holds one message a value that did not fit, each with
// its 1-based line) into Problems. The column is that of the first node
// written on the line in root, the document decoded: the setting's name.
// Any other error is one problem at 1:1.
func DecodeErrors(file string, root *yaml.Node, err error) Problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Problems{{File: file, Line: 1, Col: 1, Message: err.Error()}}
	}
	ps := make(Problems, 0, len(te.Errors))
	for _, e := range te.Errors {
		p := Problem{File: file, Line: 1, Col: 1, Message: e}
		if m := yamlLine.FindStringSubmatch(e); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = e[len(m[0]):]
			p.Col = firstColumn(root, p.Line)
		}
		ps = append(ps, p)
	}
	return ps
}

// firstColumn returns the column of the first node written on line, or 1.
func firstColumn(root *yaml.Node, line int) int {
	var walk func(n *yaml.Node) (int, bool)
	walk = func(n *yaml.Node) (int, bool) {
		if n.Kind != yaml.DocumentNode && n.Line == line {
			return n.Column, true
		}
		for _, c := range n.Content {
			if col, ok := walk(c); ok {
				return col, true
			}
		}
		return 0, false
	}
	if root != nil {
		if col, ok := walk(root); ok {
			return col
		}
	}
	return 1
}

// Suggest returns ` (did you mean "k"?)` for the known word k nearest to
// word, or "" when none is within two edits.
func Suggest(word string, known []string) string {
	best, bestDist := "", 3
	for _, k := range slices.Sorted(slices.Values(known)) {
		if d := levenshtein.ComputeDistance(word, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
