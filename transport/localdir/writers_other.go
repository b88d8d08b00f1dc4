//go:build !linux

package localdir

import "log/slog"

// writerWatch is Linux's (writers_linux.go): elsewhere nothing tells
// whether a file is still open for writing, and the settle time alone
// decides.
type writerWatch struct{}

func newWriterWatch(string, []string, bool, *slog.Logger, func(dir, name string)) *writerWatch {
	return nil
}

// Writing returns "": nothing is known.
func (w *writerWatch) Writing(dir, name string) string { return "" }

// Close does nothing.
func (w *writerWatch) Close() error { return nil }
