// Package transporttest holds conformance checks that every relay.Source
// and every file destination (Sink) runs in its own tests, so that local
// folders, SFTP and the outbox keep the same contract.
package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// Eventually polls cond until it returns true, and fails the test if that
// has not happened within timeout (testutil.EventuallyWithin).
var Eventually = testutil.EventuallyWithin

// Sink is a file destination: it puts one whole file, and it is the
// dispatcher's Deliverer of file deliveries (Put by another name), which
// refuses records.
type Sink interface {
	Put(ctx context.Context, name string, r io.Reader) error
	dispatch.Deliverer
}

// SinkTarget is a Sink under test and a view of where it writes.
type SinkTarget struct {
	Sink Sink
	// Read returns the content published under name.
	Read func(name string) ([]byte, error)
	// List returns every file name at the destination, hidden and
	// temporary files included.
	List func() ([]string, error)
}

// TestSink checks that files appear whole under their final names, put or
// delivered, that an existing file is replaced, that a record delivery is
// refused for good, and that nothing else is left behind.
func TestSink(t *testing.T, target SinkTarget) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	big := bytes.Repeat([]byte("0123456789abcdef\n"), 20000) // several SFTP packets
	files := map[string][]byte{
		"plan-a.ndjson": []byte(`{"id":1}` + "\n"),
		"plan-b.ndjson": big,
		"empty.ndjson":  {},
	}
	for name, data := range files {
		if name == "plan-b.ndjson" {
			rc, err := target.Sink.Deliver(ctx, dispatch.Parcel{Key: "k", Name: name, File: bytes.NewReader(data)})
			if err != nil || rc.Result != dispatch.Delivered {
				t.Fatalf("Deliver(%s) = %+v, %v", name, rc, err)
			}
			continue
		}
		if err := target.Sink.Put(ctx, name, bytes.NewReader(data)); err != nil {
			t.Fatalf("Put(%s): %v", name, err)
		}
	}
	if _, err := target.Sink.Deliver(ctx, dispatch.Parcel{Key: "k", Record: []byte(`{"id":1}`)}); err == nil || retry.IsRetryable(err) {
		t.Errorf("Deliver of a record: %v, want a permanent error", err)
	}
	replacement := []byte("replaced\n")
	if err := target.Sink.Put(ctx, "plan-a.ndjson", bytes.NewReader(replacement)); err != nil {
		t.Fatalf("Put(plan-a.ndjson) again: %v", err)
	}
	files["plan-a.ndjson"] = replacement

	for name, want := range files {
		got, err := target.Read(name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes %q..., want %d bytes %q...", name, len(got), head(got), len(want), head(want))
		}
	}
	names, err := target.List()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	slices.Sort(names)
	want := []string{"empty.ndjson", "plan-a.ndjson", "plan-b.ndjson"}
	if !slices.Equal(names, want) {
		t.Errorf("destination holds %q, want exactly %q", names, want)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 20)] }

// SourceTarget is a Source under test and a way to feed it.
type SourceTarget struct {
	Source relay.Source
	// Drop places a complete file in the source's folder.
	Drop func(name string, data []byte) error
	// Exists reports whether name is still waiting in the source's folder.
	Exists func(name string) bool
	// Quiet is how long Next may take to find nothing; a few poll
	// intervals.
	Quiet time.Duration
}

// TestSource drops three files and checks that each is yielded once with
// its content, that nothing is yielded twice while outstanding, and that
// Done(Processed) clears every file from the folder — the last one too —
// and can be repeated.
func TestSource(t *testing.T, target SourceTarget) {
	t.Helper()
	files := map[string]string{
		"a.csv": "id,name\n1,alpha\n",
		"b.csv": "id,name\n2,bravo\n",
		"c.csv": "id,name\n3,charlie\n",
	}
	for name, data := range files {
		if err := target.Drop(name, []byte(data)); err != nil {
			t.Fatalf("drop %s: %v", name, err)
		}
	}
	var items []relay.Item
	for range files {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		it, err := target.Source.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Next after %d items: %v", len(items), err)
		}
		items = append(items, it)
	}
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.Name()] {
			t.Errorf("%s yielded twice", it.Name())
		}
		seen[it.Name()] = true
		got, err := readItem(it)
		if err != nil {
			t.Fatalf("open %s: %v", it.Name(), err)
		}
		if want, ok := files[it.Name()]; !ok || got != want || it.Size() != int64(len(want)) {
			t.Errorf("%s: got %q (size %d), want %q", it.Name(), got, it.Size(), want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), target.Quiet)
	it, err := target.Source.Next(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with every file outstanding: got item %v, err %v; want deadline exceeded", name(it), err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, it := range items {
		if err := it.Done(ctx, relay.Ack{Outcome: relay.Processed}); err != nil {
			t.Fatalf("Done(%s): %v", it.Name(), err)
		}
		if err := it.Done(ctx, relay.Ack{Outcome: relay.Processed}); err != nil {
			t.Fatalf("second Done(%s): %v", it.Name(), err)
		}
	}
	var left []string
	for name := range files {
		if target.Exists(name) {
			left = append(left, name)
		}
	}
	if len(left) > 0 {
		t.Errorf("still in the source folder after Done: %v", left)
	}
}

func readItem(it relay.Item) (string, error) {
	rc, err := it.Open(context.Background())
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var sb strings.Builder
	_, err = io.Copy(&sb, rc)
	return sb.String(), err
}

func name(it relay.Item) string {
	if it == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", it.Name())
}
