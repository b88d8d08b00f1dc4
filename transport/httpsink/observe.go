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
// OutcomeRejected or OutcomeRetried) and how long the attempt took.
// Attempts cut off by shutdown are not reported. It is called from the
// dispatcher's workers at once and must not block.
type DeliveryObserver interface {
	Delivered(destination, outcome string, d time.Duration)
}

// AvailabilityObserver is told when a destination becomes unavailable as
// a whole (its breaker opens) and when it answers again. A
// DeliveryObserver that also implements it is told both.
type AvailabilityObserver interface {
	DestinationAvailable(destination string, available bool)
}
