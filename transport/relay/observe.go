package relay

import "time"

// File outcomes reported to an Observer.
const (
	FileProcessed   = "processed"
	FileQuarantined = "quarantined"
	// FileSkipped is an input whose content was processed before.
	FileSkipped = "skipped"
	// FileRetaken is an input that changed while it was read: its
	// conversion was thrown away and it is taken again once it settles.
	FileRetaken = "retaken"
)

// Observer is told what the hub does, for metrics and health checks. Its
// methods are called from many goroutines, must be safe for concurrent
// use and must not block. A nil Config.Observer costs nothing.
type Observer interface {
	// FileDone reports that a file of source was finished with outcome
	// (FileProcessed, FileQuarantined, FileSkipped or FileRetaken) after d, from
	// reading it to recording the outcome in the ledger.
	FileDone(source, outcome string, d time.Duration)
	// RecordsCounted reports the records of one processed file of source,
	// as its processor counted them.
	RecordsCounted(source string, c RecordCounts)
	// SourcePolled reports one look at a source (a listing, a scan, or
	// a file handed out): err is nil if it succeeded.
	SourcePolled(source string, err error)
}

// HealthObserver is an optional interface of an Observer, told about the
// failures that stop work as a whole rather than one file or delivery.
// Its methods must be safe for concurrent use and must not block.
type HealthObserver interface {
	// DestinationReached reports how a put to a file destination went:
	// nil once it took a file, or the error of one that failed. (Errors
	// that say what they are, such as a refused login, concern the whole
	// destination.)
	DestinationReached(destination string, err error)
	// StoragePaused reports that the hub stopped taking files and
	// delivering because its storage is full (err says where), or, with
	// nil, that it has resumed.
	StoragePaused(err error)
}

// LoopHub names the hub's own loop to a LoopObserver; DispatcherLoop
// names a destination's dispatcher.
const LoopHub = "hub"

// DispatcherLoop is the loop name of destination's dispatcher.
func DispatcherLoop(destination string) string { return "dispatcher " + destination }

// Heartbeat bounds, for a LoopObserver.
const (
	// DefaultHeartbeat is how often a running hub reports its loop alive
	// (Config.Heartbeat); it says it will report again within three.
	DefaultHeartbeat = 5 * time.Second
	// StopMargin is added to the grace period in the bound a stopping
	// hub gives: the time for dispatchers to record the deliveries cut
	// off, and for files cut off to give up.
	StopMargin = 30 * time.Second
	// NextHubWithin is the bound a stopped hub gives: a Supervisor starts
	// the next one within it (a reload), or the process ends.
	NextHubWithin = 2 * time.Minute
)

// LoopObserver is an optional interface of an Observer, told that the
// hub's loops are alive: the hub itself (LoopHub) and each destination's
// dispatcher (DispatcherLoop). Each report gives how long, when all is
// well, until the loop reports again; a loop that misses that time is
// stalled (a deadlock, a step that ignores cancellation), which a restart
// may cure. Its methods must be safe for concurrent use and must not
// block.
type LoopObserver interface {
	// LoopAlive reports that loop is alive now and will report again
	// within d; d == 0 means it waits for something with no bound of the
	// hub's (deliveries in flight, each bounded by its own timeout; the
	// end of a storage pause).
	LoopAlive(loop string, d time.Duration)
	// LoopStopped reports that loop has ended with its hub: it is
	// expected no more.
	LoopStopped(loop string)
}

// ReloadObserver is told how each reload of a Supervisor went. Its method
// must be safe for concurrent use and must not block.
type ReloadObserver interface {
	// Reloaded reports one reload: err is nil once the new
	// configuration's hub runs; otherwise the running configuration was
	// kept and err says why (the new one's problems, or why its hub
	// could not start).
	Reloaded(err error)
}
