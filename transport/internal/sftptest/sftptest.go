// Package sftptest runs an SSH server with the "sftp" subsystem on
// 127.0.0.1 for tests. Files are served from a temporary directory by
// pkg/sftp's server, or by a real sftp-server program such as OpenSSH's.
//
// Every SFTP packet passes through a small proxy, which lets tests count
// directory listings, make the server refuse renames, answer a rename
// onto an existing name as OpenSSH or ProFTPD do, or hide protocol
// extensions (posix-rename@openssh.com) whatever the backend.
package sftptest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Options configure a test server.
type Options struct {
	// User is the only user name accepted; default "tester".
	User string
	// Password enables password authentication when non-empty.
	Password string
	// AuthorizedKeys are the public keys accepted for User.
	AuthorizedKeys []ssh.PublicKey
	// ServerBinary, if set, is an sftp-server program (for example
	// OpenSSH's /usr/lib/openssh/sftp-server) run for each session with
	// Root as its working directory, instead of pkg/sftp's server.
	ServerBinary string
	// HideExtensions strips the extensions the backend advertises, so
	// clients see a plain SFTP v3 server without posix-rename.
	HideExtensions bool
	// HostKeyTypes are the kinds of host key the server holds, in order:
	// "ed25519", "ecdsa" (P-256) or "rsa" (2048 bits). Default ed25519
	// only; a stock OpenSSH server holds all three.
	HostKeyTypes []string
}

// Server is a running test server. Relative paths sent by clients resolve
// against Root.
type Server struct {
	Addr        string        // 127.0.0.1:port
	HostKey     ssh.PublicKey // the server's first throwaway host key (ed25519 by default)
	Fingerprint string        // HostKey's SHA256 fingerprint, as ssh-keygen prints it
	// HostKeys are all the server's host keys, in Options.HostKeyTypes
	// order, and Fingerprints theirs.
	HostKeys     []ssh.PublicKey
	Fingerprints []string
	Root         string // directory served
	User         string // accepted user name

	opts   Options
	ln     net.Listener
	config *ssh.ServerConfig
	wg     sync.WaitGroup // every goroutine the server starts

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	refuseRename   atomic.Bool
	refuseStat     atomic.Bool
	renameExisting atomic.Int32 // a RenameOverExisting
	password       atomic.Pointer[string]
	logins         atomic.Int64
	failedLogins   atomic.Int64
	connections    atomic.Int64
	listings       atomic.Int64
	listing        listingState // see listing.go
}

// Start starts a server and registers its Close with t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.User == "" {
		opts.User = "tester"
	}
	if len(opts.HostKeyTypes) == 0 {
		opts.HostKeyTypes = []string{"ed25519"}
	}
	s := &Server{
		Root:  t.TempDir(),
		User:  opts.User,
		opts:  opts,
		conns: make(map[net.Conn]struct{}),
	}
	s.config = &ssh.ServerConfig{PublicKeyCallback: s.checkKey, AuthLogCallback: s.logAuth}
	s.password.Store(&opts.Password)
	if opts.Password != "" {
		s.config.PasswordCallback = s.checkPassword
	}
	for _, kind := range opts.HostKeyTypes {
		signer, err := newHostKey(kind)
		if err != nil {
			t.Fatalf("sftptest: host key: %v", err)
		}
		// Like OpenSSH's sshd, the server then picks the first key type
		// in the client's order of preference that it holds.
		s.config.AddHostKey(signer)
		s.HostKeys = append(s.HostKeys, signer.PublicKey())
		s.Fingerprints = append(s.Fingerprints, ssh.FingerprintSHA256(signer.PublicKey()))
	}
	s.HostKey, s.Fingerprint = s.HostKeys[0], s.Fingerprints[0]

	var err error
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sftptest: listen: %v", err)
	}
	s.Addr = s.ln.Addr().String()
	s.wg.Add(1)
	go s.accept()
	// Registered after t.TempDir, so it runs first: the server and any
	// sftp-server processes are gone before the directory is removed.
	t.Cleanup(s.Close)
	return s
}

// newHostKey generates a throwaway host key of one of the kinds of
// Options.HostKeyTypes.
func newHostKey(kind string) (ssh.Signer, error) {
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unknown host key type %q: want ed25519, ecdsa or rsa", kind)
	}
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// Path joins elem to Root.
func (s *Server) Path(elem ...string) string {
	return filepath.Join(append([]string{s.Root}, elem...)...)
}

// SetRefuseRename makes the server answer rename and posix-rename with
// "permission denied", like object-store gateways that cannot rename.
func (s *Server) SetRefuseRename(refuse bool) { s.refuseRename.Store(refuse) }

// RenameOverExisting is how a server answers a plain SFTP v3 rename
// (SSH_FXP_RENAME) onto a name that already exists. The protocol says it
// fails; servers say so differently.
type RenameOverExisting int32

