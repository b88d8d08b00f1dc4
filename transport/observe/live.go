package observe

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// Problem kinds and conditions of liveness and readiness.
const (
	// ProblemLoop is one of the hub's loops (relay.LoopHub, a
	// dispatcher) that has not shown itself alive in the time it gave.
	ProblemLoop = "loop"
	// ProblemLedger is the ledger not answering.
	ProblemLedger = "ledger"
	// ConditionStalled names a loop that missed its time.
	ConditionStalled = "stalled"
	// ConditionNotAnswering names a ledger that does not answer.
	ConditionNotAnswering = "not answering"
)

// pingTimeout bounds the ledger read of /readyz.
const pingTimeout = 2 * time.Second

var _ relay.LoopObserver = (*Recorder)(nil)

// loopState is a loop's latest sign of life.
type loopState struct {
	at     time.Time
	within time.Duration // 0: no bound
}

// due is when the loop is stalled if it has not reported again; zero if
// never.
func (l loopState) due() time.Time {
	if l.within <= 0 {
		return time.Time{}
	}
	return l.at.Add(l.within)
}

// LoopAlive implements relay.LoopObserver.
func (r *Recorder) LoopAlive(loop string, d time.Duration) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, seen := r.loops[loop]
	r.loops[loop] = loopState{at: now, within: d}
	// A loop that was stalled, or new, changes the health; one that
	// moves its time on only moves the health file's next look.
	if !seen || (!prev.due().IsZero() && !now.Before(prev.due())) {
		r.healthChanged()
	}
}

// LoopStopped implements relay.LoopObserver.
func (r *Recorder) LoopStopped(loop string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.loops, loop)
	r.healthChanged()
}

// stalledLocked returns the loops stalled at now, by name. The caller
// holds r.mu.
func (r *Recorder) stalledLocked(now time.Time) []Problem {
	var out []Problem
	for name, l := range r.loops {
		if due := l.due(); !due.IsZero() && now.After(due) {
			out = append(out, Problem{Kind: ProblemLoop, Name: name, Condition: ConditionStalled, Since: due,
				Error: fmt.Sprintf("last alive %s ago, due again within %s", now.Sub(l.at).Round(time.Second), l.within)})
		}
	}
	slices.SortFunc(out, func(a, b Problem) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// nextDueLocked is the earliest time a loop not stalled yet would be;
// zero if none. The caller holds r.mu.
func (r *Recorder) nextDueLocked(now time.Time) time.Time {
	var next time.Time
	for _, l := range r.loops {
		if due := l.due(); !due.IsZero() && !now.After(due) && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next
}

// Liveness returns the hub's stalled loops: none while the process works,
// whatever its sources and destinations do.
func (r *Recorder) Liveness() []Problem {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stalledLocked(r.now())
}

// livez answers 200 "ok" while every loop of the hub has shown itself
// alive within the time it gave, else 503 with one line per stalled loop:
// a restart may cure it. A failing source, a destination down or a
// paused hub are not its business (see readyz).
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	s.problems(w, r, s.cfg.Recorder.Liveness())
}

// readyz answers 200 "ok" when the hub can do its work: the ledger
// answers, the hub is not paused for storage, every source has been
// reached and its latest look succeeded, no destination refuses its
// login and no loop is stalled; else 503 with one line per problem.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var problems []Problem
	ctx, cancel := context.WithTimeout(r.Context(), pingTimeout)
	defer cancel()
	if err := s.cfg.Ledger.Ping(ctx); err != nil {
		problems = append(problems, Problem{Kind: ProblemLedger, Condition: ConditionNotAnswering, Error: err.Error()})
	}
	problems = append(problems, s.cfg.Recorder.Health().Problems...)
	s.problems(w, r, problems)
}

// problems writes "ok" or, with 503, one line per problem; the lines give
// the error only to a request with the token, if one is configured.
func (s *Server) problems(w http.ResponseWriter, r *http.Request, problems []Problem) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(problems) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	detail := s.authorized(r)
	w.WriteHeader(http.StatusServiceUnavailable)
	for _, p := range problems {
		fmt.Fprintln(w, p.Line(detail))
	}
}
