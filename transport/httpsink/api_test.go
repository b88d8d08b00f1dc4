package httpsink_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch/dispatchtest"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

const (
	dest         = "esr"
	clientID     = "jobplan-hub-trust-a"
	clientSecret = "s3cret-client-value"
)

// esrStandIn is a loopback stand-in for the ESR API as it may turn out:
// mutual TLS, an OAuth2 token endpoint (client credentials) and a
// job-plan endpoint that checks the token and the body's shape and
// answers with its own id for each record.
type esrStandIn struct {
	srv *httptest.Server

	mu        sync.Mutex
	issued    int             // tokens issued
	valid     map[string]bool // tokens the API accepts
	requests  int             // job-plan requests
	refused   int             // of them, refused for the token
	badShape  []string
	ids       map[string]string // idempotency key → id given
	tokenForm []string          // what each token request asked for
}

func newESRStandIn(t *testing.T, pki *testPKI) *esrStandIn {
	e := &esrStandIn{valid: map[string]bool{}, ids: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", e.token)
	mux.HandleFunc("POST /jobplans", e.jobPlan)
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool,
	}
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *esrStandIn) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || !ok || id != clientID || secret != clientSecret || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	e.mu.Lock()
	e.issued++
	tok := fmt.Sprintf("token-%d", e.issued)
	e.valid[tok] = true
	e.tokenForm = append(e.tokenForm, r.PostForm.Get("scope")+" "+r.PostForm.Get("audience"))
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, tok)
}

// revoke makes the API refuse every token issued so far.
func (e *esrStandIn) revoke() {
	e.mu.Lock()
	clear(e.valid)
	e.mu.Unlock()
}

// wantBody is the shape the stand-in accepts: the VPD and the sending
// system as constants, and the plan under a wrapper with its own names.
type wantBody struct {
	Header struct {
		VPD           string `json:"vpd"`
		SendingSystem string `json:"sendingSystem"`
	} `json:"header"`
	JobPlan struct {
		AssignmentNumber string          `json:"assignmentNumber"`
		EffectiveDate    string          `json:"effectiveDate"`
		DCC              json.RawMessage `json:"directClinicalCare"`
	} `json:"jobPlan"`
}

