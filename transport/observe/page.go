package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// PageFiles is how many files the status page lists at a time.
const PageFiles = 50

// ShortReason is how many characters of a reason the page's tables show;
// the whole reason is in the report (and in the cell's title).
const ShortReason = 120

// servedSuffixes are the files served from files/<id>/ by their suffix:
// the reports. A file's errors.csv is served too, by its exact name (see
// errorsName). Records and rejected rows (whole source rows, with names)
// are never served.
var servedSuffixes = []string{".report.html", ".report.json"}

// errorsSuffix ends the name of a file's errors.csv.
const errorsSuffix = ".errors.csv"

// TimeLayout is how the page and the status command show a time: the
// local time of the hub's machine with its offset from UTC (the reports
// write UTC, as RFC 3339).
const TimeLayout = "2006-01-02 15:04:05 -07:00"

// FormatTime shows t in the local time zone with its offset (TimeLayout).
func FormatTime(t time.Time) string { return t.Local().Format(TimeLayout) }

// contentSecurityPolicy is sent with the status page and the served
// reports: both are self-contained, with inline styles (the reports'
// from transform/report), no scripts and no images or other assets.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'"

// fileRow is one line of the page's file table.
type fileRow struct {
	ledger.FileRecord
	Counts *relay.RecordCounts // nil if unknown
	Link   string              // the HTML report, empty if none
	// ErrorsLink is the file's errors.csv, empty if none.
	ErrorsLink string
}

type pageData struct {
	Now          time.Time
	Zone         string // the local zone's name and offset
	Refresh      int
	Problems     []Problem
	ReloadFailed *ReloadFailed
	Sources      []SourceState
	Files        []fileRow
	Rejected     []rejectedRow
	FileCounts   []stateCount
	FilesErr     string
	StatusErr    string
	PageFiles    int
	// State is the file list's filter ("" for every state); Filters link
	// to each; Newest, Newer and Older page through it (empty when there
	// is no such page).
	State                string
	Filters              []filterLink
	Newest, Newer, Older string
	Destinations         []relay.DestinationStatus
	// Refused are the files the sources leave alone, names quoted.
	Refused []relay.RefusedFile
	// Notes are the latest processed files the hub noted something
	// about (taken again after they grew), names quoted.
	Notes []relay.FileNote
}

type stateCount struct {
	State string
	N     int
}

// filterLink is a link of the file list's filter.
type filterLink struct {
	Label, Href string
	N           int
	Current     bool
}

// fileStates are the states the file list can be filtered by.
var fileStates = []ledger.FileState{ledger.FileClaimed, ledger.FileProcessed, ledger.FileQuarantined}

// pageQuery is what the status page's query asks for.
type pageQuery struct {
	state         ledger.FileState
	before, after int64
}

// parsePageQuery reads the status page's parameters: state (claimed,
// processed or quarantined), before or after (a file id), and token. Any
// other parameter, or a bad value, is refused.
func parsePageQuery(q url.Values) (pageQuery, error) {
	var pq pageQuery
	for k, v := range q {
		if len(v) != 1 {
			return pq, fmt.Errorf("give %s once", k)
		}
		switch k {
		case "token":
		case "state":
			pq.state = ledger.FileState(v[0])
			if !slices.Contains(fileStates, pq.state) {
				return pq, fmt.Errorf("state %q: want claimed, processed or quarantined", v[0])
			}
		case "before", "after":
			id, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil || id <= 0 {
				return pq, fmt.Errorf("%s %q: want a file id", k, v[0])
			}
			if k == "before" {
				pq.before = id
			} else {
				pq.after = id
			}
		default:
			return pq, fmt.Errorf("unknown parameter %q: the page takes state, before, after and token", k)
		}
	}
	if pq.before != 0 && pq.after != 0 {
		return pq, errors.New("give before or after, not both")
	}
	return pq, nil
}

type rejectedRow struct {
	Destination string
	relay.DeliveryError
}

