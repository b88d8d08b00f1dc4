package observe

import (
	"sync"
	"time"
)

// CacheTTL is how long the status page and the files gauge reuse a
// ledger read, so that a storm of page refreshes or a fast scraper does
// not run the ledger's whole-table counts again and again.
const CacheTTL = 5 * time.Second

// cached holds one value read from the ledger for CacheTTL, or until the
// generation it was read at changes. Callers wait for a read in progress
// rather than start their own. Errors are kept as long as values: a
// failing ledger is not asked more often than a healthy one.
type cached[T any] struct {
	now func() time.Time

	mu     sync.Mutex
	loaded bool
	at     time.Time
	gen    uint64
	v      T
	err    error
}

// get returns the value read at generation gen less than CacheTTL ago,
// or reads it again with load.
func (c *cached[T]) get(gen uint64, load func() (T, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.loaded && c.gen == gen && now.Sub(c.at) < CacheTTL && !now.Before(c.at) {
		return c.v, c.err
	}
	c.v, c.err = load()
	c.loaded, c.at, c.gen = true, c.now(), gen
	return c.v, c.err
}
