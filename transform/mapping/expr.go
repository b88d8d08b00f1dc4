package mapping

import (
	"slices"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Expressions (github.com/expr-lang/expr) are compiled once per mapping and
// type-checked against what their place in the mapping may read:
//
//   - a field's expression: the record's fields, and the row through
//     column("Header") (CSV) or path("a.b") (JSON);
//   - an activity's parts (category, amount, occurrences): the row or the
//     activity, through column() and path(), but not the record's fields;
//   - a filter: the row, through column() and path().
//
// Each may use number(text), which reads a number as the mapping's numbers
// settings say (nil when blank, an error when it is not a number), and the
// units hours_per_pa, premium_hours_per_pa and working_weeks.

type exprScope uint8

const (
	scopeField exprScope = iota
	scopeActivity
	scopeFilter
)

// exprUnits are the units settings as expressions see them.
type exprUnits struct{ hoursPerPA, premiumHoursPerPA, workingWeeks float64 }

var unitNames = [3]string{"hours_per_pa", "premium_hours_per_pa", "working_weeks"}

// exprEnvTemplate declares the names an expression in scope may use: for
// fields every record field, with its type (nullable ones as any, since
// they may be nil), and for all the row functions and units.
func exprEnvTemplate(scope exprScope) map[string]any {
	env := make(map[string]any, record.NumFields+6)
	if scope == scopeField {
		for _, f := range record.Fields {
			switch {
			case f.Nullable:
				env[f.Key] = nil
			case f.Kind == record.Decimal || f.Kind == record.Band:
				env[f.Key] = float64(0)
			default:
				env[f.Key] = ""
			}
		}
	}
	env["column"] = func(string) string { return "" }
	env["path"] = func(string) string { return "" }
	env["number"] = func(string) (any, error) { return nil, nil }
	for _, u := range unitNames {
		env[u] = float64(0)
	}
	return env
}

// exprInfo is what an expression reads.
type exprInfo struct {
	fields   []string // record fields
	reads    []string // column() and path() names given as literals
	readsRow bool     // calls column() or path()
	units    [3]bool  // uses hours_per_pa, premium_hours_per_pa, working_weeks
}

type exprVisitor struct{ info exprInfo }

func (v *exprVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if _, ok := record.Lookup(n.Value); ok && !slices.Contains(v.info.fields, n.Value) {
			v.info.fields = append(v.info.fields, n.Value)
		}
		for i, u := range unitNames {
			v.info.units[i] = v.info.units[i] || n.Value == u
		}
	case *ast.CallNode:
		callee, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || (callee.Value != "column" && callee.Value != "path") {
			return
		}
		v.info.readsRow = true
		if len(n.Arguments) == 1 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok && !slices.Contains(v.info.reads, s.Value) {
				v.info.reads = append(v.info.reads, s.Value)
			}
		}
	}
}

func compileExpr(code string, scope exprScope, opts ...expr.Option) (*vm.Program, exprInfo, error) {
	prog, err := expr.Compile(code, append([]expr.Option{expr.Env(exprEnvTemplate(scope))}, opts...)...)
	if err != nil {
		return nil, exprInfo{}, err
	}
	v := &exprVisitor{}
	root := prog.Node()
	ast.Walk(&root, v)
	return prog, v.info, nil
}
