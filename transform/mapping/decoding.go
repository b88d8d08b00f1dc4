package mapping

import "github.com/nhs-esr/jobplan-hub/transform/decode"

// DecodeOptions say how the mapping's exports are read (decode.Open).
func (m *Mapping) DecodeOptions() decode.Options {
	return decode.Options{Format: decode.Format(m.Format), CSV: m.CSV, JSON: m.JSON}
}
