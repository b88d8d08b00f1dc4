package hubconfig

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
)

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
	cfg, err := Parse("/etc/hub/hub.yaml", hub("30s"), os.LookupEnv, false)
	if err != nil {
		t.Fatal(err)
	}
	want := dispatch.BreakerConfig{Failures: 3, ProbeInterval: 2 * time.Second, ProbeIntervalMax: 30 * time.Second}
	if got := cfg.Destinations[0].Breaker; got != want {
		t.Errorf("breaker %+v, want %+v", got, want)
	}
	_, err = Parse("/etc/hub/hub.yaml", hub("1s"), os.LookupEnv, false)
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
	cfg, err := Parse("/etc/hub/hub.yaml", esrAPIHub(`    oauth2:
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
			_, err := Parse("hub.yaml", esrAPIHub(tc.extra), getenv, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("problems:\n%v\nwant one, with %q", err, tc.want)
			}
		})
	}
	// The contract keys are for esr_api only.
	_, err := Parse("hub.yaml", []byte(`state_dir: /s
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

func TestHubFilePinsBackoffAndFileMode(t *testing.T) {
	const pin1, pin2 = "SHA256:q/5h09pwtg+uCtVxzzNzhVbr4j6So91NIKd1j4Jr4AA", "SHA256:Ej0kFx4vNDnzLvy4rBfZrWn2fWubkGKSz3xeVmkE1AA"
	hub := func(fileMode, pins, backoff string) []byte {
		return []byte(`state_dir: /var/lib/hub
file_mode: ` + fileMode + `
sources:
  - name: b
    type: sftp
    dir: /out
    sftp:
      addr: sftp.example:22
      user: hub
      password: pw
      host_key_fingerprint: ` + pins + `
` + backoff + `    mapping: maps/b.yaml
    destinations: [box]
destinations:
  - name: box
    type: outbox
    dir: out
`)
	}
	cfg, err := Parse("/etc/hub/hub.yaml", hub(`"0640"`, "["+pin1+", "+pin2+"]",
		"      login_backoff: 1m\n      login_backoff_max: 30m\n"), os.LookupEnv, false)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Sources[0].SFTP
	if cfg.FileMode != 0o640 || len(c.HostKeyFingerprints) != 2 || c.HostKeyFingerprints[1] != pin2 ||
		c.LoginBackoff != time.Minute || c.LoginBackoffMax != 30*time.Minute {
		t.Errorf("file mode %v, sftp %+v", cfg.FileMode, c)
	}
	cfg, err = Parse("/etc/hub/hub.yaml", hub("0600", pin1, ""), os.LookupEnv, false)
	if err != nil || cfg.FileMode != 0o600 || len(cfg.Sources[0].SFTP.HostKeyFingerprints) != 1 {
		t.Errorf("one pin, file_mode 0600: %v, %+v", err, cfg)
	}

	_, err = Parse("/etc/hub/hub.yaml", hub(`"0666"`, "[MD5:aa:bb]", "      login_backoff: 2h\n      login_backoff_max: 1h\n"), os.LookupEnv, false)
	for _, want := range []string{
		`hub.yaml:2:12: file_mode 0666: only the hub may write`,
		`hub.yaml:7:5: source "b": sftp: host_key_fingerprint "MD5:aa:bb"`,
		`source "b": sftp: login_backoff_max is shorter than login_backoff`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems %v; want one saying %q", err, want)
		}
	}
}
