package main

import (
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/atomicfile"
	"github.com/nhs-esr/jobplan-hub/transform"
	"github.com/nhs-esr/jobplan-hub/transform/mapping"
	"github.com/nhs-esr/jobplan-hub/transform/outdir"
	"github.com/nhs-esr/jobplan-hub/transform/report"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// convertProcessor is the relay.Processor of a source: outdir.Convert with
// the source's mapping. It is the only place transform meets transport.
type convertProcessor struct {
	m      *mapping.Mapping
	checks []transform.PlanChecker // staff-record cross-checks, if configured
	// recordsDurable: a file destination puts the records file, so it must
	// survive a power cut; otherwise the ledger holds the records.
	recordsDurable bool
	fileMode       fs.FileMode // of every report and records file (0: 0600)
}

var (
	_ relay.Processor    = (*convertProcessor)(nil)
	_ relay.SkipReporter = (*convertProcessor)(nil)
)

func (p *convertProcessor) Process(ctx context.Context, in relay.Input, dir string) (relay.Output, error) {
	var written transform.Written
	res, err := outdir.Convert(ctx, p.m, in.Name, in.Content, in.Size, dir, outdir.Options{Checks: p.checks, SingleSync: true, RecordsNotDurable: !p.recordsDurable, FileMode: p.fileMode,
		InputSHA256: in.SHA256, Written: &written})
	if err != nil {
		return relay.Output{}, err
	}
	out := relay.Output{Report: res.Paths.Report, Reports: []string{res.Paths.Report}}
	if html := report.HTMLPath(res.Paths.Report); fileExists(html) {
		out.Reports = append(out.Reports, html)
	}
	if res.Report.Outputs.Errors != "" {
		out.Reports = append(out.Reports, res.Paths.Errors)
	}
	if res.Report.Outputs.Rejected != "" {
		out.Reports = append(out.Reports, res.Paths.Rejected)
	}
	if res.Err != nil {
		// The report has the full reason; this one is logged and shown.
		out.Failed, out.Reason = true, transform.DescribeWithoutData(res.Err)
		return out, nil
	}
	out.Records = res.Paths.Records
	// What transform knows of each record goes to the ledger as it is.
	out.RecordsSHA256 = hex.EncodeToString(written.SHA256[:])
	out.Plans = make([]relay.Plan, len(written.Records))
	for i, r := range written.Records {
		out.Plans[i] = relay.Plan{AssignmentNumber: r.Assignment, EffectiveDate: r.Effective, Payload: r.Canonical, Key: hex.EncodeToString(r.SHA256[:])}
	}
	c := res.Report.Counts
	out.Counts = relay.RecordCounts{Accepted: c.Accepted, Rejected: c.Rejected, Duplicates: c.Duplicates, Superseded: c.Superseded,
		HeldBack: c.HeldBack, Warnings: c.Warnings}
	return out, nil
}

// ReportSkipped writes an "already processed" report.json in the format of
// every other report.
func (p *convertProcessor) ReportSkipped(ctx context.Context, sk relay.Skipped, dir string) (string, error) {
	now := time.Now().UTC()
	r := report.Report{
		Input:         sk.Name,
		InputSHA256:   sk.SHA256,
		Mapping:       p.m.Name,
		MappingSHA256: p.m.SHA256,
		Status:        report.StatusSkipped,
		Reason:        relay.SkipReason(sk),
		Started:       now,
		Finished:      now,
		SeeReport:     sk.EarlierReport,
	}
	path := outdir.PathsFor(dir, sk.Name).Report
	w, err := report.NewWriter(dir, nil)
	if err != nil {
		return "", err
	}
	defer w.Close()
	f, err := atomicfile.CreateMode(path, p.fileMode)
	if err != nil {
		return "", err
	}
	defer f.Abort()
	if err := w.Finish(f, &r); err != nil {
		return "", err
	}
	if err := f.Commit(); err != nil {
		return "", err
	}
	// Only the JSON report is acknowledged with the item: a skipped file
	// needs no page of its own.
	return path, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
