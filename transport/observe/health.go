package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// HealthFile is the name, inside the state folder, of the file in which a
// running hub keeps its Health for the status command.
const HealthFile = "health.json"

// Problem kinds.
const (
	ProblemSource      = "source"
	ProblemDestination = "destination"
	// ProblemHub is a problem of the hub as a whole: its storage.
	ProblemHub = "hub"
)

// ConditionStorageFull names a hub paused because its ledger or state
// folder cannot be written.
const ConditionStorageFull = "storage full; intake and deliveries paused"

// conditioner is an error that says what kind of failure it is, in a few
// words fit for a health check (sftp.LoginError: "authentication
// refused", "host key mismatch"). Such a failure concerns a source or
// destination as a whole, and carries no host names or paths.
type conditioner interface{ Condition() string }

// condition is what err says of itself, or "".
func condition(err error) string {
	var c conditioner
	if errors.As(err, &c) {
		return c.Condition()
	}
	return ""
}

// Health is what keeps a hub from doing its work, as /healthz, the status
// page and the status command show it. A healthy hub has no problems.
type Health struct {
	// At is when the hub reported it.
	At       time.Time `json:"at"`
	Problems []Problem `json:"problems"`
	// ReloadFailed is set while the latest reload was refused: the hub
	// runs on, on the configuration it had. It is not a problem of
	// health.
	ReloadFailed *ReloadFailed `json:"reload_failed,omitempty"`
}

// Problem is one source, destination or the hub itself failing.
type Problem struct {
	Kind string `json:"kind"` // ProblemSource, ProblemDestination or ProblemHub
	Name string `json:"name,omitempty"`
	// Condition names the failure when it is known ("authentication
	// refused", "host key mismatch", "not reached yet", or
	// ConditionStorageFull); empty for other errors.
	Condition string `json:"condition,omitempty"`
	// Error is the failure itself; it may name hosts and paths.
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// RetryAt is when the failing step is tried next, when known.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// Line is the problem on one line: its kind, name and condition, and with
// detail set its error too ("source trust-a: authentication refused: sftp
// ..."). Without detail, an error without a condition reads "failing".
func (p Problem) Line(detail bool) string {
	subject := p.Kind
	if p.Name != "" {
		subject += " " + p.Name
	}
	what := p.Condition
	switch {
	case detail && p.Error != "" && what != "":
		what += ": " + oneLine(p.Error)
	case detail && p.Error != "":
		what = oneLine(p.Error)
	case what == "":
		what = "failing"
	}
	return subject + ": " + what
}

// DestinationState is what the hub knows of a destination's failure as a
// whole (a refused login), as opposed to one delivery's.
type DestinationState struct {
	Name      string
	Condition string
	LastError string
	Since     time.Time
	RetryAt   time.Time
}

// pauseState is why the hub paused, if it did.
type pauseState struct {
	err   string
	since time.Time
}

var _ relay.HealthObserver = (*Recorder)(nil)

// DestinationReached implements relay.HealthObserver. Only failures that
// say what they are (a conditioner, such as a refused login) concern the
// destination as a whole; others concern one delivery and are left to the
// ledger. Either a success or such another failure (the login worked, or
// it is not known to be refused any more) clears the destination's
// problem.
func (r *Recorder) DestinationReached(destination string, err error) {
	cond := condition(err)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.dests, destination) {
		return // a destination of a replaced configuration reporting late
	}
	if cond == "" {
		if _, ok := r.destProblems[destination]; !ok {
			return
		}
		delete(r.destProblems, destination)
	} else {
		st := r.destProblems[destination]
		if st == nil {
			st = &DestinationState{Name: destination, Since: now}
			r.destProblems[destination] = st
		}
		st.Condition, st.LastError, st.RetryAt = cond, err.Error(), retryAt(now, err)
	}
	r.healthChanged()
}

// StoragePaused implements relay.HealthObserver.
func (r *Recorder) StoragePaused(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.paused = nil
	case r.paused == nil:
		r.paused = &pauseState{err: err.Error(), since: r.now()}
	default:
		r.paused.err = err.Error()
	}
	r.healthChanged()
}

// retryAt is when a failure that says how long to wait (retry.After)
// will be tried again; zero if it does not say.
func retryAt(now time.Time, err error) time.Time {
	if d := retry.After(err); d > 0 {
		return now.Add(d).Truncate(time.Second)
	}
	return time.Time{}
}

// Health returns the hub's problems now: a paused hub first, then
// stalled loops by name, failing sources (and sources not reached yet)
// and destinations in configuration order; and a refused reload.
func (r *Recorder) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.healthLocked()
}

func (r *Recorder) healthLocked() Health {
	h := Health{At: r.now(), Problems: []Problem{}}
	if r.paused != nil {
		h.Problems = append(h.Problems, Problem{Kind: ProblemHub, Condition: ConditionStorageFull, Error: r.paused.err, Since: r.paused.since})
	}
	h.Problems = append(h.Problems, r.stalledLocked(h.At)...)
	if r.reloadFailed != nil {
		f := *r.reloadFailed
		h.ReloadFailed = &f
	}
	for _, name := range r.order {
		st := r.sources[name]
		switch {
		case st.LastError != "":
			h.Problems = append(h.Problems, Problem{Kind: ProblemSource, Name: name, Condition: st.Condition,
				Error: st.LastError, Since: st.FailingSince, RetryAt: st.RetryAt})
		case st.LastSuccess.IsZero():
			h.Problems = append(h.Problems, Problem{Kind: ProblemSource, Name: name, Condition: "not reached yet"})
		}
	}
	for _, name := range r.dests {
		if st := r.destProblems[name]; st != nil {
			h.Problems = append(h.Problems, Problem{Kind: ProblemDestination, Name: name, Condition: st.Condition,
				Error: st.LastError, Since: st.Since, RetryAt: st.RetryAt})
		}
	}
	return h
}

// healthChanged wakes WriteHealth, if it runs. The caller holds r.mu.
func (r *Recorder) healthChanged() {
	select {
	case r.healthWake <- struct{}{}:
	default: // a write is already due
	}
}

// WriteHealth keeps path (the state folder's HealthFile) holding the
// hub's Health for the status command, rewriting it whenever a problem
// starts, changes or ends (a loop that stalls included), until ctx ends;
// then it removes the file, since a hub that is not running reports
// nothing. A write that fails (a full disk) is tried again at the next
// change. It returns once done.
func (r *Recorder) WriteHealth(ctx context.Context, path string) {
	var written Health
	first := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		h := r.Health()
		if first || !reflect.DeepEqual(h.Problems, written.Problems) || !reflect.DeepEqual(h.ReloadFailed, written.ReloadFailed) {
			if err := writeHealth(path, h); err == nil {
				written, first = h, false
			}
		}
		// A loop that misses its time is no event: look again then.
		r.mu.Lock()
		next := r.nextDueLocked(h.At)
		r.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(h.At) + time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			os.Remove(path)
			return
		case <-r.healthWake:
		case <-timer.C:
		}
	}
}

func writeHealth(path string, h Health) error {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// ReadHealth reads the Health a running hub keeps in the state folder
// dir. It returns nil, without error, if there is none: no hub runs on
// dir (or it has not written it yet).
func ReadHealth(dir string) (*Health, error) {
	b, err := os.ReadFile(filepath.Join(dir, HealthFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var h Health
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", HealthFile, err)
	}
	return &h, nil
}
