package record

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
)

// SchemaJSON is the JSON Schema (draft-07) of one record: the published
// contract, printed by `jobplan-hub schema`.
//
//go:embed jobplan.schema.json
var SchemaJSON []byte

// Violation is a record value that breaks its field's schema constraint.
type Violation struct {
	Field   ID
	Rule    string // the x-rule code of the field, e.g. "V1"
	Keyword string // the JSON Schema keyword that failed, e.g. "pattern"
	Message string // plain-English explanation (the field's x-message)
}

// fieldCheck is the compiled form of one property of the schema.
type fieldCheck struct {
	id           ID
	rule, msg    string
	required     bool
	nullable     bool
	pattern      matcher
	enumText     []string
	enumNum      []decimal.Dec
	hasMin       bool
	min          decimal.Dec
	exclusiveMin bool
	hasMax       bool
	max          decimal.Dec
	multipleOf   decimal.Dec
	date         bool
}

// checks are derived from SchemaJSON once, when the package loads.
var checks = mustCompileSchema(SchemaJSON)

type schemaProperty struct {
	Type             any               `json:"type"`
	Pattern          string            `json:"pattern"`
	Enum             []json.RawMessage `json:"enum"`
	Minimum          *decimal.Dec      `json:"minimum"`
	ExclusiveMinimum *decimal.Dec      `json:"exclusiveMinimum"`
	Maximum          *decimal.Dec      `json:"maximum"`
	MultipleOf       *decimal.Dec      `json:"multipleOf"`
	Format           string            `json:"format"`
	Rule             string            `json:"x-rule"`
	Message          string            `json:"x-message"`
}

func mustCompileSchema(doc []byte) []fieldCheck {
	c, err := compileSchema(doc)
	if err != nil {
		panic("record: embedded schema: " + err.Error())
	}
	return c
}

// compileSchema turns the schema's properties into Go checks. It fails if
// the schema and the Fields table disagree, which a test also asserts.
func compileSchema(doc []byte) ([]fieldCheck, error) {
	var s struct {
		Required   []string                  `json:"required"`
		Properties map[string]schemaProperty `json:"properties"`
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, err
	}
	var out []fieldCheck
	for id, f := range Fields {
		p, ok := s.Properties[f.Key]
		if f.Aux {
			if ok {
				return nil, fmt.Errorf("aux field %s must not be in the schema", f.Key)
			}
			continue
		}
		if !ok {
			return nil, fmt.Errorf("field %s missing from schema", f.Key)
		}
		c := fieldCheck{id: ID(id), rule: p.Rule, msg: p.Message, required: slices.Contains(s.Required, f.Key)}
		types := []string{}
		switch t := p.Type.(type) {
		case string:
			types = append(types, t)
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		c.nullable = slices.Contains(types, "null")
		if c.nullable != f.Nullable {
			return nil, fmt.Errorf("field %s: schema nullable=%v, Fields nullable=%v", f.Key, c.nullable, f.Nullable)
		}
		want := map[Kind]string{Text: "string", Date: "string", Decimal: "number", Band: "integer"}[f.Kind]
		if !slices.Contains(types, want) {
			return nil, fmt.Errorf("field %s: schema type %v, want %s", f.Key, types, want)
		}
		if p.Pattern != "" {
			re, err := compilePattern(p.Pattern)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Key, err)
			}
			c.pattern = re
		}
		for _, e := range p.Enum {
			if string(e) == "null" {
				continue
			}
			if f.Kind == Text {
				var s string
				if err := json.Unmarshal(e, &s); err != nil {
					return nil, fmt.Errorf("field %s enum: %w", f.Key, err)
				}
				c.enumText = append(c.enumText, s)
			} else {
				var d decimal.Dec
				if err := d.UnmarshalJSON(e); err != nil {
					return nil, fmt.Errorf("field %s enum: %w", f.Key, err)
				}
				c.enumNum = append(c.enumNum, d)
			}
		}
		if p.Minimum != nil {
			c.hasMin, c.min = true, *p.Minimum
		}
		if p.ExclusiveMinimum != nil {
			c.hasMin, c.min, c.exclusiveMin = true, *p.ExclusiveMinimum, true
		}
		if p.Maximum != nil {
			c.hasMax, c.max = true, *p.Maximum
		}
		if p.MultipleOf != nil {
			c.multipleOf = *p.MultipleOf
		}
		c.date = p.Format == "date"
		out = append(out, c)
	}
	for key := range s.Properties {
		if _, ok := Lookup(key); !ok {
			return nil, fmt.Errorf("schema property %s is not a record field", key)
		}
	}
	return out, nil
}

// CheckSchema reports every way p breaks the schema. It is the compiled
// equivalent of validating p's JSON encoding against SchemaJSON.
func CheckSchema(p *JobPlan, report func(Violation)) {
	for i := range checks {
		c := &checks[i]
		f := &Fields[c.id]
		if !p.present[c.id] {
			if c.nullable {
				continue
			}
			if f.Kind == Text || f.Kind == Date {
				// Encoded as "", which breaks pattern/enum/format: report it as missing.
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "required", Message: "is missing; " + c.msg})
				continue
			}
			// Unmapped PA values are written as 0; check 0 against the bounds.
		}
		switch f.Kind {
		case Text, Date:
			s := p.text[c.id]
			if c.pattern != nil && !c.pattern.MatchString(s) {
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "pattern", Message: c.msg})
				continue
			}
			if c.enumText != nil && !slices.Contains(c.enumText, s) {
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "enum", Message: c.msg})
				continue
			}
			if c.date && !ValidDate(s) {
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "format", Message: c.msg})
			}
		case Decimal, Band:
			d := p.num[c.id]
			switch {
			case f.Kind == Band && !d.IsWhole():
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "type", Message: c.msg})
			case c.enumNum != nil && !slices.Contains(c.enumNum, d):
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "enum", Message: c.msg})
			case c.hasMin && (d < c.min || c.exclusiveMin && d == c.min):
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "minimum", Message: c.msg})
			case c.hasMax && d > c.max:
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "maximum", Message: c.msg})
			case c.multipleOf > 0 && !d.IsMultipleOf(c.multipleOf):
				report(Violation{Field: c.id, Rule: c.rule, Keyword: "multipleOf", Message: c.msg})
			}
		}
	}
}

// ValidDate reports whether s is a real calendar date written YYYY-MM-DD.
func ValidDate(s string) bool {
	if len(s) != 10 {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}
