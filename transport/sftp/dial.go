package sftp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// ErrAuthFailed reports that the server rejected every configured
// authentication method. Dial marks it permanent: retrying with the same
// credentials cannot succeed and may lock the account.
var ErrAuthFailed = errors.New("authentication failed")

var errHostKeyUnconfigured = errors.New("no host key verification configured: set host_key_fingerprint " +
	"(the SHA256:... value printed by ssh-keygen -lf for the server's key) or known_hosts_file")

// HostKeyError reports a server host key that the configuration does not
// trust. It names the key the server offered (and, for pinned
// fingerprints, every other key it offered when asked for other key
// types) so that an operator can compare them with the fingerprints the
// server's administrator publishes.
type HostKeyError struct {
	Host        string // host:port as dialled
	KeyType     string // type of the (first) offered key, such as "ssh-ed25519"
	Fingerprint string // SHA256 fingerprint of that key
	// OtherKeys are further keys the server offered, as "type SHA256:...".
	OtherKeys []string
	Reason    string // why the keys were refused
	Err       error  // underlying known_hosts error, if any
}

func (e *HostKeyError) Error() string {
	also := ""
	if len(e.OtherKeys) > 0 {
		also = " (and " + strings.Join(e.OtherKeys, ", ") + ")"
	}
	return fmt.Sprintf("host key for %s not trusted: server offered %s key %s%s: %s",
		e.Host, e.KeyType, e.Fingerprint, also, e.Reason)
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// LoginError reports that logging in to a server failed in a way that
// trying again at once cannot fix: the server refused the credentials
// (ErrAuthFailed) or presented a host key that is not trusted
// (*HostKeyError). Sources and sinks then wait until RetryAt before they
// connect again, doubling the wait with each refusal (Config.LoginBackoff
// to LoginBackoffMax), so that a wrong password does not lock the account
// or get the hub banned. Until then they return this error at once,
// classified temporary with the time left as its retry.After.
type LoginError struct {
	Addr     string
	Failures int       // refusals in a row
	RetryAt  time.Time // when the next login will be tried
	Err      error     // the refusal: wraps ErrAuthFailed or a *HostKeyError
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("%v (%d failed login(s) in a row; next attempt at %s)",
		e.Err, e.Failures, e.RetryAt.Local().Format(time.DateTime))
}

func (e *LoginError) Unwrap() error { return e.Err }

// Condition names the failure for health checks and status pages:
// "authentication refused" or "host key mismatch".
func (e *LoginError) Condition() string {
	var hk *HostKeyError
	if errors.As(e.Err, &hk) {
		return "host key mismatch"
	}
	return "authentication refused"
}

// isLoginRefusal reports whether a Dial error is a refused login or host
// key, the failures that LoginError backs off from.
func isLoginRefusal(err error) bool {
	var hk *HostKeyError
	return errors.Is(err, ErrAuthFailed) || errors.As(err, &hk)
}

// Client is an authenticated SSH connection with an SFTP session on it.
// It is safe for concurrent use.
type Client struct {
	addr string
	ssh  *ssh.Client
	sftp *pkgsftp.Client
	// dead is closed once the SFTP session has ended for any reason, so a
	// broken connection is noticed without parsing error text.
	dead chan struct{}
}

// SFTP returns the underlying pkg/sftp client for operations this package
// does not wrap.
func (c *Client) SFTP() *pkgsftp.Client { return c.sftp }

// Close ends the SFTP session and the SSH connection.
func (c *Client) Close() error {
	wasAlive := c.alive()
	err := c.sftp.Close()
	if err2 := c.ssh.Close(); err == nil {
		err = err2
	}
	<-c.dead // the watcher goroutine started in Dial has exited
	if !wasAlive || errors.Is(err, net.ErrClosed) {
		// Closing a connection the server already dropped is not news.
		return nil
	}
	return err
}

// alive reports whether the session is still up.
func (c *Client) alive() bool {
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

// Dial connects to cfg.Addr, verifies the server's host key, authenticates
// and starts an SFTP session. Configuration, host-key and authentication
// failures are marked retry.Permanent; network failures are temporary.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	return dial(ctx, cfg, nil)
}

// hostKeyHint remembers which host key algorithms found a pinned key on
// a server, so that later connections ask for that key type first.
type hostKeyHint struct{ algos []string }

// dial is Dial, asking first for the host key algorithms of hint (if not
// nil) and updating it.
func dial(ctx context.Context, cfg Config, hint *hostKeyHint) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, retry.Permanent(fmt.Errorf("sftp %s: %w", cfg.Addr, err))
	}
	auths, names, err := authMethods(cfg)
	if err != nil {
		return nil, retry.Permanent(fmt.Errorf("sftp %s: %w", cfg.Addr, err))
	}
	verifier, err := newHostKeyVerifier(cfg)
	if err != nil {
		return nil, retry.Permanent(fmt.Errorf("sftp %s: %w", cfg.Addr, err))
	}

	dialCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var c *Client
	for _, algos := range verifier.rounds(hint) {
		verifier.mismatched = false
		c, err = handshake(ctx, dialCtx, cfg, auths, names, verifier, algos)
		if err == nil {
			if hint != nil {
				hint.algos = algos
			}
			return c, nil
		}
		// A pinned key of another type may be next: the server was asked
		// for one key type and offered an unpinned key of it, or holds no
		// key of that type. Nothing was sent but the key exchange.
		var negErr *ssh.AlgorithmNegotiationError
		if !verifier.mismatched && !errors.As(err, &negErr) {
			return nil, err
		}
	}
	if verifier.refused != nil {
		return nil, retry.Permanent(fmt.Errorf("sftp: %w", verifier.refused))
	}
	return nil, err // every round failed to negotiate
}

