package cliconv

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFormat(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/nhs-esr/jobplan-hub", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "2c11327abcdef0123456789abcdef0123456789a"},
			{Key: "vcs.time", Value: "2026-05-01T10:20:30Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	want := "prog v1.4.0\n" +
		"commit:      2c11327abcdef0123456789abcdef0123456789a (with uncommitted changes)\n" +
		"commit time: 2026-05-01T10:20:30Z\n" +
		"go:          go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := VersionOf(info).Format("prog"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	info.Settings = info.Settings[:3]
	if got := VersionOf(info).Format("prog"); strings.Contains(got, "uncommitted") {
		t.Errorf("a clean build says it has changes:\n%s", got)
	}
	bare := VersionOf(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}).Format("prog")
	if !strings.HasPrefix(bare, "prog (devel)\ncommit:      not recorded") {
		t.Errorf("without VCS information:\n%s", bare)
	}
	if got := VersionOf(nil); got.Module != "(devel)" {
		t.Errorf("no build information: %+v", got)
	}
}
