package httpsink_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/testutil"
	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/httpsink"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// captured is what a test server saw of one request.
type captured struct {
	method, contentType, key, auth string
	body                           string
}

// recorder is a handler that records requests and answers with respond.
type recorder struct {
	mu       sync.Mutex
	requests []captured
	respond  func(w http.ResponseWriter, r *http.Request, n int)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.requests = append(rec.requests, captured{
		method: r.Method, contentType: r.Header.Get("Content-Type"),
		key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization"), body: string(b),
	})
	n := len(rec.requests)
	rec.mu.Unlock()
	rec.respond(w, r, n)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.requests)
}

// status and hangUp answer a test request (testutil).
var (
	status = testutil.Status
	hangUp = testutil.HangUp
)

func newSink(t *testing.T, cfg httpsink.Config) *httpsink.Sink {
	t.Helper()
	s, err := httpsink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeliverPostsRecordWithKeyAndToken(t *testing.T) {
	rec := &recorder{respond: status(http.StatusCreated, `{"id":1}`)}
	srv := httptest.NewServer(rec)
	defer srv.Close()

	s := newSink(t, httpsink.Config{URL: srv.URL + "/jobplans", Token: "s3cret"})
	res, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "abc123", Record: []byte(`{"dcc":7.5}`)})
	if err != nil || res != (dispatch.Receipt{Result: dispatch.Delivered, Requests: 1}) {
		t.Fatalf("Deliver = %v, %v; want Delivered", res, err)
	}
	got := rec.requests[0]
	want := captured{method: "POST", contentType: "application/json", key: "abc123", auth: "Bearer s3cret", body: `{"dcc":7.5}`}
	if got != want {
		t.Errorf("server saw %+v, want %+v", got, want)
	}

	anon := newSink(t, httpsink.Config{URL: srv.URL})
	if _, err := anon.Deliver(t.Context(), dispatch.Parcel{Key: "k2", Record: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if a := rec.requests[1].auth; a != "" {
		t.Errorf("Authorization %q sent without a token", a)
	}
}

func TestDeliverClassifiesResponses(t *testing.T) {
	longBody := strings.Repeat("x", 5000)
	tests := []struct {
		name      string
		respond   func(http.ResponseWriter, *http.Request, int)
		result    dispatch.Result
		retryable bool
		after     time.Duration
		inMessage string
	}{
		{name: "200", respond: status(200, "ok"), result: dispatch.Delivered},
		{name: "204", respond: status(204, ""), result: dispatch.Delivered},
		{name: "409 already delivered", respond: status(409, "duplicate key"), result: dispatch.AlreadyDelivered},
		{name: "400 permanent", respond: status(400, `{"error":"dcc must be a number"}`), inMessage: "dcc must be a number"},
		{name: "422 permanent", respond: status(422, "unknown assignment"), inMessage: "422"},
		// Wrong credentials are wrong for every record: held, not rejected.
		{name: "401 temporary", respond: status(401, "bad token"), retryable: true, inMessage: "bad token"},
		{name: "403 permanent", respond: status(403, "not your assignment"), inMessage: "not your assignment"},
		{name: "long body truncated", respond: status(400, longBody), inMessage: "(truncated)"},
		{name: "redirect not followed", respond: status(302, "", "Location", "/elsewhere"), inMessage: "302"},
		{name: "503 with delay", respond: status(503, "maintenance", "Retry-After", "7"), retryable: true, after: 7 * time.Second, inMessage: "maintenance"},
		{name: "500", respond: status(500, "boom"), retryable: true, inMessage: "boom"},
		{name: "429", respond: status(429, "", "Retry-After", "2"), retryable: true, after: 2 * time.Second},
		{name: "408", respond: status(408, ""), retryable: true},
		{name: "absurd Retry-After capped", respond: status(503, "", "Retry-After", "99999999"), retryable: true, after: time.Hour},
		{name: "garbage Retry-After ignored", respond: status(503, "", "Retry-After", "soon"), retryable: true},
		{name: "dropped connection", respond: func(w http.ResponseWriter, r *http.Request, _ int) { hangUp(w, r) }, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&recorder{respond: tt.respond})
			defer srv.Close()
			s := newSink(t, httpsink.Config{URL: srv.URL})
			res, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k", Record: []byte(`{}`)})
			if tt.result != 0 {
				if err != nil || res.Result != tt.result {
					t.Fatalf("Deliver = %v, %v; want %v", res, err, tt.result)
				}
				return
			}
			if err == nil {
				t.Fatalf("Deliver = %v, want an error", res)
			}
			if got := retry.IsRetryable(err); got != tt.retryable {
				t.Errorf("retryable = %v, want %v (err: %v)", got, tt.retryable, err)
			}
			if got := retry.After(err); got != tt.after {
				t.Errorf("retry after %v, want %v", got, tt.after)
			}
			if !strings.Contains(err.Error(), tt.inMessage) {
				t.Errorf("error %q does not mention %q", err, tt.inMessage)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(&recorder{respond: status(503, "",
		"Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))})
	defer srv.Close()
	s := newSink(t, httpsink.Config{URL: srv.URL, Now: func() time.Time { return now }})
	_, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k", Record: []byte(`{}`)})
	if got := retry.After(err); got != 90*time.Second {
		t.Fatalf("retry after %v, want 90s (err: %v)", got, err)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	var mu sync.Mutex
	var peer string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peer = r.TLS.PeerCertificates[0].Subject.CommonName
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool,
	}
	// Refused handshakes are the point of the subtests below.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	s := newSink(t, httpsink.Config{URL: srv.URL, CAFile: pki.caFile,
		ClientCertFile: pki.clientCert, ClientKeyFile: pki.clientKey})
	if res, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k", Record: []byte(`{}`)}); err != nil || res.Result != dispatch.Delivered {
		t.Fatalf("Deliver with client certificate = %v, %v", res, err)
	}
	mu.Lock()
	if peer != "jobplan-hub" {
		t.Errorf("server saw client %q", peer)
	}
	mu.Unlock()

	for name, cfg := range map[string]httpsink.Config{
		"no client certificate":       {URL: srv.URL, CAFile: pki.caFile},
		"certificate from another CA": {URL: srv.URL, CAFile: pki.caFile, ClientCertFile: pki.otherCert, ClientKeyFile: pki.otherKey},
		"server not trusted":          {URL: srv.URL, ClientCertFile: pki.clientCert, ClientKeyFile: pki.clientKey},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSink(t, cfg)
			if res, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k", Record: []byte(`{}`)}); err == nil {
				t.Fatalf("Deliver = %v, want a TLS failure", res)
			}
		})
	}
}

