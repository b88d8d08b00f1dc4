package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// Status summarises a hub's ledger for the status command.
type Status struct {
	// Files counts input files by state: claimed (in progress, or left by
	// a stopped hub), processed, quarantined.
	Files map[ledger.FileState]int `json:"files"`
	// Destinations are sorted by name.
	Destinations []DestinationStatus `json:"destinations"`
	// Idle is true when no file is claimed and no delivery is pending.
	Idle bool `json:"idle"`
	// Refused are files the sources found but leave alone, by source and
	// name (at most MaxRefusals).
	Refused []RefusedFile `json:"refused,omitempty"`
	// Notes are the processed files, among the NoteScan latest, whose
	// ledger record carries a note (its reason, which a processed file
	// otherwise leaves empty): a file taken again because it grew after
	// it was archived (RegrownItem). At most MaxNotes, newest first.
	Notes []FileNote `json:"notes,omitempty"`
}

// MaxRefusals bounds Status.Refused.
const MaxRefusals = 100

// Bounds of Status.Notes: how many of the latest processed files are
// looked at, and how many notes are kept.
const (
	NoteScan = 200
	MaxNotes = 20
)

// FileNote is a processed file the hub noted something about.
type FileNote struct {
	ID     int64  `json:"id"`
	Source string `json:"source"`
	// Name is quoted, as RefusedFile's.
	Name  string           `json:"name"`
	State ledger.FileState `json:"state"`
	Note  string           `json:"note"`
	At    time.Time        `json:"at"`
}

