package localdir_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, localdir.Options{Dir: dir, SettleTime: 30 * time.Millisecond})
	transporttest.TestSource(t, transporttest.SourceTarget{
		Source: s,
		Drop: func(name string, data []byte) error {
			return os.WriteFile(filepath.Join(dir, name), data, 0o644)
		},
		Exists: func(name string) bool { return exists(filepath.Join(dir, name)) },
		Quiet:  200 * time.Millisecond,
	})
}
