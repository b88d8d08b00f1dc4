package sftptest

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// This file holds the switches that make the server misbehave as some
// servers do with the files it serves: keep listing files after they were
// moved, and list names no file system would hold. They work the same
// whatever the backend.

// More SFTP packet types (draft-ietf-secsh-filexfer-02).
const (
	fxpOpen    = 3
	fxpReaddir = 12
	fxpRemove  = 13
	fxpName    = 104

	fxOK = 0

	attrSize        = 0x1
	attrUIDGID      = 0x2
	attrPermissions = 0x4
	attrACModTime   = 0x8
	attrExtended    = 0x80000000
)

// listingState holds the switches of this file and what they saw.
type listingState struct {
	mu          sync.Mutex
	keepListing bool
	listedAs    map[string]string // name in a folder → name listed instead
	opens       map[string]int    // path as the client sent it → OPEN requests
	readdirs    map[uint32]bool   // ids of READDIR requests not yet answered
}

// SetKeepListing makes the server answer rename, posix-rename and remove
// with success while leaving the file where it was (a rename copies it to
// the new name): the file goes on being listed and served after it was
// moved or removed, as some servers' caches and gateways do.
func (s *Server) SetKeepListing(keep bool) {
	s.listing.mu.Lock()
	defer s.listing.mu.Unlock()
	s.listing.keepListing = keep
}

// ListAs makes directory listings show the file called name (in any
// folder) as listed instead: a way to serve names that no file system
// holds, such as "../x.csv", "/etc/passwd" or a name of 300 bytes. Only
// the listing changes; the file is still reached under name.
func (s *Server) ListAs(name, listed string) {
	s.listing.mu.Lock()
	defer s.listing.mu.Unlock()
	if s.listing.listedAs == nil {
		s.listing.listedAs = make(map[string]string)
	}
	s.listing.listedAs[name] = listed
}

// Opens returns how many times clients have opened the file at p (as the
// client names it, e.g. "inbox/plan.csv"), for reading or writing.
func (s *Server) Opens(p string) int {
	s.listing.mu.Lock()
	defer s.listing.mu.Unlock()
	return s.listing.opens[p]
}

// intercept looks at a packet from the client before the backend gets it.
// It returns the reply to send instead of passing the packet on, or nil.
func (s *Server) intercept(pkt []byte) []byte {
	l := &s.listing
	l.mu.Lock()
	defer l.mu.Unlock()
	id := pkt[5:9]
	switch pkt[4] {
	case fxpOpen:
		if p, _, ok := readString(pkt[9:]); ok {
			if l.opens == nil {
				l.opens = make(map[string]int)
			}
			l.opens[p]++
		}
	case fxpReaddir:
		if l.listedAs != nil {
			if l.readdirs == nil {
				l.readdirs = make(map[uint32]bool)
			}
			l.readdirs[binary.BigEndian.Uint32(id)] = true
		}
	case fxpRemove:
		if l.keepListing {
			return statusPacket(id, fxOK, "")
		}
	case fxpRename, fxpExtended:
		if !l.keepListing || !isRename(pkt) {
			return nil
		}
		rest := pkt[9:]
		if pkt[4] == fxpExtended {
			_, rest, _ = readString(rest) // the extension's name
		}
		from, rest, ok1 := readString(rest)
		to, _, ok2 := readString(rest)
		if !ok1 || !ok2 {
			return nil
		}
		if err := copyFile(s.resolve(from), s.resolve(to)); err != nil {
			return statusPacket(id, fxFailure, err.Error())
		}
		return statusPacket(id, fxOK, "")
	}
	return nil
}

// rewriteReply changes a packet from the backend before the client gets
// it: the names in answers to READDIR, as ListAs asks.
func (s *Server) rewriteReply(pkt []byte) []byte {
	if len(pkt) < 9 || pkt[4] != fxpName {
		return pkt
	}
	l := &s.listing
	l.mu.Lock()
	defer l.mu.Unlock()
	id := binary.BigEndian.Uint32(pkt[5:9])
	if !l.readdirs[id] {
		return pkt
	}
	delete(l.readdirs, id)
	out, err := renameEntries(pkt, l.listedAs)
	if err != nil {
		return pkt // not a packet this parser understands: leave it
	}
	return out
}

// resolve is the local path of a path a client sent: relative paths are
// taken from Root, as both backends do.
func (s *Server) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.Root, p)
}

// renameEntries rebuilds a NAME packet with the file names in names
// replaced.
func renameEntries(pkt []byte, names map[string]string) ([]byte, error) {
	body := pkt[4:]
	if len(body) < 9 {
		return nil, io.ErrUnexpectedEOF
	}
	count := binary.BigEndian.Uint32(body[5:9])
	out := append([]byte(nil), body[:9]...)
	rest := body[9:]
	for range count {
		name, r, ok := readString(rest)
		if !ok {
			return nil, io.ErrUnexpectedEOF
		}
		long, r, ok := readString(r)
		if !ok {
			return nil, io.ErrUnexpectedEOF
		}
		n, err := attrsLen(r)
		if err != nil {
			return nil, err
		}
		if listed, ok := names[name]; ok {
			name, long = listed, listed
		}
		out = appendString(appendString(out, name), long)
		out = append(out, r[:n]...)
		rest = r[n:]
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(out))), out...), nil
}

// attrsLen is the length of the ATTRS at the start of b.
func attrsLen(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	flags := binary.BigEndian.Uint32(b)
	n := 4
	if flags&attrSize != 0 {
		n += 8
	}
	if flags&attrUIDGID != 0 {
		n += 8
	}
	if flags&attrPermissions != 0 {
		n += 4
	}
	if flags&attrACModTime != 0 {
		n += 8
	}
	if flags&attrExtended != 0 {
		if len(b) < n+4 {
			return 0, io.ErrUnexpectedEOF
		}
		pairs := binary.BigEndian.Uint32(b[n:])
		n += 4
		for range 2 * pairs {
			_, r, ok := readString(b[n:])
			if !ok {
				return 0, io.ErrUnexpectedEOF
			}
			n = len(b) - len(r)
		}
	}
	if n > len(b) {
		return 0, io.ErrUnexpectedEOF
	}
	return n, nil
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("keep-listing rename: %w", err)
	}
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		return fmt.Errorf("keep-listing rename: %w", err)
	}
	return os.Chtimes(to, fi.ModTime(), fi.ModTime())
}
