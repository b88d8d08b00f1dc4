package main

import (
	"bytes"
	"debug/buildinfo"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/cliconv"
)

// leafCommands returns every command without subcommands, by its path.
func leafCommands() map[string]*cli.Command {
	out := map[string]*cli.Command{}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if len(c.Subcommands) == 0 {
				out[strings.TrimSpace(prefix+" "+c.Name)] = c
			}
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	walk("", newApp(io.Discard, io.Discard).Commands)
	return out
}

// TestHelpDefaultsDoNotContradict: no flag's help says its default twice
// (it said "(default 2s) (default: 0s)").
func TestHelpDefaultsDoNotContradict(t *testing.T) {
	for path, c := range leafCommands() {
		for _, f := range c.Flags {
			if line := f.String(); strings.Count(line, "(default") > 1 {
				t.Errorf("%s: %s", path, line)
			}
		}
	}
}

// TestEveryCommandTakesFlagsAfterArguments: for every command and every
// flag that takes a value, the flag written after an argument reaches
// the command as if written before it.
func TestEveryCommandTakesFlagsAfterArguments(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	n := 0
	for path, c := range leafCommands() {
		for _, f := range c.Flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok || !df.TakesValue() {
				continue
			}
			flag := "--" + f.Names()[0]
			after := append(append([]string{"jobplan-hub"}, strings.Fields(path)...), "ARG", flag, "VALUE")
			before := append(append([]string{"jobplan-hub"}, strings.Fields(path)...), flag, "VALUE", "ARG")
			if got := cliconv.Read(app, after).Args; !slices.Equal(got, before) {
				t.Errorf("%s: %q read as %q, want %q", path, after, got, before)
			}
			n++
		}
	}
	if n < 40 {
		t.Errorf("only %d flags that take values were found", n)
	}
}

// TestVersion: the version command and --version print what the go
// command recorded in the binary (read back with debug/buildinfo), and
// that is the commit checked out when the test built it.
func TestVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	want := cliconv.VersionOf(info).Format("jobplan-hub")
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if string(out) != want {
			t.Errorf("%v printed\n%s\nwant\n%s", args, out, want)
		}
	}
	v := cliconv.VersionOf(info)
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("git not available (%v): the commit is not compared", err)
		return
	}
	if v.Revision == "" {
		// go build looks for a .git folder; a git worktree has a .git
		// file, and its builds record no commit.
		top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && !st.IsDir() {
			t.Logf("a git worktree: go build records no commit, and version says so:\n%s", want)
			return
		}
	}
	if got := strings.TrimSpace(string(head)); v.Revision != got || v.CommitTime == "" {
		t.Errorf("the binary records commit %q (time %q), the checkout is at %q", v.Revision, v.CommitTime, got)
	}
	t.Logf("%s", want)
}

// TestShellCompletion runs each completion script in its shell against
// the built binary, as a user pressing TAB would: commands, subcommands
// and flags complete; after a flag that takes a file nothing is offered,
// so that the shell offers file names.
func TestShellCompletion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	script := func(shell string) string {
		out, err := exec.Command(bin, "completion", shell).Output()
		if err != nil {
			t.Fatalf("completion %s: %v", shell, err)
		}
		f := filepath.Join(dir, "completion."+shell)
		if err := os.WriteFile(f, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	runShell := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "PATH="+path)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr.String())
		}
		return string(out)
	}
	type tc struct {
		words []string // the last is the word being completed
		want  []string // nil: nothing (the shell completes file names)
	}
	cases := []tc{
		{[]string{"jobplan-hub", "conv"}, []string{"convert"}},
		{[]string{"jobplan-hub", "mapping", ""}, []string{"check", "preview", "infer", "test"}},
		{[]string{"jobplan-hub", "ledger", ""}, []string{"backup"}},
		{[]string{"jobplan-hub", "convert", "--ma"}, []string{"--mapping"}},
		{[]string{"jobplan-hub", "convert", "x.csv", "--stdin"}, []string{"--stdin-name"}},
		{[]string{"jobplan-hub", "convert", "-m", ""}, nil},
		{[]string{"jobplan-hub", "convert", "--out", ""}, nil},
	}

	t.Run("bash", func(t *testing.T) {
		f := script("bash")
		for _, c := range cases {
			var quoted []string
			for _, w := range c.words {
				quoted = append(quoted, "'"+w+"'")
			}
			out := runShell("bash", "-c", `source "$1"; COMP_WORDS=(`+strings.Join(quoted, " ")+`); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _jobplan_hub_complete; printf '%s\n' "${COMPREPLY[@]}"`, "bash", f)
			if got := strings.Fields(out); !slices.Equal(got, c.want) {
				t.Errorf("%q: got %q, want %q", c.words, got, c.want)
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		if _, err := exec.LookPath("zsh"); err != nil {
			t.Skip("zsh is not installed (make test-deps installs it)")
		}
		f := script("zsh")
		for _, c := range cases {
			var quoted []string
			for _, w := range c.words {
				quoted = append(quoted, "'"+w+"'")
			}
			// compdef, _describe and _files are the completion system's;
			// these stand-ins print what the script hands them.
			out := runShell("zsh", "-f", "-c", `compdef() { :; }; _describe() { print -l -- "${(@P)2}"; }; _files() { :; }
source "$1"; words=(`+strings.Join(quoted, " ")+`); _jobplan_hub_complete`, "zsh", f)
			got := strings.Fields(out)
			want := c.want
			// zsh filters by the typed prefix itself; the program offers
			// every subcommand or flag of the command.
			if last := c.words[len(c.words)-1]; last != "" {
				got = slices.DeleteFunc(got, func(w string) bool { return !strings.HasPrefix(w, last) })
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q: got %q, want %q", c.words, got, want)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		if _, err := exec.LookPath("fish"); err != nil {
			t.Skip("fish is not installed (make test-deps installs it)")
		}
		f := script("fish")
		out := runShell("fish", "-n", f)
		if out != "" {
			t.Errorf("fish -n: %s", out)
		}
		for _, c := range []tc{
			{[]string{"jobplan-hub", "conv"}, []string{"convert"}},
			{[]string{"jobplan-hub", "mapping", "ch"}, []string{"check"}},
			{[]string{"jobplan-hub", "convert", "--ma"}, []string{"--mapping"}},
		} {
			out := runShell("fish", "-c", `source $argv[1]; complete -C $argv[2]`, f, strings.Join(c.words, " "))
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if w, _, _ := strings.Cut(line, "\t"); w != "" {
					got = append(got, w)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%q: got %q, want %q", c.words, got, c.want)
			}
		}
		// A flag that takes a file completes file names.
		if err := os.WriteFile(filepath.Join(dir, "supplier.yaml"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := runShell("fish", "-c", `source $argv[1]; complete -C $argv[2]`, f, "jobplan-hub convert --mapping supp"); !strings.Contains(out, "supplier.yaml") {
			t.Errorf("--mapping does not complete a file name: %q", out)
		}
	})
	if _, err := exec.Command(bin, "completion", "tcsh").CombinedOutput(); err == nil {
		t.Error("completion tcsh succeeded")
	}
}
