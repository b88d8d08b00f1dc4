package observe

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// RecentFiles is how many of the latest files the status page lists.
const RecentFiles = 50

// servedSuffixes are the only files served from files/<id>/: the
// reports. Records and rejected rows (whole source rows, with names)
// are never served.
var servedSuffixes = []string{".report.html", ".report.json"}

// contentSecurityPolicy is sent with the status page and the served
// reports: both are self-contained, with inline styles (the reports'
// from transform/report), no scripts and no images or other assets.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'"

// fileRow is one line of the page's file table.
type fileRow struct {
	ledger.FileRecord
	Counts *relay.RecordCounts // nil if unknown
	Link   string              // the HTML report, empty if none
}

type pageData struct {
	Now          time.Time
	Refresh      int
	Problems     []Problem
	Sources      []SourceState
	Files        []fileRow
	Rejected     []rejectedRow
	FileCounts   []stateCount
	FilesErr     string
	StatusErr    string
	RecentFiles  int
	Destinations []relay.DestinationStatus
	// Refused are the files the sources leave alone, names quoted.
	Refused []relay.RefusedFile
}

type stateCount struct {
	State string
	N     int
}

type rejectedRow struct {
	Destination string
	relay.DeliveryError
}

// status renders the status page. The ledger's counts are read at most
// every CacheTTL, whoever asks; the sources' states are always current.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := pageData{Now: time.Now(), Refresh: RefreshSeconds, Problems: s.cfg.Recorder.Health().Problems,
		Sources: s.cfg.Recorder.Sources(), RecentFiles: RecentFiles}
	st, err := s.ledgerStatus.get(0, func() (*relay.Status, error) {
		// Kept for others: not bound to this request.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scrapeTimeout)
		defer cancel()
		return relay.ReadStatus(ctx, s.cfg.Ledger)
	})
	if err != nil {
		d.StatusErr = err.Error()
	} else {
		d.Destinations = st.Destinations
		d.Refused = st.Refused
		for _, state := range []ledger.FileState{ledger.FileClaimed, ledger.FileProcessed, ledger.FileQuarantined} {
			d.FileCounts = append(d.FileCounts, stateCount{string(state), st.Files[state]})
		}
		for _, ds := range st.Destinations {
			for _, e := range ds.Errors {
				if e.State == ledger.Rejected {
					d.Rejected = append(d.Rejected, rejectedRow{ds.Name, e})
				}
			}
		}
		files, err := s.recentFiles(ctx)
		if err != nil {
			d.FilesErr = err.Error()
		}
		if r.URL.Query().Has("token") {
			// The page was opened with ?token=: its links need it too.
			q := "?" + url.Values{"token": {r.URL.Query().Get("token")}}.Encode()
			for i := range files {
				if files[i].Link != "" {
					files[i].Link += q
				}
			}
		}
		d.Files = files
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := pageTemplate.Execute(w, d); err != nil {
		s.cfg.Logger.Warn("status page", "err", err)
	}
}

// recentFiles reads the latest RecentFiles files from the ledger, newest
// first.
func (s *Server) recentFiles(ctx context.Context) ([]fileRow, error) {
	files, err := s.cfg.Ledger.RecentFiles(ctx, RecentFiles)
	if err != nil {
		return nil, err
	}
	out := make([]fileRow, len(files))
	for i := range files {
		out[i] = s.row(&files[i])
	}
	return out, nil
}

// row is the page's line for f, with its counts and report link if its
// outputs are in the state folder.
func (s *Server) row(f *ledger.FileRecord) fileRow {
	row := fileRow{FileRecord: *f}
	if f.ReportPath == "" || f.State == ledger.FileClaimed {
		return row
	}
	dir := filepath.Join(s.cfg.StateDir, relay.FilesDir, strconv.FormatInt(f.ID, 10))
	if filepath.Dir(f.ReportPath) != dir {
		return row // not among this hub's outputs
	}
	row.Counts = s.page.counts(f.ID, f.ReportPath)
	html := strings.TrimSuffix(filepath.Base(f.ReportPath), ".json") + ".html"
	if _, err := os.Stat(filepath.Join(dir, html)); err == nil {
		row.Link = "/files/" + strconv.FormatInt(f.ID, 10) + "/" + url.PathEscape(html)
	}
	return row
}