// status renders the status page. The ledger's counts are read at most
// every CacheTTL, whoever asks; the sources' states and the page of files
// are always current.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	pq, err := parsePageQuery(r.URL.Query())
	if err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	now := time.Now()
	zone, offset := now.Zone()
	d := pageData{Now: now, Zone: fmt.Sprintf("%s, UTC%s", zone, formatOffset(offset)), Refresh: RefreshSeconds,
		Problems: s.cfg.Recorder.Health().Problems, ReloadFailed: s.cfg.Recorder.LastReloadFailed(),
		Sources: s.cfg.Recorder.Sources(), PageFiles: PageFiles, State: string(pq.state)}
	token := ""
	if r.URL.Query().Has("token") {
		// The page was opened with ?token=: its links need it too.
		token = r.URL.Query().Get("token")
	}
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
		d.Notes = st.Notes
		all := 0
		for _, state := range fileStates {
			d.FileCounts = append(d.FileCounts, stateCount{string(state), st.Files[state]})
			all += st.Files[state]
		}
		d.Filters = append(d.Filters, filterLink{Label: "all", N: all, Current: pq.state == "", Href: pageLink(token, "", 0, 0)})
		for _, state := range fileStates {
			d.Filters = append(d.Filters, filterLink{Label: string(state), N: st.Files[state], Current: pq.state == state,
				Href: pageLink(token, state, 0, 0)})
		}
		for _, ds := range st.Destinations {
			for _, e := range ds.Errors {
				if e.State == ledger.Rejected {
					d.Rejected = append(d.Rejected, rejectedRow{ds.Name, e})
				}
			}
		}
	}
	page, err := s.cfg.Ledger.Files(ctx, ledger.FileQuery{State: pq.state, Before: pq.before, After: pq.after, Limit: PageFiles})
	if err != nil {
		d.FilesErr = err.Error()
	} else {
		for i := range page.Files {
			row := s.row(&page.Files[i])
			row.Link = withToken(row.Link, token)
			row.ErrorsLink = withToken(row.ErrorsLink, token)
			d.Files = append(d.Files, row)
		}
		if n := len(page.Files); n > 0 {
			if page.Newer {
				d.Newer = pageLink(token, pq.state, 0, page.Files[0].ID)
			}
			if page.Older {
				d.Older = pageLink(token, pq.state, page.Files[n-1].ID, 0)
			}
		}
		if page.Newer || pq.before != 0 || pq.after != 0 {
			d.Newest = pageLink(token, pq.state, 0, 0)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := pageTemplate.Execute(w, d); err != nil {
		s.cfg.Logger.Warn("status page", "err", err)
	}
}

// pageLink is the status page's address for a page of files.
func pageLink(token string, state ledger.FileState, before, after int64) string {
	q := url.Values{}
	if state != "" {
		q.Set("state", string(state))
	}
	if before != 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if after != 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if token != "" {
		q.Set("token", token)
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

// withToken adds the token to link, if both are set.
func withToken(link, token string) string {
	if link == "" || token == "" {
		return link
	}
	return link + "?" + url.Values{"token": {token}}.Encode()
}

// formatOffset shows a zone's offset east of UTC in seconds as +01:00.
func formatOffset(seconds int) string {
	sign := "+"
	if seconds < 0 {
		sign, seconds = "-", -seconds
	}
	return fmt.Sprintf("%s%02d:%02d", sign, seconds/3600, seconds%3600/60)
}

// row is the page's line for f, with its counts, report and errors.csv
// links if its outputs are in the state folder.
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
	base := "/files/" + strconv.FormatInt(f.ID, 10) + "/"
	html := strings.TrimSuffix(filepath.Base(f.ReportPath), ".json") + ".html"
	if _, err := os.Stat(filepath.Join(dir, html)); err == nil {
		row.Link = base + url.PathEscape(html)
	}
	if name := errorsName(f); name != "" {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			row.ErrorsLink = base + url.PathEscape(name)
		}
	}
	return row
}

// errorsName is the name of f's errors.csv (beside its report.json), or
// "" if f has no report.json.
func errorsName(f *ledger.FileRecord) string {
	stem, ok := strings.CutSuffix(filepath.Base(f.ReportPath), ".report.json")
	if !ok || stem == "" {
		return ""
	}
	return stem + errorsSuffix
}

// file serves one report, or the errors.csv, of a file from the state
// folder's files/<id>/.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	name := r.PathValue("name")
	if err != nil || id <= 0 || !plainName(name) {
		http.NotFound(w, r)
		return
	}
	csv := strings.HasSuffix(name, errorsSuffix)
	switch {
	case csv:
		// Only the errors.csv of the file the ledger knows by id.
		f, err := s.cfg.Ledger.File(r.Context(), id)
		if err != nil || errorsName(f) != name {
			http.NotFound(w, r)
			return
		}
	case !servable(name):
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
	if csv {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// plainName reports whether name is a plain file name: no folders, not
// hidden.
func plainName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && filepath.IsLocal(name) && !strings.HasPrefix(name, ".")
}

// servable reports whether name is a plain file name of a report.
func servable(name string) bool {
	if !plainName(name) {
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
const maxCached = 4 * PageFiles

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
			HeldBack   int `json:"held_back"`
			Warnings   int `json:"warnings"`
		}
		if dec.Decode(&c) != nil {
			return nil
		}
		return &relay.RecordCounts{Accepted: c.Accepted, Rejected: c.Rejected, Duplicates: c.Duplicates, Superseded: c.Superseded,
			HeldBack: c.HeldBack, Warnings: c.Warnings}
	}
	return nil
}

var pageTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return FormatTime(t)
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return FormatTime(*t)
	},
	// due is a time of a next attempt: "due now" once it has come.
	"due": func(now, t time.Time) string {
		if !t.After(now) {
			return "due now"
		}
		return FormatTime(t)
	},
	"short": shorten,
	"long":  func(s string) bool { return s != shorten(s) },
}).Parse(pageHTML))

