package relay_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/localdir"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/transporttest"
)

// TestRecordsAreQueuedAsTheProcessorHandsThem: the ledger queues each
// record with the payload and key the processor handed over, which it
// does not work out again.
func TestRecordsAreQueuedAsTheProcessorHandsThem(t *testing.T) {
	e := newEnv(t)
	e.wrapProc = func(p relay.Processor) relay.Processor { return markedKeys{p} }
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool { return e.dest("esr").Delivered == 3 }, "a.csv delivered")
	checked := 0
	for id := int64(1); id <= 4; id++ {
		d, err := e.ledger.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Destination != "esr" {
			continue
		}
		checked++
		if !strings.HasPrefix(d.Key, "f00d") || !strings.Contains(string(d.Payload), `"handed":true`) {
			t.Errorf("delivery %d queued with key %s payload %s, want the processor's", id, d.Key, d.Payload)
		}
	}
	if checked != 3 {
		t.Errorf("%d record deliveries, want 3", checked)
	}
}

// markedKeys hands over payloads and keys the ledger would not make of
// the records file, so that a test can tell whose they are.
type markedKeys struct{ relay.Processor }

func (p markedKeys) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	out, err := p.Processor.Process(ctx, in, dir)
	for i := range out.Plans {
		pl := &out.Plans[i]
		pl.Payload = []byte(strings.TrimSuffix(string(pl.Payload), "}") + `,"handed":true}`)
		pl.Key = "f00d" + pl.Key[4:]
	}
	return out, err
}

// TestUnusableRecordsQuarantineTheFile: records the ledger cannot queue
// (no date, no key, records not described) quarantine the input with a
// reason, and nothing is queued.
func TestUnusableRecordsQuarantineTheFile(t *testing.T) {
	for name, spoil := range map[string]func(*relay.Output){
		"no date":          func(o *relay.Output) { o.Plans[1].EffectiveDate = "" },
		"no assignment":    func(o *relay.Output) { o.Plans[0].AssignmentNumber = "" },
		"no key":           func(o *relay.Output) { o.Plans[2].Key = "" },
		"not described":    func(o *relay.Output) { o.RecordsSHA256 = "" },
		"no records file":  func(o *relay.Output) { os.Remove(o.Records) },
		"a date not a day": func(o *relay.Output) { o.Plans[0].EffectiveDate = "2026-02-30" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.wrapProc = func(p relay.Processor) relay.Processor { return spoiled{p, spoil} }
			e.start()
			e.dropFile("a.csv", planA)
			quarantined := filepath.Join(e.drop, localdir.QuarantineDir, "a.csv")
			transporttest.Eventually(t, waitLimit, func() bool { return exists(quarantined) }, "a.csv quarantined")
			reason := read(t, quarantined+".reason.txt")
			if !strings.Contains(reason, "unusable converted records") {
				t.Errorf("reason %q", reason)
			}
			if s := e.status(); s.Files[ledger.FileQuarantined] != 1 || len(s.Destinations) != 0 {
				t.Errorf("status %+v, want one quarantined file and nothing queued", s)
			}
		})
	}
}

type spoiled struct {
	relay.Processor
	spoil func(*relay.Output)
}

func (p spoiled) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	out, err := p.Processor.Process(ctx, in, dir)
	if err == nil {
		p.spoil(&out)
	}
	return out, err
}

// TestContentConvertedIsTheContentHashed: the processor is told the hash
// worked out before the file was claimed, so what it converts must be
// what was hashed. An item whose content, read again for the processor,
// is longer than what was hashed is not recorded.
func TestContentConvertedIsTheContentHashed(t *testing.T) {
	e := newEnv(t)
	var log lockedBuffer
	e.logger = slog.New(slog.NewTextHandler(&log, nil))
	e.wrap = func(s relay.Source) relay.Source { return &growingSource{Source: s} }
	e.start()
	e.dropFile("a.csv", planA)
	transporttest.Eventually(t, waitLimit, func() bool { return strings.Contains(log.String(), "file handling failed") },
		"a.csv refused as changed; log:\n%s", log.String())
	want := "a.csv changed while it was read (" + strconv.Itoa(len(planA)+len(extraPlan)) + " bytes converted, " + strconv.Itoa(len(planA)) + " when it was claimed)"
	if !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	if n := e.proc.calls.Load(); n < 1 {
		t.Fatalf("processor ran %d times", n)
	}
	if s := e.status(); s.Files[ledger.FileProcessed] != 0 || len(s.Destinations) != 0 {
		t.Errorf("status %+v, want nothing processed or queued", s)
	}
}

const extraPlan = "10000009,2026-04-01,9\n"

// growingSource hands out items that are not LiveItems and whose content,
// opened again, has grown.
type growingSource struct {
	relay.Source
}

func (s *growingSource) Next(ctx context.Context) (relay.Item, error) {
	it, err := s.Source.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &growingItem{Item: it}, nil
}

type growingItem struct {
	relay.Item
	opens atomic.Int32
}

func (it *growingItem) Open(ctx context.Context) (io.ReadCloser, error) {
	rc, err := it.Item.Open(ctx)
	if err != nil || it.opens.Add(1) == 1 {
		return struct{ io.ReadCloser }{rc}, err // not a Seeker: read again by opening it again
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(rc, strings.NewReader(extraPlan)), rc}, nil
}
