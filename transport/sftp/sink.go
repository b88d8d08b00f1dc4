package sftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	pkgsftp "github.com/pkg/sftp"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// Sink uploads whole files to cfg.Dir. It is a dispatch.Deliverer and is
// safe for concurrent use.
//
// By default a file is written under a hidden temporary name
// (".name.<random>.part") and renamed into place, so readers on the server
// see the whole file or nothing. On servers without posix-rename, a file
// being replaced is removed just before the rename (see publish), so a
// reader may find no file for that moment. With Config.NoRename it is
// written under its final name directly, for servers that cannot rename.
type Sink struct {
	cfg  Config
	conn *conn
}

var _ dispatch.Deliverer = (*Sink)(nil)

// NewSink checks cfg and returns a Sink. It connects on the first Put.
func NewSink(cfg Config) (*Sink, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validateDir(false); err != nil {
		return nil, fmt.Errorf("sftp sink %s: %w", cfg.Addr, err)
	}
	return &Sink{cfg: cfg, conn: &conn{cfg: cfg}}, nil
}

// Put uploads r as cfg.Dir/name, replacing any file of that name. Errors
// are classified for the relay: refusals by the server (permission denied,
// missing directory, rename unsupported) are permanent, connection trouble
// is temporary. A failed upload leaves no temporary file behind where the
// server still allows removing it.
func (s *Sink) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return retry.Permanent(fmt.Errorf("sftp put: %w", err))
	}
	final := path.Join(s.cfg.Dir, name)
	err := s.conn.do(ctx, func(c *Client) error {
		if s.cfg.NoRename {
			return s.upload(ctx, c.sftp, final, r)
		}
		tmp := path.Join(s.cfg.Dir, "."+name+"."+randomHex()+".part")
		if err := s.upload(ctx, c.sftp, tmp, r); err != nil {
			return err
		}
		if err := publishTemp(c.sftp, tmp, final); err != nil {
			c.sftp.Remove(tmp) // best effort; the .part name keeps it out of readers' way
			if errors.Is(err, os.ErrPermission) || hasStatus(err, pkgsftp.ErrSSHFxOpUnsupported) {
				err = fmt.Errorf("%w (if this server cannot rename, set no_rename)", err)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return classify(fmt.Errorf("sftp put %s on %s: %w", final, s.cfg.Addr, err))
	}
	return nil
}

// Deliver uploads a file delivery's file as Put does. A record is
// refused: an sftp destination takes whole files.
func (s *Sink) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	if p.File == nil {
		return dispatch.Receipt{}, retry.Permanent(errors.New("an sftp destination takes whole files, not records"))
	}
	if err := s.Put(ctx, p.Name, p.File); err != nil {
		return dispatch.Receipt{}, err
	}
	return dispatch.Receipt{Result: dispatch.Delivered}, nil
}

// upload writes r to p and, unless NoStat, checks the size the server
// reports. It opens with O_WRONLY|O_CREATE|O_TRUNC rather than Create's
// O_RDWR, which AWS Transfer and other write-only drop boxes reject.
func (s *Sink) upload(ctx context.Context, c *pkgsftp.Client, p string, r io.Reader) error {
	f, err := c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	n, err := io.Copy(f, contextReader{ctx, r})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", p, cerr)
	}
	if err == nil && !s.cfg.NoStat {
		err = checkSize(c, p, n)
	}
	if err != nil {
		// Leave no truncated file behind, not even under the final name
		// (NoRename): readers must see the whole file or nothing.
		c.Remove(p)
		return fmt.Errorf("upload %s: %w", p, err)
	}
	return nil
}

func checkSize(c *pkgsftp.Client, p string, want int64) error {
	fi, err := c.Stat(p)
	if err != nil {
		return fmt.Errorf("stat after upload (set no_stat if the server refuses stat): %w", err)
	}
	if fi.Size() != want {
		return fmt.Errorf("server reports %d bytes after writing %d", fi.Size(), want)
	}
	return nil
}

// Close closes the connection. The Sink stays usable: a later Put uses a
// one-off connection.
func (s *Sink) Close() error {
	return s.conn.Close()
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
