package cliconv

import (
	"embed"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

//go:embed scripts
var scripts embed.FS

// Shells are the shells Completion writes scripts for.
var Shells = []string{"bash", "zsh", "fish"}

// Completion returns the completion script of app for shell. The bash
// and zsh scripts ask the program itself for the words that can come
// next (urfave/cli's --generate-bash-completion, which app must enable:
// EnableBashCompletion); fish's lists every command and flag
// (App.ToFishCompletion).
func Completion(app *cli.App, shell string) (string, error) {
	switch shell {
	case "bash", "zsh":
		b, err := scripts.ReadFile("scripts/" + shell)
		if err != nil {
			return "", err
		}
		fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(app.Name) + "_complete"
		return strings.NewReplacer("_FUNC", fn, "PROG", app.Name).Replace(string(b)), nil
	case "fish":
		return app.ToFishCompletion()
	}
	return "", Usagef("no completion for shell %q: want one of %s", shell, strings.Join(Shells, ", "))
}

// Complete is a BashCompleteFunc for every command: after a flag that
// takes a value it offers nothing, so that the shell completes a file
// name; after a partial flag, the command's flags that start with it;
// otherwise the command's subcommands (none for a command without, so
// that the shell completes a file name again). urfave/cli's default
// offers flags after a flag that wants a value, and the help command
// where a file name is wanted.
func Complete(c *cli.Context) {
	cmd := c.Command
	// urfave/cli gives a completion function no other view of the words
	// typed: the scripts put the word being completed last, before the
	// completion flag, when it starts with "-".
	words := os.Args
	var last string
	if n := len(words); n >= 3 {
		last = words[n-2]
	}
	w := c.App.Writer
	if isFlag(last) {
		// "--o" is the start of a long name, not the alias -o.
		whole := len(flagName(last)) > 1 || !strings.HasPrefix(last, "--")
		if f := lookup(withHelp(cmd.Flags), last); f != nil && whole && takesValue(f, last) {
			return // a value: the shell completes a file name
		}
		typed := strings.TrimLeft(last, "-")
		for _, f := range cmd.VisibleFlags() {
			for _, n := range f.Names() {
				if len(n) > 1 && strings.HasPrefix(n, typed) {
					fmt.Fprintln(w, "--"+n)
				}
			}
		}
		return
	}
	for _, sub := range cmd.VisibleCommands() {
		if sub.Name != "help" {
			fmt.Fprintln(w, sub.Name)
		}
	}
}

// EnableCompletion turns on urfave/cli's completion protocol for app and
// gives app and each of its commands the Complete function.
func EnableCompletion(app *cli.App) {
	app.EnableBashCompletion = true
	app.BashComplete = Complete
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.BashComplete = Complete
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}
