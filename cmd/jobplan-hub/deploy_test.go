package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// The deployment kit in deploy/ (README.md, "Deploying at a trust"), each
// piece exercised: the units by systemd-analyze and against each other
// and the example hub file, sysusers.d and tmpfiles.d by systemd applied
// to a scratch root, the example hub file by config check, and the
// unit's Type=notify by the hub itself over a NOTIFY_SOCKET.

const deployDir = "../../deploy"

// unitFile is a systemd unit: each key's values in order, per section.
type unitFile map[string]map[string][]string

func readUnit(t *testing.T, name string) unitFile {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a unit line: %q", name, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// one returns the single value of key, failing if it is not set once.
func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %q, want one value", section, key, v)
	}
	return v[0]
}

// exampleHub reads deploy/hub.example.yaml without looking at what it
// names.
func exampleHub(t *testing.T) *hubconfig.Config {
	t.Helper()
	path := filepath.Join(deployDir, "hub.example.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := hubconfig.Parse(path, data, os.LookupEnv, false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDeployUnitsVerify runs systemd-analyze verify on the units (with
// ExecStart pointing at the binary just built: verify checks it runs),
// which must pass without a warning, and its offline security review of
// the hub's unit.
func TestDeployUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the units are not verified (the other deploy tests still run)")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	var units []string
	for _, name := range []string{"jobplan-hub.service", "jobplan-hub-backup.service", "jobplan-hub-backup.timer"} {
		b, err := os.ReadFile(filepath.Join(deployDir, name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/jobplan-hub", bin)
		units = append(units, filepath.Join(dir, name))
		if err := os.WriteFile(units[len(units)-1], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", units[0]).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline is not available here (%v): %s", err, lastLine(out))
		return
	}
	m := regexp.MustCompile(`Overall exposure level for jobplan-hub.service: ([0-9.]+) `).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2 {
		t.Errorf("exposure level %s, want at most 2 (OK):\n%s", m[1], out)
	}
	t.Logf("systemd-analyze security: %s", lastLine(out))
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// TestDeployUnitMatchesTheHub: the unit is a notify service that reloads
// on SIGHUP, restarts on failure and is hardened; and it agrees with the
// example hub file (its config, its state folder), the folders tmpfiles
// creates and the user sysusers creates.
func TestDeployUnitMatchesTheHub(t *testing.T) {
	u := readUnit(t, "jobplan-hub.service")
	for key, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
		"User": "jobplan-hub", "StateDirectory": "jobplan-hub", "StateDirectoryMode": "0700",
	} {
		if got := u.one(t, "Service", key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	exec := strings.Fields(u.one(t, "Service", "ExecStart"))
	if exec[0] != "/usr/local/bin/jobplan-hub" || exec[1] != "run" || !slices.Contains(exec, "--log-format") {
		t.Errorf("ExecStart %q", exec)
	}
	config := exec[slices.Index(exec, "--config")+1]
	if config != "/etc/jobplan-hub/hub.yaml" {
		t.Errorf("ExecStart reads %s", config)
	}

	cfg := exampleHub(t)
	if want := "/var/lib/" + u.one(t, "Service", "StateDirectory"); cfg.StateDir != want {
		t.Errorf("hub.example.yaml state_dir %s, the unit's state folder %s", cfg.StateDir, want)
	}
	// Everything the hub writes besides its state is under ReadWritePaths
	// (ProtectSystem=strict makes the rest read-only) and made by tmpfiles.
	writable := u["Service"]["ReadWritePaths"]
	tmpfiles := readTmpfiles(t)
	var written []string
	for _, s := range cfg.Sources {
		if s.Type == hubconfig.SourceLocal {
			written = append(written, s.Dir)
		}
	}
	for _, d := range cfg.Destinations {
		if d.Type == hubconfig.DestOutbox {
			written = append(written, d.Dir)
		}
	}
	if len(written) < 2 {
		t.Fatalf("hub.example.yaml writes to %q: want a local source and an outbox", written)
	}
	for _, dir := range written {
		if !slices.ContainsFunc(writable, func(w string) bool { return dir == w || strings.HasPrefix(dir, w+"/") }) {
			t.Errorf("the hub writes to %s, which is not under ReadWritePaths %q", dir, writable)
		}
		if _, ok := tmpfiles[dir]; !ok {
			t.Errorf("tmpfiles.d does not create %s", dir)
		}
	}

	b, err := os.ReadFile(filepath.Join(deployDir, "sysusers.d/jobplan-hub.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"u jobplan-hub ", "g " + u.one(t, "Service", "SupplementaryGroups") + " "} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(strings.TrimSpace(want)) + ` `).Match(b) {
			t.Errorf("sysusers.d does not declare %q", want)
		}
	}

	backup := readUnit(t, "jobplan-hub-backup.service")
	args := strings.Fields(backup.one(t, "Service", "ExecStart"))
	if !slices.Equal(args[1:3], []string{"ledger", "backup"}) || args[slices.Index(args, "--state")+1] != cfg.StateDir {
		t.Errorf("backup ExecStart %q does not back up %s", args, cfg.StateDir)
	}
	if dst := filepath.Dir(args[len(args)-1]); !slices.Contains(backup["Service"]["ReadWritePaths"], cfg.StateDir+" "+dst) {
		t.Errorf("the backup unit cannot write %s and %s: ReadWritePaths %q", cfg.StateDir, dst, backup["Service"]["ReadWritePaths"])
	} else if _, ok := tmpfiles[dst]; !ok {
		t.Errorf("tmpfiles.d does not create the backup folder %s", dst)
	}
}

// tmpfilesEntry is one "d" line of tmpfiles.d.
type tmpfilesEntry struct{ mode, user, group string }

func readTmpfiles(t *testing.T) map[string]tmpfilesEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "tmpfiles.d/jobplan-hub.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tmpfilesEntry{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "d" {
			out[f[1]] = tmpfilesEntry{f[2], f[3], f[4]}
		}
	}
	return out
}

// TestDeploySysusersAndTmpfiles applies sysusers.d and tmpfiles.d to a
// scratch root with systemd's own tools, and checks the folders they make:
// their owners (the users just made) and modes.
func TestDeploySysusersAndTmpfiles(t *testing.T) {
	sysusers, err1 := exec.LookPath("systemd-sysusers")
	tmpfiles, err2 := exec.LookPath("systemd-tmpfiles")
	if err := errors.Join(err1, err2); err != nil {
		t.Skipf("systemd's tools are not installed: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("systemd-tmpfiles needs root to give the folders their owners")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	deploy, err := filepath.Abs(deployDir) // with --root, a relative file is taken from the root
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{sysusers, "--root=" + root, filepath.Join(deploy, "sysusers.d/jobplan-hub.conf")},
		{tmpfiles, "--create", "--root=" + root, filepath.Join(deploy, "tmpfiles.d/jobplan-hub.conf")},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(cmd[0]), err, out)
		}
	}
	ids := func(file string) map[string]int {
		b, err := os.ReadFile(filepath.Join(root, "etc", file))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Split(line, ":")
			m[f[0]], _ = strconv.Atoi(f[2])
		}
		return m
	}
	users, groups := ids("passwd"), ids("group")
	if _, ok := users["jobplan-hub"]; !ok {
		t.Fatalf("no jobplan-hub user: %v", users)
	}
	if g, _ := os.ReadFile(filepath.Join(root, "etc/group")); !regexp.MustCompile(`(?m)^jobplan-hub-drop:x:\d+:jobplan-hub$`).Match(g) {
		t.Errorf("jobplan-hub is not in the drop group:\n%s", g)
	}
	for dir, want := range readTmpfiles(t) {
		st, err := os.Stat(filepath.Join(root, dir))
		if err != nil {
			t.Error(err)
			continue
		}
		sys := st.Sys().(*syscall.Stat_t)
		mode := strconv.FormatUint(uint64(st.Mode().Perm()), 8)
		if st.Mode()&os.ModeSetgid != 0 {
			mode = "2" + mode
		}
		if "0"+mode != want.mode && mode != want.mode || int(sys.Uid) != users[want.user] || int(sys.Gid) != groups[want.group] {
			t.Errorf("%s: mode %s, owner %d:%d; want %s %s:%s (%d:%d)", dir, mode, sys.Uid, sys.Gid, want.mode, want.user, want.group, users[want.user], groups[want.group])
		}
	}
}

