package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// fileDir is the folder of the file with ledger id id.
func (h *Hub) fileDir(id int64) string {
	return filepath.Join(h.stateDir, FilesDir, strconv.FormatInt(id, 10))
}

// handle is one attempt at one item, from its content hash to its
// acknowledgement, in steps: decide what to do from what the ledger knows
// of the content; claim (or resume) the file, convertAndQueue it, and
// finish it. Every step can be repeated, so a failed or interrupted call
// is simply made again, in this run or the next.
func (h *Hub) handle(ctx context.Context, s *sourceRun, it Item) error {
	f := &fileRun{s: s, it: it, ps: s, name: it.Name(), start: time.Now(), log: s.log.With("file", it.Name())}
	in, sum, err := openHashed(ctx, it)
	if err != nil {
		return fmt.Errorf("read %s: %w", it.Name(), err)
	}
	defer in.Close()
	f.in, f.sum = in, sum
	unlock, err := h.locks.lock(ctx, sum)
	if err != nil {
		return err
	}
	defer unlock()

	seen, err := h.ledger.FileSeen(ctx, sum)
	if err != nil {
		return err
	}
	switch decide(s, it, seen) {
	case skipSeen:
		return h.skipSeen(ctx, f, seen)
	case reacknowledge:
		return h.reacknowledge(ctx, f, seen)
	case resume:
		h.resume(f, seen)
	case claim:
		if err := h.claim(ctx, f, seen); err != nil {
			return err
		}
	}
	c, err := h.convertAndQueue(ctx, f)
	if err != nil {
		return err
	}
	return h.finish(ctx, f, c)
}

// fileRun is one item on its way through handle.
type fileRun struct {
	s     *sourceRun // the source the item came from
	it    Item
	in    *hashedInput
	sum   string // the content's SHA-256
	start time.Time
	log   *slog.Logger
	// id is the file's ledger id, once claimed or resumed.
	id int64
	// The file is processed as name, by ps (its processor, its
	// destinations); copyOf is set when that is another file's identity.
	name   string
	ps     *sourceRun
	copyOf *ledger.FileRecord
}

// decision is what handle does with an item.
type decision int

const (
	// claim: the content is new, or was quarantined before (the mapping
	// may have been fixed since): claim it and convert it.
	claim decision = iota
	// resume: a run that stopped before finishing claimed the content:
	// convert it again under that claim.
	resume
	// reacknowledge: this very item was finished by a run that stopped
	// before acknowledging it: acknowledge it as decided then.
	reacknowledge
	// skipSeen: the content was processed before: acknowledge the item
	// with an "already processed" report.
	skipSeen
)

func (d decision) String() string {
	return [...]string{"claim", "resume", "reacknowledge", "skipSeen"}[d]
}

// decide is handle's first step: what to do with item it of source s,
// given seen, the ledger's record of its content (nil if none).
func decide(s *sourceRun, it Item, seen *ledger.FileRecord) decision {
	switch {
	case seen == nil:
		return claim
	case seen.State == ledger.FileClaimed:
		return resume
	case unacknowledged(s, it, seen):
		return reacknowledge
	case seen.State == ledger.FileProcessed:
		return skipSeen
	}
	return claim
}

// claim records a new claim of the file in the ledger. seen, if not nil,
// is the same content quarantined before: tried again, since the mapping
// may have been fixed since.
func (h *Hub) claim(ctx context.Context, f *fileRun, seen *ledger.FileRecord) error {
	if seen != nil {
		f.log.Info("processing again a file quarantined before", "earlier", seen.ID)
	}
	id, err := h.ledger.ClaimFile(ctx, ledger.FileInfo{
		Source: f.s.spec.Name, Name: f.it.Name(), Size: f.it.Size(), ModTime: f.it.ModTime(), SHA256: f.sum,
	})
	f.id = id
	return err
}

// resume takes over the claim seen of a run that stopped before finishing.
// If the claim was for another file of the same content (a copy, or the
// same file dropped elsewhere), the file is finished as that file: its
// outputs named as before, so nothing already put is put again under a
// second name; this item then gets an "already processed" report.
func (h *Hub) resume(f *fileRun, seen *ledger.FileRecord) {
	f.id = seen.ID
	if seen.Source != f.s.spec.Name || seen.Name != f.it.Name() {
		f.copyOf, f.name = seen, seen.Name
		if orig := h.source(seen.Source); orig != nil {
			f.ps = orig
		}
	}
	f.log.Info("resuming a file claimed before a restart", "id", f.id, "claimed_as", seen.Name)
}

