package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
)

var updateHub = flag.Bool("update-hub", false, "rewrite the hub tests' golden files")

// runCLI runs the command in-process and returns its exit status and
// output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"jobplan-hub"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/hub/<name>, or rewrites it with
// -update-hub.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "hub", name)
	if *updateHub {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update-hub to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

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
	golden(t, "bad.want", strings.ReplaceAll(stderr, dir, "$DIR"))
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
		{"testdata/hub/syntax.yaml", "testdata/hub/syntax.yaml:2:1: YAML syntax: "},
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

func TestParseHubConfigResolvesPathsAndSecrets(t *testing.T) {
	env := map[string]string{"STATE": "/var/lib/hub", "TOKEN": "xyzzy-42"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	data := []byte(`state_dir: ${STATE}
sources:
  - name: a
    type: local
    dir: drop
    mapping: maps/a.yaml
    destinations: [esr, box]
destinations:
  - name: esr
    type: esr_api
    url: https://esr.example/api
    token: ${TOKEN}
    concurrency: 8
  - name: box
    type: outbox
    dir: out
`)
	cfg, err := parseHubConfig("/etc/hub/hub.yaml", data, getenv, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/hub" || cfg.Sources[0].Dir != "/etc/hub/drop" ||
		cfg.Sources[0].Mapping != "/etc/hub/maps/a.yaml" || cfg.Destinations[1].Dir != "/etc/hub/out" {
		t.Errorf("paths not resolved against the hub file's folder: %+v", cfg)
	}
	if cfg.Destinations[0].Token != "xyzzy-42" || cfg.Destinations[0].Concurrency != 8 {
		t.Errorf("esr destination %+v", cfg.Destinations[0])
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg.Destinations[0], cfg.Destinations[0], cfg.Destinations[0]); strings.Contains(s, "xyzzy-42") {
		t.Errorf("formatting the destination shows its token: %s", s)
	}
}

func TestInterpolate(t *testing.T) {
	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "EMPTY": ""}[k]
		return v, ok
	}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-${A}", want: "x-alpha-alpha"},
		{in: "${EMPTY}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${not a name}", err: "${not a name}: not an environment variable name"},
		{in: "${A", err: `"${" without a closing "}"`},
	} {
		got, err := interpolate(tc.in, getenv)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("interpolate(%q) error = %v, want %q", tc.in, err, tc.err)
			}
		case err != nil || got != tc.want:
			t.Errorf("interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestProblemsIsAnError(t *testing.T) {
	var err error = Problems{{File: "h.yaml", Line: 3, Col: 5, Message: "one"}, {File: "h.yaml", Message: "two"}, {Message: "three"}}
	var ps Problems
	if !errors.As(err, &ps) || err.Error() != "h.yaml:3:5: one\nh.yaml: two\nthree" {
		t.Errorf("Problems.Error() = %q", err.Error())
	}
}

// TestConfigCheckReadsStaffExtracts: a staff extract that exists but
// cannot be used is reported at the source naming it.
func TestConfigCheckReadsStaffExtracts(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "staff.csv"), "nothing,here\n1,2\n")
	mappingFile, _ := filepath.Abs("../../mappings/sard-wide.yaml")
	hubFile := filepath.Join(dir, "hub.yaml")
	writeFile(t, hubFile, `state_dir: state
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
		writeFile(t, path, string(pem.EncodeToMemory(block)))
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
		writeFile(t, path, `state_dir: `+dir+`
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

func TestHubFileBreakerKeys(t *testing.T) {
	hub := func(probeMax string) []byte {
		return []byte(`state_dir: /var/lib/hub
sources:
  - name: a
    type: local
    dir: drop
    mapping: a.yaml
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: out
    breaker_failures: 3
    probe_interval: 2s
    probe_interval_max: ` + probeMax + "\n")
	}
	cfg, err := parseHubConfig("/etc/hub/hub.yaml", hub("30s"), os.LookupEnv, false)
	if err != nil {
		t.Fatal(err)
	}
	want := httpsink.BreakerConfig{Failures: 3, ProbeInterval: 2 * time.Second, ProbeIntervalMax: 30 * time.Second}
	if got := cfg.Destinations[0].Breaker; got != want {
		t.Errorf("breaker %+v, want %+v", got, want)
	}
	_, err = parseHubConfig("/etc/hub/hub.yaml", hub("1s"), os.LookupEnv, false)
	if err == nil || err.Error() != `/etc/hub/hub.yaml:14:5: destination "box": probe_interval_max is shorter than probe_interval` {
		t.Errorf("probe_interval_max under probe_interval: %v", err)
	}
}

// esrAPIHub is a hub file with an esr_api destination whose contract is
// configuration; extra is appended to the destination.
func esrAPIHub(extra string) []byte {
	return []byte(`state_dir: /var/lib/hub
sources:
  - name: a
    type: local
    dir: drop
    mapping: a.yaml
    destinations: [esr]
destinations:
  - name: esr
    type: esr_api
    url: https://esr.example.nhs.uk/api/jobplans
` + extra)
}

func TestHubFileESRAPIContract(t *testing.T) {
	env := map[string]string{"ESR_SECRET": "zz-client-secret-zz", "VPD": "123"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := parseHubConfig("/etc/hub/hub.yaml", esrAPIHub(`    oauth2:
      token_url: https://esr.example.nhs.uk/oauth/token
      client_id: trust-a
      client_secret_env: ESR_SECRET
      scopes: [jobplans.write]
      params: {audience: esr}
      auth_style: params
    payload:
      header: {vpd: "${VPD}", system: JPH}
      plan:
        assignment: {$field: assignment_number}
        from: {$field: effective_date}
        dcc: {$field: dcc}
    response_id: /data/id
`), getenv, false)
	if err != nil {
		t.Fatal(err)
	}
	api := cfg.Destinations[0].API
	if o := api.OAuth2; o == nil || o.TokenURL != "https://esr.example.nhs.uk/oauth/token" || o.ClientID != "trust-a" ||
		o.ClientSecret != "zz-client-secret-zz" || len(o.Scopes) != 1 || o.Params["audience"] != "esr" || o.AuthStyle != "params" {
		t.Errorf("oauth2 %+v", api.OAuth2)
	}
	if api.ResponseID == nil || api.ResponseID.String() != "/data/id" {
		t.Errorf("response_id %v", api.ResponseID)
	}
	body, err := api.Payload.Apply([]byte(`{"assignment_number":"10000001","dcc":7.5,"effective_date":"2026-04-01"}`))
	if want := `{"header":{"vpd":"123","system":"JPH"},"plan":{"assignment":"10000001","from":"2026-04-01","dcc":7.5}}`; err != nil || string(body) != want {
		t.Errorf("payload gives %s, %v; want %s", body, err, want)
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg.Destinations[0], cfg.Destinations[0], *api.OAuth2); strings.Contains(s, "zz-client-secret-zz") {
		t.Errorf("formatting the destination shows the client secret: %s", s)
	}
}

func TestHubFileESRAPIContractProblems(t *testing.T) {
	getenv := func(k string) (string, bool) { return map[string]string{"S": "x"}[k], k == "S" }
	for _, tc := range []struct{ name, extra, want string }{
		{"unknown operator", "    payload:\n      plan: {$feild: dcc}\n", `hub.yaml:13:14: payload: unknown payload operator "$feild"`},
		{"unknown record field", "    payload:\n      a: {$field: assignment_number}\n      b: {$field: effective_date}\n      c: {$field: dcx}\n",
			`hub.yaml:15:10: destination "esr": payload: $field "dcx" is not a field of the record (did you mean "dcc"?)`},
		{"no assignment number", "    payload:\n      b: {$field: effective_date}\n", `hub.yaml:13:7: destination "esr": payload: payload sends no assignment_number`},
		{"token and oauth2", "    token: t\n    oauth2: {token_url: https://e.example/t, client_id: a, client_secret: b}\n", `hub.yaml:12:5: destination "esr": give token or oauth2, not both`},
		{"no client secret", "    oauth2: {token_url: https://e.example/t, client_id: a}\n", `hub.yaml:12:5: destination "esr": oauth2: give client_secret`},
		{"two client secrets", "    oauth2: {token_url: https://e.example/t, client_id: a, client_secret: b, client_secret_env: S}\n", `destination "esr": oauth2: give only one of client_secret, client_secret_env`},
		{"unset secret variable", "    oauth2: {token_url: https://e.example/t, client_id: a, client_secret_env: NOPE}\n", `destination "esr": oauth2: environment variable NOPE is not set`},
		{"plain http token url", "    oauth2: {token_url: http://e.example/t, client_id: a, client_secret_env: S}\n", `hub.yaml:12:5: destination "esr": oauth2: refusing to send the client secret over plain http`},
		{"unknown oauth2 key", "    oauth2: {token_url: https://e.example/t, client_id: a, client_secret_env: S, scope: x}\n", `unknown key "scope" in the oauth2 settings (did you mean "scopes"?)`},
		{"bad response id", "    response_id: data.id\n", `hub.yaml:12:18: JSON pointer "data.id": want one starting with /`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseHubConfig("hub.yaml", esrAPIHub(tc.extra), getenv, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("problems:\n%v\nwant one, with %q", err, tc.want)
			}
		})
	}
	// The contract keys are for esr_api only.
	_, err := parseHubConfig("hub.yaml", []byte(`state_dir: /s
sources: [{name: a, type: local, dir: d, mapping: m.yaml, destinations: [box]}]
destinations:
  - name: box
    type: outbox
    dir: out
    response_id: /id
`), getenv, false)
	if err == nil || !strings.Contains(err.Error(), "hub.yaml:7:5: response_id is not used by outbox destinations") {
		t.Errorf("response_id on an outbox: %v", err)
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
	writeFile(t, hub, `state_dir: `+dir+`
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
	writeFile(t, secret, "zz-secret-zz\n")
	if code, stdout, stderr := runCLI(t, "config", "check", hub); code != 0 || !strings.HasSuffix(stdout, ": ok (1 sources, 1 destinations)\n") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	writeFile(t, secret, "\n")
	code, _, stderr := runCLI(t, "config", "check", hub)
	if code != 1 || !strings.Contains(stderr, `hub.yaml:11:7: destination "esr": oauth2: client_secret_file `+secret+` is empty`) {
		t.Errorf("empty secret file: exit %d, stderr %q", code, stderr)
	}
}