// handshake makes one connection asking for the host key algorithms
// algos (nil: the ssh package's defaults), checks the key, logs in and
// starts the SFTP session.
func handshake(ctx, dialCtx context.Context, cfg Config, auths []ssh.AuthMethod, names []string,
	verifier *hostKeyVerifier, algos []string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(dialCtx, "tcp", cfg.Addr)
	if err != nil {
		return nil, dialError(ctx, cfg, "connect", err)
	}
	// The SSH and SFTP handshakes take no context; closing the connection
	// is what interrupts them when ctx ends or the timeout passes.
	stop := context.AfterFunc(dialCtx, func() { conn.Close() })

	if algos == nil {
		algos = verifier.algorithms(cfg.Addr, conn.RemoteAddr())
	}
	sshConf := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auths,
		HostKeyCallback:   verifier.check,
		HostKeyAlgorithms: algos,
		AuthCallback:      authGiveUp(names),
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, cfg.Addr, sshConf)
	if err != nil {
		stop()
		conn.Close()
		switch {
		case verifier.mismatched:
			return nil, retry.Permanent(fmt.Errorf("sftp: %w", verifier.refused))
		case errors.Is(err, ErrAuthFailed):
			return nil, retry.Permanent(fmt.Errorf("sftp %s as %s: %w", cfg.Addr, cfg.User, err))
		}
		var negErr *ssh.AlgorithmNegotiationError
		if errors.As(err, &negErr) {
			return nil, retry.Permanent(fmt.Errorf("sftp %s: %w", cfg.Addr, err))
		}
		return nil, dialError(ctx, cfg, "ssh handshake", err)
	}
	sshClient := ssh.NewClient(sc, chans, reqs)
	sftpClient, err := pkgsftp.NewClient(sshClient)
	if err != nil {
		stop()
		sshClient.Close()
		return nil, dialError(ctx, cfg, "start sftp session", err)
	}
	if !stop() {
		// The deadline fired after the session started; the connection
		// is already closed.
		sftpClient.Close()
		sshClient.Close()
		return nil, dialError(ctx, cfg, "start sftp session", net.ErrClosed)
	}
	c := &Client{addr: cfg.Addr, ssh: sshClient, sftp: sftpClient, dead: make(chan struct{})}
	go func() {
		// Exits when the session ends: on Close or when the server or
		// network drops the connection.
		defer close(c.dead)
		sftpClient.Wait()
	}()
	return c, nil
}