// reacknowledge acknowledges an item finished by an earlier run that
// stopped before acknowledging it, the same way as then.
func (h *Hub) reacknowledge(ctx context.Context, f *fileRun, seen *ledger.FileRecord) error {
	f.log.Info("acknowledging a file finished before a restart", "id", seen.ID, "state", seen.State)
	f.in.Close() // acknowledge with no file open
	if retaken, err := h.retakeIfChanged(ctx, f); retaken || err != nil {
		return err
	}
	return h.ack(ctx, f.it, h.savedAck(seen))
}

// skipSeen acknowledges an item whose content was processed before.
func (h *Hub) skipSeen(ctx context.Context, f *fileRun, seen *ledger.FileRecord) error {
	f.in.Close()
	// A file still being written may, so far, hold what an earlier file
	// held (an empty export, say): archiving it now would cut its writer
	// off.
	if retaken, err := h.retakeIfChanged(ctx, f); retaken || err != nil {
		return err
	}
	if err := h.skip(ctx, f.s, f.it, f.sum, seen); err != nil {
		return err
	}
	if h.obs != nil {
		h.obs.FileDone(f.s.spec.Name, FileSkipped, time.Since(f.start))
	}
	return nil
}

// converted is what convertAndQueue made of a file.
type converted struct {
	out Output
	// queues are what to queue for dests, in the same order; none if the
	// file failed.
	queues []ledger.Queue
	dests  []*destRun
	// records is the number of accepted records read back.
	records int
}

// convertAndQueue converts the claimed file into its folder (outputs of
// an interrupted attempt go first) and reads back what to queue for each
// of its destinations. Output the hub cannot use fails the file, to be
// quarantined.
func (h *Hub) convertAndQueue(ctx context.Context, f *fileRun) (converted, error) {
	dir := h.fileDir(f.id)
	if err := os.RemoveAll(dir); err != nil {
		return converted{}, fmt.Errorf("clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return converted{}, err
	}
	// The folder's own name must be on disk before the ledger points at
	// it (the processor syncs what is inside it); synced while the file
	// converts.
	parentSynced := make(chan error, 1)
	go func() { parentSynced <- h.filesDirSync.Sync() }()
	out, err := h.convert(ctx, f.ps, f.name, f.it, f.in, dir)
	f.in.Close()
	if perr := <-parentSynced; err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		return converted{}, err
	}
	c := converted{out: out}
	if out.Failed {
		return c, nil
	}
	c.queues, c.dests, c.records, err = h.queues(f.ps, f.id, out)
	var bad *badOutputError
	switch {
	case errors.As(err, &bad):
		c.out.Failed, c.out.Reason = true, bad.Error()
		c.queues, c.dests = nil, nil
	case err != nil:
		return converted{}, err
	}
	return c, nil
}

// finish is handle's last step. Unless the file changed since it was read
// (retakeIfChanged), it queues what c holds and records the file's
// outcome in one ledger transaction, wakes the destinations, logs and
// reports the outcome, and acknowledges the item.
func (h *Hub) finish(ctx context.Context, f *fileRun, c converted) error {
	if retaken, err := h.retakeIfChanged(ctx, f); retaken || err != nil {
		return err
	}
	out := c.out
	ack := Ack{Outcome: Processed, Reports: out.Reports}
	state := ledger.FileProcessed
	if out.Failed {
		ack = Ack{Outcome: Quarantined, Reason: out.Reason, Reports: out.Reports}
		state = ledger.FileQuarantined
	}
	// All the reports go in the ledger too, so that a restart between here
	// and the acknowledgement repeats it exactly.
	dir := h.fileDir(f.id)
	note := grewNote(f.it)
	results, err := h.ledger.FinishFile(ctx, f.id, ledger.FileOutcome{
		State: state, Reason: joinNote(ack.Reason, note), ReportPath: out.Report, Reports: relativeTo(dir, ack.Reports),
	}, c.queues)
	if err != nil {
		return err
	}
	attrs := []any{"id", f.id}
	if note != "" {
		attrs = append(attrs, "taken_again", note)
	}
	if !out.Failed {
		attrs = append(attrs, "records", c.records)
	}
	for i, d := range c.dests {
		d.disp.Wake()
		res := results[i]
		attrs = append(attrs, slog.Group(d.name, "queued", res.Enqueued, "duplicates", res.Duplicates, "superseded", res.Superseded))
	}
	outcome := FileProcessed
	if out.Failed {
		outcome = FileQuarantined
		f.log.Warn("file quarantined", append(attrs, "reason", out.Reason)...)
	} else {
		f.log.Info("file processed", append(attrs, out.Counts.logAttrs()...)...)
	}
	if h.obs != nil {
		h.obs.FileDone(f.ps.spec.Name, outcome, time.Since(f.start))
		h.obs.RecordsCounted(f.ps.spec.Name, out.Counts)
	}
	if f.copyOf != nil && !out.Failed {
		done := *f.copyOf
		done.State, done.ReportPath, done.UpdatedAt = ledger.FileProcessed, out.Report, time.Now()
		return h.skip(ctx, f.s, f.it, f.sum, &done)
	}
	return h.ack(ctx, f.it, ack)
}

