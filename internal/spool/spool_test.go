package spool

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func TestSpoolInMemoryThenOnDisk(t *testing.T) {
	for _, size := range []int{10, 5000} {
		dir := t.TempDir()
		s := New(dir, ".test-", 1000)
		want := bytes.Repeat([]byte("abcdefghij"), size/10)
		for i := 0; i < len(want); i += 7 {
			if _, err := s.Write(want[i:min(i+7, len(want))]); err != nil {
				t.Fatal(err)
			}
		}
		entries, _ := os.ReadDir(dir)
		if onDisk := len(entries) == 1; onDisk != (size > 1000) {
			t.Errorf("%d bytes: on disk %v (%d files)", size, onDisk, len(entries))
		}
		for range 2 { // read twice, from the start each time
			r, err := s.Reader()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want) || s.Len() != int64(len(want)) {
				t.Fatalf("%d bytes: read back %d bytes (%v), Len %d", size, len(got), err, s.Len())
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%d bytes: files left after Close: %v", size, entries)
		}
	}
}