// file serves one report from the state folder's files/<id>/.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	name := r.PathValue("name")
	if err != nil || id <= 0 || !servable(name) {
		http.NotFound(w, r)
		return
	}
	root, err := os.OpenRoot(filepath.Join(s.cfg.StateDir, relay.FilesDir, strconv.FormatInt(id, 10)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer root.Close()
	// os.Root refuses names that leave the folder, symbolic links
	// included.
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// servable reports whether name is a plain file name of a report.
func servable(name string) bool {
	if name == "" || strings.ContainsAny(name, `/\`) || !filepath.IsLocal(name) || strings.HasPrefix(name, ".") {
		return false
	}
	for _, suffix := range servedSuffixes {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// pageCache remembers the counts of finished files, whose reports do not
// change.
type pageCache struct {
	mu sync.Mutex
	m  map[int64]*relay.RecordCounts
}

// maxCached bounds the cache; it is emptied when full.
const maxCached = 4 * RecentFiles

func newPageCache() *pageCache { return &pageCache{m: make(map[int64]*relay.RecordCounts)} }

func (c *pageCache) counts(id int64, reportJSON string) *relay.RecordCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.m[id]; ok {
		return rc
	}
	rc := readCounts(reportJSON)
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[id] = rc
	return rc
}

// readCounts reads the "counts" object of a report.json, which comes
// before its findings, without reading the findings. It returns nil if
// there is none.
func readCounts(path string) *relay.RecordCounts {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil
		}
		if key != "counts" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return nil
			}
			continue
		}
		var c struct {
			Accepted   int `json:"accepted"`
			Rejected   int `json:"rejected"`
			Duplicates int `json:"duplicates"`
			Superseded int `json:"superseded"`
		}
		if dec.Decode(&c) != nil {
			return nil
		}
		return &relay.RecordCounts{Accepted: c.Accepted, Rejected: c.Rejected, Duplicates: c.Duplicates, Superseded: c.Superseded}
	}
	return nil
}

var pageTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format(time.DateTime)
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Local().Format(time.DateTime)
	},
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jobplan-hub status</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #212b32; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { border-bottom: 1px solid #d8dde0; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f0f4f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #d5281b; font-weight: 600; } .ok { color: #007f3b; font-weight: 600; }
.muted { color: #4c6272; }
</style>
</head>
<body>
<h1>jobplan-hub status</h1>
<p class="muted">As of {{when .Now}}; this page refreshes every {{.Refresh}} seconds.
Files: {{range $i, $c := .FileCounts}}{{if $i}} · {{end}}{{$c.N}} {{$c.State}}{{end}}.</p>

<h2>Problems</h2>
{{if .Problems}}<ul id="problems">
{{range .Problems}}<li data-kind="{{.Kind}}"><span class="bad">{{.Kind}}{{with .Name}} {{.}}{{end}}: {{or .Condition "failing"}}</span>
{{- if not .Since.IsZero}} since {{when .Since}}{{end}}{{if not .RetryAt.IsZero}}, next attempt {{when .RetryAt}}{{end}}
{{- with .Error}}<br><span class="muted">{{.}}</span>{{end}}</li>
{{end}}</ul>
{{else}}<p id="problems" class="ok">none</p>{{end}}

<h2>Sources</h2>
<table id="sources">
<tr><th>source</th><th>state</th><th>last poll</th><th>last success</th><th>last error</th></tr>
{{range .Sources}}<tr data-source="{{.Name}}">
<td>{{.Name}}</td>
<td>{{if .Healthy}}<span class="ok">reachable</span>{{else if .LastError}}<span class="bad">{{or .Condition "failing"}}</span>{{else}}<span class="muted">not reached yet</span>{{end}}</td>
<td>{{when .LastPoll}}</td><td>{{when .LastSuccess}}</td><td>{{.LastError}}</td>
</tr>
{{else}}<tr><td colspan="5">no sources</td></tr>
{{end}}</table>
{{if .Refused}}
<h2>Files left alone</h2>
<p class="muted">Found by a source but not taken, and left where they are until they change or go.</p>
<table id="refused">
<tr><th>source</th><th>file</th><th>since</th><th>reason</th></tr>
{{range .Refused}}<tr><td>{{.Source}}</td><td><code>{{.Name}}</code></td><td>{{when .Since}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>
{{end}}

<h2>Delivery queue</h2>
{{if .StatusErr}}<p class="bad">cannot read the ledger: {{.StatusErr}}</p>{{end}}
<table id="destinations">
<tr><th>destination</th><th>state</th><th>pending</th><th>retrying</th><th>rejected</th><th>delivered</th><th>duplicate</th><th>superseded</th><th>next attempt</th></tr>
{{range .Destinations}}<tr data-destination="{{.Name}}">
<td>{{.Name}}</td>
<td>{{with .Unavailable}}<span class="bad">unavailable</span> since {{when .Since}}: deliveries held, {{.Probes}} probe(s) failed, next probe {{when .NextProbeAt}}: {{.LastError}}{{else}}<span class="ok">available</span>{{end}}</td>
<td class="n">{{.Pending}}</td><td class="n">{{.Retrying}}</td>
<td class="n">{{.Rejected}}</td><td class="n">{{.Delivered}}</td><td class="n">{{.Duplicate}}</td><td class="n">{{.Superseded}}</td>
<td>{{if .DueNow}}due now{{else}}{{whenp .NextAttemptAt}}{{end}}</td>
</tr>
{{else}}<tr><td colspan="9">no deliveries yet</td></tr>
{{end}}</table>

<h2>Latest rejected deliveries</h2>
{{if .Rejected}}<table id="rejected">
<tr><th>when</th><th>destination</th><th>delivery</th><th>assignment</th><th>attempts</th><th>reason</th></tr>
{{range .Rejected}}<tr>
<td>{{when .At}}</td><td>{{.Destination}}</td><td class="n">{{.ID}}</td><td>{{.Subject}}</td><td class="n">{{.Attempts}}</td><td>{{.Error}}</td>
</tr>
{{end}}</table>
{{else}}<p>none</p>{{end}}

<h2>Latest files</h2>
{{if .FilesErr}}<p class="bad">cannot read the files: {{.FilesErr}}</p>{{end}}
<table id="files">
<tr><th>id</th><th>file</th><th>source</th><th>state</th><th>claimed</th><th>updated</th><th>accepted</th><th>rejected</th><th>report</th></tr>
{{range .Files}}<tr data-file-id="{{.ID}}">
<td class="n">{{.ID}}</td><td>{{.Name}}</td><td>{{.Source}}</td>
<td>{{.State}}{{if .Reason}}: {{.Reason}}{{end}}</td>
<td>{{when .ClaimedAt}}</td><td>{{when .UpdatedAt}}</td>
{{with .Counts}}<td class="n">{{.Accepted}}</td><td class="n">{{.Rejected}}</td>{{else}}<td></td><td></td>{{end}}
<td>{{if .Link}}<a href="{{.Link}}">report</a>{{end}}</td>
</tr>
{{else}}<tr><td colspan="9">no files yet</td></tr>
{{end}}</table>
<p class="muted">The latest {{.RecentFiles}} files, newest first.</p>
</body>
</html>
`
