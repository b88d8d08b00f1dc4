package sftp

import "time"

// SetClock makes the login back-off of a Source or Sink read now instead
// of time.Now, so that tests can step through hours of back-off at once.
func SetClock(s interface{ clockConn() *conn }, now func() time.Time) {
	s.clockConn().now = now
}

func (s *Source) clockConn() *conn { return s.conn }
func (s *Sink) clockConn() *conn   { return s.conn }
