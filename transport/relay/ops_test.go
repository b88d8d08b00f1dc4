package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// countingProcessor wraps the test processor and reports counts of every
// kind, as the real processor does.
type countingProcessor struct {
	relay.Processor
	counts relay.RecordCounts
}

func (p countingProcessor) Process(ctx context.Context, name string, r io.Reader, size int64, dir string) (relay.Output, error) {
	out, err := p.Processor.Process(ctx, name, r, size, dir)
	out.Counts = p.counts
	return out, err
}

func TestFileProcessedLogLineGivesEveryCount(t *testing.T) {
	e := newEnv(t)
	log := &testutil.Buffer{}
	e.logger = slog.New(slog.NewJSONHandler(log, nil))
	want := relay.RecordCounts{Accepted: 3, Rejected: 2, Warnings: 4, HeldBack: 1, Duplicates: 5, Superseded: 6}
	e.wrapProc = func(p relay.Processor) relay.Processor { return countingProcessor{p, want} }
	e.start()
	e.dropFile("a.csv", planA)
	var line map[string]any
	testutil.Eventually(t, "the file processed line", func() bool {
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "file processed" {
				line = l
				return true
			}
		}
		return false
	})
	for key, n := range map[string]int{"accepted": 3, "rejected": 2, "warnings": 4, "held_back": 1, "duplicates": 5, "superseded": 6, "records": 3} {
		if got, ok := line[key].(float64); !ok || int(got) != n {
			t.Errorf("file processed: %s = %v, want %d (line %v)", key, line[key], n, line)
		}
	}
}
