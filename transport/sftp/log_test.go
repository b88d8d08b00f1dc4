package sftp_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/sftp"
)

// TestQuarantineLogsNoReason: the reason a file is quarantined may quote
// its content (the detail is for the report); the source does not log it.
func TestQuarantineLogsNoReason(t *testing.T) {
	srv := startServer(t, sftptest.Options{})
	var log bytes.Buffer
	src, err := sftp.NewSource(baseConfig(srv), sftp.SourceOptions{
		SpoolDir: t.TempDir(), Logger: slog.New(slog.NewJSONHandler(&log, nil)), DoneAttempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	writeFile(t, srv.Path("inbox", "no-header.csv"), "20000001,Testperson,Alpha\n")
	it := next(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reason := `the file has no column "Surname" (columns found: "20000001", "Testperson", "Alpha")`
	if err := it.Done(ctx, relay.Ack{Outcome: relay.Quarantined, Reason: reason}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "sftp quarantining file") {
		t.Fatalf("no quarantine line, so the check proves nothing:\n%s", log.String())
	}
	if strings.Contains(log.String(), "Testperson") {
		t.Errorf("the log quotes the file:\n%s", log.String())
	}
}
