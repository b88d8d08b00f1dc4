//go:build unix

package localdir

import (
	"io/fs"
	"syscall"
)

// hasOtherNames reports whether the file has more than one hard link.
func hasOtherNames(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}
