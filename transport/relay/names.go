package relay

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes is the longest input file name a source takes. The hub
// derives local names from it (reports, records files, temporary files:
// at most 40 bytes longer), and each must fit in the 255 bytes most file
// systems allow.
const MaxNameBytes = 200

// NameProblem returns why a file called name cannot be taken as an input,
// or "" if it can. Refused are names that are not a plain name in one
// folder (empty, "." or "..", with a slash or a backslash, absolute), that
// are not valid UTF-8, that hold control characters (newlines, ANSI
// escapes) or invisible formatting characters (bidirectional overrides,
// zero-width characters), or that are longer than MaxNameBytes. Such a
// name would be written locally under a name that is not what it looks
// like, or could not be written at all.
func NameProblem(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "the name is not a file name"
	case strings.HasPrefix(name, "/"):
		return "the name is an absolute path"
	case strings.HasPrefix(name, "../") || strings.Contains(name, "/../") || strings.HasSuffix(name, "/.."):
		return "the name leads out of the folder (..)"
	case strings.Contains(name, "/"):
		return "the name holds a slash (a path, not a file name)"
	case strings.Contains(name, `\`):
		return "the name holds a backslash (a folder separator on Windows)"
	case !utf8.ValidString(name):
		return "the name is not valid UTF-8"
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return fmt.Sprintf("the name holds the control character %U", r)
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("the name holds the invisible formatting character %U", r)
		}
	}
	if len(name) > MaxNameBytes {
		return fmt.Sprintf("the name is %d bytes long; the longest taken is %d", len(name), MaxNameBytes)
	}
	return ""
}

// QuoteName is name as it is shown on the status page and by the status
// command: quoted, with every byte that is not printable ASCII escaped,
// so that a hostile name can neither hide nor drive a terminal.
func QuoteName(name string) string {
	return strconv.QuoteToASCII(name)
}

// Refusal is a file a source found but leaves alone, and why: a name it
// will not take (NameProblem), a symbolic link, a ready marker without its
// file, a file a server still lists after it was archived.
type Refusal struct {
	// Name is the file's name as found: it may hold any bytes, so show it
	// with QuoteName.
	Name string
	// Reason says in one line why the file is left alone. An empty Reason
	// withdraws an earlier refusal of Name: the file has gone, or is
	// taken now.
	Reason string
}

// RefusalReporter is an optional interface of a Source that leaves some
// files alone. The hub calls ReportRefusalsTo once, before it takes the
// first file; the source then calls report once for each file it refuses
// (again only if the reason changes) and once when the file has gone,
// including for files it refused before the call. report records the
// refusal in the ledger (status, status page) and logs it, so a source
// calls it from one goroutine at a time and never while holding a lock
// the hub's workers need.
type RefusalReporter interface {
	ReportRefusalsTo(report func(ctx context.Context, r Refusal))
}

// alwaysSkipped are the name endings of files still being written that
// every source skips; a ready marker must not be one of them.
var alwaysSkipped = []string{".part", ".filepart", ".tmp"}

// MaxReadyMarkerBytes bounds a ready marker suffix.
const MaxReadyMarkerBytes = 32

// ReadyMarkerProblem returns why suffix cannot be a source's ready marker
// (the ending that, added to a file's name, names the file that says it
// is complete: ".done" for x.csv.done), or "" if it can.
func ReadyMarkerProblem(suffix string) string {
	switch {
	case suffix == "":
		return "the ready marker is empty"
	case len(suffix) > MaxReadyMarkerBytes:
		return fmt.Sprintf("the ready marker is %d bytes long; the longest allowed is %d", len(suffix), MaxReadyMarkerBytes)
	}
	if p := NameProblem("x" + suffix); p != "" {
		return "the ready marker is not part of a plain file name: " + strings.TrimPrefix(p, "the name ")
	}
	for _, skip := range alwaysSkipped {
		if strings.HasSuffix(strings.ToLower(suffix), skip) {
			return fmt.Sprintf("the ready marker ends in %s: files named so are always skipped as still being written", skip)
		}
	}
	return ""
}
