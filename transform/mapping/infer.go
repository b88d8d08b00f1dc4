package mapping

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"

	"github.com/nhs-esr/jobplan-hub/transform/record"
)

// Confidence thresholds of Infer: a match at or above ConfidentMatch
// becomes a field of the draft; one at or above SuggestMatch is written as
// a commented suggestion.
const (
	ConfidentMatch = 0.75
	SuggestMatch   = 0.45
)

// inferSampleRecords is how many records Infer examines.
const inferSampleRecords = 500

// Draft is a mapping inferred from a sample export by Infer. YAML writes it
// as a mapping file with comments for everything uncertain.
type Draft struct {
	Input        string   // the sample's file name
	Name         string   // mapping name
	Format       string   // csv, json or jsonl
	Encoding     string   // mapping encoding name; "" for plain UTF-8
	Delimiter    rune     // CSV
	HeaderRow    int      // CSV: 1-based record holding the column names
	NoHeader     bool     // CSV without a header row
	LazyQuotes   bool     // CSV with bare quotes
	NoQuotes     bool     // CSV whose quotes are data (quote: none)
	DecimalComma bool     // numbers written 7,5
	RecordsPath  string   // JSON: dotted path to the array of records
	Sheet        string   // XLSX: the sheet holding the table
	DateCells    []string // XLSX: columns with date cells
	SkipRows     int      // XLSX: sheet rows above the header
	Sources      []string
	Rows         int // records examined
	// WorkingWeeks, when above 0, is written as units.working_weeks: the
	// supplier's working weeks a year, which a draft with amounts a year's
	// needs (NeedsWorkingWeeks) and infer never guesses.
	WorkingWeeks int

	Matches     []Match  // confident: fields of the draft
	Suggestions []Match  // uncertain: commented out
	Unused      []string // sources matched to no field
	Missing     []string // fields with no source
	Notes       []string // remarks written at the top

	status     *Match // a plan-status source, for a suggested filter
	activities *activityHint
	values     map[string][]string
}

// Match pairs a record field with a source column or JSON path.
type Match struct {
	Field      string
	Source     string
	Confidence float64 // 0 to 1
	Why        string  // the name it matched
	Formats    []string
	Unit       string
	Per        string // "year": the source's amounts are a year's (per: year)
	Lookup     []LookupEntry
	Note       string
	// KeepUnmatched keeps values not in Lookup (unmatched: keep), for a
	// field whose other values a rule refuses (staff group: V3).
	KeepUnmatched bool
	// When takes the source's value only when it matches (a column that
	// holds a supplement or a band).
	When string
	// Columns and Pairs give a lookup keyed on two columns (Grade +
	// Contract): Pairs[i] is the two values and what they mean.
	Columns []string
	Pairs   []LookupPair
}

// LookupPair is one entry of a two-column lookup.
type LookupPair struct{ A, B, To, Why string }

// LookupEntry is one translation of a drafted lookup; To is "" for null.
// Guess false means the value was not recognised and is written commented.
type LookupEntry struct {
	From, To string
	Guess    bool
	Why      string // why a value was not recognised
}

type activityHint struct {
	path                                   string // JSON array in each record; "" for CSV rows
	category, amount, occurrences, premium string
	amountHours                            bool
	categories                             []string
	premiumTrue, premiumFalse              []string
	keys                                   []string // every key (JSON) or unused column (CSV) of an activity
	status                                 string   // an activity's own status key (JSON)
	statusValues                           []string
	plan                                   *activityPlan
}

// Infer drafts a mapping from a sample export: it sniffs the format,
// encoding, CSV dialect or JSON records path, matches column names to
// record fields, and sniffs date layouts and lookups from the values.
// name is the sample's file name.
func Infer(name string, sample []byte) (*Draft, error) {
	d := &Draft{Input: filepath.Base(name), Name: draftName(name), values: map[string][]string{}}
	if bytes.HasPrefix(sample, []byte("PK\x03\x04")) {
		if err := d.inferXLSX(sample); err != nil {
			return nil, err
		}
		return d.finish()
	}
	text, err := d.sniffEncoding(sample)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(text, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("the sample is empty")
	}
	switch trimmed[0] {
	case '[', '{':
		err = d.inferJSON(trimmed)
	default:
		err = d.inferCSV(text)
	}
	if err != nil {
		return nil, err
	}
	return d.finish()
}

// finish matches the sources to fields once the sample is read.
func (d *Draft) finish() (*Draft, error) {
	d.match()
	if len(d.Matches) == 0 {
		if len(d.Suggestions) == 0 {
			return nil, fmt.Errorf("no column of %s looks like a field of the ESR job-plan record; write the mapping by hand (see `jobplan-hub schema`)", d.Input)
		}
		// A mapping needs at least one field: promote the best guess.
		best := 0
		for i, s := range d.Suggestions {
			if s.Confidence > d.Suggestions[best].Confidence {
				best = i
			}
		}
		m := d.Suggestions[best]
		m.Note = "low confidence: check"
		d.Matches = append(d.Matches, m)
		d.Suggestions = slices.Delete(d.Suggestions, best, best+1)
	}
	return d, nil
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func draftName(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	base = strings.Trim(nameUnsafe.ReplaceAllString(base, "-"), "-._")
	if base == "" {
		return "draft"
	}
	return base
}

// sniffEncoding returns the sample as UTF-8 and notes its encoding.
func (d *Draft) sniffEncoding(b []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		d.Encoding = "utf-8-bom"
		return b[3:], nil
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		d.Encoding = "utf-16"
		if len(b)%2 == 1 {
			b = b[:len(b)-1] // a cut sample
		}
		out, err := xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM).NewDecoder().Bytes(b)
		if err != nil {
			return nil, fmt.Errorf("decode utf-16 sample: %w", err)
		}
		return out, nil
	case validUTF8Prefix(b):
		return b, nil
	}
	d.Encoding = "windows-1252"
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("decode windows-1252 sample: %w", err)
	}
	d.Notes = append(d.Notes, "The sample is not valid UTF-8; it was read as windows-1252 (as Excel writes on Windows). Check accented names look right in a preview.")
	return out, nil
}

// validUTF8Prefix is utf8.Valid allowing a rune cut off at the end of a
// sample that stops mid-file.
func validUTF8Prefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for cut := 1; cut <= 3 && cut <= len(b); cut++ {
		if utf8.Valid(b[:len(b)-cut]) && !utf8.FullRune(b[len(b)-cut:]) {
			return true
		}
	}
	return false
}

// --- JSON ---

// orderedObject keeps a JSON object's keys in file order, so the draft lists
// fields in the order the supplier wrote them.
type orderedObject struct {
	keys []string
	vals map[string]any
}

func parseOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &orderedObject{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseOrdered(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := o.vals[k]; !dup {
					o.keys = append(o.keys, k)
				}
				o.vals[k] = v
			}
			_, err := dec.Token()
			return o, err
		case '[':
			var a []any
			for dec.More() {
				v, err := parseOrdered(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
	}
	return tok, nil
}

func parseOrderedDoc(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseOrdered(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func (d *Draft) inferJSON(text []byte) error {
	if d.Encoding == "windows-1252" {
		return errors.New("the sample looks like JSON but is not valid UTF-8; JSON exports must be UTF-8 or UTF-16")
	}
	doc, docErr := parseOrderedDoc(text)
	var records []any
	switch v := doc.(type) {
	case []any:
		d.Format = "json"
		records = v
	case *orderedObject:
		path, arr := findRecords(v, nil)
		if arr != nil {
			d.Format, d.RecordsPath, records = "json", strings.Join(path, "."), arr
		} else {
			d.Format, records = "jsonl", []any{v} // one object: a JSON Lines file of one line
		}
	}
	if docErr != nil {
		// Not one document: JSON Lines, one object a line.
		d.Format = "jsonl"
		records = nil
		bad := 0
		for line := range bytes.SplitSeq(text, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			v, err := parseOrderedDoc(line)
			if err != nil {
				bad++
				continue
			}
			records = append(records, v)
			if len(records) >= inferSampleRecords {
				break
			}
		}
		if len(records) == 0 {
			return fmt.Errorf("the sample starts like JSON but is not valid JSON or JSON Lines: %v", docErr)
		}
		if bad > 0 {
			d.Notes = append(d.Notes, fmt.Sprintf("%d of the sample's lines are not valid JSON; they were ignored.", bad))
		}
	}
	if len(records) > inferSampleRecords {
		records = records[:inferSampleRecords]
	}
	seen := map[string]bool{}
	for _, r := range records {
		o, ok := r.(*orderedObject)
		if !ok {
			continue
		}
		d.Rows++
		d.flatten(o, "", seen)
	}
	if d.Rows == 0 {
		return errors.New("the JSON records are not objects")
	}
	return nil
}

// findRecords finds the largest array of objects inside o (breadth first,
// so the shallowest wins a tie).
func findRecords(o *orderedObject, path []string) ([]string, []any) {
	var bestPath []string
	var best []any
	type item struct {
		o    *orderedObject
		path []string
	}
	queue := []item{{o, path}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, k := range it.o.keys {
			p := append(slices.Clone(it.path), k)
			switch v := it.o.vals[k].(type) {
			case []any:
				if objects(v) > objects(best) {
					bestPath, best = p, v
				}
			case *orderedObject:
				queue = append(queue, item{v, p})
			}
		}
	}
	return bestPath, best
}

func objects(a []any) int {
	n := 0
	for _, v := range a {
		if _, ok := v.(*orderedObject); ok {
			n++
		}
	}
	return n
}

// flatten records every scalar of a JSON record under its dotted path.
func (d *Draft) flatten(o *orderedObject, prefix string, seen map[string]bool) {
	for _, k := range o.keys {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		switch v := o.vals[k].(type) {
		case *orderedObject:
			d.flatten(v, path, seen)
		case []any:
			if objects(v) > 0 {
				d.noteActivities(path, v)
			}
		default:
			if !seen[path] {
				seen[path] = true
				d.Sources = append(d.Sources, path)
			}
			if s, ok := jsonString(v); ok && len(d.values[path]) < inferSampleRecords {
				d.values[path] = append(d.values[path], s)
			}
		}
	}
}

// noteActivities remembers an array of objects inside each record: the
// activities of a nested export.
func (d *Draft) noteActivities(path string, list []any) {
	if d.activities == nil {
		d.activities = &activityHint{path: path}
	}
	h := d.activities
	if h.path != path {
		return
	}
	keys := map[string][]string{}
	var order []string
	for _, e := range list {
		o, ok := e.(*orderedObject)
		if !ok {
			continue
		}
		for _, k := range o.keys {
			if _, ok := keys[k]; !ok {
				order = append(order, k)
			}
			if s, ok := jsonString(o.vals[k]); ok {
				keys[k] = append(keys[k], s)
			} else {
				keys[k] = append(keys[k], "")
			}
		}
	}
	h.fill(order, keys)
}

// fill picks the category, amount, occurrences and premium keys of an
// activity by name, and collects the category values.
func (h *activityHint) fill(order []string, values map[string][]string) {
	for _, k := range order {
		if !slices.Contains(h.keys, k) {
			h.keys = append(h.keys, k)
		}
	}
	for _, k := range order {
		toks := rawTokens(k)
		// fill runs once a record: a key that has a role keeps it, never
		// taking a second one from the next record (hoursPerYear, the
		// amount, is not also the occurrences).
		if k == h.status || k == h.category || k == h.premium || k == h.amount || k == h.occurrences {
			continue
		}
		switch {
		case h.path != "" && h.status == "" && isStatusName(k):
			h.status = k
		case h.category == "" && hasWord(toks, "category", "activity", "act", "type", "kind", "code", "task"):
			h.category = k
		case h.premium == "" && hasWord(toks, "premium") && !amountOf(k).hours:
			h.premium = k
		case h.amount == "" && hasWord(toks, "hour", "hrs", "pa", "session", "amount", "duration"):
			h.amount = k
			h.amountHours = hasWord(toks, "hour", "hrs")
		case h.occurrences == "" && hasWord(toks, "occurrence", "year", "annual", "annually") && !amountOf(k).hours && !hasWord(toks, "pa", "session"):
			// Occurrences count: "Premium Hrs per year" is an amount.
			h.occurrences = k
		}
	}
	if h.status != "" {
		for _, v := range distinct(values[h.status], 12) {
			if !slices.Contains(h.statusValues, v) && len(h.statusValues) < 12 {
				h.statusValues = append(h.statusValues, v)
			}
		}
	}
	if h.premium != "" {
		for _, v := range distinct(values[h.premium], 20) {
			switch strings.ToLower(v) {
			case "true", "y", "yes", "j", "ja", "1", "premium":
				if !slices.Contains(h.premiumTrue, v) {
					h.premiumTrue = append(h.premiumTrue, v)
				}
			case "false", "n", "no", "nein", "0":
				if !slices.Contains(h.premiumFalse, v) {
					h.premiumFalse = append(h.premiumFalse, v)
				}
			}
		}
		// A flag left blank is not set.
		if slices.Contains(values[h.premium], "") && !slices.Contains(h.premiumFalse, "") {
			h.premiumFalse = append(h.premiumFalse, "")
		}
	}
	if h.category == "" {
		return
	}
	for _, v := range values[h.category] {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(h.categories, v) && len(h.categories) < 60 {
			h.categories = append(h.categories, v)
		}
	}
}

// hasWord reports whether toks hold one of words, or its plural.
func hasWord(toks []string, words ...string) bool {
	for _, t := range toks {
		for _, w := range words {
			if t == w || t == w+"s" {
				return true
			}
		}
	}
	return false
}

// --- CSV ---

var delimiters = []rune{',', ';', '\t', '|'}

func (d *Draft) inferCSV(text []byte) error {
	d.Format = "csv"
	// Sniff on the first lines: the delimiter that splits them into the
	// most rows of the same width wins.
	head := firstLines(text, 60)
	bestScore := 0
	for _, c := range delimiters {
		recs := readCSV(head, c, true, 60)
		width, freq := modeWidth(recs)
		if width < 2 {
			continue
		}
		score := freq*1000 + width
		if score > bestScore {
			bestScore, d.Delimiter = score, c
		}
	}
	if d.Delimiter == 0 {
		return errors.New("the sample is not JSON, and no delimiter (, ; tab |) splits its lines into columns")
	}
	recs := readCSV(text, d.Delimiter, true, inferSampleRecords+20)
	if _, err := readCSVStrict(text, d.Delimiter, inferSampleRecords+20); err != nil {
		if plain := plainRecords(text, d.Delimiter, inferSampleRecords+20); plain != nil {
			// Every line splits into the same number of fields at the
			// delimiter: the quotes are data, not quoting.
			d.NoQuotes = true
			recs = plain
			d.Notes = append(d.Notes, "Some fields hold a double quote that is not CSV quoting, and every line has the same number of fields: quote: none (a quote is data).")
		} else {
			d.LazyQuotes = true
			d.Notes = append(d.Notes, fmt.Sprintf("Some quotes in the sample are not CSV-quoted properly (%v); lazy_quotes is on.", err))
		}
	}
	width, _ := modeWidth(recs)
	header := -1
	for i, r := range recs {
		if len(r) == width && looksLikeHeader(r) {
			header = i
			break
		}
		if i > 20 {
			break
		}
	}
	if header < 0 {
		d.NoHeader = true
		d.Notes = append(d.Notes, "No header row found: columns are named 1, 2, 3... in order. Check the column numbers.")
		for i := 1; i <= width; i++ {
			d.Sources = append(d.Sources, strconv.Itoa(i))
		}
		header = -1
	} else {
		d.HeaderRow = header + 1
		for _, h := range recs[header] {
			d.Sources = append(d.Sources, strings.TrimSpace(h))
		}
	}
	d.readValues(recs[header+1:])
	return nil
}

// readValues keeps the values of each source column for the sniffing of
// dates and lookups, and notes whether numbers are written 7,5.
func (d *Draft) readValues(recs [][]string) {
	dotDecimals, commaDecimals := 0, 0
	for _, r := range recs {
		if len(r) != len(d.Sources) || blankRecord(r) {
			continue
		}
		d.Rows++
		for i, v := range r {
			v = strings.TrimSpace(v)
			d.values[d.Sources[i]] = append(d.values[d.Sources[i]], v)
			switch {
			case commaDecimal.MatchString(v):
				commaDecimals++
			case dotDecimal.MatchString(v):
				dotDecimals++
			}
		}
		if d.Rows >= inferSampleRecords {
			break
		}
	}
	// Where the delimiter leaves the comma free, decimals written 7,5
	// that clearly outnumber those written 7.5 say the numbers have decimal
	// commas; a 7.5 among them is then refused (M01), not read as 75.
	// A ';' delimiter is what Excel writes where the comma is the decimal
	// separator.
	if d.Delimiter != ',' && commaDecimals > 0 && (d.Delimiter == ';' || commaDecimals >= 3*dotDecimals) {
		d.DecimalComma = true
		if dotDecimals > 0 {
			d.Notes = append(d.Notes, fmt.Sprintf("The sample writes decimals with a comma (%d values) and a few with a point (%d): decimal_comma is on, and a value such as 7.5 is refused (M01) for the supplier to correct.", commaDecimals, dotDecimals))
		}
	}
	if d.Rows == 0 {
		d.Notes = append(d.Notes, "The sample has a header but no data rows; dates and lookups could not be sniffed.")
	}
}

// plainRecords splits each non-blank line at the delimiter, with no
// quoting; nil unless every line gives the same number of fields.
func plainRecords(b []byte, comma rune, max int) [][]string {
	var out [][]string
	for line := range strings.SplitSeq(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		rec := strings.Split(line, string(comma))
		if len(out) > 0 && len(rec) != len(out[0]) {
			return nil
		}
		out = append(out, rec)
		if len(out) == max {
			break
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

var (
	commaDecimal = regexp.MustCompile(`^-?\d+,\d+$`)
	dotDecimal   = regexp.MustCompile(`^-?\d+\.\d+$`)
	numberLike   = regexp.MustCompile(`^[-+]?[\d.,/:\s%-]+$`)
)

func firstLines(b []byte, n int) []byte {
	end := 0
	for i := 0; i < n; i++ {
		j := bytes.IndexByte(b[end:], '\n')
		if j < 0 {
			return b
		}
		end += j + 1
	}
	return b[:end]
}

func newCSV(b []byte, comma rune, lazy bool) *csv.Reader {
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = comma
	r.LazyQuotes = lazy
	r.FieldsPerRecord = -1
	return r
}

// readCSV reads up to max records, skipping ones that cannot be parsed.
func readCSV(b []byte, comma rune, lazy bool, max int) [][]string {
	r := newCSV(b, comma, lazy)
	var out [][]string
	for len(out) < max {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			break
		}
		if err == nil {
			out = append(out, rec)
		}
	}
	return out
}

func readCSVStrict(b []byte, comma rune, max int) (int, error) {
	r := newCSV(b, comma, false)
	n := 0
	for ; n < max; n++ {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Line > 0 && bytes.Count(b, []byte("\n")) <= pe.Line && !errors.Is(pe.Err, csv.ErrBareQuote) {
				break // the sample was cut inside the last row
			}
			return n, err
		}
	}
	return n, nil
}

// modeWidth returns the most common record width and how many records have it.
func modeWidth(recs [][]string) (width, freq int) {
	count := map[int]int{}
	for _, r := range recs {
		count[len(r)]++
	}
	for w, n := range count {
		if n > freq || n == freq && w > width {
			width, freq = w, n
		}
	}
	return width, freq
}

func looksLikeHeader(r []string) bool {
	names, seen := 0, map[string]bool{}
	for _, c := range r {
		c = strings.TrimSpace(c)
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		if !numberLike.MatchString(c) {
			names++
		}
	}
	return names*10 >= len(r)*6
}

func blankRecord(r []string) bool {
	for _, c := range r {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// --- matching names to fields ---

// synonym is a name suppliers use for a field; weak names are vague and
// only ever give a suggestion.
type synonym struct {
	name string
	weak bool
}

func syn(names ...string) []synonym {
	out := make([]synonym, len(names))
	for i, n := range names {
		out[i] = synonym{name: strings.TrimPrefix(n, "~"), weak: strings.HasPrefix(n, "~")}
	}
	return out
}

// fieldSynonyms lists, for every record field, names suppliers give it. A
// leading ~ marks a vague name. Names are compared after normalising (see
// nameTokens), so "Emp No", "emp_no" and "EmpNo" are all "employee number".
var fieldSynonyms = map[record.ID][]synonym{
	record.EmployeeNumber:              syn("employee number", "employee id", "esr employee number", "staff number", "person number", "payroll number", "~employee"),
	record.AssignmentNumber:            syn("assignment number", "assignment", "assignment id", "esr assignment number", "position number", "post ref", "post reference", "post id", "post number"),
	record.VPDCode:                     syn("vpd", "vpd code", "organisation code", "org code", "~organisation"),
	record.StaffGroup:                  syn("staff group", "staff category", "~group"),
	record.ContractType:                syn("contract", "contract type", "contract version", "contract name", "contract code", "terms and conditions", "terms", "~grade"),
	record.EffectiveDate:               syn("effective date", "effective from", "start date", "effective", "valid from", "date effective", "job plan start date", "plan start date", "plan effective", "plan effective date", "plan start", "from date", "~start", "~date"),
	record.TotalContractedPAs:          syn("total", "total contracted", "total programmed activities", "total contracted activities", "contracted", "programmed activities", "total contracted programmed activities"),
	record.APAEPS:                      syn("apa", "apa eps", "additional programmed activities", "eps", "extra programmed sessions", "extra programmed activities", "~extra"),
	record.DCC:                         syn("dcc", "direct clinical care", "total dcc", "~clinical", "~direct"),
	record.SPA:                         syn("spa", "supporting professional activities", "total spa", "supporting activities", "~supporting"),
	record.AdditionalResponsibilities:  syn("additional responsibilities", "ar", "anr", "additional nhs responsibilities", "other nhs duties", "other nhs", "other nhs responsibilities", "additional nhs resp", "~additional", "~responsibilities"),
	record.ExternalDuties:              syn("external duties", "external", "ed", "external other duties", "other duties", "external duty"),
	record.MedicalSchool:               syn("medical school", "ms", "medical school activities", "~university", "~academic"),
	record.AdditionalToContract:        syn("additional to contract", "atc", "additional to contract activities", "outside contract"),
	record.OnCallFrequencyN:            syn("on call frequency", "on call rota", "rota", "rota frequency", "frequency", "on call rota frequency", "rota 1 in n", "~on call"),
	record.OnCallCategory:              syn("on call category", "category", "availability category", "on call type", "rota category"),
	record.OnCallSupplementPct:         syn("on call supplement percent", "on call supplement", "supplement", "supplement percent", "on call percent", "availability supplement", "availability supplement percent", "on call availability supplement"),
	record.OnCallBandWales:             syn("on call band", "band", "on call band wales", "wales band", "banding", "on call banding"),
	record.TheatreTotal:                syn("theatre total", "total theatre", "theatre", "operating theatre", "total operating theatre work", "operating theatre work"),
	record.TheatreElective:             syn("theatre elective", "elective theatre", "elective operating theatre work", "elective operating", "~elective"),
	record.TheatreNonElective:          syn("theatre non elective", "non elective theatre", "emergency theatre", "theatre emergency", "non elective operating theatre work", "~non elective", "~emergency"),
	record.Outpatients:                 syn("outpatient", "outpatient clinic", "total outpatient activities", "outpatient activities", "opd", "~clinic"),
	record.WardRoundsInpatient:         syn("ward round", "ward", "ward rounds and inpatient work", "inpatient", "inpatient work", "ward round inpatient"),
	record.MDT:                         syn("mdt", "multidisciplinary", "multidisciplinary care", "multidisciplinary team", "multi disciplinary team", "mdt meeting"),
	record.ClinicalDiagnostic:          syn("diagnostic", "clinical diagnostic", "clinical diagnostic work", "diagnostic work", "~reporting"),
	record.Procedures:                  syn("procedure", "clinical procedure"),
	record.PublicHealth:                syn("public health", "public health duties"),
	record.Research:                    syn("research"),
	record.TeachingEducation:           syn("teaching", "education", "teaching and education", "teaching education", "~training"),
	record.CPD:                         syn("cpd", "continuing professional development"),
	record.DCCTravel:                   syn("dcc travel", "travel dcc", "clinical travel", "~travel"),
	record.NonDCCTravel:                syn("non dcc travel", "travel non dcc", "non clinical travel"),
	record.DCCAdmin:                    syn("dcc admin", "dcc administration", "clinical admin", "patient administration", "patient admin"),
	record.NonDCCAdmin:                 syn("non dcc admin", "non dcc administration", "non clinical admin", "~admin", "~administration"),
	record.PrivateProfessionalServices: syn("private practice", "private professional services", "private work", "pps", "private"),
	record.FeePayingServices:           syn("fee paying", "fee paying services", "fps", "fee paying work", "category 2 work"),
	record.UnpredictableOnCall:         syn("unpredictable on call", "unpredictable", "unpredictable emergency work", "on call unpredictable", "unpredictable emergency"),
	record.Surname:                     syn("surname", "last name", "family name", "lastname"),
	record.Forenames:                   syn("forenames", "forename", "first name", "first names", "given name", "given names", "firstname", "christian name"),
}

// tokenAliases spells abbreviations out, so that names compare by meaning.
var tokenAliases = map[string]string{
	"no": "number", "num": "number", "nbr": "number", "nr": "number", "nos": "number",
	"asg": "assignment", "assign": "assignment", "asgn": "assignment",
	"emp": "employee", "empl": "employee", "employe": "employee",
	"cat": "category", "freq": "frequency", "pct": "percent", "percentage": "percent", "supp": "supplement",
	"oncall": "on call", "apas": "apa", "spas": "spa", "theater": "theatre",
	"op": "outpatient", "opds": "opd", "mdts": "mdt", "admins": "admin",
	"eff": "effective", "dt": "date", "org": "organisation", "organization": "organisation",
	"multi": "multi", "nonelective": "non elective", "noncdcc": "non dcc",
}

// noiseTokens are units and filler that say nothing about which field a
// column is.
var noiseTokens = map[string]bool{
	"pa": true, "pas": true, "per": true, "week": true, "weekly": true, "wk": true, "pw": true,
	// A year's amount is matched as a week's is, then read per: year.
	"year": true, "yearly": true, "annual": true, "annually": true, "annum": true, "yr": true,
	"hour": true, "hours": true, "hrs": true, "hr": true, "session": true, "sessions": true,
	"the": true, "of": true, "value": true, "amount": true, "esr": false, "which": true,
}

// rawTokens splits a column name or JSON path into lower-case words,
// breaking camelCase and punctuation.
func rawTokens(s string) []string {
	var b strings.Builder
	var prev rune
	for _, r := range s {
		switch {
		case r == '%':
			b.WriteString(" percent ")
		case r == '#':
			b.WriteString(" number ")
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteRune(' ')
			b.WriteRune(unicode.ToLower(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsDigit(r) != unicode.IsDigit(prev) && prev != 0 && (unicode.IsLetter(prev) || unicode.IsDigit(prev)) {
				b.WriteRune(' ')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(' ')
		}
		prev = r
	}
	return strings.Fields(b.String())
}

// nameTokens normalises a name for matching: words, aliases spelled out,
// plurals dropped, units and filler removed.
func nameTokens(s string) []string {
	var out []string
	for _, t := range rawTokens(s) {
		if a, ok := tokenAliases[t]; ok {
			t = a
		}
		for _, w := range strings.Fields(t) {
			if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
				w = strings.TrimSuffix(w, "s")
			}
			if noiseTokens[w] {
				continue
			}
			out = append(out, w)
		}
	}
	return out
}

// hasHours reports whether a name says its values are in hours.
func hasHours(s string) bool {
	for _, t := range rawTokens(s) {
		if t == "hours" || t == "hour" || t == "hrs" || t == "hr" {
			return true
		}
	}
	return false
}

// similarity scores two normalised names from 0 to 1.
func similarity(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if slices.Equal(a, b) {
		return 1
	}
	if sameSet(a, b) {
		return 0.95
	}
	// Dice coefficient over words, allowing small typos in long words.
	used := make([]bool, len(b))
	common := 0
	for _, x := range a {
		for j, y := range b {
			if !used[j] && tokenEqual(x, y) {
				used[j] = true
				common++
				break
			}
		}
	}
	return 0.85 * float64(2*common) / float64(len(a)+len(b))
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func tokenEqual(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) < 6 || len(b) < 6 {
		return false
	}
	return levenshtein.ComputeDistance(a, b) <= 1
}

// score returns how well a source name matches field id, and the synonym
// that matched best.
func score(source string, id record.ID, json bool) (float64, string) {
	// "Employee Number / Rhif Cyflogai": a heading that gives the name in
	// two languages (or two names) scores by its best half.
	if !json {
		if parts := strings.Split(source, " / "); len(parts) > 1 {
			best, why := 0.0, ""
			for _, p := range parts {
				if sc, w := score(p, id, json); sc > best {
					best, why = sc, w
				}
			}
			return best, why
		}
	}
	full := nameTokens(source)
	var last []string
	if json {
		if i := strings.LastIndexByte(source, '.'); i >= 0 {
			last = nameTokens(source[i+1:])
		}
	}
	best, why := 0.0, ""
	consider := func(s float64, name string) {
		if s > best {
			best, why = s, name
		}
	}
	names := append([]synonym{{name: id.String()}, {name: id.Field().Label}}, fieldSynonyms[id]...)
	// "Clinical (DCC)", "Supporting (SPA)": the field's acronym with words
	// of its own name around it.
	vocab, acronym := map[string]bool{"total": true}, false
	for _, sy := range names {
		st := nameTokens(sy.name)
		for _, t := range st {
			vocab[t] = true
		}
		if !sy.weak && len(st) == 1 && len(st[0]) >= 2 && len(st[0]) <= 4 && slices.Contains(full, st[0]) {
			acronym = true
		}
	}
	if acronym && len(full) > 1 && !slices.ContainsFunc(full, func(t string) bool { return !vocab[t] }) {
		consider(0.9, strings.Join(full, " "))
	}
	for _, sy := range names {
		st := nameTokens(sy.name)
		w := 1.0
		if sy.weak {
			w = 0.65
		}
		consider(w*similarity(full, st), sy.name)
		if last != nil {
			consider(0.92*w*similarity(last, st), sy.name)
		}
	}
	return best, why
}

// match assigns sources to fields, best matches first, each source and
// field used once.
func (d *Draft) match() {
	type cand struct {
		id     record.ID
		source int
		score  float64
		why    string
	}
	var cands []cand
	isJSON := !tabular(d.Format)
	for si, s := range d.Sources {
		if d.NoHeader {
			break
		}
		for id := record.ID(0); id < record.NumFields; id++ {
			sc, why := score(s, id, isJSON)
			if sc >= SuggestMatch {
				if sc < ConfidentMatch && (id == record.EmployeeNumber || id == record.AssignmentNumber) && esrNumbers(d.values[s]) {
					// "Employee", "Post": a vague name, but the values are
					// ESR numbers.
					sc, why = 0.9, why+", and the values are ESR numbers"
				}
				cands = append(cands, cand{id, si, sc, why})
			}
		}
		if d.status == nil && isStatusName(s) {
			d.status = &Match{Source: s}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		if cands[i].source != cands[j].source {
			return cands[i].source < cands[j].source
		}
		return cands[i].id < cands[j].id
	})
	fieldUsed := map[record.ID]bool{}
	sourceUsed := map[int]bool{}
	var picked []cand
	for _, c := range cands {
		if c.score < ConfidentMatch || fieldUsed[c.id] || sourceUsed[c.source] {
			continue
		}
		fieldUsed[c.id], sourceUsed[c.source] = true, true
		picked = append(picked, c)
	}
	var suggested []cand
	for _, c := range cands {
		if fieldUsed[c.id] || sourceUsed[c.source] {
			continue
		}
		fieldUsed[c.id], sourceUsed[c.source] = true, true
		suggested = append(suggested, c)
	}
	toMatch := func(c cand) Match {
		m := Match{Field: c.id.String(), Source: d.Sources[c.source], Confidence: c.score, Why: c.why}
		d.refine(&m, c.id)
		return m
	}
	for _, c := range picked {
		d.Matches = append(d.Matches, toMatch(c))
	}
	for _, c := range suggested {
		d.Suggestions = append(d.Suggestions, toMatch(c))
	}
	byField := func(ms []Match) {
		sort.SliceStable(ms, func(i, j int) bool {
			a, _ := record.Lookup(ms[i].Field)
			b, _ := record.Lookup(ms[j].Field)
			return a < b
		})
	}
	byField(d.Matches)
	byField(d.Suggestions)
	for si, s := range d.Sources {
		if !sourceUsed[si] && (d.status == nil || s != d.status.Source) {
			if d.activities == nil || !tabular(d.Format) || !d.activities.uses(s) {
				d.Unused = append(d.Unused, s)
			}
		}
	}
	for id := record.ID(0); id < record.NumFields; id++ {
		if !fieldUsed[id] {
			d.Missing = append(d.Missing, id.String())
		}
	}
	if tabular(d.Format) && d.activities == nil {
		d.csvActivities()
	}
	d.welshContext()
	d.gradeAndContract()
	d.splitSupplement()
	d.planActivities()
	if d.status != nil {
		d.status.Lookup = nil
		for _, v := range distinct(d.values[d.status.Source], 12) {
			d.status.Lookup = append(d.status.Lookup, LookupEntry{From: v})
		}
	}
}

var esrNumber = regexp.MustCompile(`^\d{8}(-\d{1,2})?$`)

// esrNumbers reports whether nearly all of a column's values are ESR
// employee or assignment numbers.
func esrNumbers(vals []string) bool {
	n, ok := 0, 0
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			n++
			if esrNumber.MatchString(v) {
				ok++
			}
		}
	}
	return n >= 2 && ok*10 >= n*9
}

func (h *activityHint) uses(s string) bool {
	return s == h.category || s == h.amount || s == h.occurrences || s == h.premium
}

func isStatusName(s string) bool {
	if parts := strings.Split(s, " / "); len(parts) > 1 {
		return slices.ContainsFunc(parts, isStatusName)
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	toks := nameTokens(s)
	if len(toks) == 0 || len(toks) > 4 {
		return false
	}
	last := toks[len(toks)-1]
	return last == "statu" || last == "status" || last == "state" || strings.Join(toks, " ") == "signed off" || strings.Join(toks, " ") == "sign off"
}

// csvActivities spots a long CSV layout: an activity column and an
// amount column instead of category totals.
func (d *Draft) csvActivities() {
	h := &activityHint{}
	h.fill(slices.Clone(d.Unused), d.values)
	if h.category == "" || h.amount == "" {
		return
	}
	d.activities = h
	d.Unused = slices.DeleteFunc(d.Unused, h.uses)
}

// refine adds what the values say: date layouts, units and lookups.
func (d *Draft) refine(m *Match, id record.ID) {
	vals := d.values[m.Source]
	f := id.Field()
	switch {
	case f.Kind == record.Date:
		m.Formats, m.Note = sniffDates(vals)
		if slices.Contains(d.DateCells, m.Source) {
			if distinct(vals, 1) == nil {
				m.Note = "date cells, read as dates whatever the format; the format is for dates typed as text: check"
			} else {
				m.Note = strings.TrimPrefix(m.Note+"; date cells are read as dates, the format is for dates typed as text", "; ")
			}
		}
	case f.Kind == record.Decimal && id != record.OnCallFrequencyN && id != record.OnCallSupplementPct:
		if hasHours(m.Source) {
			m.Unit = "hours"
		}
		if amountOf(m.Source).annual {
			m.Per = "year" // needs units.working_weeks, which the draft leaves out
		}
	}
	switch id {
	case record.ContractType:
		m.Lookup = lookupFor(vals, func(v string) (string, bool) {
			to, sure, _ := contractMeaning(v)
			return to, sure
		}, validContract)
		for i, e := range m.Lookup {
			if !e.Guess {
				_, _, why := contractMeaning(e.From)
				m.Lookup[i].Why = why
			}
		}
	case record.OnCallCategory:
		m.Lookup = lookupFor(vals, guessCategory, func(v string) bool { return v == "A" || v == "B" })
	case record.StaffGroup:
		m.Lookup = lookupFor(vals, staffGroupMeaning, func(v string) bool { return v == record.MedicalAndDental })
		m.KeepUnmatched = true
		for _, v := range distinct(vals, 20) {
			if to, _ := staffGroupMeaning(v); to != record.MedicalAndDental {
				m.Note = "values other than Medical and Dental are rejected (V3); to skip those rows instead, add a filter"
			}
		}
	}
}

func distinct(vals []string, max int) []string {
	var out []string
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

// lookupFor drafts a lookup when some sample values are not already what
// the record holds; nil when none is needed.
func lookupFor(vals []string, guess func(string) (string, bool), valid func(string) bool) []LookupEntry {
	values := distinct(vals, 30)
	need := false
	for _, v := range values {
		if !valid(v) {
			need = true
		}
	}
	if !need {
		return nil
	}
	var out []LookupEntry
	for _, v := range values {
		to, ok := guess(v)
		out = append(out, LookupEntry{From: v, To: to, Guess: ok})
	}
	return out
}

func validContract(v string) bool {
	switch v {
	case record.ConsultantEngland2003, record.ConsultantWales, record.SpecialtyDoctor2008, record.SpecialtyDoctor2021, record.Specialist2021, record.OtherContract:
		return true
	}
	return false
}

var categoryWord = regexp.MustCompile(`(?i)^(?:on[- ]?call\s+)?(?:cat(?:egory)?\.?\s*)?([ab])$`)

func guessCategory(v string) (string, bool) {
	t := strings.TrimSpace(v)
	if m := categoryWord.FindStringSubmatch(t); m != nil {
		return strings.ToUpper(m[1]), true
	}
	switch strings.ToLower(t) {
	case "none", "n/a", "na", "-", "no", "not on call", "nil":
		return "", true
	}
	return "", false
}

// --- dates ---

var (
	isoDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	isoDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	numericDate = regexp.MustCompile(`^(\d{1,2})([/.-])(\d{1,2})([/.-])(\d{2}|\d{4})$`)
	ymdSlash    = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}$`)
	namedMonth  = regexp.MustCompile(`^(\d{1,2})([ -])([A-Za-z]{3})([ -])(\d{4})$`)
)

// sniffDates finds Go layouts that read the sample dates, telling dd/mm
// from mm/dd when some day is above 12. The note says what to check.
func sniffDates(vals []string) ([]string, string) {
	var dmy, mdy, unpadded, total, iso, isoT, ymd, named int
	sep, yearLen, namedSep := "/", 4, " "
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		total++
		switch {
		case isoDate.MatchString(v):
			iso++
		case isoDateTime.MatchString(v):
			isoT++
		case ymdSlash.MatchString(v):
			ymd++
		case namedMonth.MatchString(v):
			named++
			namedSep = namedMonth.FindStringSubmatch(v)[2]
		default:
			m := numericDate.FindStringSubmatch(v)
			if m == nil {
				continue
			}
			a, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[3])
			sep, yearLen = m[2], len(m[5])
			if a > 12 {
				dmy++
			}
			if b > 12 {
				mdy++
			}
			if len(m[1]) == 1 || len(m[3]) == 1 {
				unpadded++
			}
		}
	}
	numeric := total - iso - isoT - ymd - named
	switch {
	case total == 0:
		return []string{"02/01/2006"}, "no sample dates: assumed dd/mm/yyyy, check"
	case iso >= numeric && iso >= isoT && iso >= ymd && iso >= named:
		return []string{"2006-01-02"}, ""
	case isoT >= numeric && isoT >= ymd && isoT >= named:
		return []string{"2006-01-02T15:04:05Z07:00"}, "date and time: only the date is kept"
	case ymd >= numeric && ymd >= named:
		return []string{"2006/01/02"}, ""
	case named >= numeric:
		return []string{"2" + namedSep + "Jan" + namedSep + "2006"}, ""
	}
	year := "2006"
	if yearLen == 2 {
		year = "06"
	}
	layout := func(first, second string) []string {
		padded := first + sep + second + sep + year
		if unpadded == 0 {
			return []string{padded}
		}
		flex := strings.TrimPrefix(first, "0") + sep + strings.TrimPrefix(second, "0") + sep + year
		return []string{padded, flex}
	}
	switch {
	case dmy > 0 && mdy == 0:
		return layout("02", "01"), ""
	case mdy > 0 && dmy == 0:
		return layout("01", "02"), "month first (mm/dd/yyyy), as US systems write dates"
	case dmy > 0 && mdy > 0:
		return layout("02", "01"), "the sample mixes dd/mm and mm/dd dates: assumed dd/mm/yyyy, check the export"
	}
	return layout("02", "01"), "every sample date could be dd/mm or mm/dd: assumed dd/mm/yyyy (UK), check"
}

// --- writing ---

// YAML writes the draft as a mapping file. Confident matches are fields;
// everything uncertain is a comment to review.
func (d *Draft) YAML() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Draft mapping for %s, written by `jobplan-hub mapping infer`.\n", oneLine(d.Input))
	p("# Review every line before use: lines starting with # are suggestions\n")
	p("# and notes. Then check it and look at what it produces:\n")
	p("#   jobplan-hub mapping check FILE\n")
	p("#   jobplan-hub mapping preview --mapping FILE %s\n", oneLine(d.Input))
	for _, n := range d.Notes {
		writeComment(&b, "", "Note: "+n)
	}
	p("version: %d\n", Version)
	p("name: %s\n", q(d.Name))
	p("description: %s\n", q(d.description()))
	p("format: %s\n", d.Format)
	switch d.Format {
	case "csv":
		p("csv:\n")
		delim := string(d.Delimiter)
		if d.Delimiter == '\t' {
			delim = "tab"
		}
		p("  delimiter: %s\n", q(delim))
		if d.Encoding != "" {
			p("  encoding: %s\n", d.Encoding)
		}
		if d.NoHeader {
			p("  no_header: true\n")
		} else if d.HeaderRow > 1 {
			p("  header_row: %d  # rows above it are titles\n", d.HeaderRow)
		}
		if d.LazyQuotes {
			p("  lazy_quotes: true\n")
		}
		if d.NoQuotes {
			p("  quote: none  # a double quote in a field is data\n")
		}
	case "xlsx":
		p("xlsx:\n  sheet: %s\n", q(d.Sheet))
		if d.SkipRows > 0 {
			p("  skip_rows: %d  # rows above the header: titles and notes\n", d.SkipRows)
		}
	default:
		if d.RecordsPath != "" || d.Encoding != "" {
			p("json:\n")
			if d.RecordsPath != "" {
				p("  records: %s\n", q(d.RecordsPath))
			}
			if d.Encoding != "" {
				p("  encoding: %s\n", d.Encoding)
			}
		}
	}
	if d.DecimalComma {
		p("numbers:\n  decimal_comma: true  # the sample writes numbers as 7,5\n")
	}
	d.writeFilter(&b)
	d.writeWorkingWeeks(&b)
	p("fields:\n")
	if len(d.Matches) == 0 {
		p("  {}\n")
	}
	all := append(slices.Clone(d.Matches), d.Suggestions...)
	sort.SliceStable(all, func(i, j int) bool {
		a, _ := record.Lookup(all[i].Field)
		b, _ := record.Lookup(all[j].Field)
		return a < b
	})
	for _, m := range all {
		confident := slices.ContainsFunc(d.Matches, func(x Match) bool { return x.Field == m.Field })
		d.writeField(&b, m, confident)
	}
	d.writeComputed(&b)
	if !d.writeLiveActivities(&b) {
		d.writeActivities(&b)
	}
	if len(d.Missing) > 0 {
		writeComment(&b, "", "No column found for: "+strings.Join(d.Missing, ", ")+".")
	}
	if len(d.Unused) > 0 {
		qs := make([]string, len(d.Unused))
		for i, s := range d.Unused {
			qs[i] = q(s)
		}
		writeComment(&b, "", "Not used: "+strings.Join(qs, ", ")+".")
	}
	return b.Bytes()
}

func (d *Draft) description() string {
	kind := map[string]string{"csv": "CSV", "json": "JSON", "jsonl": "JSON Lines", "xlsx": "XLSX workbook"}[d.Format]
	unit := "columns"
	if !tabular(d.Format) {
		unit = "keys"
	}
	examined := fmt.Sprintf("%d records", d.Rows)
	if d.Rows == 1 {
		examined = "1 record"
	}
	return fmt.Sprintf("Drafted from %s: %s, %d %s, %s examined.", d.Input, kind, len(d.Sources), unit, examined)
}

func (d *Draft) sourceKey() string {
	if tabular(d.Format) {
		return "column"
	}
	return "path"
}

// writeFilter proposes the filter that keeps finished plans. It is live
// when every status the sample shows is read (signed off, approved,
// draft, in discussion...) and some mean finished; otherwise a comment
// says which values it could not read.
func (d *Draft) writeFilter(b *bytes.Buffer) {
	if d.status == nil {
		d.writeActivityFilter(b, false)
		return
	}
	var finished, unknown, seen []string
	for _, e := range d.status.Lookup {
		seen = append(seen, q(e.From))
		f, known := statusMeaning(e.From)
		switch {
		case !known:
			unknown = append(unknown, q(e.From))
		case f:
			finished = append(finished, q(e.From))
		}
	}
	if len(finished) > 0 && len(unknown) == 0 {
		writeComment(b, "", fmt.Sprintf("%s is the plan's status (values seen: %s): only finished plans are sent.", q(d.status.Source), strings.Join(seen, ", ")))
		fmt.Fprintf(b, "filters:\n  - %s: %s\n    in: [%s]\n    ignore_case: true\n", d.sourceKey(), q(d.status.Source), strings.Join(finished, ", "))
		d.writeActivityFilter(b, true)
		return
	}
	why := "none of them says a plan is finished"
	if len(unknown) > 0 {
		why = "the draft cannot tell whether " + strings.Join(unknown, ", ") + " means a finished plan"
	}
	writeComment(b, "", fmt.Sprintf("%s looks like the plan's status (values seen: %s), but %s. To send only finished plans, complete and uncomment:", q(d.status.Source), strings.Join(seen, ", "), why))
	if len(finished) == 0 {
		finished = []string{q("Signed off")}
	}
	fmt.Fprintf(b, "# filters:\n#   - %s: %s\n#     in: [%s]\n#     ignore_case: true\n", d.sourceKey(), q(d.status.Source), strings.Join(finished, ", "))
	d.writeActivityFilter(b, false)
}

// writeActivityFilter leaves out the activities of a JSON record whose
// own status says they are no part of the plan (cancelled, deleted).
func (d *Draft) writeActivityFilter(b *bytes.Buffer, open bool) {
	h := d.activities
	if h == nil || h.status == "" || h.plan == nil || !h.plan.live {
		return
	}
	var out, seen []string
	for _, v := range h.statusValues {
		seen = append(seen, q(v))
		if f, known := statusMeaning(v); known && !f {
			out = append(out, q(v))
		} else if !known {
			writeComment(b, "", fmt.Sprintf("The activities' %s holds %s, which the draft cannot read; no activity is left out by it.", q(h.status), q(v)))
			return
		}
	}
	if len(out) == 0 {
		return
	}
	if !open {
		fmt.Fprintf(b, "filters:\n")
	}
	fmt.Fprintf(b, "  # The activities' %s (values seen: %s): those not part of the plan are left out.\n", oneLine(q(h.status)), strings.Join(seen, ", "))
	fmt.Fprintf(b, "  - path: %s\n    not_in: [%s]\n    ignore_case: true\n    scope: activity\n", q(h.status), strings.Join(out, ", "))
}

func (d *Draft) writeField(b *bytes.Buffer, m Match, confident bool) {
	c := ""
	if !confident {
		c = "# "
	}
	pct := int(m.Confidence*100 + 0.5)
	var note []string
	if confident {
		note = append(note, fmt.Sprintf("%d%%", pct))
		if m.Confidence < 1 {
			note[0] += " (as " + q(m.Why) + ")"
		}
	} else {
		note = append(note, fmt.Sprintf("%d%% match: check", pct))
	}
	if m.Note != "" {
		note = append(note, m.Note)
	}
	id, _ := record.Lookup(m.Field)
	parts := []string{d.sourceKey() + ": " + q(m.Source)}
	if m.When != "" {
		parts = append(parts, "when: {matches: "+q(m.When)+"}")
	}
	if len(m.Columns) > 0 {
		d.writeColumnsLookup(b, m, c, note)
		return
	}
	if id == record.EmployeeNumber || id == record.AssignmentNumber {
		parts = append(parts, "required: true")
	}
	if len(m.Formats) > 0 {
		qs := make([]string, len(m.Formats))
		for i, f := range m.Formats {
			qs[i] = q(f)
		}
		parts = append(parts, "formats: ["+strings.Join(qs, ", ")+"]")
		// A two-digit year needs its century said (mapping check refuses
		// it otherwise); the draft says 2000-2099 and asks for a check.
		if f, err := compileDateFormat(m.Formats[0]); err == nil && f.hasTwoDigitYear() {
			parts = append(parts, "two_digit_years_from: 2000")
			note = append(note, "two-digit years read as 2000-2099: check")
		}
	}
	if m.Unit != "" {
		parts = append(parts, "unit: "+m.Unit)
	}
	if m.Per != "" {
		parts = append(parts, "per: "+m.Per)
		note = append(note, "a year's: ÷ units.working_weeks")
	}
	if len(m.Lookup) == 0 {
		fmt.Fprintf(b, "  %s%s: {%s}  # %s\n", c, m.Field, strings.Join(parts, ", "), strings.Join(note, "; "))
		return
	}
	guessed := 0
	for _, e := range m.Lookup {
		if e.Guess {
			guessed++
		}
	}
	fmt.Fprintf(b, "  %s%s:  # %s\n", c, m.Field, strings.Join(note, "; "))
	for _, part := range parts {
		fmt.Fprintf(b, "  %s  %s\n", c, part)
	}
	if guessed == 0 {
		// An empty lookup is not allowed; leave the whole table to fill in.
		fmt.Fprintf(b, "  %s  # lookup:  # translate the values seen into record values\n", c)
		for _, e := range m.Lookup {
			fmt.Fprintf(b, "  %s  #   %s: ?\n", c, q(e.From))
		}
		return
	}
	if !m.KeepUnmatched {
		fmt.Fprintf(b, "  %s  unmatched: error  # a value not listed rejects the plan (M05)\n", c)
	}
	fmt.Fprintf(b, "  %s  lookup:\n", c)
	for _, e := range m.Lookup {
		to := "null"
		if e.To != "" {
			to = q(e.To)
		}
		switch {
		case e.Guess:
			fmt.Fprintf(b, "  %s    %s: %s\n", c, q(e.From), to)
		case e.Why != "":
			fmt.Fprintf(b, "  %s    # %s: ?  # not translated: %s\n", c, q(e.From), e.Why)
		case m.KeepUnmatched:
			fmt.Fprintf(b, "  %s    # %s: kept as it is\n", c, q(e.From))
		default:
			fmt.Fprintf(b, "  %s    # %s: %s  # not recognised: check\n", c, q(e.From), to)
		}
	}
}

func (d *Draft) writeActivities(b *bytes.Buffer) {
	h := d.activities
	if h == nil || h.category == "" || h.amount == "" {
		return
	}
	key := d.sourceKey()
	if h.plan != nil && h.plan.why != "" {
		writeComment(b, "", "The activities are not added up in this draft: "+h.plan.why+".")
	}
	if h.path != "" {
		writeComment(b, "", fmt.Sprintf("Each record lists activities at %s. To add them up into the ESR categories (dcc, spa...), complete and uncomment:", q(h.path)))
	} else {
		writeComment(b, "", fmt.Sprintf("This looks like one row per activity (%s, %s). To gather the rows of a plan and add them up into the ESR categories, complete and uncomment:", q(h.category), q(h.amount)))
		fmt.Fprintf(b, "# group:\n#   by: [assignment_number, effective_date]\n")
	}
	annual := amountOf(h.amount).annual
	if h.amountHours || h.occurrences != "" || annual {
		fmt.Fprintf(b, "# units:\n")
		if h.amountHours {
			fmt.Fprintf(b, "#   hours_per_pa: 4    # 4 hours a PA (the default); 3 for premium time\n")
		}
		if h.occurrences != "" || annual {
			fmt.Fprintf(b, "#   working_weeks: ?   # the supplier system's working weeks a year (ask the supplier)\n")
		}
	}
	fmt.Fprintf(b, "# activities:\n")
	if h.path != "" {
		fmt.Fprintf(b, "#   path: %s\n", q(h.path))
	}
	fmt.Fprintf(b, "#   category: {%s: %s}\n", key, q(h.category))
	unit := ""
	if h.amountHours {
		unit = ", unit: hours"
	}
	if annual {
		unit += ", per: year"
	}
	fmt.Fprintf(b, "#   amount: {%s: %s%s}\n", key, q(h.amount), unit)
	if h.occurrences != "" {
		fmt.Fprintf(b, "#   occurrences: {%s: %s}  # a year: needs units.working_weeks\n", key, q(h.occurrences))
	}
	if h.premium != "" {
		yes := quoteAll(h.premiumTrue)
		if yes == "" {
			yes = `"true", "Y", "Yes"`
		}
		fmt.Fprintf(b, "#   premium: {%s: %s, true_values: [%s], false_values: [%s]}\n", key, q(h.premium), yes, quoteAll(h.premiumFalse))
	}
	fmt.Fprintf(b, "#   categories:\n")
	for _, c := range h.categories {
		fmt.Fprintf(b, "#     %s: [%s]\n", q(c), strings.Join(guessActivity(c), ", "))
	}
}

// dccParts are the DCC activities of the form; an activity of one of them
// also counts towards dcc.
var dccParts = []record.ID{record.TheatreElective, record.TheatreNonElective, record.Outpatients, record.WardRoundsInpatient, record.MDT,
	record.ClinicalDiagnostic, record.Procedures, record.DCCTravel, record.DCCAdmin}

var spaParts = []record.ID{record.Research, record.TeachingEducation, record.CPD}

// guessActivity suggests the record fields an activity category adds to.
func guessActivity(category string) []string {
	best, bestScore := record.NumFields, 0.0
	for _, id := range append(append(slices.Clone(dccParts), spaParts...), record.DCC, record.SPA, record.AdditionalResponsibilities,
		record.ExternalDuties, record.PrivateProfessionalServices, record.FeePayingServices, record.TheatreTotal) {
		if s, _ := score(category, id, false); s > bestScore {
			best, bestScore = id, s
		}
	}
	if bestScore < SuggestMatch {
		// "DCC - Other", "SPA: general": the prefix names the category.
		if t := nameTokens(category); len(t) > 0 && (t[0] == "dcc" || t[0] == "spa") {
			return []string{t[0]}
		}
		return nil
	}
	switch {
	case best == record.TheatreElective || best == record.TheatreNonElective:
		return []string{"dcc", "theatre_total", best.String()}
	case best == record.TheatreTotal:
		return []string{"dcc", "theatre_total"}
	case slices.Contains(dccParts, best):
		return []string{"dcc", best.String()}
	case slices.Contains(spaParts, best):
		return []string{"spa", best.String()}
	}
	return []string{best.String()}
}

// q quotes s as a YAML double-quoted scalar (JSON string syntax is valid
// YAML).
func q(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	// JSON leaves DEL, the C1 controls and a few others as they are; YAML
	// does not allow them, so they are written as escapes.
	var e strings.Builder
	for _, r := range out {
		if (r >= 0x7F && r <= 0x9F) || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF {
			fmt.Fprintf(&e, "\\u%04x", r)
			continue
		}
		e.WriteRune(r)
	}
	return e.String()
}

func quoteAll(s []string) string {
	qs := make([]string, len(s))
	for i, v := range s {
		qs[i] = q(v)
	}
	return strings.Join(qs, ", ")
}

// oneLine puts s on one line for a comment, with any character YAML does
// not allow written as its escape.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\uFEFF' || r == 0xFFFE || r == 0xFFFF {
			return '?'
		}
		return r
	}, s)
}

// writeComment writes text as # lines wrapped at about 76 columns.
func writeComment(b *bytes.Buffer, indent, text string) {
	line := indent + "#"
	for _, w := range strings.Fields(oneLine(text)) {
		if len(line)+1+len(w) > 76 && len(line) > len(indent)+1 {
			b.WriteString(line + "\n")
			line = indent + "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}
