package httpsink

import "time"

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
