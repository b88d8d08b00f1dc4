package sftp

import (
	"net"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestPinnedRoundsStartWithTheHint checks that a connection asks first for
// the key type that matched last time, and for every key type once.
func TestPinnedRoundsStartWithTheHint(t *testing.T) {
	v := &hostKeyVerifier{pinned: []string{"SHA256:x"}}
	plain := v.rounds(nil)
	if len(plain) < 3 || !slices.Equal(plain[0], []string{ssh.KeyAlgoED25519}) {
		t.Fatalf("rounds = %q, want ed25519 first and every key type", plain)
	}
	rsa := []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	hinted := v.rounds(&hostKeyHint{algos: rsa})
	if !slices.Equal(hinted[0], rsa) || len(hinted) != len(plain) {
		t.Errorf("rounds with an RSA hint = %q, want RSA first and no round twice", hinted)
	}
	known := (&hostKeyVerifier{known: func(string, net.Addr, ssh.PublicKey) error { return nil }}).rounds(nil)
	if len(known) != 1 || known[0] != nil {
		t.Errorf("known_hosts rounds = %q, want one with the listed types", known)
	}
}