func (e *esrStandIn) jobPlan(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := r.Header.Get("Authorization")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests++
	if !strings.HasPrefix(auth, "Bearer ") || !e.valid[strings.TrimPrefix(auth, "Bearer ")] {
		e.refused++
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_token"}`)
		return
	}
	var b wantBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Header.VPD != "123" || b.Header.SendingSystem != "JPH" ||
		len(b.JobPlan.AssignmentNumber) < 8 || b.JobPlan.EffectiveDate != "2025-04-01" || string(b.JobPlan.DCC) != "7.5" {
		e.badShape = append(e.badShape, string(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	id, seen := e.ids[key]
	if !seen {
		id = fmt.Sprintf("ESR-%d", len(e.ids)+1)
		e.ids[key] = id
	}
	w.Header().Set("Content-Type", "application/json")
	if seen {
		w.WriteHeader(http.StatusConflict)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	fmt.Fprintf(w, `{"data":{"jobPlanId":%q,"status":"accepted"}}`, id)
}

func esrShape(t *testing.T) *httpsink.Shape {
	t.Helper()
	s, err := compileShape(t, `
header:
  vpd: "123"
  sendingSystem: ${SYSTEM}
jobPlan:
  assignmentNumber: {$field: assignment_number}
  effectiveDate: {$field: effective_date}
  directClinicalCare: {$field: dcc}
`, map[string]string{"SYSTEM": "JPH"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func esrConfig(t *testing.T, e *esrStandIn, pki *testPKI, secret string) httpsink.Config {
	t.Helper()
	ptr, err := httpsink.ParsePointer("/data/jobPlanId")
	if err != nil {
		t.Fatal(err)
	}
	return httpsink.Config{
		URL: e.srv.URL + "/jobplans", CAFile: pki.caFile, ClientCertFile: pki.clientCert, ClientKeyFile: pki.clientKey,
		API: httpsink.APIOptions{
			Payload: esrShape(t),
			OAuth2: &httpsink.OAuth2{TokenURL: e.srv.URL + "/oauth/token", ClientID: clientID, ClientSecret: httpsink.Secret(secret),
				Scopes: []string{"jobplans.write"}, Params: map[string]string{"audience": "esr"}, AuthStyle: "header"},
			ResponseID: &ptr,
		},
	}
}

// TestESRAPIWithOAuth2MutualTLSPayloadShapeAndIDs delivers records to the
// stand-in through the dispatcher: every body has the configured shape,
// one token serves many records, a revoked token is replaced once, and
// ESR's id for each record is kept in the ledger and shown by status.
func TestESRAPIWithOAuth2MutualTLSPayloadShapeAndIDs(t *testing.T) {
	pki := newTestPKI(t)
	e := newESRStandIn(t, pki)
	l := dispatchtest.OpenLedger(t)
	sink := newSink(t, esrConfig(t, e, pki, clientSecret))
	d := dispatchtest.Start(t, l, sink, dispatch.Config{Destination: dest, PollInterval: time.Hour})

	dispatchtest.Enqueue(t, l, dest, "a.csv", 0, 10)
	d.Wake()
	testutil.Eventually(t, "the first records delivered", func() bool { return dispatchtest.Counts(t, l, dest)[ledger.Delivered] == 10 })
	e.revoke() // revoked before it expired: the next request gets a 401
	dispatchtest.Enqueue(t, l, dest, "b.csv", 10, 10)
	d.Wake()
	testutil.Eventually(t, "the next records delivered", func() bool { return dispatchtest.Counts(t, l, dest)[ledger.Delivered] == 20 })

	e.mu.Lock()
	if len(e.badShape) > 0 {
		t.Errorf("bodies of the wrong shape: %v", e.badShape)
	}
	if e.issued != 2 || e.refused < 1 || e.refused > 4 {
		t.Errorf("%d tokens issued and %d requests refused for the token; want 2 and one per worker at most", e.issued, e.refused)
	}
	if e.tokenForm[0] != "jobplans.write esr" {
		t.Errorf("token request asked for %q, want the scope and the audience", e.tokenForm[0])
	}
	requests, ids := e.requests, len(e.ids)
	e.mu.Unlock()

	// Every request is an attempt, the refused ones included, and each
	// record has the id the stand-in gave it.
	attempts := 0
	seen := map[string]bool{}
	for id := int64(1); id <= 20; id++ {
		dl, err := l.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		attempts += dl.Attempts
		if !strings.HasPrefix(dl.RemoteID, "ESR-") || seen[dl.RemoteID] {
			t.Errorf("delivery %d has remote id %q", id, dl.RemoteID)
		}
		seen[dl.RemoteID] = true
	}
	if attempts != requests || ids != 20 {
		t.Errorf("%d attempts in the ledger, %d requests and %d records at the stand-in; want equal and 20", attempts, requests, ids)
	}
	st, err := relay.ReadStatus(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Destinations[0].RemoteIDs; len(r) == 0 || !strings.HasPrefix(r[0].RemoteID, "ESR-") || r[0].Assignment == "" {
		t.Errorf("status shows remote ids %+v", r)
	}
}

// TestESRAPIRefusedCredentialsHoldTheQueue: a token endpoint that refuses
// the client secret is a temporary failure of the destination, not a
// rejection of the record; nothing reaches the API, and the secret is in
// no error.
func TestESRAPIRefusedCredentialsHoldTheQueue(t *testing.T) {
	pki := newTestPKI(t)
	e := newESRStandIn(t, pki)
	sink := newSink(t, esrConfig(t, e, pki, "wrong-secret-value"))
	rc, err := sink.Deliver(t.Context(), dispatch.Parcel{Key: "k", Record: []byte(`{"assignment_number":"10000001","effective_date":"2025-04-01","dcc":7.5}`)})
	if err == nil || !retry.IsRetryable(err) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("Deliver = %+v, %v; want a temporary error naming invalid_client", rc, err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") || rc.Requests != 0 {
		t.Errorf("error %q, %d requests: want no secret and no request to the API", err, rc.Requests)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.requests != 0 {
		t.Errorf("the API saw %d requests", e.requests)
	}
}

// TestDeliverReportsAMissingID: a 2xx without the configured id is
// delivered, with the problem said; a 409 without one is not a problem.
func TestDeliverReportsAMissingID(t *testing.T) {
	ptr, _ := httpsink.ParsePointer("/id")
	for code, want := range map[int]string{201: "no id at /id", 409: ""} {
		srv := httptest.NewServer(&recorder{respond: status(code, `{"status":"ok"}`)})
		s := newSink(t, httpsink.Config{URL: srv.URL, API: httpsink.APIOptions{ResponseID: &ptr}})
		rc, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k", Record: []byte(`{}`)})
		srv.Close()
		if err != nil || rc.RemoteID != "" || !strings.HasPrefix(rc.RemoteIDProblem, want) || (want == "") != (rc.RemoteIDProblem == "") {
			t.Errorf("%d: Deliver = %+v, %v; want the problem %q", code, rc, err, want)
		}
	}
}

func TestNewRejectsUnsafeOAuth2(t *testing.T) {
	ok := httpsink.OAuth2{TokenURL: "https://esr.example/token", ClientID: "id", ClientSecret: "zz-secret-zz"}
	for name, tc := range map[string]struct {
		url, token string
		o          httpsink.OAuth2
	}{
		"token and oauth2":          {"https://esr.example/api", "t", ok},
		"no token url":              {"https://esr.example/api", "", httpsink.OAuth2{ClientID: "id", ClientSecret: "s"}},
		"secret over plain http":    {"https://esr.example/api", "", httpsink.OAuth2{TokenURL: "http://esr.example/token", ClientID: "id", ClientSecret: "s"}},
		"no secret":                 {"https://esr.example/api", "", httpsink.OAuth2{TokenURL: "https://esr.example/token", ClientID: "id"}},
		"unknown auth style":        {"https://esr.example/api", "", httpsink.OAuth2{TokenURL: "https://esr.example/token", ClientID: "id", ClientSecret: "s", AuthStyle: "basic"}},
		"token to plain http api":   {"http://esr.example/api", "", ok},
		"credentials in token url":  {"https://esr.example/api", "", httpsink.OAuth2{TokenURL: "https://a:b@esr.example/token", ClientID: "id", ClientSecret: "s"}},
		"secret formatted leaks it": {},
	} {
		if name == "secret formatted leaks it" {
			if s := fmt.Sprintf("%v %+v %#v", ok, ok, ok); strings.Contains(s, "zz-secret-zz") {
				t.Errorf("formatting the OAuth2 settings shows the secret: %s", s)
			}
			continue
		}
		o := tc.o
		if _, err := httpsink.New(httpsink.Config{URL: tc.url, Token: tc.token, API: httpsink.APIOptions{OAuth2: &o}}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