const (
	// RenameAsBackend leaves it to the backend: pkg/sftp's server
	// replaces the file (os.Rename), OpenSSH's refuses with
	// SSH_FX_FAILURE.
	RenameAsBackend RenameOverExisting = iota
	// RenameFailure refuses with SSH_FX_FAILURE, as OpenSSH's
	// sftp-server does.
	RenameFailure
	// RenameAlreadyExists refuses with status 11 (SSH_FX_FILE_ALREADY_EXISTS
	// of later drafts, unknown to SFTP v3 clients) and the message "File
	// already exists", as ProFTPD's mod_sftp does.
	RenameAlreadyExists
)

// SetRenameOverExisting sets how the server answers a v3 rename onto an
// existing name. posix-rename@openssh.com, which replaces, is not
// affected (hide it with Options.HideExtensions).
func (s *Server) SetRenameOverExisting(r RenameOverExisting) { s.renameExisting.Store(int32(r)) }

// SetPassword changes the password of a server started with one.
func (s *Server) SetPassword(password string) { s.password.Store(&password) }

// SetRefuseStat makes the server answer stat, lstat and fstat with
// "permission denied", like write-only drop boxes.
func (s *Server) SetRefuseStat(refuse bool) { s.refuseStat.Store(refuse) }

// Logins returns the number of successful SSH logins so far.
func (s *Server) Logins() int64 { return s.logins.Load() }

// FailedLogins returns the number of refused authentication attempts
// (password or public key) so far: what an account lockout or fail2ban
// counts.
func (s *Server) FailedLogins() int64 { return s.failedLogins.Load() }

// Connections returns the number of TCP connections accepted so far,
// including those a client dropped during the key exchange.
func (s *Server) Connections() int64 { return s.connections.Load() }

// Listings returns the number of directory listings (SSH_FXP_OPENDIR)
// clients have requested so far.
func (s *Server) Listings() int64 { return s.listings.Load() }

// DropConnections closes every open client connection abruptly, as a
// network failure would, and reports how many it closed. The server keeps
// accepting new connections.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
	return len(s.conns)
}

// Close stops the server and waits for all its goroutines and processes.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) logAuth(_ ssh.ConnMetadata, method string, err error) {
	if err != nil && method != "none" {
		s.failedLogins.Add(1)
	}
}

func (s *Server) checkPassword(meta ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	if meta.User() == s.opts.User && subtle.ConstantTimeCompare(password, []byte(*s.password.Load())) == 1 {
		return nil, nil
	}
	return nil, errors.New("wrong password")
}

func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if meta.User() == s.opts.User {
		for _, k := range s.opts.AuthorizedKeys {
			if bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil, nil
			}
		}
	}
	return nil, errors.New("key not authorized")
}

// accept runs until the listener is closed.
func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.connections.Add(1)
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
}

// serveConn runs until the connection closes.
func (s *Server) serveConn(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second)) // a stalled handshake must not hang Close
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.config)
	if err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	s.logins.Add(1)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs) // returns when the connection closes
	}()
	for nch := range chans { // closed when the connection closes
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only sessions are supported")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(ch, chReqs)
		}()
	}
	sc.Close()
	wg.Wait()
}

// serveSession waits for the "sftp" subsystem request and serves it until
// either side closes the channel.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		var sub struct{ Name string }
		if req.Type != "subsystem" || ssh.Unmarshal(req.Payload, &sub) != nil || sub.Name != "sftp" {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			ssh.DiscardRequests(reqs) // returns when the channel closes
		}()
		status := uint32(0)
		if err := s.serveSFTP(ch); err != nil {
			fmt.Fprintf(ch.Stderr(), "sftptest: %v\n", err)
			status = 1
		}
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		ch.Close()
		<-drained
		return
	}
}

// serveSFTP starts a backend and proxies packets between it and ch.
func (s *Server) serveSFTP(ch ssh.Channel) error {
	if s.opts.ServerBinary != "" {
		cmd := exec.Command(s.opts.ServerBinary)
		cmd.Dir = s.Root
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", s.opts.ServerBinary, err)
		}
		s.proxy(ch, struct {
			io.Reader
			io.WriteCloser
		}{stdout, stdin})
		// proxy returns once stdout reached EOF: the process is exiting.
		return cmd.Wait()
	}

	ours, theirs := net.Pipe()
	srv, err := pkgsftp.NewServer(theirs, pkgsftp.WithServerWorkingDirectory(s.Root))
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() {
		err := srv.Serve() // returns when ours is closed
		srv.Close()
		if errors.Is(err, io.EOF) {
			err = nil
		}
		served <- err
	}()
	s.proxy(ch, ours)
	return <-served
}

// SFTP packet types the proxy looks at (draft-ietf-secsh-filexfer-02).
const (
	fxpVersion  = 2
	fxpLstat    = 7
	fxpFstat    = 8
	fxpOpendir  = 11
	fxpStat     = 17
	fxpRename   = 18
	fxpStatus   = 101
	fxpExtended = 200

	fxFailure           = 4
	fxPermissionDenied  = 3
	fxFileAlreadyExists = 11
)

