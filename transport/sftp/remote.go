package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"

	pkgsftp "github.com/pkg/sftp"

	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

const posixRenameExt = "posix-rename@openssh.com"

// conn holds one lazily dialled Client, shared by concurrent callers, and
// replaces it on the next use after it breaks.
type conn struct {
	cfg Config

	mu     sync.Mutex
	client *Client
	closed bool
	// hint remembers the key type that matched a pinned fingerprint.
	hint hostKeyHint
}

// do runs fn with a live client. After Close it still works, on a one-off
// connection, so that items handed out before Close can be acknowledged.
func (h *conn) do(ctx context.Context, fn func(c *Client) error) error {
	c, oneOff, err := h.get(ctx)
	if err != nil {
		return err
	}
	if oneOff {
		defer c.Close()
	}
	// pkg/sftp's file operations take no context; closing the client is
	// what interrupts a transfer that has stalled.
	stop := context.AfterFunc(ctx, func() { h.drop(c) })
	defer stop()
	err = fn(c)
	if err != nil && suspect(c, err) {
		h.drop(c)
	}
	return err
}

func (h *conn) get(ctx context.Context) (c *Client, oneOff bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c, err := dial(ctx, h.cfg, &h.hint)
		return c, true, err
	}
	if h.client != nil && h.client.alive() {
		return h.client, false, nil
	}
	if h.client != nil {
		h.client.Close()
		h.client = nil
	}
	c, err = dial(ctx, h.cfg, &h.hint)
	if err != nil {
		return nil, false, err
	}
	h.client = c
	return c, false, nil
}

// drop closes c if it is still the shared client; the next do dials anew.
func (h *conn) drop(c *Client) {
	h.mu.Lock()
	if h.client == c {
		h.client = nil
	}
	h.mu.Unlock()
	c.Close()
}

// Close closes the shared client. Later calls to do use one-off connections.
func (h *conn) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.client == nil {
		return nil
	}
	err := h.client.Close()
	h.client = nil
	return err
}

// suspect reports whether err says the connection itself failed, so that it
// is replaced now rather than on the next use. Status replies from the
// server (no such file, permission denied) and local errors do not count.
func suspect(c *Client, err error) bool {
	var netErr net.Error
	return !c.alive() ||
		errors.Is(err, pkgsftp.ErrSSHFxConnectionLost) || errors.Is(err, pkgsftp.ErrSSHFxNoConnection) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &netErr)
}

// classify marks err permanent when the server refused the operation
// outright (permission denied, unsupported, missing directory) and
// temporary otherwise. Errors already classified, such as Dial's, and the
// caller's own cancellation pass through unchanged.
func classify(err error) error {
	var re *retry.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist), hasStatus(err, pkgsftp.ErrSSHFxOpUnsupported):
		return retry.Permanent(err)
	}
	return retry.Temporary(err, 0)
}

func hasStatus(err error, code error) bool {
	var st *pkgsftp.StatusError
	return errors.As(err, &st) && st.FxCode() == code
}

// checkName rejects names that are not a plain file name, so that neither a
// misbehaving server nor a caller can reach outside the directory.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("invalid file name %q", name)
	}
	return nil
}

// publish renames tmp to final, replacing any file already there.
//
// SFTP v3 rename refuses to replace an existing file, so: posix-rename when
// the server offers it; otherwise rename, and if that fails with the generic
// failure status (what OpenSSH reports for an existing target), remove the
// old file and rename again. Readers may find no file during that short
// window. A definite refusal (permission denied, unsupported) is returned
// before anything is removed, so the old file survives.
func publish(c *pkgsftp.Client, tmp, final string) error {
	if path.Clean(tmp) == path.Clean(final) {
		// Win32-OpenSSH deletes a file renamed onto itself.
		return retry.Permanent(fmt.Errorf("refusing to rename %s onto itself", tmp))
	}
	if _, ok := c.HasExtension(posixRenameExt); ok {
		err := c.PosixRename(tmp, final)
		if !hasStatus(err, pkgsftp.ErrSSHFxFailure) {
			return wrapOp("rename", tmp, err)
		}
		// Some servers (Win32-OpenSSH) advertise posix-rename yet fail
		// when the target exists; fall back to the v3 dance.
	}
	err := c.Rename(tmp, final)
	if !hasStatus(err, pkgsftp.ErrSSHFxFailure) {
		return wrapOp("rename", tmp, err)
	}
	if err := c.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
		return wrapOp("remove old", final, err)
	}
	return wrapOp("rename", tmp, c.Rename(tmp, final))
}

func wrapOp(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

// contextReader stops a copy once ctx is done, between reads.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (r contextReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
