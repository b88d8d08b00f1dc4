//go:build unix

package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCreateModeSetsTheModeWhateverTheUmask: the default is owner-only;
// a mode given is the mode on disk, also under a restrictive umask.
func TestCreateModeSetsTheModeWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		mode fs.FileMode
		want fs.FileMode
	}{{"default", 0, 0o600}, {"group", 0o640, 0o640}, {"everyone", 0o644, 0o644}} {
		p := filepath.Join(dir, tc.name)
		if err := WriteFileMode(p, []byte("x"), tc.mode); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.name, fi.Mode().Perm(), tc.want)
		}
	}
}
