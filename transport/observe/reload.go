package observe

import (
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// Reload outcomes, the values of MetricReloads' outcome label.
const (
	ReloadOutcomeSuccess = "success"
	ReloadOutcomeFailure = "failure"
)

var _ relay.ReloadObserver = (*Recorder)(nil)

// ReloadFailed is the latest reload that was refused, as long as no later
// one succeeded: the hub runs on the configuration it had.
type ReloadFailed struct {
	At time.Time `json:"at"`
	// Problems say why, one a line: the configuration's problems with
	// their positions, or why its hub could not start.
	Problems []string `json:"problems"`
}

// Reloaded implements relay.ReloadObserver.
func (r *Recorder) Reloaded(err error) {
	now := r.now()
	if err == nil {
		r.reloads.WithLabelValues(ReloadOutcomeSuccess).Inc()
		r.reloadOK.Set(1)
	} else {
		r.reloads.WithLabelValues(ReloadOutcomeFailure).Inc()
		r.reloadOK.Set(0)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloadFailed = nil
	if err != nil {
		var lines []string
		for l := range strings.SplitSeq(strings.TrimSpace(err.Error()), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		r.reloadFailed = &ReloadFailed{At: now, Problems: lines}
	}
	r.healthChanged()
}

// LastReloadFailed returns the latest reload refused since the last that
// succeeded, or nil.
func (r *Recorder) LastReloadFailed() *ReloadFailed {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reloadFailed == nil {
		return nil
	}
	f := *r.reloadFailed
	return &f
}