// RefusedFile is a file a source leaves alone (see Refusal).
type RefusedFile struct {
	Source string `json:"source"`
	// Name is the file's name as QuoteName shows it: quoted, with every
	// byte that is not printable ASCII escaped.
	Name   string    `json:"name"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// DestinationStatus counts one destination's deliveries. For file
// destinations each delivery is one file, for record destinations one
// record.
type DestinationStatus struct {
	Name string `json:"name"`
	// Pending deliveries wait for an attempt; Retrying, a subset of them,
	// have failed at least once.
	Pending   int `json:"pending"`
	Retrying  int `json:"retrying"`
	Rejected  int `json:"rejected"`
	Delivered int `json:"delivered"`
	// Duplicate deliveries were already held by the receiver (409).
	Duplicate  int `json:"duplicate"`
	Superseded int `json:"superseded"`
	// NextAttemptAt is the earliest pending attempt, if it lies ahead;
	// DueNow says a pending delivery is due already (waiting for a free
	// worker, or for the hub to run).
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DueNow        bool       `json:"due_now,omitempty"`
	// Errors are the latest failures of pending or rejected deliveries,
	// newest first.
	Errors []DeliveryError `json:"last_errors,omitempty"`
	// Unavailable is set while the destination fails as a whole (as its
	// dispatcher last recorded): its deliveries are held and it is probed
	// one request at a time.
	Unavailable *Outage `json:"unavailable,omitempty"`
	// RemoteIDs are the receiver's own ids for the latest delivered
	// records that got one (an esr_api destination's response_id),
	// newest first.
	RemoteIDs []RemoteID `json:"remote_ids,omitempty"`
}

// RemoteID is the receiver's id for one delivered record.
type RemoteID struct {
	ID            int64     `json:"id"`
	Assignment    string    `json:"assignment_number"`
	EffectiveDate string    `json:"effective_date"`
	RemoteID      string    `json:"remote_id"`
	At            time.Time `json:"at"`
}

// Outage describes a destination that fails as a whole.
type Outage struct {
	Since time.Time `json:"since"`
	// Probes counts the failed probes; NextProbeAt is the next.
	Probes      int       `json:"probes"`
	NextProbeAt time.Time `json:"next_probe_at"`
	LastError   string    `json:"last_error"`
}

// DeliveryError is one delivery's latest failure.
type DeliveryError struct {
	ID  int64  `json:"id"`
	Key string `json:"idempotency_key"`
	// Kind is what the delivery carries: a record (of Assignment) or a
	// whole file (of input file File).
	Kind       ledger.DeliveryKind  `json:"kind"`
	Assignment string               `json:"assignment_number,omitempty"`
	File       int64                `json:"file_id"`
	State      ledger.DeliveryState `json:"state"`
	Attempts   int                  `json:"attempts"`
	Error      string               `json:"error"`
	At         time.Time            `json:"at"`
}

// Subject names what the delivery carries: its record's assignment
// number, or "file <id>" for a whole file.
func (e DeliveryError) Subject() string {
	if e.Kind == ledger.KindFile {
		return fmt.Sprintf("file %d", e.File)
	}
	return e.Assignment
}

// ReadStatus reads the status of the hub whose ledger is l.
func ReadStatus(ctx context.Context, l *ledger.Ledger) (*Status, error) {
	now := time.Now()
	st, err := l.Stats(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{Files: map[ledger.FileState]int{
		ledger.FileClaimed: 0, ledger.FileProcessed: 0, ledger.FileQuarantined: 0,
	}}
	for k, v := range st.Files {
		s.Files[k] = v
	}
	s.Idle = s.Files[ledger.FileClaimed] == 0
	s.Destinations = []DestinationStatus{}
	for _, d := range st.Destinations {
		ds := DestinationStatus{
			Name:       d.Destination,
			Pending:    d.Counts[ledger.Pending],
			Rejected:   d.Counts[ledger.Rejected],
			Delivered:  d.Counts[ledger.Delivered],
			Duplicate:  d.Counts[ledger.Duplicate],
			Superseded: d.Counts[ledger.Superseded],
		}
		for _, e := range d.RecentErrors {
			ds.Errors = append(ds.Errors, DeliveryError{
				ID: e.ID, Key: e.Key, Kind: e.Kind, Assignment: e.AssignmentNumber, File: e.FileID, State: e.State,
				Attempts: e.Attempts, Error: e.Error, At: e.At,
			})
		}
		for _, r := range d.RecentRemoteIDs {
			ds.RemoteIDs = append(ds.RemoteIDs, RemoteID{ID: r.ID, Assignment: r.AssignmentNumber,
				EffectiveDate: r.EffectiveDate.Format(time.DateOnly), RemoteID: r.RemoteID, At: r.At})
		}
		if h := d.Health; h != nil && !h.Available {
			ds.Unavailable = &Outage{Since: h.Since, Probes: h.Probes, NextProbeAt: h.NextProbeAt, LastError: h.LastError}
		}
		// A new delivery's next attempt is stored as 0 (1970): due now.
		// During an outage the next attempt is the next probe.
		at := d.NextAttemptAt
		if ds.Unavailable != nil && ds.Pending > 0 {
			at = ds.Unavailable.NextProbeAt
		}
		switch {
		case ds.Pending == 0 || at.IsZero():
		case !at.After(now):
			ds.DueNow = true
		default:
			ds.NextAttemptAt = &at
		}
		if ds.Pending > 0 {
			s.Idle = false
			if ds.Retrying, err = l.Retrying(ctx, d.Destination); err != nil {
				return nil, err
			}
		}
		s.Destinations = append(s.Destinations, ds)
	}
	refused, err := l.Refusals(ctx, MaxRefusals)
	if err != nil {
		return nil, err
	}
	for _, r := range refused {
		s.Refused = append(s.Refused, RefusedFile{Source: r.Source, Name: QuoteName(r.Name), Reason: r.Reason, Since: r.Since})
	}
	page, err := l.Files(ctx, ledger.FileQuery{State: ledger.FileProcessed, Limit: NoteScan})
	if err != nil {
		return nil, err
	}
	for _, f := range page.Files {
		if f.Reason != "" && len(s.Notes) < MaxNotes {
			s.Notes = append(s.Notes, FileNote{ID: f.ID, Source: f.Source, Name: QuoteName(f.Name), State: f.State, Note: f.Reason, At: f.UpdatedAt})
		}
	}
	return s, nil
}
