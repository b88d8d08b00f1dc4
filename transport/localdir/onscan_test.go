package localdir_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/localdir"
)

func TestOnScanReportsEveryScan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "drop")
	state := t.TempDir()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var scans []error
	last := func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(scans) == 0 {
			return 0, nil
		}
		return len(scans), scans[len(scans)-1]
	}
	src, err := localdir.New(t.Context(), localdir.Options{
		Dir: dir, StateDir: state, PollOnly: true, RescanInterval: 20 * time.Millisecond,
		OnScan: func(err error) {
			mu.Lock()
			scans = append(scans, err)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	// The first scan happens before New returns; with a 20 ms rescan a
	// slow test may see more, all of the folder still there.
	if n, err := last(); n < 1 || err != nil {
		t.Fatalf("after New: %d scans, last %v; want at least one, the latest succeeded", n, err)
	}
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := last(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a scan of the missing folder was not reported as failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
