// Package observe lets people and programs see a running hub: Prometheus
// metrics, liveness and readiness probes, and a self-contained status
// page with links to each file's reports. A Recorder collects what the
// hub reports through relay.Observer (and its optional HealthObserver and
// LoopObserver), relay.ReloadObserver and dispatch.DeliveryObserver; a
// Server serves it over HTTP. cmd/jobplan-hub wires both.
package observe

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// Metric names. README.md "### Status page, health and metrics" lists
// them; keep the two in step.
const (
	MetricFiles             = "jobplan_hub_files_total"
	MetricRecords           = "jobplan_hub_records_total"
	MetricDeliveries        = "jobplan_hub_deliveries_total"
	MetricQueuePending      = "jobplan_hub_queue_pending"
	MetricFileSeconds       = "jobplan_hub_file_processing_seconds"
	MetricDeliverySeconds   = "jobplan_hub_delivery_seconds"
	MetricPollErrors        = "jobplan_hub_source_poll_errors_total"
	MetricLastPollSuccess   = "jobplan_hub_source_last_success_timestamp_seconds"
	MetricLedgerFiles       = "jobplan_hub_ledger_files"
	MetricDestinationUp     = "jobplan_hub_destination_available"
	MetricQueueRejected     = "jobplan_hub_queue_rejected"
	MetricBuildInfo         = "jobplan_hub_build_info"
	MetricReloads           = "jobplan_hub_reloads_total"
	MetricReloadOK          = "jobplan_hub_config_last_reload_successful"
	recordOutcomeAccepted   = "accepted"
	recordOutcomeRejected   = "rejected"
	recordOutcomeDuplicate  = "duplicate"
	recordOutcomeSuperseded = "superseded"
)

// scrapeTimeout bounds each ledger read behind the gauges and the status
// page.
const scrapeTimeout = 5 * time.Second

var (
	fileOutcomes     = []string{relay.FileProcessed, relay.FileQuarantined, relay.FileSkipped, relay.FileRetaken}
	recordOutcomes   = []string{recordOutcomeAccepted, recordOutcomeRejected, recordOutcomeDuplicate, recordOutcomeSuperseded}
	deliveryOutcomes = []string{dispatch.OutcomeDelivered, dispatch.OutcomeDuplicate, dispatch.OutcomeRejected, dispatch.OutcomeRetried}
)

// Recorder collects a hub's metrics in its own prometheus.Registry (with
// the Go and process collectors) and keeps each source's latest poll for
// the health check and the status page. It implements relay.Observer and
// dispatch.DeliveryObserver. It is safe for concurrent use.
type Recorder struct {
	reg        *prometheus.Registry
	files      *prometheus.CounterVec
	records    *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	fileSecs   *prometheus.HistogramVec
	delivSecs  *prometheus.HistogramVec
	pollErrors *prometheus.CounterVec
	lastOK     *prometheus.GaugeVec
	available  *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	reloadOK   prometheus.Gauge
	now        func() time.Time

	totals totalCounters // the same counts, summed, for the progress line

	// filesGen counts finished files; a change makes the cached files
	// gauge stale.
	filesGen atomic.Uint64

	mu      sync.Mutex
	sources map[string]*SourceState
	order   []string // configured sources, in configuration order
	dests   []string // configured destinations, in configuration order
	// destProblems are the destinations failing as a whole.
	destProblems map[string]*DestinationState
	paused       *pauseState // nil: not paused
	loops        map[string]loopState
	reloadFailed *ReloadFailed // nil: the latest reload succeeded, or none was made
	// healthWake tells WriteHealth that the health may have changed.
	healthWake chan struct{}
}

// Totals are a recorder's counts since it was made, summed over sources
// and destinations.
type Totals struct {
	FilesProcessed, FilesQuarantined, FilesSkipped int64
	// RecordsAccepted counts plans accepted by conversion (before
	// delivery, once per destination).
	RecordsAccepted, RecordsRejected int64
	// Delivered includes records the receiver already had (409).
	Delivered, DeliveriesRejected, Retries int64
}

type totalCounters struct {
	filesProcessed, filesQuarantined, filesSkipped atomic.Int64
	recordsAccepted, recordsRejected               atomic.Int64
	delivered, deliveriesRejected, retries         atomic.Int64
}

// Totals returns the counts so far.
func (r *Recorder) Totals() Totals {
	t := &r.totals
	return Totals{
		FilesProcessed: t.filesProcessed.Load(), FilesQuarantined: t.filesQuarantined.Load(), FilesSkipped: t.filesSkipped.Load(),
		RecordsAccepted: t.recordsAccepted.Load(), RecordsRejected: t.recordsRejected.Load(),
		Delivered: t.delivered.Load(), DeliveriesRejected: t.deliveriesRejected.Load(), Retries: t.retries.Load(),
	}
}

var (
	_ relay.Observer                = (*Recorder)(nil)
	_ dispatch.DeliveryObserver     = (*Recorder)(nil)
	_ dispatch.AvailabilityObserver = (*Recorder)(nil)
)

