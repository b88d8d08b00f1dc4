package observe

import (
	"fmt"
	"strings"
	"time"
)

// RateMeter is an exponentially weighted records-per-second rate.
type RateMeter struct {
	last     time.Time
	lastSeen int64
	perSec   float64
}

// Add takes the running total at now and returns the smoothed rate.
func (m *RateMeter) Add(now time.Time, total int64) float64 {
	if !m.last.IsZero() {
		if dt := now.Sub(m.last).Seconds(); dt > 0 {
			sample := float64(total-m.lastSeen) / dt
			if m.perSec == 0 {
				m.perSec = sample
			} else {
				m.perSec = 0.3*sample + 0.7*m.perSec
			}
		}
	}
	m.last, m.lastSeen = now, total
	return m.perSec
}

// ProgressLine is the text of a hub's status line (run and watch on a
// terminal): files, records delivered and their rate, what is pending and
// the time to go. pending < 0 means unknown.
func ProgressLine(t Totals, pending int, perSec float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s processed", plural(t.FilesProcessed, "file"))
	if t.FilesQuarantined > 0 {
		fmt.Fprintf(&b, ", %d quarantined", t.FilesQuarantined)
	}
	if t.FilesSkipped > 0 {
		fmt.Fprintf(&b, ", %d already seen", t.FilesSkipped)
	}
	fmt.Fprintf(&b, " · %s delivered (%.0f/s)", plural(t.Delivered, "record"), perSec)
	if pending >= 0 {
		fmt.Fprintf(&b, " · %d pending", pending)
		if pending > 0 && perSec >= 1 {
			eta := time.Duration(float64(pending) / perSec * float64(time.Second)).Round(time.Second)
			fmt.Fprintf(&b, ", about %s to go", eta)
		}
	}
	if t.RecordsRejected > 0 || t.DeliveriesRejected > 0 {
		fmt.Fprintf(&b, " · rejected: %d by the rules, %d by the destination", t.RecordsRejected, t.DeliveriesRejected)
	}
	if t.Retries > 0 {
		fmt.Fprintf(&b, " · %d retries", t.Retries)
	}
	return b.String()
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
