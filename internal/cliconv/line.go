// Package cliconv gives a github.com/urfave/cli/v2 application the
// command-line conventions operators expect of tools such as git, kubectl
// and rclone, where urfave/cli does not have them itself:
//
//   - flags after arguments (convert FILE -m map.yaml): urfave/cli stops
//     reading flags at a command's first argument, so Read moves them
//     before the arguments;
//   - usage mistakes found before anything runs, each as one UsageError
//     line with a suggestion: an unknown command ("did you mean"), an
//     unknown flag, a required flag left out;
//   - the version from the build information (Version);
//   - shell completion scripts for bash, zsh and fish (Completion).
package cliconv

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
)

// UsageError is a mistake in how a command was called (exit status 2 by
// convention): the command line, not the input, is at fault.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// completionFlag is the flag urfave/cli's completion scripts add last to
// the words being completed.
const completionFlag = "--generate-bash-completion"

// Line is a command line read against an application's commands.
type Line struct {
	// Args are the arguments to give App.Run: the same as read, but with
	// the chosen command's flags before its arguments.
	Args []string
	// Path names the command chosen, such as [mapping check]; empty for
	// the application itself.
	Path []string
	// Err is the first usage mistake found (a *UsageError), or nil.
	Err error
}

// Read reads args (args[0] is the program) against app's commands and
// flags. It moves the flags given after a command's arguments before
// them; "--" ends the flags, and what follows it stays an argument, as
// does "-" (standard input). A flag that takes a value keeps it, even
// one that starts with "-". Read finds the mistakes urfave/cli would
// report with a page of help, or not at all: an unknown command or
// subcommand, an unknown flag, a required flag missing (unless help was
// asked for). A line being completed by a shell is left as it is.
func Read(app *cli.App, args []string) Line {
	if len(args) < 2 || (app.EnableBashCompletion && args[len(args)-1] == completionFlag) {
		return Line{Args: args}
	}
	l := Line{Args: []string{args[0]}}
	flags := withHelp(app.Flags)
	if !app.HideVersion {
		flags = append(flags, cli.VersionFlag)
	}
	commands := app.Commands
	rest := args[1:]
	for {
		// The flags of this level, up to the next command's name.
		i := 0
		for i < len(rest) && isFlag(rest[i]) && rest[i] != "--" {
			if f := lookup(flags, rest[i]); f != nil && takesValue(f, rest[i]) && i+1 < len(rest) {
				i++
			}
			i++
		}
		l.Args = append(l.Args, rest[:i]...)
		rest = rest[i:]
		if len(rest) == 0 || rest[0] == "--" {
			l.Args = append(l.Args, rest...)
			return l
		}
		name := rest[0]
		cmd := find(commands, name)
		if cmd == nil {
			l.Args = append(l.Args, rest...)
			switch {
			case isHelp(name):
				// help TOPIC: urfave/cli answers an unknown topic with
				// exit status 3 and no suggestion.
				if len(rest) > 1 && !isFlag(rest[1]) && find(commands, rest[1]) == nil {
					l.Err = unknownCommand(rest[1], commands)
				}
			default:
				l.Err = unknownCommand(name, commands)
			}
			return l
		}
		l.Path = append(l.Path, cmd.Name)
		l.Args = append(l.Args, name)
		rest = rest[1:]
		if len(cmd.Subcommands) == 0 {
			l.Args, l.Err = appendLeaf(l.Args, cmd, rest)
			return l
		}
		commands, flags = cmd.Subcommands, withHelp(cmd.Flags)
	}
}

// appendLeaf appends the words of command cmd, flags first, and checks
// them.
func appendLeaf(out []string, cmd *cli.Command, words []string) ([]string, error) {
	flags := withHelp(cmd.Flags)
	var given, positional []string
	var err error
	dashDash := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			positional = append(positional, words[i+1:]...)
			dashDash = true
			break
		}
		if !isFlag(w) {
			positional = append(positional, w)
			continue
		}
		given = append(given, w)
		f := lookup(flags, w)
		if f == nil {
			if err == nil {
				err = unknownFlag(w, flags)
			}
			continue
		}
		if takesValue(f, w) && i+1 < len(words) {
			i++
			given = append(given, words[i])
		}
	}
	out = append(out, given...)
	if dashDash {
		out = append(out, "--")
	}
	out = append(out, positional...)
	if err != nil {
		return out, err
	}
	// urfave/cli shows the command's help for these, required flags or
	// not.
	helpAsked := len(positional) > 0 && !dashDash && isHelp(positional[0])
	for _, w := range given {
		if f := lookup(flags, w); f != nil && f == cli.HelpFlag {
			helpAsked = true
		}
	}
	if helpAsked {
		return out, nil
	}
	for _, f := range cmd.Flags {
		if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() && !givenFlag(f, given) && !fromEnv(f) {
			return out, Usagef("%s is required", dashed(f.Names()[0]))
		}
	}
	return out, nil
}

// isFlag reports whether w is written as a flag; "-" alone is an
// argument (standard input).
func isFlag(w string) bool { return len(w) > 1 && w[0] == '-' }

func isHelp(w string) bool { return w == "help" || w == "h" }

// flagName is the name of flag word w: --out=x and -out x both name out.
func flagName(w string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
	return name
}

func lookup(flags []cli.Flag, w string) cli.Flag {
	name := flagName(w)
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// takesValue reports whether flag word w needs the next word as its
// value: a flag that takes one, written without =.
func takesValue(f cli.Flag, w string) bool {
	if strings.Contains(w, "=") {
		return false
	}
	df, ok := f.(cli.DocGenerationFlag)
	return ok && df.TakesValue()
}

func givenFlag(f cli.Flag, given []string) bool {
	for _, w := range given {
		if isFlag(w) && slices.Contains(f.Names(), flagName(w)) {
			return true
		}
	}
	return false
}

// fromEnv reports whether one of f's environment variables is set, which
// sets f as urfave/cli reads it.
func fromEnv(f cli.Flag) bool {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return false
	}
	for _, v := range df.GetEnvVars() {
		if _, set := os.LookupEnv(v); set {
			return true
		}
	}
	return false
}

func withHelp(flags []cli.Flag) []cli.Flag {
	return append(slices.Clip(flags), cli.HelpFlag)
}

func find(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// unknownCommand suggests the nearest command within two edits
// (lint.Suggest); urfave/cli's own SuggestCommand always names one,
// however far.
func unknownCommand(name string, commands []*cli.Command) error {
	var names []string
	for _, c := range commands {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	return Usagef("%q is not a command%s", name, lint.Suggest(name, names))
}

func unknownFlag(w string, flags []cli.Flag) error {
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			names = append(names, dashed(n))
		}
	}
	name := dashed(flagName(w))
	suggest := ""
	if len(name) > 2 { // one letter is within an edit or two of every other
		suggest = lint.Suggest(name, names)
	}
	return Usagef("unknown flag %s%s", name, suggest)
}
