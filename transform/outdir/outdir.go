// Package outdir converts one input into a directory of outputs: records,
// rejected rows, report.json and errors.csv, each published atomically
// (temporary name, fsync, rename) only once the whole conversion succeeded.
package outdir

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/report"
)

// Paths are the output files of one input.
type Paths struct {
	Records  string // <base>.jobplans.jsonl
	Rejected string // <base>.rejected.<ext>
	Report   string // <base>.report.json
	Errors   string // <base>.errors.csv
}

// PathsFor returns the output paths for an input named name in dir.
func PathsFor(dir, name string) Paths {
	name = filepath.Base(name)
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if ext == "" {
		ext = ".txt"
	}
	j := func(s string) string { return filepath.Join(dir, base+s) }
	return Paths{Records: j(".jobplans.jsonl"), Rejected: j(".rejected" + ext), Report: j(".report.json"), Errors: j(".errors.csv")}
}

// Result is the outcome of converting one file.
type Result struct {
	Report report.Report
	Paths  Paths
	// Err is non-nil when the file could not be processed; the report
	// then says why. A *transform.FileError means the content is at fault.
	Err error
}

// ExitCode is 0 when every plan was accepted, 1 when some were rejected,
// and 2 when the file could not be processed.
func (r *Result) ExitCode() int {
	switch r.Report.Status {
	case report.StatusAccepted, report.StatusSkipped:
		return 0
	case report.StatusPartial:
		return 1
	}
	return 2
}

// Options tune a conversion.
type Options struct {
	// Wrap, when set, wraps the input reader (progress bars).
	Wrap func(r io.Reader, size int64) io.Reader
	Now  func() time.Time
	// Checks are extra per-plan checks (staff-record cross-checks).
	Checks []transform.PlanChecker
	// Rows, when set, counts the rows read as the conversion goes.
	Rows *atomic.Int64
	// SingleSync publishes every output with one directory sync at the
	// end instead of data files first and the report after them. A power
	// cut while publishing may then leave a report whose data files are
	// missing, so it is for callers that trust the directory only once
	// they have recorded the result elsewhere (the hub's ledger).
	SingleSync bool
	// RecordsNotDurable publishes the records file without flushing it to
	// disk, for a caller that keeps the records durably itself (the hub's
	// ledger, when no file destination reads the file).
	RecordsNotDurable bool
	// FileMode is the permission of every output; 0 means
	// atomicfile.DefaultMode (0600, owner only: outputs hold personal
	// data).
	FileMode fs.FileMode
	// InputSHA256 is the input's SHA-256 (lowercase hex) when the caller
	// has worked it out already, as the hub does before it claims a file:
	// the report quotes it, and the input is not hashed again.
	InputSHA256 string
	// Written, if set, is filled with the records published, each with its
	// canonical form and key, and the records file's hash
	// (transform.WithWritten).
	Written *transform.Written
}

