package sftp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

func TestSourceReportsEveryListingToOnPoll(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	var mu sync.Mutex
	var results []error
	onPoll := func(err error) {
		mu.Lock()
		results = append(results, err)
		mu.Unlock()
	}
	polls := func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), results...)
	}

	good, err := sftp.NewSource(baseConfig(srv), sftp.SourceOptions{SpoolDir: t.TempDir(), Logger: testLogger(t), OnPoll: onPoll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { good.Close() })
	writeFile(t, srv.Path("inbox/a.csv"), "a")
	next(t, good)
	got := polls()
	if len(got) < 2 {
		t.Fatalf("OnPoll called %d times before a file settled, want at least 2 listings", len(got))
	}
	for _, err := range got {
		if err != nil {
			t.Errorf("listing reported %v, want nil", err)
		}
	}

	cfg := baseConfig(srv)
	cfg.Dir = "no-such-dir"
	mu.Lock()
	results = nil
	mu.Unlock()
	bad, err := sftp.NewSource(cfg, sftp.SourceOptions{SpoolDir: t.TempDir(), Logger: testLogger(t), OnPoll: onPoll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bad.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := bad.Next(ctx); err == nil {
		t.Fatal("Next on a missing directory succeeded")
	}
	if got := polls(); len(got) != 1 || got[0] == nil {
		t.Errorf("OnPoll got %v, want the one failed listing", got)
	}
}