// dialError wraps a connection failure: the caller's own cancellation as is,
// everything else as temporary.
func dialError(ctx context.Context, cfg Config, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sftp %s: %s: %w", cfg.Addr, op, ctx.Err())
	}
	return retry.Temporary(fmt.Errorf("sftp %s: %s: %w", cfg.Addr, op, err), 0)
}

// authMethods builds public-key and password authentication from cfg, in
// that order, and returns the SSH method names for authGiveUp.
func authMethods(cfg Config) ([]ssh.AuthMethod, []string, error) {
	var auths []ssh.AuthMethod
	var names []string
	if cfg.KeyFile != "" {
		signer, err := loadSigner(cfg.KeyFile, cfg.KeyPassphrase)
		if err != nil {
			return nil, nil, err
		}
		auths = append(auths, ssh.PublicKeys(signer))
		names = append(names, "publickey")
	}
	if cfg.Password != "" {
		auths = append(auths, ssh.Password(cfg.Password))
		names = append(names, "password")
	}
	return auths, names, nil
}

func loadSigner(file, passphrase string) (ssh.Signer, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if passphrase == "" {
			return nil, fmt.Errorf("key file %s is passphrase-protected: set key_passphrase", file)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, []byte(passphrase))
		if err != nil {
			return nil, fmt.Errorf("decrypt key file %s: %w", file, err)
		}
	case err != nil:
		return nil, fmt.Errorf("parse key file %s: %w", file, err)
	}
	return signer, nil
}

// authGiveUp stops authentication with ErrAuthFailed once every configured
// method has been tried or the server accepts none of them. The ssh package
// would otherwise end with an untyped error, and Dial must tell a rejected
// login (permanent) from a dropped connection (temporary) without reading
// error text.
func authGiveUp(configured []string) ssh.ClientAuthCallback {
	return func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
		for _, m := range configured {
			if !slices.Contains(ac.TriedMethods, m) && slices.Contains(ac.AllowedMethods, m) {
				return nil, nil // let the ssh package pick it from ClientConfig.Auth
			}
		}
		tried := slices.DeleteFunc(slices.Clone(ac.TriedMethods), func(m string) bool { return m == "none" })
		return nil, fmt.Errorf("%w: tried [%s], server accepts [%s]", ErrAuthFailed,
			strings.Join(tried, " "), strings.Join(ac.AllowedMethods, " "))
	}
}

// hostKeyVerifier checks the server's key against pinned fingerprints or
// a known_hosts file. It records its refusal so Dial can classify it however
// the ssh package wraps the callback's error.
type hostKeyVerifier struct {
	pinned    []string // normalized fingerprints
	known     ssh.HostKeyCallback
	knownFile string
	refused   *HostKeyError
	// mismatched is set when the key offered in the current round was
	// refused; dial clears it before each round.
	mismatched bool
}

func newHostKeyVerifier(cfg Config) (*hostKeyVerifier, error) {
	switch {
	case len(cfg.HostKeyFingerprints) > 0:
		v := &hostKeyVerifier{}
		for _, fp := range cfg.HostKeyFingerprints {
			v.pinned = append(v.pinned, normalizeFingerprint(fp))
		}
		return v, nil
	case cfg.KnownHostsFile != "":
		known, err := knownhosts.New(cfg.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("load known_hosts_file: %w", err)
		}
		return &hostKeyVerifier{known: known, knownFile: cfg.KnownHostsFile}, nil
	}
	return nil, errHostKeyUnconfigured
}

