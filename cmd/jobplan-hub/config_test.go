package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"golang.org/x/crypto/ssh"
)

func TestConfigCheckReportsEveryProblemWithItsPosition(t *testing.T) {
	const token = "s3cr3t-token-value"
	t.Setenv("HUB_TEST_TOKEN", token)
	os.Unsetenv("HUB_TEST_UNSET")
	code, stdout, stderr := runCLI(t, "config", "check", "testdata/hub/bad.yaml")
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	if strings.Contains(stderr, token) {
		t.Errorf("the problems print the token:\n%s", stderr)
	}
	dir, err := filepath.Abs("testdata/hub")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "hub", "bad.want"), []byte(strings.ReplaceAll(stderr, dir, "$DIR")))
}

func TestConfigCheckAcceptsSoundFile(t *testing.T) {
	t.Setenv("HUB_TEST_STATE", t.TempDir())
	t.Setenv("HUB_TEST_TOKEN", "x")
	code, stdout, stderr := runCLI(t, "config", "check", "testdata/hub/good.yaml")
	if code != 0 || stdout != "testdata/hub/good.yaml: ok (1 sources, 2 destinations)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Without the token variable, the same file has a problem.
	os.Unsetenv("HUB_TEST_TOKEN")
	code, _, stderr = runCLI(t, "config", "check", "testdata/hub/good.yaml")
	if want := "testdata/hub/good.yaml:20:5: destination \"esr\": environment variable HUB_TEST_TOKEN is not set\n"; code != 1 || stderr != want {
		t.Errorf("without the token: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}

func TestConfigCheckPositions(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		// Where the list that lacks an entry starts (yaml.v3 counts
		// those lines from 0; this said 2:1).
		{"testdata/hub/syntax.yaml", "testdata/hub/syntax.yaml:3:1: YAML syntax: "},
		// A mapping's problems are reported in the mapping file's
		// positions (the wording is the mapping package's).
		{"testdata/hub/broken-mapping-hub.yaml", "testdata/hub/broken-mapping.yaml:6:3: "},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			code, _, stderr := runCLI(t, "config", "check", tc.file)
			if code != 1 || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr:\n%s\nwant 1 and one line starting %q", code, stderr, tc.want)
			}
		})
	}
}

// TestConfigCheckReadsStaffExtracts: a staff extract that exists but
// cannot be used is reported at the source naming it.
func TestConfigCheckReadsStaffExtracts(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "staff.csv"), "nothing,here\n1,2\n")
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(dir, "hub.yaml")
	testutil.WriteFile(t, hubFile, `state_dir: state
sources:
  - name: trust-a
    type: local
    dir: drop
    mapping: `+mappingFile+`
    staff: staff.csv
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: outbox
`)
	code, stdout, stderr := runCLI(t, "config", "check", hubFile)
	if code != 1 || stdout != "" || !strings.Contains(stderr, hubFile+`:7:5: source "trust-a": staff: `) ||
		!strings.Contains(stderr, `"Assignment Number"`) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the extract's problem at line 7", code, stdout, stderr)
	}
}

// TestConfigCheckTriesTheSFTPKey: config check parses the key with its
// passphrase, and reports a wrong one, a missing one and one that the key
// does not need at the key that is wrong.
func TestConfigCheckTriesTheSFTPKey(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeKey := func(name, passphrase string) string {
		var block *pem.Block
		if passphrase == "" {
			block, err = ssh.MarshalPrivateKey(priv, "")
		} else {
			block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		testutil.WriteFile(t, path, string(pem.EncodeToMemory(block)))
		return path
	}
	encrypted, plain := writeKey("encrypted", "right horse"), writeKey("plain", "")
	mapping, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hub := func(key, passphrase string) string {
		extra := ""
		if passphrase != "" {
			extra = "\n      key_passphrase: " + passphrase
		}
		path := filepath.Join(dir, "hub.yaml")
		testutil.WriteFile(t, path, `state_dir: `+dir+`
sources:
  - name: a
    type: local
    dir: `+dir+`
    mapping: `+mapping+`
    destinations: [remote]
destinations:
  - name: remote
    type: sftp
    dir: /incoming
    sftp:
      addr: 127.0.0.1:2222
      user: hub
      host_key_fingerprint: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
      key_file: `+key+extra+"\n")
		return path
	}
	for _, tc := range []struct {
		name, key, passphrase, want string
	}{
		{"right passphrase", encrypted, "right horse", ""},
		{"no passphrase needed", plain, "", ""},
		{"wrong passphrase", encrypted, "wrong horse", `hub.yaml:17:7: destination "remote": key_passphrase does not decrypt key_file`},
		{"missing passphrase", encrypted, "", `hub.yaml:16:7: destination "remote": key_file ` + encrypted + ` is passphrase-protected: give key_passphrase`},
		{"passphrase not used", plain, "right horse", `hub.yaml:17:7: destination "remote": key_passphrase is given but key_file ` + plain + ` is not passphrase-protected`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "config", "check", hub(tc.key, tc.passphrase))
			if tc.want == "" {
				if code != 0 {
					t.Errorf("exit %d: %s", code, stderr)
				}
				return
			}
			if code != 1 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr:\n%s\nwant 1 and one line with %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, tc.passphrase) && tc.passphrase != "" {
				t.Errorf("the problem prints the passphrase: %s", stderr)
			}
		})
	}
}

// TestConfigCheckReadsTheClientSecretFile: config check reads the OAuth2
// client secret file, as the hub will, and never prints the secret.
func TestConfigCheckReadsTheClientSecretFile(t *testing.T) {
	dir := t.TempDir()
	mapping, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	hub := filepath.Join(dir, "hub.yaml")
	testutil.WriteFile(t, hub, `state_dir: `+dir+`
sources:
  - {name: a, type: local, dir: `+dir+`, mapping: `+mapping+`, destinations: [esr]}
destinations:
  - name: esr
    type: esr_api
    url: https://esr.example.nhs.uk/api/jobplans
    oauth2:
      token_url: https://esr.example.nhs.uk/oauth/token
      client_id: trust-a
      client_secret_file: secret
    payload:
      jobPlan: {$record: true}
    response_id: /data/id
`)
	testutil.WriteFile(t, secret, "zz-secret-zz\n")
	if code, stdout, stderr := runCLI(t, "config", "check", hub); code != 0 || !strings.HasSuffix(stdout, ": ok (1 sources, 1 destinations)\n") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	testutil.WriteFile(t, secret, "\n")
	code, _, stderr := runCLI(t, "config", "check", hub)
	if code != 1 || !strings.Contains(stderr, `hub.yaml:11:7: destination "esr": oauth2: client_secret_file `+secret+` is empty`) {
		t.Errorf("empty secret file: exit %d, stderr %q", code, stderr)
	}
}