func TestNewRejectsUnsafeConfig(t *testing.T) {
	for name, cfg := range map[string]httpsink.Config{
		"no url":                   {},
		"not http":                 {URL: "ftp://esr.example/"},
		"token over plain http":    {URL: "http://esr.example/api", Token: "t"},
		"cert without key":         {URL: "https://esr.example/", ClientCertFile: "c.pem"},
		"tls settings on http":     {URL: "http://127.0.0.1/", CAFile: "ca.pem"},
		"missing certificate file": {URL: "https://esr.example/", ClientCertFile: "/nope/c.pem", ClientKeyFile: "/nope/k.pem"},
	} {
		if _, err := httpsink.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := httpsink.New(httpsink.Config{URL: "http://127.0.0.1:8080/", Token: "t"}); err != nil {
		t.Errorf("token to loopback over http refused: %v", err)
	}
}

// TestConnectionsAreReused sends waves of 8 concurrent records through a
// sink configured for 8 connections: after the first wave hardly any new
// connection should be needed. (With Go's default of two idle connections
// per host, each wave would dial six afresh.)
func TestConnectionsAreReused(t *testing.T) {
	rec := &recorder{respond: status(http.StatusCreated, "")}
	srv := httptest.NewUnstartedServer(rec)
	var mu sync.Mutex
	dialed := 0
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			dialed++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	s := newSink(t, httpsink.Config{URL: srv.URL, Connections: 8})
	const waves, width = 10, 8
	for w := range waves {
		var wg sync.WaitGroup
		for i := range width {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := strings.Repeat("a", 60) + string(rune('a'+w)) + string(rune('a'+i)) + "aa"
				if _, err := s.Deliver(t.Context(), dispatch.Parcel{Key: key, Record: []byte(`{"a":1}`)}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if rec.count() != waves*width {
		t.Fatalf("receiver saw %d requests, want %d", rec.count(), waves*width)
	}
	mu.Lock()
	defer mu.Unlock()
	// The transport may dial a spare while a connection is on its way
	// back to the pool, so the bound is loose; Go's default pool of two
	// dials about 55 here.
	if dialed > 3*width {
		t.Errorf("%d connections dialed for %d requests %d at a time; want about %d", dialed, waves*width, width, width)
	}
}

// TestDeliverLeavesResendingToTheDispatcher: a connection lost after the
// request was written is an error of that attempt, with the one request
// counted, and not a silent second request by Go's transport (which deems
// a POST with an Idempotency-Key replayable).
func TestDeliverLeavesResendingToTheDispatcher(t *testing.T) {
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 2 { // the second request, on the kept-alive connection
			hangUp(w, r)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := newSink(t, httpsink.Config{URL: srv.URL})
	if rc, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k1", Record: []byte(`{}`)}); err != nil || rc.Requests != 1 {
		t.Fatalf("first Deliver = %+v, %v", rc, err)
	}
	rc, err := s.Deliver(t.Context(), dispatch.Parcel{Key: "k2", Record: []byte(`{}`)})
	if err == nil || !retry.IsRetryable(err) {
		t.Fatalf("second Deliver = %+v, %v; want a temporary error", rc, err)
	}
	if rc.Requests != 1 || rec.count() != 2 {
		t.Errorf("second Deliver counted %d requests, the receiver saw %d in all; want 1 and 2", rc.Requests, rec.count())
	}
}
