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
	"time"

	pkgsftp "github.com/pkg/sftp"

	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

const posixRenameExt = "posix-rename@openssh.com"

// conn holds one lazily dialled Client, shared by concurrent callers, and
// replaces it on the next use after it breaks. After a refused login it
// does not dial again before the back-off has passed (see LoginError).
type conn struct {
	cfg Config
	now func() time.Time // the clock of the login back-off; nil: time.Now

	mu     sync.Mutex
	client *Client
	closed bool
	// hint remembers the key type that matched a pinned fingerprint.
	hint hostKeyHint
	// refused is the latest refused login while they keep failing.
	refused *LoginError
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
		c, err := h.dial(ctx)
		return c, true, err
	}
	if h.client != nil && h.client.alive() {
		return h.client, false, nil
	}
	if h.client != nil {
		h.client.Close()
		h.client = nil
	}
	c, err = h.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	h.client = c
	return c, false, nil
}

// dial connects, unless a refused login is still backing off. The caller
// holds h.mu.
func (h *conn) dial(ctx context.Context) (*Client, error) {
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	if r := h.refused; r != nil {
		if wait := r.RetryAt.Sub(now()); wait > 0 {
			return nil, retry.Temporary(r, wait)
		}
	}
	c, err := dial(ctx, h.cfg, &h.hint)
	switch {
	case err == nil:
		h.refused = nil
		return c, nil
	case !isLoginRefusal(err):
		return nil, err
	}
	failures := 1
	if h.refused != nil {
		failures = h.refused.Failures + 1
	}
	wait := h.cfg.LoginBackoff
	for i := 1; i < failures && wait < h.cfg.LoginBackoffMax; i++ {
		wait *= 2
	}
	wait = min(wait, h.cfg.LoginBackoffMax)
	if re, ok := err.(*retry.Error); ok {
		err = re.Err // classified anew below
	}
	h.refused = &LoginError{Addr: h.cfg.Addr, Failures: failures, RetryAt: now().Add(wait), Err: err}
	return nil, retry.Temporary(h.refused, wait)
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

// publish renames from to to, replacing any file already there.
//
// SFTP v3 rename refuses to replace an existing file, and servers say so
// in their own words: OpenSSH with the generic failure status, ProFTPD
// with "File already exists" and a status code from a later draft. So the
// decision follows what the server did, not its status code: posix-rename
// when the server offers it; otherwise, or if that fails too, rename, and
// if that fails while something exists at to, remove it and rename again.
//
// Readers may find no file at to between the remove and the rename (one
// round trip); a reader that opened the old file before keeps reading it
// whole on POSIX servers. If the connection or the hub stops in between,
// from stays where it was and the caller's retry puts it in place.
func publish(c *pkgsftp.Client, from, to string) error {
	return replace(c, from, to, false)
}

// publishTemp is publish for a temporary file of ours (an upload under a
// hidden .part name), which may be renamed once more: before the old file
// is removed, the upload is moved to another temporary name, which tells
// whether this server renames at all. A server that refuses every rename
// (permission denied, unsupported, whatever the code) then keeps the old
// file, and the error says to set no_rename.
func publishTemp(c *pkgsftp.Client, tmp, final string) error {
	return replace(c, tmp, final, true)
}

func replace(c *pkgsftp.Client, from, to string, probe bool) error {
	if path.Clean(from) == path.Clean(to) {
		// Win32-OpenSSH deletes a file renamed onto itself.
		return retry.Permanent(fmt.Errorf("refusing to rename %s onto itself", from))
	}
	if _, ok := c.HasExtension(posixRenameExt); ok {
		err := c.PosixRename(from, to)
		if !isRefusal(err) {
			return wrapOp("rename", from, err)
		}
		// Some servers (Win32-OpenSSH) advertise posix-rename yet fail
		// when the target exists; go on as for a v3 server.
	}
	err := c.Rename(from, to)
	if !isRefusal(err) {
		return wrapOp("rename", from, err)
	}
	if _, serr := c.Lstat(to); serr != nil {
		// Nothing in the way (or the server will not say): the rename
		// failed for another reason.
		return wrapOp("rename", from, err)
	}
	if _, serr := c.Lstat(from); serr != nil {
		return wrapOp("rename", from, err) // nothing to put in its place
	}
	if probe {
		moved := path.Join(path.Dir(from), "."+strings.TrimPrefix(path.Base(from), ".")+"."+randomHex()+".part")
		if perr := c.Rename(from, moved); perr != nil {
			return wrapOp("rename", from, err)
		}
		from = moved
	}
	err = c.Remove(to)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		err = wrapOp("rename", from, c.Rename(from, to))
	} else {
		err = wrapOp("remove old", to, err)
	}
	if err != nil && probe {
		c.Remove(from) // best effort: the temporary name is ours
	}
	return err
}

// isRefusal reports whether err is the server's answer to a request (a
// status), as opposed to success or a broken connection.
func isRefusal(err error) bool {
	var st *pkgsftp.StatusError
	return errors.As(err, &st) || errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist)
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