// grewNote is the note a file's ledger record gets when its source took
// it again because it grew after it was archived (RegrownItem), or "".
func grewNote(it Item) string {
	g, ok := it.(RegrownItem)
	if !ok {
		return ""
	}
	if how := g.GrewAfterArchive(); how != "" {
		return "taken again: it grew after it was archived (" + how + "); converted again, and only records not sent before were queued"
	}
	return ""
}

// joinNote adds note to a quarantined file's reason.
func joinNote(reason, note string) string {
	switch {
	case note == "":
		return reason
	case reason == "":
		return note
	}
	return reason + "; " + note
}

// unchangedSinceRead is the step before the ledger records what became of
// a file: the file must still be the one that was read. It returns what
// changed, or "" if nothing did: the bytes hashed must be the size the
// source claimed, and a LiveItem's file must be the same now (size,
// modification time, identity) as when it was claimed. A writer that is
// still appending, even into a file already claimed by rename (its open
// descriptor follows the file), changes the size and the time.
func (h *Hub) unchangedSinceRead(ctx context.Context, it Item, in *hashedInput) (string, error) {
	if in.hashed >= 0 && in.hashed != it.Size() {
		return fmt.Sprintf("%d bytes read, %d when it was claimed", in.hashed, it.Size()), nil
	}
	// The processor converted what was hashed (it was told the hash).
	if in.converted >= 0 && in.converted != it.Size() {
		return fmt.Sprintf("%d bytes converted, %d when it was claimed", in.converted, it.Size()), nil
	}
	li, ok := it.(LiveItem)
	if !ok {
		return "", nil
	}
	change, err := li.Changed(ctx)
	if err != nil {
		return "", fmt.Errorf("check %s is unchanged: %w", it.Name(), err)
	}
	return change, nil
}

// retakeIfChanged runs unchangedSinceRead and, if the file changed, throws
// its conversion away: its claim (if f has one) leaves the ledger with
// nothing queued, its outputs go, and the item goes back to its source,
// which hands it out again once it has settled. It reports whether it
// did.
func (h *Hub) retakeIfChanged(ctx context.Context, f *fileRun) (bool, error) {
	it := f.it
	change, err := h.unchangedSinceRead(ctx, it, f.in)
	if err != nil || change == "" {
		return false, err
	}
	li, ok := it.(LiveItem)
	if !ok {
		// Its source cannot hand it out again; recording it would record
		// content that is not the file's.
		return false, fmt.Errorf("%s changed while it was read (%s)", it.Name(), change)
	}
	if f.id != 0 {
		dropped, err := h.ledger.DropClaim(ctx, f.id)
		if err != nil {
			return false, err
		}
		// A claim with deliveries queued (by an older version, before a
		// crash) stays, and so do the outputs they are read from.
		if dropped {
			dir := h.fileDir(f.id)
			if err := os.RemoveAll(dir); err != nil {
				return false, fmt.Errorf("discard %s: %w", dir, err)
			}
		}
	}
	if err := li.Retake(ctx); err != nil {
		return false, fmt.Errorf("give back %s: %w", it.Name(), err)
	}
	f.s.log.Info("file changed while it was read; conversion discarded, it is taken again once it settles",
		"file", it.Name(), "change", change)
	if h.obs != nil {
		h.obs.FileDone(f.s.spec.Name, FileRetaken, time.Since(f.start))
	}
	return true, nil
}

// source returns the running source called name, or nil.
func (h *Hub) source(name string) *sourceRun {
	for _, s := range h.sources {
		if s.spec.Name == name {
			return s
		}
	}
	return nil
}

