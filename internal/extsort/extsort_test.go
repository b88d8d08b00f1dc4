package extsort

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// byFirstByte compares only the first byte, so that many records tie and
// the stability of the sort is tested; an empty record ties with one
// starting with a NUL.
func byFirstByte(a, b []byte) int {
	first := func(r []byte) int {
		if len(r) == 0 {
			return 0
		}
		return int(r[0])
	}
	return first(a) - first(b)
}

// sortAll runs records through a Sorter and returns what comes out.
func sortAll(t testing.TB, dir string, budget int, recs [][]byte) (out [][]byte, spilled bool) {
	t.Helper()
	s := New(dir, budget, byFirstByte)
	defer s.Close()
	for _, r := range recs {
		if err := s.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	it, err := s.Sorted()
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		out = append(out, slices.Clone(it.Record()))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out, s.Spilled()
}

func TestSortIsStableInMemoryAndOnDisk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var recs [][]byte
	for i := range 20000 {
		// A key byte from a small alphabet, then the position it was
		// added at, so that stability can be checked.
		r := fmt.Appendf([]byte{byte('a' + rng.IntN(7))}, "%06d", i)
		r = append(r, bytes.Repeat([]byte{'x'}, rng.IntN(40))...)
		recs = append(recs, r)
	}
	want := slices.Clone(recs)
	slices.SortStableFunc(want, byFirstByte)
	for _, budget := range []int{0, 64 << 10, 1 << 20, 64 << 20} {
		dir := t.TempDir()
		got, spilled := sortAll(t, dir, budget, recs)
		if len(got) != len(want) {
			t.Fatalf("budget %d: %d records out, want %d", budget, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("budget %d: record %d is %q, want %q", budget, i, got[i], want[i])
			}
		}
		if wantSpill := budget < 1<<20; spilled != wantSpill {
			t.Errorf("budget %d: spilled %v, want %v", budget, spilled, wantSpill)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
			t.Errorf("budget %d: files left after Close: %v", budget, left)
		}
	}
}

func TestEmptyAndMisuse(t *testing.T) {
	got, spilled := sortAll(t, t.TempDir(), 0, nil)
	if len(got) != 0 || spilled {
		t.Errorf("empty sort gave %q, spilled %v", got, spilled)
	}
	s := New(t.TempDir(), 0, bytes.Compare)
	defer s.Close()
	if _, err := s.Sorted(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add([]byte("late")); err == nil {
		t.Error("Add after Sorted succeeded")
	}
}

// TestMemoryStaysNearTheBudget sorts 40 MB of records with a 1 MiB budget
// and checks that the sorter's buffers never outgrow it by much.
func TestMemoryStaysNearTheBudget(t *testing.T) {
	const budget = 1 << 20
	s := New(t.TempDir(), budget, bytes.Compare)
	defer s.Close()
	rec := make([]byte, 100)
	rng := rand.New(rand.NewPCG(3, 4))
	peak := 0
	for range 400_000 {
		for i := range rec {
			rec[i] = byte(rng.UintN(256))
		}
		if err := s.Add(rec); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, cap(s.arena)+8*cap(s.recs))
	}
	if peak > 3*budget {
		t.Errorf("buffers reached %d bytes for a budget of %d", peak, budget)
	}
	// Twice: each Sorted starts again from the first record.
	for pass := range 2 {
		it, err := s.Sorted()
		if err != nil {
			t.Fatal(err)
		}
		var prev []byte
		n := 0
		for it.Next() {
			if prev != nil && bytes.Compare(prev, it.Record()) > 0 {
				t.Fatalf("pass %d: record %d out of order", pass, n)
			}
			prev = append(prev[:0], it.Record()...)
			n++
		}
		if it.Err() != nil || n != 400_000 {
			t.Fatalf("pass %d: %d records, err %v", pass, n, it.Err())
		}
	}
	if !s.Spilled() {
		t.Error("40 MB was sorted without writing a run")
	}
}

// FuzzSort: any records, any budget, come out as a stable sort would give
// them.
func FuzzSort(f *testing.F) {
	f.Add([]byte("b1a2b3a4\x00c5"), uint16(0))
	f.Add(bytes.Repeat([]byte("zyx"), 3000), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, budget uint16) {
		// Records are the data cut at each NUL or every 5 bytes.
		var recs [][]byte
		for len(data) > 0 {
			i := bytes.IndexByte(data, 0)
			if i < 0 || i > 5 {
				i = min(5, len(data))
			}
			recs = append(recs, data[:i])
			data = data[min(i+1, len(data)):]
		}
		want := slices.Clone(recs)
		slices.SortStableFunc(want, byFirstByte)
		dir := t.TempDir()
		got, _ := sortAll(t, dir, int(budget), recs)
		if len(got) != len(want) {
			t.Fatalf("%d records out, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("record %d is %q, want %q", i, got[i], want[i])
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("files left: %v", entries)
		}
	})
}