// proxy copies whole packets between the client channel and the backend,
// applying the test switches. It returns when both directions have ended.
func (s *Server) proxy(ch ssh.Channel, backend io.ReadWriteCloser) {
	var wmu sync.Mutex // replies from the proxy and the backend interleave by packet
	send := func(pkt []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := ch.Write(pkt)
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ch.Close() // ends the client-side loop below if the backend quits first
		for {
			pkt, err := readPacket(backend)
			if err != nil {
				return
			}
			if s.opts.HideExtensions && pkt[4] == fxpVersion {
				pkt = append([]byte{0, 0, 0, 5}, pkt[4:9]...) // version number only
			}
			pkt = s.rewriteReply(pkt)
			if send(pkt) != nil {
				return
			}
		}
	}()
	for {
		pkt, err := readPacket(ch)
		if err != nil {
			break
		}
		if pkt[4] == fxpOpendir {
			s.listings.Add(1)
		}
		if code, refusal := s.refusal(pkt); refusal != "" {
			if send(statusPacket(pkt[5:9], code, refusal)) != nil {
				break
			}
			continue
		}
		if reply := s.intercept(pkt); reply != nil {
			if send(reply) != nil {
				break
			}
			continue
		}
		if _, err := backend.Write(pkt); err != nil {
			break
		}
	}
	backend.Close()
	<-done
}

// refusal returns the status and message the proxy answers pkt with
// itself, or "" to pass it on.
func (s *Server) refusal(pkt []byte) (uint32, string) {
	switch {
	case s.refuseRename.Load() && isRename(pkt):
		return fxPermissionDenied, "rename refused by test server"
	case s.refuseStat.Load() && (pkt[4] == fxpLstat || pkt[4] == fxpFstat || pkt[4] == fxpStat):
		return fxPermissionDenied, "stat refused by test server"
	case pkt[4] == fxpRename && s.renameExisting.Load() != int32(RenameAsBackend) && s.renameTargetExists(pkt):
		if RenameOverExisting(s.renameExisting.Load()) == RenameAlreadyExists {
			return fxFileAlreadyExists, "File already exists"
		}
		return fxFailure, "Failure"
	}
	return 0, ""
}

// renameTargetExists reports whether the new path of an SSH_FXP_RENAME
// packet names something that exists. Relative paths resolve against
// Root, as both backends resolve them.
func (s *Server) renameTargetExists(pkt []byte) bool {
	_, rest, ok := sftpString(pkt[9:]) // old path
	if !ok {
		return false
	}
	newPath, _, ok := sftpString(rest)
	if !ok {
		return false
	}
	if !filepath.IsAbs(newPath) {
		newPath = filepath.Join(s.Root, newPath)
	}
	_, err := os.Lstat(newPath)
	return err == nil
}

// sftpString splits a length-prefixed string off b.
func sftpString(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}

// readPacket reads one length-prefixed SFTP packet, prefix included.
func readPacket(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 5 || n > 4<<20 {
		return nil, fmt.Errorf("sftptest: bad packet length %d", n)
	}
	pkt := make([]byte, 4+n)
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(r, pkt[4:]); err != nil {
		return nil, err
	}
	return pkt, nil
}

func isRename(pkt []byte) bool {
	switch pkt[4] {
	case fxpRename:
		return true
	case fxpExtended:
		if len(pkt) < 13 {
			return false
		}
		name, _, ok := sftpString(pkt[9:])
		return ok && name == "posix-rename@openssh.com"
	}
	return false
}

func statusPacket(id []byte, code uint32, msg string) []byte {
	body := []byte{fxpStatus}
	body = append(body, id...)
	body = binary.BigEndian.AppendUint32(body, code)
	body = binary.BigEndian.AppendUint32(body, uint32(len(msg)))
	body = append(body, msg...)
	body = binary.BigEndian.AppendUint32(body, 0) // language tag
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// ServerBinaryPaths are where distributions install OpenSSH's sftp-server.
var ServerBinaryPaths = []string{
	"/usr/lib/openssh/sftp-server",     // Debian, Ubuntu
	"/usr/lib/sftp-server",             // Arch, Alpine
	"/usr/libexec/openssh/sftp-server", // Fedora, RHEL
	"/usr/libexec/sftp-server",         // macOS
}

// RequireServerBinary returns the path of OpenSSH's sftp-server. When it is
// missing the test is skipped, except in CI (CI set), where it fails: CI
// must not skip the test against the real server.
func RequireServerBinary(t testing.TB) string {
	t.Helper()
	for _, p := range ServerBinaryPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	msg := fmt.Sprintf("OpenSSH sftp-server not found in %v (Debian: apt-get install openssh-sftp-server)", ServerBinaryPaths)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
