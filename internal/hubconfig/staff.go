package hubconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nhs-esr/jobplan-hub/internal/lint"
	"github.com/nhs-esr/jobplan-hub/transform/reference"
)

// A staff extract is read as its format says: a source's staff_format,
// or convert's and watch's --staff-format. IsStaffConfigFile is the one
// rule that tells a staff-extract configuration file from a keyword: the
// hub file's decoder resolves such a file against the hub file's folder,
// the hub watches it for changes (Config.Files), and StaffConfig reads
// it.

// IsStaffConfigFile reports whether a staff format names a staff-extract
// configuration file (.yaml, .yml or .json) rather than a keyword.
func IsStaffConfigFile(format string) bool {
	switch strings.ToLower(filepath.Ext(format)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// StaffConfig returns the staff-extract configuration a staff format
// stands for: "" (esr-go when the file starts with HDR~, else csv), csv,
// esr-go, or a configuration file, whose problems are lint.Problems.
func StaffConfig(format string) (reference.Config, error) {
	switch {
	case format == "":
		c := reference.DefaultConfig()
		c.Format = ""
		return c, nil
	case format == reference.FormatCSV || format == reference.FormatESRGO:
		c := reference.DefaultConfig()
		c.Format = format
		return c, nil
	case IsStaffConfigFile(format):
		return reference.LoadConfig(format)
	}
	return reference.Config{}, fmt.Errorf("%q is not csv, esr-go or a .yaml configuration file", format)
}

// checkStaff checks a source's staff extract settings: the format, and
// with deep set the configuration file it names (reported in its own
// positions) and that the extract is there. Reading the extract (which
// can take seconds for a large trust) is left to whoever uses it: the hub
// when it starts, and config check through ReadStaffExtracts.
func checkStaff(d *decoder, s *Source, what string, deep bool) {
	if s.Staff == "" {
		if s.StaffFormat != "" {
			d.addAt(s.pos["staff_format"], "%s: staff_format needs staff", what)
		}
		return
	}
	if !IsStaffConfigFile(s.StaffFormat) {
		if _, err := StaffConfig(s.StaffFormat); err != nil {
			d.addAt(s.pos["staff_format"], "%s: staff_format %v", what, err)
		}
	} else if deep {
		_, err := StaffConfig(s.StaffFormat)
		var ps lint.Problems
		switch {
		case errors.As(err, &ps):
			for _, p := range ps {
				p.File = displayPath(p.File)
				d.problems = append(d.problems, p)
			}
		case err != nil:
			d.addAt(s.pos["staff_format"], "%s: staff_format: %v", what, err)
		}
	}
	if !deep {
		return
	}
	if _, err := os.Stat(s.Staff); err != nil {
		d.addAt(s.pos["staff"], "%s: staff: %v", what, err)
	}
}

// ReadStaffExtracts reads every staff extract cfg names, once each, and
// reports those that cannot be used at the source that names them.
func (cfg *Config) ReadStaffExtracts() lint.Problems {
	var ps lint.Problems
	read := map[[2]string]bool{}
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		key := [2]string{s.Staff, s.StaffFormat}
		if s.Staff == "" || read[key] {
			continue
		}
		read[key] = true
		err := readStaffExtract(s)
		if err != nil {
			at := s.pos["staff"]
			ps = append(ps, lint.Problem{File: cfg.File, Line: at.line, Col: at.col,
				Message: fmt.Sprintf("%s: staff: %v", label("source", s.Name, i), err)})
		}
	}
	return ps
}

// readStaffExtract reads and indexes a source's staff extract, as the hub
// does when it starts, and drops the index.
func readStaffExtract(s *Source) error {
	c, err := StaffConfig(s.StaffFormat)
	if err != nil {
		return err
	}
	x, err := reference.LoadFile(s.Staff, c)
	if err != nil {
		return err
	}
	_, err = reference.NewChecker(x, c.Checks)
	return err
}