// TestDeployHubExampleChecks: the example hub file passes config check,
// once what it names exists: its folders (as tmpfiles makes them), the
// bundled mappings, the SFTP key, known_hosts and token files. Its
// absolute paths are moved under a scratch root.
func TestDeployHubExampleChecks(t *testing.T) {
	root := t.TempDir()
	b, err := os.ReadFile(filepath.Join(deployDir, "hub.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, prefix := range []string{"/etc/jobplan-hub", "/srv/jobplan-hub", "/var/lib/jobplan-hub"} {
		if !strings.Contains(text, prefix) {
			t.Fatalf("hub.example.yaml names nothing under %s", prefix)
		}
		text = strings.ReplaceAll(text, " "+prefix, " "+root+prefix)
	}
	for dir := range readTmpfiles(t) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	etc := filepath.Join(root, "etc/jobplan-hub")
	for _, m := range []string{"sard-wide.yaml", "allocate-nested.yaml"} {
		data, err := os.ReadFile(filepath.Join("../../mappings", m))
		if err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(etc, "mappings", m), string(data))
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(etc, "secrets/supplier-b.key"), string(pem.EncodeToMemory(block)))
	hostKey, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(etc, "known_hosts"), knownhosts.Line([]string{"sftp.supplier-b.example:22"}, hostKey)+"\n")
	testutil.WriteFile(t, filepath.Join(etc, "secrets/esr-token"), "an-example-token\n")
	hub := filepath.Join(etc, "hub.yaml")
	testutil.WriteFile(t, hub, text)

	code, stdout, stderr := runCLI(t, "config", "check", hub)
	if code != 0 || stdout != hub+": ok (2 sources, 2 destinations)\n" {
		t.Errorf("config check of hub.example.yaml: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "an-example-token") {
		t.Error("config check printed the token")
	}
}

