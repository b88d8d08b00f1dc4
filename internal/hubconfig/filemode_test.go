package hubconfig

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestParseFileMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fs.FileMode
		err  string
	}{
		{in: "0600", want: 0o600},
		{in: "640", want: 0o640},
		{in: "0o644", want: 0o644},
		{in: "0660", err: "only the hub may write"},
		{in: "0755", err: "nobody execute"},
		{in: "0440", err: "read and write its own files"},
		{in: "rw-r-----", err: "not a file mode"},
		{in: "01640", err: "not a file mode"},
	} {
		got, err := ParseFileMode(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseFileMode(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseFileMode(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseFileMode: never panics; every mode accepted keeps the hub's
// read and write, gives nobody else write or execute, and reads back the
// same when printed in octal.
func FuzzParseFileMode(f *testing.F) {
	for _, s := range []string{"0600", "640", "0o644", "0660", "0755", "", "0", "-1", "0o", "777777777777", "06\x0040"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseFileMode(s)
		if err != nil {
			return
		}
		if m&0o600 != 0o600 || m&0o133 != 0 || m > 0o777 {
			t.Fatalf("ParseFileMode(%q) = %04o", s, m)
		}
		if again, err := ParseFileMode(fmt.Sprintf("%04o", m)); err != nil || again != m {
			t.Fatalf("%04o read back as %04o, %v", m, again, err)
		}
	})
}
