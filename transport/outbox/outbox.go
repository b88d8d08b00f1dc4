// Package outbox stages whole output files in a local directory, for
// another process (or an operator) to collect: its Sink is the Deliverer
// of an outbox destination (see transport/dispatch).
//
// Files are written under a temporary name and renamed into place
// (internal/atomicfile), so a reader of the directory sees either the
// whole file or nothing.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// ErrInvalidName is returned (wrapped, and classified permanent) for names
// that are not a plain file name.
var ErrInvalidName = errors.New("invalid output name")

// Sink writes files into one directory. It is a dispatch.Deliverer.
type Sink struct {
	dir  string
	mode fs.FileMode
}

var _ dispatch.Deliverer = (*Sink)(nil)

// New returns a Sink writing into dir, creating it if needed. Its files
// get mode (0: atomicfile.DefaultMode, owner only, since they hold
// personal data).
//
// Its errors name what failed, not this package: the caller says which
// source or destination it is, and operators read them (a refused reload).
func New(dir string, mode fs.FileMode) (*Sink, error) {
	if dir == "" {
		return nil, errors.New("no directory configured")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if _, err := atomicfile.RemoveStale(dir, staleTemp); err != nil {
		return nil, err
	}
	return &Sink{dir: dir, mode: mode}, nil
}

// staleTemp is how long a temporary file must have been left unchanged
// before New removes it as the leftover of a killed hub. Another hub
// writing into the same folder is spared.
const staleTemp = 15 * time.Minute

// Dir returns the directory the sink writes into.
func (s *Sink) Dir() string { return s.dir }

// Put writes r to <dir>/<name> atomically, replacing any file of that name.
// name must be a plain file name: no path separators, no "..", and no
// leading dot, since hidden names are where temporary files live and
// watchers skip them.
func (s *Sink) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return retry.Permanent(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Errors are for operators (a delivery's reason): the file's path
	// says where, without this package's name.
	f, err := atomicfile.CreateMode(filepath.Join(s.dir, name), s.mode)
	if err != nil {
		return err
	}
	defer f.Abort() // no-op after Commit
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("write %s in %s: %w", name, s.dir, err)
	}
	// Checked again so a cancellation that arrived during the last read
	// does not publish a file the caller has given up on.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	return nil
}

// Deliver puts a file delivery's file as Put does. A record is refused:
// an outbox takes whole files.
func (s *Sink) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	if p.File == nil {
		return dispatch.Receipt{}, retry.Permanent(errors.New("an outbox destination takes whole files, not records"))
	}
	if err := s.Put(ctx, p.Name, p.File); err != nil {
		return dispatch.Receipt{}, err
	}
	return dispatch.Receipt{Result: dispatch.Delivered}, nil
}

// checkName rejects anything but a plain file name, so a name taken from
// input data cannot write outside the directory.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case strings.ContainsAny(name, `/\`+"\x00"):
		return fmt.Errorf("%w %q: contains a path separator", ErrInvalidName, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w %q: contains \"..\"", ErrInvalidName, name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%w %q: starts with a dot", ErrInvalidName, name)
	case !filepath.IsLocal(name) || filepath.Base(name) != name:
		// Catches what the rules above may miss on other platforms
		// (reserved device names, volume names).
		return fmt.Errorf("%w %q", ErrInvalidName, name)
	}
	return nil
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