// notifySocket listens where the hub's NOTIFY_SOCKET points, as systemd
// does, and hands on each datagram.
func notifySocket(t *testing.T) (path string, messages <-chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // closed at the end of the test
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return path, ch
}

// TestSystemdNotify runs the hub as systemd runs a Type=notify unit, with
// NOTIFY_SOCKET set: READY=1 comes once the ledger is open and the
// sources watch (a file dropped then is processed), RELOADING=1 and
// READY=1 around a SIGHUP reload, and STOPPING=1 at SIGTERM, before a
// clean exit.
func TestSystemdNotify(t *testing.T) {
	bin, root, drop := hubDirs(t)
	sock, messages := notifySocket(t)
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, dropHubFile("*.csv", mappingFile, ""))
	next := func(want string) string {
		t.Helper()
		select {
		case m := <-messages:
			if !strings.HasPrefix(m, want+"\n") && m != want {
				t.Fatalf("sd_notify message %q, want %s first", m, want)
			}
			return m
		case <-time.After(testutil.Wait):
			t.Fatalf("no %s from the hub within %v", want, testutil.Wait)
			return ""
		}
	}

	log := &testutil.Buffer{}
	cmd := exec.Command(bin, "run", "--config", hubFile, "--listen", "off")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	next("READY=1")
	if _, err := os.Stat(filepath.Join(root, "state", ledger.FileName)); err != nil {
		t.Errorf("READY=1 before the ledger is open: %v", err)
	}
	sample, err := os.ReadFile("../../samples/sard-wide/jobplans-2026-04.csv")
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(drop, "jobplans.csv"), string(sample))
	testutil.Eventually(t, "the file dropped after READY=1 to be archived", func() bool {
		return testutil.Exists(filepath.Join(drop, "archive", "jobplans.csv"))
	})

	cmd.Process.Signal(syscall.SIGHUP)
	if m := next("RELOADING=1"); !regexp.MustCompile(`(?m)^MONOTONIC_USEC=\d+$`).MatchString(m) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	next("READY=1")

	cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("the hub exited with %v after SIGTERM\n%s", exitErr, log)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("the hub did not exit after SIGTERM")
	}
	select {
	case m := <-messages:
		t.Errorf("after STOPPING=1 the hub said %q", m)
	default:
	}
}

