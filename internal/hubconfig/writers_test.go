package hubconfig

import (
	"strings"
	"testing"
	"time"
)

// sftpSource is a hub file with one sftp source whose source entry ends
// with extra (indented as its keys).
func sftpSource(extra string) []byte {
	return []byte(`state_dir: state
sources:
  - name: s
    type: sftp
    dir: /out
    mapping: m.yaml
    destinations: [box]
    sftp:
      addr: example.org
      user: u
      password: p
      host_key_fingerprint: SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
` + extra + `destinations:
  - name: box
    type: outbox
    dir: out
`)
}

func parseProblems(t *testing.T, data []byte) (*Config, string) {
	t.Helper()
	cfg, err := Parse("/h/hub.yaml", data, func(string) (string, bool) { return "", false }, false)
	if err != nil {
		return cfg, err.Error()
	}
	return cfg, ""
}

// TestDeleteNeedsAReadyMarker: an sftp source that deletes what it
// processed cannot notice a writer still at work, so without a ready
// marker the combination is refused, at the key, with the remedy.
func TestDeleteNeedsAReadyMarker(t *testing.T) {
	_, problems := parseProblems(t, sftpSource("      after_success: delete\n"))
	if !strings.Contains(problems, `hub.yaml:13:7: source "s": after_success delete needs a ready_marker`) ||
		!strings.Contains(problems, "use after_success: move") {
		t.Errorf("problems:\n%s", problems)
	}
	if _, problems := parseProblems(t, sftpSource("      after_success: delete\n    ready_marker: .done\n")); problems != "" {
		t.Errorf("delete with a ready marker: %s", problems)
	}
	if _, problems := parseProblems(t, sftpSource("      after_success: move\n")); problems != "" {
		t.Errorf("move: %s", problems)
	}
}

// TestWatchAfterArchive: the key is read (0s turns the watch off), and
// refused where a file cannot be followed after it is archived.
func TestWatchAfterArchive(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"":                               0,
		"    watch_after_archive: 10m\n": 10 * time.Minute,
		"    watch_after_archive: 0s\n":  -1,
	} {
		cfg, problems := parseProblems(t, sftpSource(text))
		if problems != "" || cfg.Sources[0].WatchAfterArchive != want {
			t.Errorf("%q: %v, %s; want %v", text, cfg.Sources[0].WatchAfterArchive, problems, want)
		}
	}
	for extra, want := range map[string]string{
		"      after_success: delete\n    ready_marker: .done\n    watch_after_archive: 1m\n": `watch_after_archive is not used by sftp sources whose after_success is delete`,
		"      no_rename: true\n    watch_after_archive: 1m\n":                                `watch_after_archive is not used by sftp sources with no_rename`,
		"    watch_after_archive: -1m\n":                                                      `a duration must not be negative`,
	} {
		if _, problems := parseProblems(t, sftpSource(extra)); !strings.Contains(problems, want) {
			t.Errorf("%q: problems %q, want %q", extra, problems, want)
		}
	}
}
