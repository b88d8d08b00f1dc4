// Package validate checks a mapped job plan against the JSON Schema and the
// contract rules V1–V22 of domain.md table (b).
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
)

// Config holds the contract tables and tolerances the rules use. Every value
// has a documented default (Defaults); a mapping file may override any of
// them under `rules:`. Where domain.md marks a fact as unverified, the
// default is stated in the README and the value is here to change.
type Config struct {
	// APAReading: does total_contracted_pas include apa_eps? (domain.md
	// open question). Default in_total; see APAReading.
	APAReading APAReading `yaml:"apa_reading" json:"apa_reading"`
	// Tolerance for sums that must agree (V6, V10, V11). Default 0.01.
	Tolerance decimal.Dec `yaml:"tolerance" json:"tolerance"`
	// WarnAbovePAs: V8 warns above this total. Default 12.
	WarnAbovePAs decimal.Dec `yaml:"warn_above_pas" json:"warn_above_pas"`
	// MaxPAs: V9 rejects a total above this. Default 16.
	MaxPAs decimal.Dec `yaml:"max_pas" json:"max_pas"`
	// DCCGapWarning: V12 warns when DCC sub-items fall short of DCC by more
	// than this. Default 1.
	DCCGapWarning decimal.Dec `yaml:"dcc_gap_warning" json:"dcc_gap_warning"`
	// FullTimePAs, MinDCC, MinSPA: V14 for full-time English consultants.
	// Defaults 10, 7, 1.5.
	FullTimePAs decimal.Dec `yaml:"full_time_pas" json:"full_time_pas"`
	MinDCC      decimal.Dec `yaml:"min_dcc" json:"min_dcc"`
	MinSPA      decimal.Dec `yaml:"min_spa" json:"min_spa"`
	// Frequency bands (V16, V17): 1 in N is high when N <= HighMaxN, medium
	// when N <= MediumMaxN, otherwise low. Defaults 4 and 8.
	HighMaxN   decimal.Dec `yaml:"high_max_n" json:"high_max_n"`
	MediumMaxN decimal.Dec `yaml:"medium_max_n" json:"medium_max_n"`
	// SupplementPct is the on-call availability supplement table (% of
	// full-time basic salary) by category and band. Default: consultant
	// 2003 England table, A 8/5/3, B 3/2/1 (domain.md §3).
	SupplementPct map[string]BandPct `yaml:"supplement_pct" json:"supplement_pct"`
	// SAS2008Supplements are the allowed 2008 SAS supplements (V18).
	// Default 0, 2, 4, 6.
	SAS2008Supplements []decimal.Dec `yaml:"sas_2008_supplements" json:"sas_2008_supplements"`
	// WalesBands are the allowed Welsh on-call bands (V19). Default 1, 2, 3;
	// their percentages are not published (domain.md) and are not used.
	WalesBands []decimal.Dec `yaml:"wales_bands" json:"wales_bands"`
	// Unpredictable on-call limits (V20): Welsh consultants 1 session,
	// SAS doctors 2 PAs.
	MaxUnpredictableWales decimal.Dec `yaml:"max_unpredictable_wales" json:"max_unpredictable_wales"`
	MaxUnpredictableSAS   decimal.Dec `yaml:"max_unpredictable_sas" json:"max_unpredictable_sas"`
	// PAStep: V22 warns when a PA value is not a multiple of it. Default
	// 0.25; 0 turns that half of V22 off.
	PAStep decimal.Dec `yaml:"pa_step" json:"pa_step"`
	// Severity overrides a rule's severity: {"V2": "error", "V12": "off"}.
	Severity map[string]finding.Severity `yaml:"severity" json:"severity"`
}

// APAReading says what a plan's total contracted PAs holds. An APA is itself
// a DCC, SPA or other PA (domain.md §5), so in both readings the categories
// (DCC+SPA+AR+ED+MS) hold all the plan's work, the APAs' included; the
// readings differ only in the total. There is no third: categories that
// left the APA work out would contradict §5.
type APAReading string

const (
	// APAInTotal, the default: the total includes the APAs. V6: categories
	// = total; V7: APA <= total; V8, V9 and reconcile on the total.
	APAInTotal APAReading = "in_total"
	// APAOutsideTotal: the total leaves the APAs out. V6: categories =
	// total + APA; V7: APA <= categories; V8, V9 and reconcile on total + APA.
	APAOutsideTotal APAReading = "outside_total"
)

// APAReadings lists the readings, the default first.
var APAReadings = []APAReading{APAInTotal, APAOutsideTotal}

// AllPAs is all the plan's PAs a week, APAs included: what the categories
// add up to, what the weekly limits apply to and what payroll pays.
func (r APAReading) AllPAs(total, apa decimal.Dec) (decimal.Dec, error) {
	if r == APAOutsideTotal {
		return total.Add(apa)
	}
	return total, nil
}

// BasePAs is the plan's PAs without the APAs: a full-time plan has 10 of
// them (APAs are "extra PAs on top of the standard 10").
func (r APAReading) BasePAs(total, apa decimal.Dec) (decimal.Dec, error) {
	if r == APAOutsideTotal {
		return total, nil
	}
	return total.Sub(apa)
}