// convert runs the source's processor over the item, read from in, as the
// input called name. The processor is given the hash worked out before,
// and what it reads is counted (to its end), so that unchangedSinceRead
// can tell the content it converted is the content hashed.
func (h *Hub) convert(ctx context.Context, s *sourceRun, name string, it Item, in *hashedInput, dir string) (Output, error) {
	r, err := in.rewind(ctx)
	if err != nil {
		return Output{}, fmt.Errorf("open %s: %w", it.Name(), err)
	}
	counted := &countingReader{r: r}
	out, err := s.spec.Processor.Process(ctx, Input{Name: name, Content: counted, Size: it.Size(), SHA256: in.sum}, dir)
	if err != nil {
		return Output{}, fmt.Errorf("process %s: %w", it.Name(), err)
	}
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return Output{}, fmt.Errorf("read %s: %w", it.Name(), err)
	}
	in.converted = counted.n
	if out.Failed && out.Reason == "" {
		out.Reason = "the file could not be processed"
	}
	return out, nil
}

// queues reads the file's records and returns what to queue for each of
// the source's destinations (the records themselves for record
// destinations, one file delivery for file destinations), the
// destinations in the same order, and the number of records.
func (h *Hub) queues(s *sourceRun, id int64, out Output) ([]ledger.Queue, []*destRun, int, error) {
	if out.Records == "" {
		return nil, nil, 0, nil
	}
	recs, err := ledgerRecords(out)
	if err != nil || len(recs) == 0 {
		return nil, nil, 0, err
	}
	var queues []ledger.Queue
	var file []byte
	for _, d := range s.dests {
		q := ledger.Queue{Destination: d.name, Records: recs}
		if d.files {
			if file == nil {
				if file, err = fileDelivery(id, filepath.Base(out.Records), out.RecordsSHA256, len(recs)); err != nil {
					return nil, nil, 0, err
				}
			}
			q = ledger.Queue{Destination: d.name, File: file}
		}
		queues = append(queues, q)
	}
	return queues, s.dests, len(recs), nil
}

// ack acknowledges the item.
func (h *Hub) ack(ctx context.Context, it Item, ack Ack) error {
	if err := it.Done(ctx, ack); err != nil {
		return fmt.Errorf("acknowledge %s: %w", it.Name(), err)
	}
	return nil
}

// unacknowledged reports whether seen is this very item, finished by an
// earlier run that stopped before acknowledging it: same source, name,
// size and modification time (to the millisecond the ledger keeps). A
// re-drop that matches all of that too is the same file again, and is
// archived with the original reports rather than an "already processed"
// one.
func unacknowledged(s *sourceRun, it Item, seen *ledger.FileRecord) bool {
	return seen.Source == s.spec.Name && seen.Name == it.Name() && seen.Size == it.Size() &&
		seen.ModTime.UnixMilli() == it.ModTime().UnixMilli()
}

// savedAck is the acknowledgement decided for a finished file, rebuilt
// from the ledger.
func (h *Hub) savedAck(f *ledger.FileRecord) Ack {
	ack := Ack{Reason: f.Reason}
	dir := h.fileDir(f.ID)
	for _, r := range f.Reports {
		if !filepath.IsAbs(r) {
			r = filepath.Join(dir, r)
		}
		ack.Reports = append(ack.Reports, r)
	}
	if len(ack.Reports) == 0 && f.ReportPath != "" {
		ack.Reports = []string{f.ReportPath}
	}
	if f.State == ledger.FileQuarantined {
		ack.Outcome = Quarantined
		if ack.Reason == "" {
			ack.Reason = "the file could not be processed"
		}
	}
	// A report that has gone missing must not block the acknowledgement
	// for ever.
	kept := ack.Reports[:0]
	for _, r := range ack.Reports {
		if _, err := os.Stat(r); err == nil {
			kept = append(kept, r)
		}
	}
	ack.Reports = kept
	return ack
}

// relativeTo makes the paths inside dir relative to it, so that the ledger
// stays valid if the state folder moves.
func relativeTo(dir string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if rel, err := filepath.Rel(dir, p); err == nil && filepath.IsLocal(rel) {
			p = rel
		}
		out[i] = p
	}
	return out
}

