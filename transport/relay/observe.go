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