// shorten cuts s to ShortReason characters at most, at a space if there
// is one in the last fifth, and marks the cut with "…".
func shorten(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= ShortReason {
		return s
	}
	cut := []rune(s)[:ShortReason-1]
	if i := strings.LastIndexByte(string(cut), ' '); i > len(string(cut))*4/5 {
		return strings.TrimRight(string(cut)[:i], " ,;:") + "…"
	}
	return string(cut) + "…"
}

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
.banner { border: 3px solid #d5281b; background: #fde8e6; padding: .6rem 1rem; margin: 1rem 0; }
.banner ul { margin: .4rem 0 0; }
nav a, nav strong { margin-right: .8rem; }
</style>
</head>
<body>
<h1>jobplan-hub status</h1>
{{with .ReloadFailed}}<div id="reload-failed" class="banner" role="alert">
<strong>The configuration was not reloaded</strong> ({{when .At}}): the hub runs on the configuration it had. Fix these and save the file again, or send SIGHUP:
<ul>
{{range .Problems}}<li><code>{{.}}</code></li>
{{end}}</ul>
</div>
{{end}}<p class="muted">As of {{when .Now}}; this page refreshes every {{.Refresh}} seconds.
Times are the hub's local time ({{.Zone}}); the reports give UTC.
Files: {{range $i, $c := .FileCounts}}{{if $i}} · {{end}}{{$c.N}} {{$c.State}}{{end}}.</p>

<h2>Problems</h2>
{{if .Problems}}<ul id="problems">
{{range .Problems}}<li data-kind="{{.Kind}}"><span class="bad">{{.Kind}}{{with .Name}} {{.}}{{end}}: {{or .Condition "failing"}}</span>
{{- if not .Since.IsZero}} since {{when .Since}}{{end}}{{if not .RetryAt.IsZero}}, next attempt {{due $.Now .RetryAt}}{{end}}
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
{{if .Notes}}
<h2>Notes on recent files</h2>
<p class="muted">Files taken again because they grew after they were archived: their writer was still writing.</p>
<table id="notes">
<tr><th>id</th><th>source</th><th>file</th><th>when</th><th>note</th></tr>
{{range .Notes}}<tr data-file-id="{{.ID}}"><td class="n">{{.ID}}</td><td>{{.Source}}</td><td><code>{{.Name}}</code></td><td>{{when .At}}</td><td>{{.Note}}</td></tr>
{{end}}</table>
{{end}}

<h2>Delivery queue</h2>
{{if .StatusErr}}<p class="bad">cannot read the ledger: {{.StatusErr}}</p>{{end}}
<table id="destinations">
<tr><th>destination</th><th>state</th><th>pending</th><th>retrying</th><th>rejected</th><th>delivered</th><th>duplicate</th><th>superseded</th><th>next attempt</th></tr>
{{range .Destinations}}<tr data-destination="{{.Name}}">
<td>{{.Name}}</td>
<td>{{with .Unavailable}}<span class="bad">unavailable</span> since {{when .Since}}: deliveries held, {{.Probes}} probe(s) failed, next probe {{due $.Now .NextProbeAt}}: {{.LastError}}{{else}}<span class="ok">available</span>{{end}}</td>
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
<td>{{when .At}}</td><td>{{.Destination}}</td><td class="n">{{.ID}}</td><td>{{.Subject}}</td><td class="n">{{.Attempts}}</td><td{{if long .Error}} title="{{.Error}}"{{end}}>{{short .Error}}</td>
</tr>
{{end}}</table>
{{else}}<p>none</p>{{end}}

<h2 id="files-heading">Files</h2>
<nav id="file-filter">Show: {{range .Filters}}{{if .Current}}<strong>{{.Label}} ({{.N}})</strong>{{else}}<a href="{{.Href}}">{{.Label}} ({{.N}})</a>{{end}} {{end}}</nav>
{{if .FilesErr}}<p class="bad">cannot read the files: {{.FilesErr}}</p>{{end}}
<table id="files">
<tr><th>id</th><th>file</th><th>source</th><th>state</th><th>claimed</th><th>updated</th><th>accepted</th><th>rejected</th><th>report</th></tr>
{{range .Files}}<tr data-file-id="{{.ID}}" data-state="{{.State}}">
<td class="n">{{.ID}}</td><td>{{.Name}}</td><td>{{.Source}}</td>
<td{{if long .Reason}} title="{{.Reason}}"{{end}}>{{.State}}{{if .Reason}}: {{short .Reason}}{{if and (long .Reason) .Link}} (the report gives it whole){{end}}{{end}}</td>
<td>{{when .ClaimedAt}}</td><td>{{when .UpdatedAt}}</td>
{{with .Counts}}<td class="n">{{.Accepted}}</td><td class="n">{{.Rejected}}</td>{{else}}<td></td><td></td>{{end}}
<td>{{if .Link}}<a href="{{.Link}}">report</a>{{end}}{{if .ErrorsLink}}{{if .Link}} · {{end}}<a href="{{.ErrorsLink}}" download>errors.csv</a>{{end}}</td>
</tr>
{{else}}<tr><td colspan="9">{{if .State}}no {{.State}} files here{{else}}no files yet{{end}}</td></tr>
{{end}}</table>
<nav id="file-pages">{{with .Newest}}<a href="{{.}}">newest</a>{{end}}{{with .Newer}}<a href="{{.}}" rel="prev">← newer</a>{{end}}{{with .Older}}<a href="{{.}}" rel="next">older →</a>{{end}}</nav>
<p class="muted">{{.PageFiles}} files a page, newest first{{with .State}}; only {{.}} files{{end}}.</p>
</body>
</html>
`