// replacedSettings are former rules settings, with what took their place:
// a mapping that still gives one is refused, as its meaning changed.
var replacedSettings = map[string]string{
	"total_includes_apa": "replaced by apa_reading: in_total (the default: the total includes the APAs) or outside_total (the total leaves them out; the categories still include their work)",
}

// settingKeys are the keys a rules block may hold.
var settingKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys[k] = true
		}
	}
	return keys
}()

// UnmarshalYAML refuses keys that are not settings, so that a misspelt or
// replaced setting is never accepted and ignored, and decodes the rest
// over the values c already holds (the defaults).
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var problems []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if settingKeys[k.Value] {
				continue
			}
			msg := fmt.Sprintf("line %d: unknown setting %q", k.Line, k.Value)
			if why, ok := replacedSettings[k.Value]; ok {
				msg += " (" + why + ")"
			}
			problems = append(problems, msg)
		}
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "; "))
		}
	}
	type plain Config
	return n.Decode((*plain)(c))
}

// fixedSeverity lists the codes whose severity is not a setting, and why.
var fixedSeverity = map[string]string{
	"M13": "a value no week can hold is always refused",
	"D3":  "two different plans for one date are refused (an error) unless duplicates.same_date is last_wins (then a warning): set that instead",
}

// BandPct is a supplement percentage per frequency band.
type BandPct struct {
	High   decimal.Dec `yaml:"high" json:"high"`
	Medium decimal.Dec `yaml:"medium" json:"medium"`
	Low    decimal.Dec `yaml:"low" json:"low"`
}

var bandKeys = []string{"high", "medium", "low"}

func missingBands(has func(string) bool) error {
	var missing []string
	for _, k := range bandKeys {
		if !has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a supplement_pct category must give high, medium and low (missing %s)", strings.Join(missing, ", "))
	}
	return nil
}

// UnmarshalYAML requires all three bands. YAML (like JSON) decodes each
// entry of supplement_pct into a fresh zero BandPct, not into the default,
// so a partial override such as `A: {medium: 6}` would otherwise silently
// set category A's high and low supplements to 0%.
func (b *BandPct) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		keys := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if !slices.Contains(bandKeys, k) {
				return fmt.Errorf("line %d: a supplement_pct category gives high, medium and low, not %q", n.Content[i].Line, k)
			}
			keys[k] = true
		}
		if err := missingBands(func(k string) bool { return keys[k] }); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	type plain BandPct
	return n.Decode((*plain)(b))
}

// UnmarshalJSON requires all three bands, as UnmarshalYAML does.
func (b *BandPct) UnmarshalJSON(data []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err == nil && keys != nil {
		if err := missingBands(func(k string) bool { _, ok := keys[k]; return ok }); err != nil {
			return err
		}
	}
	type plain BandPct
	return json.Unmarshal(data, (*plain)(b))
}

func d(s string) decimal.Dec {
	v, err := decimal.Parse(s, false)
	if err != nil {
		panic(err)
	}
	return v
}

// Defaults returns the documented default configuration.
func Defaults() Config {
	return Config{
		APAReading:    APAInTotal,
		Tolerance:     d("0.01"),
		WarnAbovePAs:  d("12"),
		MaxPAs:        d("16"),
		DCCGapWarning: d("1"),
		FullTimePAs:   d("10"),
		MinDCC:        d("7"),
		MinSPA:        d("1.5"),
		HighMaxN:      d("4"),
		MediumMaxN:    d("8"),
		SupplementPct: map[string]BandPct{
			"A": {High: d("8"), Medium: d("5"), Low: d("3")},
			"B": {High: d("3"), Medium: d("2"), Low: d("1")},
		},
		SAS2008Supplements:    []decimal.Dec{d("0"), d("2"), d("4"), d("6")},
		WalesBands:            []decimal.Dec{d("1"), d("2"), d("3")},
		MaxUnpredictableWales: d("1"),
		MaxUnpredictableSAS:   d("2"),
		PAStep:                d("0.25"),
	}
}

// Check reports configuration mistakes (unknown rule codes, bad severities).
func (c *Config) Check() []string {
	var problems []string
	for code, sev := range c.Severity {
		if _, ok := finding.Rules[code]; !ok {
			problems = append(problems, fmt.Sprintf("rules.severity: unknown rule %q", code))
		}
		if why, fixed := fixedSeverity[code]; fixed {
			problems = append(problems, fmt.Sprintf("rules.severity.%s: its severity cannot be set: %s", code, why))
		}
		if !slices.Contains([]finding.Severity{finding.Error, finding.Warning, finding.Off}, sev) {
			problems = append(problems, fmt.Sprintf("rules.severity.%s: %q is not error, warning or off", code, sev))
		}
	}
	if !slices.Contains(APAReadings, c.APAReading) {
		problems = append(problems, fmt.Sprintf("rules.apa_reading: %q is not in_total or outside_total", c.APAReading))
	}
	if c.HighMaxN > c.MediumMaxN {
		problems = append(problems, "rules: high_max_n must not exceed medium_max_n")
	}
	for cat := range c.SupplementPct {
		if cat != "A" && cat != "B" {
			problems = append(problems, fmt.Sprintf("rules.supplement_pct: unknown on-call category %q (A or B)", cat))
		}
	}
	return problems
}
