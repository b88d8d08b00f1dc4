package mapping

import "github.com/nhs-esr/jobplan-hub/transform/decode"

// DecodeOptions say how the mapping's exports are read (decode.Open).
// tempDir is where a workbook's reader keeps its temporary files (the
// caller's spool folder, so that they sit on the disk it was sized for);
// "" means os.TempDir().
func (m *Mapping) DecodeOptions(tempDir string) decode.Options {
	o := decode.Options{Format: decode.Format(m.Format), CSV: m.CSV, JSON: m.JSON, XLSX: m.XLSX}
	o.XLSX.TempDir = tempDir
	return o
}