// skip acknowledges an input whose content was processed before, with a
// small report pointing at the earlier one. Nothing is queued again.
func (h *Hub) skip(ctx context.Context, s *sourceRun, it Item, sum string, seen *ledger.FileRecord) error {
	dir := filepath.Join(h.stateDir, SkippedDir, fmt.Sprintf("%s-%d", sum[:min(len(sum), 16)], time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	sk := Skipped{
		Name: it.Name(), SHA256: sum,
		EarlierID: seen.ID, EarlierName: seen.Name, EarlierAt: seen.UpdatedAt, EarlierReport: seen.ReportPath,
	}
	var report string
	var err error
	if sr, ok := s.spec.Processor.(SkipReporter); ok {
		report, err = sr.ReportSkipped(ctx, sk, dir)
	} else {
		report, err = writeSkipReport(sk, dir, h.fileMode)
	}
	if err != nil {
		return fmt.Errorf("skip report for %s: %w", it.Name(), err)
	}
	s.log.Info("file already processed", "file", it.Name(), "earlier", seen.ID, "earlier_name", seen.Name, "report", seen.ReportPath)
	return h.ack(ctx, it, Ack{Outcome: Processed, Reports: []string{report}})
}

// writeSkipReport is the report of a skipped input for processors without
// a SkipReporter.
func writeSkipReport(sk Skipped, dir string, mode fs.FileMode) (string, error) {
	b, err := json.MarshalIndent(struct {
		Input       string `json:"input"`
		InputSHA256 string `json:"input_sha256"`
		Status      string `json:"status"`
		Reason      string `json:"reason"`
		SeeReport   string `json:"see_report,omitempty"`
	}{sk.Name, sk.SHA256, "already_processed", SkipReason(sk), sk.EarlierReport}, "", "  ")
	if err != nil {
		return "", err
	}
	base := strings.TrimSuffix(sk.Name, filepath.Ext(sk.Name))
	p := filepath.Join(dir, base+".report.json")
	return p, atomicfile.WriteFileMode(p, append(b, '\n'), mode)
}

// SkipReason is the one-line reason given for a skipped input.
func SkipReason(sk Skipped) string {
	msg := fmt.Sprintf("already processed: the same content arrived as %s (file %d) on %s",
		sk.EarlierName, sk.EarlierID, sk.EarlierAt.UTC().Format(time.RFC3339))
	if sk.EarlierReport != "" {
		msg += ", see " + sk.EarlierReport
	}
	return msg
}

// hashedInput is an item whose content hash is known, and a way to read
// its content from the start.
type hashedInput struct {
	it Item
	rc io.ReadCloser // open content, not yet read, or read to the end to hash it
	// fresh says rc has not been read.
	fresh  bool
	closed bool
	// hashed is the number of bytes read to hash the content, or -1 if
	// the item knew its hash.
	hashed int64
	sum    string // the content's hash
	// converted is the number of bytes the processor was given to read,
	// or -1 before it ran.
	converted int64
}

// openHashed opens the item and returns its SHA-256: from the item if it
// knows it (Hasher), else by reading the content once.
func openHashed(ctx context.Context, it Item) (*hashedInput, string, error) {
	rc, err := it.Open(ctx)
	if err != nil {
		return nil, "", err
	}
	in := &hashedInput{it: it, rc: rc, fresh: true, hashed: -1, converted: -1}
	if hs, ok := it.(Hasher); ok {
		if in.sum = hs.SHA256(); in.sum != "" {
			return in, in.sum, nil
		}
	}
	h := sha256.New()
	in.fresh = false
	n, err := io.Copy(h, rc)
	if err != nil {
		rc.Close()
		return nil, "", err
	}
	in.hashed, in.sum = n, hex.EncodeToString(h.Sum(nil))
	return in, in.sum, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// rewind returns a reader of the content from the start: the open one,
// seeked back if it can be, or a new one.
func (in *hashedInput) rewind(ctx context.Context) (io.Reader, error) {
	if in.fresh {
		in.fresh = false
		return in.rc, nil
	}
	if sk, ok := in.rc.(io.Seeker); ok {
		if _, err := sk.Seek(0, io.SeekStart); err == nil {
			return in.rc, nil
		}
	}
	in.rc.Close()
	rc, err := in.it.Open(ctx)
	if err != nil {
		in.rc = io.NopCloser(nil)
		return nil, err
	}
	in.rc = rc
	return rc, nil
}

// Close closes the content. Later calls do nothing.
func (in *hashedInput) Close() error {
	if in.closed {
		return nil
	}
	in.closed = true
	return in.rc.Close()
}
