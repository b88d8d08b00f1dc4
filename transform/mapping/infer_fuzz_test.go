package mapping_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transform/mapping"
)

// FuzzInfer checks that mapping infer never panics on any sample, and
// that every draft it writes passes mapping check, as the README says,
// but for one that needs units.working_weeks: mapping check refuses that
// one as drafted, and it passes once given them (loadDraft).
func FuzzInfer(f *testing.F) {
	for _, glob := range []string{"../../samples/*/*.*", "testdata/infer/*/export.*"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil && len(b) < 1<<20 {
				f.Add(filepath.Base(name), b)
			}
		}
	}
	f.Add("x.csv", []byte("Status,Contract,Activity,Std Hrs,Premium Hrs,Plan Ref\nSigned off,CONS_WAL_2003,THE-E,4,3,P1\n"))
	f.Fuzz(func(t *testing.T, name string, sample []byte) {
		d, err := mapping.Infer(name, sample)
		if err != nil {
			return
		}
		loadDraft(t, "draft.yaml", d, 42)
	})
}