func (v *hostKeyVerifier) check(host string, remote net.Addr, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	refuse := func(reason string, err error) error {
		v.refused = &HostKeyError{Host: host, KeyType: key.Type(), Fingerprint: fp, Reason: reason, Err: err}
		v.mismatched = true
		return v.refused
	}
	if v.known == nil {
		if slices.Contains(v.pinned, normalizeFingerprint(fp)) {
			v.refused = nil // an earlier round's key of another type did not match
			return nil
		}
		v.mismatched = true
		if v.refused != nil {
			// Asked for another key type: name every key offered.
			v.refused.OtherKeys = append(v.refused.OtherKeys, key.Type()+" "+fp)
			return v.refused
		}
		what := "host_key_fingerprint " + v.pinned[0]
		if len(v.pinned) > 1 {
			what = "any host_key_fingerprint (" + strings.Join(v.pinned, ", ") + ")"
		}
		return refuse("does not match "+what, nil)
	}
	err := v.known(host, remote, key)
	if err == nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return refuse(fmt.Sprintf("host is not listed in known_hosts file %s; once the server's administrator "+
			"has confirmed this fingerprint, add the key (ssh-keyscan prints it)", v.knownFile), err)
	case errors.As(err, &keyErr):
		var want []string
		for _, k := range keyErr.Want {
			want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		return refuse("known_hosts lists a different key for this host: "+strings.Join(want, ", "), err)
	case errors.As(err, &revoked):
		return refuse(fmt.Sprintf("key is marked @revoked at %s:%d", revoked.Revoked.Filename, revoked.Revoked.Line), err)
	}
	return refuse("known_hosts check failed", err)
}

// rounds are the host key algorithm sets to ask for, one connection each,
// until the server presents a trusted key. A fingerprint does not say
// which type of key it is of, so for pins every key type is asked for in
// turn, starting with the one that matched last time (hint) and then
// ed25519, the type most servers are set up with today; a server holding
// keys of several types would otherwise present the one the ssh package
// prefers (ECDSA) and be refused although its pinned ed25519 key is
// correct. For known_hosts there is one round: it lists the key types
// (see algorithms).
func (v *hostKeyVerifier) rounds(hint *hostKeyHint) [][]string {
	if v.known != nil {
		return [][]string{nil}
	}
	var rounds [][]string
	if hint != nil && hint.algos != nil {
		rounds = append(rounds, hint.algos)
	}
	for _, algos := range pinnedKeyRounds() {
		if !slices.ContainsFunc(rounds, func(r []string) bool { return slices.Equal(r, algos) }) {
			rounds = append(rounds, algos)
		}
	}
	return rounds
}

// pinnedKeyRounds groups the ssh package's host key algorithms (not
// certificates) by key type, ed25519 first: an RSA key is one key whatever
// hash signs with it.
func pinnedKeyRounds() [][]string {
	rounds := [][]string{{ssh.KeyAlgoED25519}}
	var rsaAlgos []string
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		switch {
		case strings.Contains(a, "-cert-"), a == ssh.KeyAlgoED25519, a == ssh.KeyAlgoRSA:
		case a == ssh.KeyAlgoRSASHA256 || a == ssh.KeyAlgoRSASHA512:
			rsaAlgos = append(rsaAlgos, a)
		default:
			rounds = append(rounds, []string{a})
		}
	}
	// SHA-512 first, as OpenSSH clients ask.
	slices.Sort(rsaAlgos)
	slices.Reverse(rsaAlgos)
	if len(rsaAlgos) > 0 {
		rounds = append(rounds, rsaAlgos)
	}
	return rounds
}

// algorithms lists the host key algorithms known_hosts has keys for, so a
// server holding several host keys presents one we can check. Without this
// the server may offer, say, its ECDSA key while known_hosts lists only its
// ed25519 key, and the connection fails with a misleading mismatch. It
// returns nil (the ssh package's defaults) for hosts known_hosts does not
// list.
func (v *hostKeyVerifier) algorithms(host string, remote net.Addr) []string {
	if v.known == nil {
		return nil
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	// A fresh random key matches nothing, so the error lists every key
	// known_hosts holds for the host.
	var keyErr *knownhosts.KeyError
	if !errors.As(v.known(host, remote, probe), &keyErr) {
		return nil
	}
	supported := ssh.SupportedAlgorithms().HostKeys
	var algos []string
	for _, k := range keyErr.Want {
		for _, a := range signatureAlgorithms(k.Key.Type()) {
			if slices.Contains(supported, a) && !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// signatureAlgorithms maps a key type to the host key algorithms that use
// it. RSA keys sign with SHA-2 (RFC 8332); SHA-1 "ssh-rsa" is left out.
func signatureAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}
