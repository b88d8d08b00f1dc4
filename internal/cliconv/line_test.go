package cliconv

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp is a small application shaped like jobplan-hub's: a leaf
// command with a required flag and flags that take values, and a group.
func testApp() *cli.App {
	return &cli.App{
		Name: "prog",
		Commands: []*cli.Command{
			{Name: "convert", Flags: []cli.Flag{
				&cli.StringFlag{Name: "mapping", Aliases: []string{"m"}, Required: true},
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}},
				&cli.StringSliceFlag{Name: "jobplans"},
				&cli.StringFlag{Name: "token", EnvVars: []string{"CLICONV_TEST_TOKEN"}, Required: true},
			}},
			{Name: "mapping", Subcommands: []*cli.Command{
				{Name: "check"},
				{Name: "preview", Flags: []cli.Flag{&cli.IntFlag{Name: "rows", Aliases: []string{"n"}}}},
			}},
		},
	}
}

func TestReadMovesFlagsBeforeArguments(t *testing.T) {
	t.Setenv("CLICONV_TEST_TOKEN", "t")
	for _, tc := range []struct {
		in, want string
		path     string
	}{
		{"convert x.csv -m map.yaml", "convert -m map.yaml x.csv", "convert"},
		{"convert -m map.yaml x.csv", "convert -m map.yaml x.csv", "convert"},
		{"convert a.csv -q b.csv --out=o -m m.yaml", "convert -q --out=o -m m.yaml a.csv b.csv", "convert"},
		// A value that starts with "-" stays the flag's value.
		{"convert x.csv -o -weird -m m.yaml", "convert -o -weird -m m.yaml x.csv", "convert"},
		// - is an argument (standard input); -- ends the flags.
		{"convert - -m m.yaml", "convert -m m.yaml -", "convert"},
		{"convert -m m.yaml -- -dash.csv -q", "convert -m m.yaml -- -dash.csv -q", "convert"},
		{"convert x.csv -m m.yaml -- -q", "convert -m m.yaml -- x.csv -q", "convert"},
		// A bool flag does not take the next word.
		{"convert x.csv -q y.csv -m m", "convert -q -m m x.csv y.csv", "convert"},
		{"convert x.csv --jobplans a --jobplans b -m m", "convert --jobplans a --jobplans b -m m x.csv", "convert"},
		{"mapping preview in.csv -n 3", "mapping preview -n 3 in.csv", "mapping preview"},
		{"mapping check a.yaml b.yaml", "mapping check a.yaml b.yaml", "mapping check"},
		{"--help", "--help", ""},
		{"mapping", "mapping", "mapping"},
		// A flag with no value left: urfave/cli says so.
		{"convert x.csv -m", "convert -m x.csv", "convert"},
	} {
		l := Read(testApp(), append([]string{"prog"}, strings.Fields(tc.in)...))
		if got := strings.Join(l.Args[1:], " "); got != tc.want || strings.Join(l.Path, " ") != tc.path {
			t.Errorf("%s: got %q path %q, want %q path %q", tc.in, got, l.Path, tc.want, tc.path)
		}
		if l.Err != nil && tc.in != "convert x.csv -m" {
			t.Errorf("%s: %v", tc.in, l.Err)
		}
	}
}

func TestReadFindsUsageMistakes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"conver x.csv", `"conver" is not a command (did you mean "convert"?)`},
		{"zzzzzz", `"zzzzzz" is not a command`},
		{"mapping chek x", `"chek" is not a command (did you mean "check"?)`},
		{"help conver", `"conver" is not a command (did you mean "convert"?)`},
		{"convert --mapings m x.csv --token t", `unknown flag --mapings (did you mean "--mapping"?)`},
		{"convert -x -m m --token t", `unknown flag -x`},
		{"convert x.csv --token t", `--mapping is required`},
		{"convert x.csv -m m", `--token is required`},
	} {
		l := Read(testApp(), append([]string{"prog"}, strings.Fields(tc.in)...))
		if l.Err == nil || l.Err.Error() != tc.want || !IsUsage(l.Err) {
			t.Errorf("%s: error %v, want %q", tc.in, l.Err, tc.want)
		}
	}
	// Help, and a required flag from the environment, are no mistakes.
	t.Setenv("CLICONV_TEST_TOKEN", "")
	for _, in := range []string{"convert --help", "convert x.csv -h", "convert help", "help convert", "help", "mapping help", "convert -m m x.csv"} {
		if l := Read(testApp(), append([]string{"prog"}, strings.Fields(in)...)); l.Err != nil {
			t.Errorf("%s: %v", in, l.Err)
		}
	}
}

// TestReadRunsAsUrfaveCLIReads runs the reordered line through
// urfave/cli and checks what the command sees.
func TestReadRunsAsUrfaveCLIReads(t *testing.T) {
	t.Setenv("CLICONV_TEST_TOKEN", "t")
	app := testApp()
	var gotArgs []string
	var gotMapping, gotOut string
	app.Commands[0].Action = func(c *cli.Context) error {
		gotArgs, gotMapping, gotOut = c.Args().Slice(), c.String("mapping"), c.String("out")
		return nil
	}
	l := Read(app, strings.Fields("prog convert a.csv -m map.yaml - -o -x -- -b.csv"))
	if l.Err != nil {
		t.Fatal(l.Err)
	}
	if err := app.Run(l.Args); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotArgs, []string{"a.csv", "-", "-b.csv"}) || gotMapping != "map.yaml" || gotOut != "-x" {
		t.Errorf("args %q, mapping %q, out %q", gotArgs, gotMapping, gotOut)
	}
}

func TestReadLeavesCompletionAlone(t *testing.T) {
	app := testApp()
	app.EnableBashCompletion = true
	in := strings.Fields("prog convert x.csv -m --generate-bash-completion")
	if l := Read(app, in); !slices.Equal(l.Args, in) || l.Err != nil {
		t.Errorf("got %q, %v", l.Args, l.Err)
	}
}

// FuzzRead: whatever the words, Read neither panics nor loses, adds or
// changes a word (it only moves them and may keep a "--"), keeps the
// arguments in their order, and is idempotent.
func FuzzRead(f *testing.F) {
	for _, s := range []string{"convert x.csv -m map.yaml", "convert - -- -q -m", "mapping preview -n 3 x", "conver -x", "convert a -o -- b", "help mapping check"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := append([]string{"prog"}, strings.Fields(s)...)
		l := Read(testApp(), words)
		if l.Err != nil && !IsUsage(l.Err) {
			t.Fatalf("%q: error of another kind: %v", s, l.Err)
		}
		in, out := slices.Clone(words), slices.Clone(l.Args)
		slices.Sort(in)
		slices.Sort(out)
		if !slices.Equal(in, out) {
			t.Fatalf("%q became %q", words, l.Args)
		}
		again := Read(testApp(), l.Args)
		if !slices.Equal(again.Args, l.Args) {
			t.Fatalf("not idempotent: %q, then %q", l.Args, again.Args)
		}
		if (again.Err == nil) != (l.Err == nil) {
			t.Fatalf("%q: %v, then %v", words, l.Err, again.Err)
		}
	})
}

func TestUsageError(t *testing.T) {
	err := Usagef("give %d file", 1)
	wrapped := errors.Join(errors.New("x"), err)
	if !IsUsage(wrapped) || IsUsage(errors.New("x")) || err.Error() != "give 1 file" {
		t.Errorf("IsUsage(%v)", wrapped)
	}
}
