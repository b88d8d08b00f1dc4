package hubconfig

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinPruneAge keeps pruning away from files the hub has just finished:
// their reports are linked beside the input only after the ledger marks
// them.
const MinPruneAge = time.Hour

// ParsePruneAge reads the age of files to prune (prune_after, and the
// --older-than and --prune-after flags), refusing ages under MinPruneAge.
func ParsePruneAge(s string) (time.Duration, error) {
	age, err := parseAge(s)
	if err != nil {
		return 0, err
	}
	if age < MinPruneAge {
		return 0, fmt.Errorf("%q: at least %s, so that a file the hub is archiving keeps its reports", s, MinPruneAge)
	}
	return age, nil
}

// parseAge reads an age as a Go duration (12h, 90m) or a number of days
// (90d).
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not an age (write it like 90d or 12h)", s)
	}
	return d, nil
}