// SourceState is what the hub knows of one source's reachability.
type SourceState struct {
	Name string
	// LastPoll is the latest look at the source, LastSuccess the latest
	// that succeeded; zero if none.
	LastPoll, LastSuccess time.Time
	// LastError is the latest look's error, empty if it succeeded.
	LastError string
	// Condition names LastError when the error says what it is (a
	// refused login: "authentication refused", "host key mismatch").
	Condition string
	// FailingSince is when the looks started failing; RetryAt, when the
	// error says, is when the source will be tried again.
	FailingSince, RetryAt time.Time
}

// Healthy reports whether the source has been reached and its latest
// look succeeded.
func (s SourceState) Healthy() bool {
	return !s.LastSuccess.IsZero() && s.LastError == ""
}

// NewRecorder returns a Recorder whose registry also reports, if l is
// not nil, the pending deliveries of each configured destination (see
// Configure), read from l at each scrape through its index, and the files
// per state, read from l at most every CacheTTL and after each finished
// file.
func NewRecorder(l *ledger.Ledger) *Recorder {
	r := &Recorder{
		reg: prometheus.NewRegistry(),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricFiles,
			Help: "Input files finished, by source and outcome (processed, quarantined, skipped: already processed).",
		}, []string{"source", "outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRecords,
			Help: "Records (plans) of processed files, by source and outcome (accepted, rejected, duplicate, superseded).",
		}, []string{"source", "outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricDeliveries,
			Help: "Delivery attempts, by destination and outcome (delivered, duplicate, rejected, retried).",
		}, []string{"destination", "outcome"}),
		fileSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricFileSeconds,
			Help:    "Time to handle one input file, from reading it to recording its outcome, by source.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"source"}),
		delivSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricDeliverySeconds,
			Help:    "Time of one delivery attempt, by destination.",
			Buckets: prometheus.DefBuckets,
		}, []string{"destination"}),
		pollErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricPollErrors,
			Help: "Failed looks at a source (listing, scan), by source.",
		}, []string{"source"}),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricLastPollSuccess,
			Help: "Unix time of the latest successful look at a source.",
		}, []string{"source"}),
		available: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricDestinationUp,
			Help: "1 while a destination answers, 0 while it fails as a whole (its deliveries held, probed one request at a time).",
		}, []string{"destination"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricReloads,
			Help: "Reloads of the configuration (SIGHUP, a file changed), by outcome: success (the new one runs), failure (the running one was kept).",
		}, []string{"outcome"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricReloadOK,
			Help: "0 while the latest reload was refused (the hub runs on the configuration it had), else 1.",
		}),
		now:          time.Now,
		loops:        make(map[string]loopState),
		sources:      make(map[string]*SourceState),
		destProblems: make(map[string]*DestinationState),
		healthWake:   make(chan struct{}, 1),
	}
	r.reloads.WithLabelValues(ReloadOutcomeSuccess)
	r.reloads.WithLabelValues(ReloadOutcomeFailure)
	r.reloadOK.Set(1)
	r.reg.MustRegister(r.files, r.records, r.deliveries, r.fileSecs, r.delivSecs, r.pollErrors, r.lastOK, r.available,
		r.reloads, r.reloadOK, buildInfo(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if l != nil {
		r.reg.MustRegister(&ledgerCollector{l: l, r: r, files: cached[map[ledger.FileState]int]{now: time.Now}})
	}
	return r
}

// Registry is where the metrics are registered; serve it with promhttp.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// Configure names the hub's sources and destinations, so that each shows
// in the metrics (at zero) before anything happens, so that the health
// check waits for every source, and so that the queue gauge reports each
// destination. Sources and destinations no longer named are forgotten by
// the health check and the queue gauge; call it again after a reload.
func (r *Recorder) Configure(sources, destinations []string) {
	for _, s := range sources {
		for _, o := range fileOutcomes {
			r.files.WithLabelValues(s, o)
		}
		for _, o := range recordOutcomes {
			r.records.WithLabelValues(s, o)
		}
		r.pollErrors.WithLabelValues(s)
	}
	for _, d := range destinations {
		for _, o := range deliveryOutcomes {
			r.deliveries.WithLabelValues(d, o)
		}
		// Available until its dispatcher says otherwise (at its start,
		// if it was unavailable when the hub stopped).
		r.available.WithLabelValues(d).Set(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = slices.Clone(sources)
	r.dests = slices.Clone(destinations)
	kept := make(map[string]*SourceState, len(sources))
	for _, s := range sources {
		st := r.sources[s]
		if st == nil {
			st = &SourceState{Name: s}
		}
		kept[s] = st
	}
	r.sources = kept
	for d := range r.destProblems {
		if !slices.Contains(destinations, d) {
			delete(r.destProblems, d)
		}
	}
	r.healthChanged()
}

// FileDone implements relay.Observer.
func (r *Recorder) FileDone(source, outcome string, d time.Duration) {
	// Before the counter: a scrape that sees the file counted reads the
	// files gauge again.
	r.filesGen.Add(1)
	switch outcome {
	case relay.FileProcessed:
		r.totals.filesProcessed.Add(1)
	case relay.FileQuarantined:
		r.totals.filesQuarantined.Add(1)
	case relay.FileSkipped:
		r.totals.filesSkipped.Add(1)
	}
	r.files.WithLabelValues(source, outcome).Inc()
	r.fileSecs.WithLabelValues(source).Observe(d.Seconds())
}

// RecordsCounted implements relay.Observer.
func (r *Recorder) RecordsCounted(source string, c relay.RecordCounts) {
	r.totals.recordsAccepted.Add(int64(c.Accepted))
	r.totals.recordsRejected.Add(int64(c.Rejected))
	r.records.WithLabelValues(source, recordOutcomeAccepted).Add(float64(c.Accepted))
	r.records.WithLabelValues(source, recordOutcomeRejected).Add(float64(c.Rejected))
	r.records.WithLabelValues(source, recordOutcomeDuplicate).Add(float64(c.Duplicates))
	r.records.WithLabelValues(source, recordOutcomeSuperseded).Add(float64(c.Superseded))
}

// SourcePolled implements relay.Observer.
func (r *Recorder) SourcePolled(source string, err error) {
	now := r.now()
	if err != nil {
		r.pollErrors.WithLabelValues(source).Inc()
	} else {
		r.lastOK.WithLabelValues(source).Set(float64(now.UnixNano()) / 1e9)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.sources[source]
	if st == nil {
		// Not (or no longer) configured: a source of a replaced
		// configuration reporting late.
		return
	}
	st.LastPoll = now
	if err != nil {
		if st.LastError == "" {
			st.FailingSince = now
		}
		st.LastError, st.Condition, st.RetryAt = err.Error(), condition(err), retryAt(now, err)
	} else {
		st.LastSuccess, st.LastError, st.Condition = now, "", ""
		st.FailingSince, st.RetryAt = time.Time{}, time.Time{}
	}
	r.healthChanged()
}

// Delivered implements dispatch.DeliveryObserver.
func (r *Recorder) Delivered(destination, outcome string, d time.Duration) {
	switch outcome {
	case dispatch.OutcomeDelivered, dispatch.OutcomeDuplicate:
		r.totals.delivered.Add(1)
	case dispatch.OutcomeRejected:
		r.totals.deliveriesRejected.Add(1)
	case dispatch.OutcomeRetried:
		r.totals.retries.Add(1)
	}
	r.deliveries.WithLabelValues(destination, outcome).Inc()
	r.delivSecs.WithLabelValues(destination).Observe(d.Seconds())
}

// DestinationAvailable implements dispatch.AvailabilityObserver.
func (r *Recorder) DestinationAvailable(destination string, available bool) {
	v := 0.0
	if available {
		v = 1
	}
	r.available.WithLabelValues(destination).Set(v)
}

// Sources returns the configured sources' states, in configuration order.
func (r *Recorder) Sources() []SourceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SourceState, 0, len(r.order))
	for _, name := range r.order {
		out = append(out, *r.sources[name])
	}
	return out
}

// destinations returns the configured destinations.
func (r *Recorder) destinations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dests)
}

