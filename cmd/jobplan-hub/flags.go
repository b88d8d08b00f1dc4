package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nhs-esr/jobplan-hub/internal/hubconfig"
)

// durationValue is a duration flag whose error says how to write one, as
// the hub file's does; urfave/cli's DurationFlag only says "parse error".
type durationValue struct{ d time.Duration }

func (v *durationValue) Set(s string) error {
	d, err := hubconfig.ParseDuration(s)
	if err != nil {
		return err
	}
	v.d = d
	return nil
}

func (v *durationValue) String() string {
	if v == nil {
		return ""
	}
	return v.d.String()
}

// durationFlag is a flag written as a duration; defaultText is what help
// says happens without it (the flag's own value is 0 then).
func durationFlag(name, usage, defaultText string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Usage: usage, Value: &durationValue{}, DefaultText: defaultText}
}

// flagDuration reads a durationFlag.
func flagDuration(c *cli.Context, name string) time.Duration {
	if v, ok := c.Generic(name).(*durationValue); ok {
		return v.d
	}
	return 0
}

// stdinName is the input name "-" stands for.
const stdinName = "-"

// checkInputFile refuses a folder given where a file is read, before a
// reader fails on it with "is a directory". A missing file is left to
// the reader, whose error names it.
func checkInputFile(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a folder, not a file", path)
	}
	return nil
}
