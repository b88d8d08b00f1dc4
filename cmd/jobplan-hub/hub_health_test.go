package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"golang.org/x/crypto/ssh"
)

// refusingSSHServer is an SSH server on loopback that refuses every
// password, counting the attempts.
type refusingSSHServer struct {
	addr, fingerprint string
	refused           atomic.Int64
}

func startRefusingSSHServer(t *testing.T) *refusingSSHServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s := &refusingSSHServer{fingerprint: ssh.FingerprintSHA256(signer.PublicKey())}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
			s.refused.Add(1)
			return nil, errors.New("wrong password")
		},
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() { // ends when the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ssh.NewServerConn(c, cfg) // fails: no password is right
			}()
		}
	}()
	return s
}

// TestRunShowsARefusedLogin runs the hub with an SFTP source whose
// password the server refuses: it logs in once and backs off, and
// /healthz and status say "authentication refused".
func TestRunShowsARefusedLogin(t *testing.T) {
	bin, root, _ := hubDirs(t)
	srv := startRefusingSSHServer(t)
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, fmt.Sprintf(`state_dir: state
sources:
  - name: supplier-b
    type: sftp
    dir: outgoing
    poll_interval: 50ms
    sftp:
      addr: %s
      user: trust-a
      password: not-the-password
      host_key_fingerprint: %s
    mapping: %s
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: outbox
`, srv.addr, srv.fingerprint, mappingFile))
	log := &testutil.Buffer{}
	startHub(t, bin, log, "run", "--config", hubFile, "--listen", "127.0.0.1:0", "--log-format", "json")
	testutil.Eventually(t, "the status page to listen", func() bool { return listeningRE.MatchString(log.String()) })
	base := "http://" + listeningRE.FindStringSubmatch(log.String())[1]

	var body string
	defer func() {
		if t.Failed() {
			t.Logf("healthz: %q\nlog:\n%s", body, log.String())
		}
	}()
	testutil.Eventually(t, "/healthz to name the refused login", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		// Without a token configured, the error follows the condition.
		return err == nil && resp.StatusCode == http.StatusServiceUnavailable &&
			strings.HasPrefix(body, "source supplier-b: authentication refused: sftp list outgoing")
	})
	var stdout string
	testutil.Eventually(t, "status to name the refused login", func() bool {
		var code int
		code, stdout, _ = runCLI(t, "status", "--config", hubFile)
		return code == 0 && strings.Contains(stdout, "source supplier-b: authentication refused since ")
	})
	if !strings.Contains(stdout, ", next attempt ") || !strings.Contains(stdout, "authentication failed") {
		t.Errorf("status lacks the next attempt or the error:\n%s", stdout)
	}
	// The next login is 5 minutes away, not the next poll's 50ms.
	if !strings.Contains(log.String(), `"msg":"source failed; trying again"`) || !strings.Contains(log.String(), `"in":300000000000`) {
		t.Errorf("the log does not put the next login 5 minutes away:\n%s", log.String())
	}
	if n := srv.refused.Load(); n != 1 {
		t.Errorf("the server refused %d logins, want 1", n)
	}
	_, out, _ := runCLI(t, "status", "--config", hubFile, "--json")
	if !strings.Contains(out, `"condition": "authentication refused"`) || !strings.Contains(out, `"retry_at": "`) {
		t.Errorf("status --json lacks the problem:\n%s", out)
	}
}
