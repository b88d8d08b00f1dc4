package cliconv

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is what a binary knows of how it was built, from its build
// information (runtime/debug.ReadBuildInfo): the go command records the
// module version (v1.2.3 when installed as module@v1.2.3; a
// pseudo-version, or (devel), when built from a checkout) and, when it
// built in a git checkout with -buildvcs (the default where git is
// installed), the commit.
type Version struct {
	Module     string // module version, "(devel)" if unknown
	Revision   string // VCS commit; "" if not recorded
	CommitTime string // the commit's time (RFC 3339), not the build's
	Modified   bool   // built with uncommitted changes
	Go         string // toolchain, such as go1.26.8
	Platform   string // GOOS/GOARCH of the running binary
}

// VersionOf reads Version from build information; info may be nil
// (ReadBuildInfo found none).
func VersionOf(info *debug.BuildInfo) Version {
	v := Version{Module: "(devel)", Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		return v
	}
	if info.Main.Version != "" {
		v.Module = info.Main.Version
	}
	v.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// Format writes the version of program prog: one line, then the commit
// and toolchain, each on its own line.
func (v Version) Format(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", prog, v.Module)
	if v.Revision != "" {
		fmt.Fprintf(&b, "commit:      %s", v.Revision)
		if v.Modified {
			b.WriteString(" (with uncommitted changes)")
		}
		b.WriteByte('\n')
		if v.CommitTime != "" {
			fmt.Fprintf(&b, "commit time: %s\n", v.CommitTime)
		}
	} else {
		b.WriteString("commit:      not recorded (built outside a git checkout, or with -buildvcs=false)\n")
	}
	if v.Go != "" {
		fmt.Fprintf(&b, "go:          %s %s\n", v.Go, v.Platform)
	}
	return b.String()
}
