package outbox_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transport/outbox"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

func TestConformance(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	s, err := outbox.New(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	transporttest.TestSink(t, transporttest.SinkTarget{
		Sink: s,
		Read: func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) },
		List: func() ([]string, error) {
			es, err := os.ReadDir(dir)
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			return names, err
		},
	})
}