// ConvertFile converts the file at inputPath into dir. The returned error is
// only for failures to write the outputs themselves; problems with the input
// are in Result.Err and the report.
func ConvertFile(ctx context.Context, m *mapping.Mapping, inputPath, dir string, opts Options) (*Result, error) {
	f, err := os.Open(inputPath)
	if err != nil {
		return Fail(m, inputPath, dir, fmt.Errorf("cannot open the file: %w", err), opts)
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	return Convert(ctx, m, filepath.Base(inputPath), f, size, dir, opts)
}

// Convert converts r (the content of the input called name) into dir.
func Convert(ctx context.Context, m *mapping.Mapping, name string, r io.Reader, size int64, dir string, opts Options) (*Result, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	res := &Result{Paths: PathsFor(dir, name)}
	res.Report = report.Report{Input: name, Mapping: m.Name, MappingSHA256: m.SHA256, APAReading: string(m.Validator.Config().APAReading), Started: now().UTC()}

	records, err := atomicfile.CreateMode(res.Paths.Records, opts.FileMode)
	if err != nil {
		return nil, err
	}
	defer records.Abort()
	// Most inputs have no rejected rows and many no findings: those two
	// files are created on first write.
	rejected := &lazyFile{path: res.Paths.Rejected, mode: opts.FileMode}
	defer rejected.abort()
	errorsCSV := &lazyFile{path: res.Paths.Errors, mode: opts.FileMode}
	defer errorsCSV.abort()
	findings, err := report.NewWriter(dir, errorsCSV)
	if err != nil {
		return nil, err
	}
	defer findings.Close()
	if transform.MapsNames(m) {
		findings.ShowNames()
	}

	counter := &countingReader{r: r}
	h := sha256.New()
	if opts.InputSHA256 == "" {
		counter.r = io.TeeReader(r, h)
	}
	var in io.Reader = counter
	if opts.Wrap != nil {
		in = opts.Wrap(in, size)
	}
	convOpts := []transform.Option{transform.WithChecks(opts.Checks...), transform.WithProgress(opts.Rows)}
	if opts.Written != nil {
		convOpts = append(convOpts, transform.WithWritten(opts.Written))
	}
	counts, convErr := transform.Convert(ctx, m, in, transform.Outputs{Records: records, Rejected: rejected, Findings: findings, SpoolDir: dir}, convOpts...)
	if convErr != nil && !isFileError(convErr) {
		return nil, convErr // I/O failure or cancellation: publish nothing
	}
	// Hash (or count) the whole input even if conversion stopped early.
	if _, err := io.Copy(io.Discard, counter); err != nil && convErr == nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	res.Report.InputSHA256 = opts.InputSHA256
	if res.Report.InputSHA256 == "" {
		res.Report.InputSHA256 = hex.EncodeToString(h.Sum(nil))
	}
	res.Report.InputBytes = counter.n
	res.Report.Counts = counts
	res.Report.Status = transform.Status(counts, convErr)
	res.Err = convErr
	if convErr != nil {
		res.Report.Reason = transform.Describe(convErr)
	}
	res.Report.Finished = now().UTC()

	if findings.Count() > 0 {
		if err := findings.FlushCSV(); err != nil {
			return nil, err
		}
	}
	ok := convErr == nil
	var data []*atomicfile.File
	if ok {
		res.Report.Outputs.Records = filepath.Base(res.Paths.Records)
		if opts.RecordsNotDurable {
			records.NoSync()
		}
		data = append(data, records)
	} else {
		records.Abort()
		if err := removeStale(res.Paths.Records); err != nil {
			return nil, err
		}
	}
	for _, o := range []struct {
		f    *lazyFile
		want bool
		slot *string
	}{
		{rejected, ok && counts.Rejected > 0, &res.Report.Outputs.Rejected},
		{errorsCSV, ok && findings.Count() > 0, &res.Report.Outputs.Errors},
	} {
		f, err := o.f.take(o.want, o.slot)
		if err != nil {
			return nil, err
		}
		if f != nil {
			data = append(data, f)
		}
	}

	if opts.SingleSync {
		reports, err := renderReports(res, findings, opts.FileMode)
		if err != nil {
			return nil, err
		}
		return res, atomicfile.CommitAll(append(data, reports...)...)
	}
	// Data files first, the reports last, so a report on disk always
	// describes outputs that exist.
	if err := atomicfile.CommitAll(data...); err != nil {
		return nil, err
	}
	reports, err := renderReports(res, findings, opts.FileMode)
	if err != nil {
		return nil, err
	}
	return res, atomicfile.CommitAll(reports...)
}

// renderReports writes report.json and, read back from it so that it
// never holds more than the page shows, report.html, both under temporary
// names for the caller to commit.
func renderReports(res *Result, findings *report.Writer, mode fs.FileMode) ([]*atomicfile.File, error) {
	f, err := atomicfile.CreateMode(res.Paths.Report, mode)
	if err != nil {
		return nil, err
	}
	if err := findings.Finish(f, &res.Report); err != nil {
		f.Abort()
		return nil, err
	}
	html, err := atomicfile.CreateMode(report.HTMLPath(res.Paths.Report), mode)
	if err != nil {
		f.Abort()
		return nil, err
	}
	bw := bufio.NewWriterSize(html, 64<<10)
	err = report.RenderHTML(bw, io.NewSectionReader(f, 0, math.MaxInt64), report.HTMLOptions{})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Abort()
		html.Abort()
		return nil, fmt.Errorf("html report: %w", err)
	}
	return []*atomicfile.File{f, html}, nil
}

// lazyHold is how much of a lazyFile stays in memory before the file is
// created.
const lazyHold = 64 << 10

// lazyFile is an atomic output that is created only once it outgrows
// lazyHold or is published. A header written to an output that is then
// dropped (no rejected rows) costs no file: on some file systems creating
// and deleting files costs more than converting a small input.
type lazyFile struct {
	path string
	mode fs.FileMode
	held []byte
	f    *atomicfile.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && len(l.held)+len(p) <= lazyHold {
		l.held = append(l.held, p...)
		return len(p), nil
	}
	if err := l.create(); err != nil {
		return 0, err
	}
	return l.f.Write(p)
}

func (l *lazyFile) create() error {
	if l.f != nil {
		return nil
	}
	f, err := atomicfile.CreateMode(l.path, l.mode)
	if err != nil {
		return err
	}
	l.f = f
	if _, err := f.Write(l.held); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	l.held = nil
	return nil
}

// take returns the output's file when want (creating it if nothing was
// written), for the caller to commit, and records its name in slot; or
// else drops it and removes any stale output, and returns nil.
func (l *lazyFile) take(want bool, slot *string) (*atomicfile.File, error) {
	if !want {
		l.abort()
		return nil, removeStale(l.path)
	}
	if err := l.create(); err != nil {
		return nil, err
	}
	*slot = filepath.Base(l.path)
	return l.f, nil
}

func (l *lazyFile) abort() {
	l.held = nil
	if l.f != nil {
		l.f.Abort()
	}
}

// Fail writes a report for an input that could not be read at all.
func Fail(m *mapping.Mapping, name, dir string, cause error, opts Options) (*Result, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	res := &Result{Paths: PathsFor(dir, name), Err: cause}
	t := now().UTC()
	res.Report = report.Report{Input: filepath.Base(name), Status: report.StatusFailed, Reason: cause.Error(), Started: t, Finished: t}
	if m != nil {
		res.Report.Mapping, res.Report.MappingSHA256 = m.Name, m.SHA256
	}
	for _, p := range []string{res.Paths.Records, res.Paths.Rejected, res.Paths.Errors} {
		if err := removeStale(p); err != nil {
			return nil, err
		}
	}
	findings, err := report.NewWriter(dir, nil)
	if err != nil {
		return nil, err
	}
	defer findings.Close()
	reports, err := renderReports(res, findings, opts.FileMode)
	if err != nil {
		return nil, err
	}
	return res, atomicfile.CommitAll(reports...)
}

// removeStale deletes an output left by an earlier run of the same input,
// so the directory never mixes two runs.
func removeStale(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale output: %w", err)
	}
	return nil
}

func isFileError(err error) bool {
	var fe *transform.FileError
	return errors.As(err, &fe)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
