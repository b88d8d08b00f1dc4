// Package report writes the per-file report a trust reads: report.json
// (summary and every finding) and errors.csv (the findings for Excel).
// Findings are streamed to disk as they are found, so a file with a million
// bad rows does not hold a million findings in memory.
package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/spool"
	"github.com/nhs-esr/jobplan-hub/transform/decimal"
	"github.com/nhs-esr/jobplan-hub/transform/finding"
)

// Status of a file after conversion.
const (
	StatusAccepted = "accepted"           // every plan accepted (warnings allowed)
	StatusPartial  = "partially_rejected" // some plans rejected
	StatusFailed   = "failed"             // the file could not be processed
	StatusSkipped  = "already_processed"  // the same content was processed before
)

// Counts summarises a conversion.
type Counts struct {
	RowsRead     int `json:"rows_read"`
	RowsFiltered int `json:"rows_filtered"`
	PlansBuilt   int `json:"plans_built"`
	Accepted     int `json:"accepted"`
	Rejected     int `json:"rejected"`
	Warnings     int `json:"warnings"`
	Errors       int `json:"errors"`
	Duplicates   int `json:"duplicates"`
	Superseded   int `json:"superseded"`
	// HeldBack are accepted plans not sent because a later plan of their
	// assignment in the file was refused (D4).
	HeldBack int `json:"held_back"`
}

// Report is the header of report.json; findings follow it in the file.
type Report struct {
	Input         string    `json:"input"`
	InputSHA256   string    `json:"input_sha256"`
	InputBytes    int64     `json:"input_bytes"`
	Mapping       string    `json:"mapping"`
	MappingSHA256 string    `json:"mapping_sha256"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	Counts        Counts    `json:"counts"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	Outputs       Outputs   `json:"outputs"`
	// SeeReport names an earlier report for a file already processed.
	SeeReport string `json:"see_report,omitempty"`
	// APAReading is the mapping's rules.apa_reading the plans were checked
	// under (in_total or outside_total): reconcile reads it to know what
	// the records' total holds.
	APAReading string `json:"apa_reading,omitempty"`
}

// Outputs names the files written beside the report.
type Outputs struct {
	Records  string `json:"records,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	Errors   string `json:"errors,omitempty"`
}

// Writer collects findings while a file is converted: report.json's
// findings in the order they are found, and errors.csv's rows in line
// order (errorscsv.go).
type Writer struct {
	spool *spool.Spool // findings as JSON array elements
	buf   *bufio.Writer
	n     int
	csv   *csvRows // nil when there is no errors.csv
}

// NewWriter streams findings into a temporary file in dir, and the rows of
// errors.csv (nil for none) into a sort by line whose runs, beyond a small
// budget, go to a temporary file in dir too: memory stays bounded however
// many findings there are.
func NewWriter(dir string, errorsCSV io.Writer) (*Writer, error) {
	sp := spool.New(dir, ".findings-", spoolInMemory)
	w := &Writer{spool: sp, buf: bufio.NewWriterSize(sp, 64<<10)}
	if errorsCSV != nil {
		w.csv = newCSVRows(dir, errorsCSV)
	}
	return w, nil
}

// Add records one finding.
func (w *Writer) Add(f finding.Finding) error {
	if w.n > 0 {
		w.buf.WriteString(",\n")
	} else {
		w.buf.WriteString("\n")
	}
	w.n++
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if _, err := w.buf.Write(b); err != nil {
		return fmt.Errorf("write findings: %w", err)
	}
	if w.csv != nil {
		return w.csv.add(&f)
	}
	return nil
}

// ShowNames gives errors.csv a Name column, filled from PlanName: call it
// before the first finding when the mapping gives the doctors' names.
func (w *Writer) ShowNames() {
	if w.csv != nil {
		w.csv.showNames()
	}
}

// PlanName tells the writer the doctor's name on plan record (the plan's
// number in the file), for the Name column of every finding about that
// plan, those made at the end of the file (D1-D4) included: "Surname,
// Forenames", or the one given. Plans are told in record order. It does
// nothing unless ShowNames was called.
func (w *Writer) PlanName(record int, surname, forenames string) error {
	if w.csv == nil {
		return nil
	}
	return w.csv.planName(record, strings.TrimSpace(surname), strings.TrimSpace(forenames))
}

// Count is the number of findings added.
func (w *Writer) Count() int { return w.n }

// FlushCSV writes errors.csv, its rows in line order; call it once, before
// publishing that file.
func (w *Writer) FlushCSV() error {
	if w.csv == nil {
		return nil
	}
	if err := w.csv.flush(); err != nil {
		return fmt.Errorf("write errors.csv: %w", err)
	}
	return nil
}

// Finish writes report.json to out: the header, then every finding.
func (w *Writer) Finish(out io.Writer, r *Report) error {
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("write findings: %w", err)
	}
	head, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	bw.Write(head[:len(head)-2]) // drop "\n}"
	bw.WriteString(",\n  \"findings\": [")
	spooled, err := w.spool.Reader()
	if err != nil {
		return fmt.Errorf("read findings: %w", err)
	}
	if _, err := io.Copy(bw, spooled); err != nil {
		return fmt.Errorf("copy findings: %w", err)
	}
	if w.n > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

// Close removes the temporary files.
func (w *Writer) Close() error {
	err := w.spool.Close()
	if w.csv != nil {
		err = errors.Join(err, w.csv.close())
	}
	return err
}

// spoolInMemory is how many bytes of findings stay in memory before they
// spill to a temporary file. Most files have few findings, and a file
// created and removed per input costs more than converting it.
const spoolInMemory = 256 << 10

// SafeCell neutralises text that a spreadsheet would run as a formula
// (CSV injection): a leading = + - @ tab or CR gets a leading apostrophe.
// Plain numbers such as -0.5 are left alone.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := decimal.Parse(s, false); err == nil {
			return s
		}
		return "'" + s
	}
	return s
}