// ledgerCollector reads the ledger's counts at scrape time: the pending
// and rejected deliveries of the recorder's destinations each time (an
// index range each), the files per state through a cache (the ledger counts those
// only together with every delivery).
type ledgerCollector struct {
	l     *ledger.Ledger
	r     *Recorder
	files cached[map[ledger.FileState]int]
}

var (
	descQueue = prometheus.NewDesc(MetricQueuePending,
		"Deliveries waiting for an attempt (retries included), by destination.", []string{"destination"}, nil)
	descLedgerFiles = prometheus.NewDesc(MetricLedgerFiles,
		"Input files in the ledger, by state (claimed, processed, quarantined).", []string{"state"}, nil)
	descRejected = prometheus.NewDesc(MetricQueueRejected,
		"Deliveries refused for good and waiting for an operator (deliveries retry), by destination.", []string{"destination"}, nil)
)

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueue
	ch <- descRejected
	ch <- descLedgerFiles
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, d := range c.r.destinations() {
		n, err := c.l.Pending(ctx, d)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descQueue, fmt.Errorf("observe: read ledger: %w", err))
			return
		}
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n), d)
		if n, err = c.l.Rejected(ctx, d); err != nil {
			ch <- prometheus.NewInvalidMetric(descRejected, fmt.Errorf("observe: read ledger: %w", err))
			return
		}
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.GaugeValue, float64(n), d)
	}
	files, err := c.files.get(c.r.filesGen.Load(), func() (map[ledger.FileState]int, error) {
		return c.l.FileCounts(ctx)
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLedgerFiles, fmt.Errorf("observe: read ledger: %w", err))
		return
	}
	for _, s := range []ledger.FileState{ledger.FileClaimed, ledger.FileProcessed, ledger.FileQuarantined} {
		ch <- prometheus.MustNewConstMetric(descLedgerFiles, prometheus.GaugeValue, float64(files[s]), string(s))
	}
}
