package hubconfig

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ParseFileMode reads file_mode (and --file-mode): permission bits in
// octal, such as 0640. The default, 0600, lets only the hub's own user
// read the reports and records, because they hold personal data; 0640
// lets its group (HR analysts reading a share) read them too, 0644
// everyone. The hub must read and write its own files, and nobody else
// may write or execute them.
func ParseFileMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("%q: not a file mode; write it in octal, like 0640", s)
	}
	switch m := fs.FileMode(v); {
	case m&0o600 != 0o600:
		return 0, fmt.Errorf("%04o: the hub must be able to read and write its own files (06..)", m)
	case m&0o133 != 0:
		return 0, fmt.Errorf("%04o: only the hub may write its reports, and nobody execute them; give readers r: 0640 (group), 0644 (everyone)", m)
	default:
		return m, nil
	}
}