// TestLedgerBackupWhileTheHubRuns backs up the ledger of a running hub
// (the built binary, processing files as they are dropped) with the
// command the backup unit runs, and opens each copy as a hub's state
// folder: status reads it, and it holds a whole number of files (each
// processed file with its deliveries).
func TestLedgerBackupWhileTheHubRuns(t *testing.T) {
	bin, root, drop := hubDirs(t)
	mappingFile, err := filepath.Abs("../../mappings/sard-wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hubFile := filepath.Join(root, "hub.yaml")
	testutil.WriteFile(t, hubFile, dropHubFile("*.csv", mappingFile, ""))
	log := &testutil.Buffer{}
	hub := startHub(t, bin, log, "run", "--config", hubFile, "--listen", "off")
	state := filepath.Join(root, "state")
	testutil.Eventually(t, "the hub to start", func() bool { return strings.Contains(log.String(), "hub started") })

	sample := strings.Split(testutil.ReadFile(t, "../../samples/sard-wide/jobplans-2026-04.csv"), "\r\n")
	const files = 40
	go func() {
		for i := range files {
			// One plan a file, each of another assignment's row.
			name := filepath.Join(drop, "f"+strconv.Itoa(i)+".csv")
			os.WriteFile(name+".part", []byte(sample[0]+"\r\n"+sample[1+i%14]+"\r\n"+strconv.Itoa(i)+"\r\n"), 0o644)
			os.Rename(name+".part", name)
		}
	}()
	backups := t.TempDir()
	var copies []string
	for i := 0; ; i++ {
		dst := filepath.Join(backups, "ledger-"+strconv.Itoa(i)+".db")
		if out, err := exec.Command(bin, "ledger", "backup", "--state", state, dst).CombinedOutput(); err != nil {
			t.Fatalf("ledger backup: %v\n%s", err, out)
		}
		copies = append(copies, dst)
		out, _ := exec.Command(bin, "status", "--state", state, "--json").Output()
		if strings.Contains(string(out), `"processed": `+strconv.Itoa(files)+",") || i == 200 {
			break
		}
	}
	hub.stop(t, syscall.SIGTERM, 0)
	if len(copies) < 2 {
		t.Fatalf("only %d backups while the hub ran", len(copies))
	}
	// What each file queued, as the hub left the ledger: a file's
	// deliveries are queued with its outcome, in one transaction.
	perFile := func(path string) map[int64]string {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT f.id, f.state, (SELECT COUNT(*) FROM deliveries d WHERE d.file_id = f.id) FROM files f`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[int64]string{}
		for rows.Next() {
			var id int64
			var st string
			var n int
			if err := rows.Scan(&id, &st, &n); err != nil {
				t.Fatal(err)
			}
			m[id] = st + " " + strconv.Itoa(n)
		}
		return m
	}
	final := perFile(filepath.Join(state, ledger.FileName))
	for _, c := range copies {
		restored := t.TempDir()
		testutil.WriteFile(t, filepath.Join(restored, ledger.FileName), testutil.ReadFile(t, c))
		l, err := ledger.OpenExisting(t.Context(), restored)
		if err != nil {
			t.Fatalf("%s does not open as a ledger: %v", c, err)
		}
		l.Close()
		for id, got := range perFile(filepath.Join(restored, ledger.FileName)) {
			if want := final[id]; got != want && got != "claimed 0" {
				t.Errorf("%s: file %d is %q, and %q in the hub's ledger", c, id, got, want)
			}
		}
		if code, out, stderr := runCLI(t, "status", "--state", restored); code != 0 || !strings.Contains(out, "files: ") {
			t.Errorf("status of the backup: %d %s%s", code, out, stderr)
		}
	}
	t.Logf("%d backups while the hub processed %d files", len(copies), files)
}
