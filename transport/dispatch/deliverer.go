// Package dispatch is where a delivery is retried. A Dispatcher drains one
// destination's queue in the ledger into a Deliverer: it hands due
// deliveries to a few workers, records each outcome in the ledger, backs
// temporary failures off (transport/retry, honouring Retry-After), and
// holds a destination that fails as a whole behind a Breaker, probing it
// one request at a time.
//
// The interfaces it needs are declared here, where they are used: a
// Deliverer takes one delivery (a record for the ESR API, httpsink; a
// whole file for an outbox folder or an SFTP server), a FileOpener opens
// the staged file of a file delivery (the hub's state folder, relay), and
// observers are told outcomes and outages (metrics, health).
package dispatch

import (
	"context"
	"io"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// Deliverer delivers one delivery to its destination: *httpsink.Sink
// (records), *outbox.Sink and *sftp.Sink (files).
//
// On failure the error says what to do with it (retry.Permanent or
// retry.Temporary, see transport/retry): permanent failures are rejected
// at once, temporary ones are tried again later. An unclassified error is
// temporary. A file is delivered whole: readers at the destination see
// the whole file or nothing. A Deliverer given a parcel of the kind it
// does not take (a file for the ESR API) fails it permanently.
type Deliverer interface {
	Deliver(ctx context.Context, p Parcel) (Receipt, error)
}

// Parcel is one delivery as its Deliverer gets it: a record, or a whole
// file. Exactly one of Record and File is set.
type Parcel struct {
	// Key is the delivery's idempotency key (ledger.Key), the same at
	// every attempt.
	Key string
	// Record is a record delivery's JSON, in canonical form.
	Record []byte
	// Name and File are a file delivery's name at the destination
	// (<input base>.jobplans.jsonl) and its content, open for this call
	// only.
	Name string
	File io.Reader
}

// Result says how a successful delivery ended.
type Result int

// Results of Deliver.
const (
	// Delivered means the receiver accepted the record (2xx).
	Delivered Result = iota + 1
	// AlreadyDelivered means the receiver already had a record with this
	// idempotency key (409).
	AlreadyDelivered
)

func (r Result) String() string {
	switch r {
	case Delivered:
		return "delivered"
	case AlreadyDelivered:
		return "already delivered"
	}
	return "unknown"
}

// Receipt is what one call of Deliver came to, beside its error.
type Receipt struct {
	// Result is how a successful delivery ended; zero with an error.
	Result Result
	// Requests counts the requests written to the receiver, each of which
	// it may have acted on: more than one when a token was refreshed
	// after a 401, none when nothing reached it (no connection). It is
	// set with an error too. Zero from a Deliverer that does not count
	// counts as one.
	Requests int
	// RemoteID is the receiver's id for the record, read from its answer;
	// RemoteIDProblem says why there is none when the Deliverer expected
	// one (an esr_api destination with a response_id) and the answer was
	// a success.
	RemoteID, RemoteIDProblem string
}

// FileOpener opens the staged file of a file delivery (ledger.KindFile),
// whose payload says which file it is in the words of whoever queued it.
// A Dispatcher of a destination that takes files needs one.
type FileOpener interface {
	// OpenFile returns the name to deliver the file under and its
	// content. Its errors are classified as a Deliverer's are: permanent
	// if the file is gone for good.
	OpenFile(ctx context.Context, d ledger.Delivery) (name string, content io.ReadCloser, err error)
}

// Delivery outcomes reported to a DeliveryObserver.
const (
	OutcomeDelivered = "delivered"
	OutcomeDuplicate = "duplicate"
	OutcomeRejected  = "rejected"
	OutcomeRetried   = "retried"
)

// DeliveryObserver is told the outcome of every delivery attempt whose
// outcome was recorded in the ledger (OutcomeDelivered, OutcomeDuplicate,
// OutcomeRejected or OutcomeRetried) and how long the attempt took: one
// call for each request the receiver saw (a request refused with 401
// before a new token is told as retried). Attempts cut off by shutdown
// are reported as retried only if their request was sent. It is called
// from the dispatcher's workers at once and must not block.
type DeliveryObserver interface {
	Delivered(destination, outcome string, d time.Duration)
}

// AvailabilityObserver is told when a destination becomes unavailable as
// a whole (its breaker opens) and when it answers again. A
// DeliveryObserver that also implements it is told both.
type AvailabilityObserver interface {
	DestinationAvailable(destination string, available bool)
}
