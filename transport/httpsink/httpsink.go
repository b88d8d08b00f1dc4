// Package httpsink delivers records to the ESR HTTP API, one record per
// request: its Sink is the Deliverer of an esr_api destination, which the
// dispatcher (transport/dispatch) drains the ledger's queue into.
//
// Each record is POSTed as JSON with an Idempotency-Key header (the
// ledger's key), so a request repeated after a lost response is recognised
// by the receiver. Responses are classified by what to do next:
//
//	2xx                  delivered
//	409 Conflict         the receiver already has it: delivered, as a duplicate
//	408, 429, 5xx        temporary (retry.Temporary), honouring Retry-After
//	401 Unauthorized     temporary: the credentials are wrong for every record
//	                     (with OAuth2, first one new token and one more try)
//	other 4xx, 3xx, 1xx  permanent (retry.Permanent), with the response body
//	network errors       temporary
//
// Temporary failures of every request in a row make the destination
// unavailable as a whole (see dispatch.Breaker).
package httpsink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/nhs-esr/jobplan-hub/transport/dispatch"
	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// Defaults for Config.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMaxRetryAfter = time.Hour
	// errorBodyLimit caps how much of an error response is kept in the
	// error message (and so in the ledger).
	errorBodyLimit = 512
)

// Config configures a Sink.
type Config struct {
	// URL is the endpoint records are POSTed to.
	URL string
	// Token, if set, is sent as "Authorization: Bearer <token>". It is
	// the secret itself, already resolved from wherever it is kept.
	Token string
	// ClientCertFile and ClientKeyFile, both or neither, enable mutual TLS.
	ClientCertFile string
	ClientKeyFile  string
	// CAFile, if set, replaces the system roots for verifying the server.
	CAFile string
	// Connections is how many connections to the receiver are kept open
	// between requests: the dispatcher's concurrency. Go's default of two
	// makes every other request dial (and with TLS, handshake) afresh.
	// Default dispatch.DefaultConcurrency.
	Connections int
	// Timeout bounds one whole request, including reading the response.
	// Default 30s.
	Timeout time.Duration
	// MaxRetryAfter caps the delay a server can ask for with Retry-After,
	// so a wrong header cannot park a record for days. Default 1h.
	MaxRetryAfter time.Duration
	// UserAgent is sent with each request. Default "jobplan-hub".
	UserAgent string
	// Now is the clock used to turn a Retry-After date into a delay.
	// Default time.Now.
	Now func() time.Time
	// API holds what follows the receiver's contract: the body's shape,
	// OAuth2, the id in its answers.
	API APIOptions
}

// APIOptions are the settings of an esr_api destination that follow the
// receiver's contract, which ESR has not published: the shape of the body
// sent for a record, authentication by OAuth2 client credentials (beside
// Config.Token and mutual TLS), and where an answer carries the
// receiver's own id for the record. The hub file's esr_api destination
// decodes into it (payload, oauth2, response_id).
type APIOptions struct {
	// Payload, if set, shapes each record into the body sent; nil sends
	// the record as the hub makes it.
	Payload *Shape
	// OAuth2, if set, gets the bearer token by the client-credentials
	// grant; Config.Token must then be empty.
	OAuth2 *OAuth2
	// ResponseID, if set, is where a 2xx or 409 answer carries the
	// receiver's id for the record (a JSON pointer such as /data/id). The
	// id is kept in the ledger and shown by status.
	ResponseID *Pointer
}

// Sink posts records to one endpoint. It is safe for concurrent use.
type Sink struct {
	url           string
	token         string
	userAgent     string
	maxRetryAfter time.Duration
	now           func() time.Time
	client        *http.Client
	shape         *Shape
	tokens        *tokenSource // nil without OAuth2
	responseID    *Pointer
}

// New checks cfg, loads any certificates and returns a Sink.
//
// Its errors name what failed, not this package: the caller says which
// source or destination it is, and operators read them (a refused reload).
func New(cfg Config) (*Sink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want an http(s)://host/path address", cfg.URL)
	}
	if u.Scheme == "http" && cfg.Token != "" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("refusing to send a bearer token over plain http to %s", u.Host)
	}
	if o := cfg.API.OAuth2; o != nil {
		if cfg.Token != "" {
			return nil, errors.New("give a bearer token or oauth2, not both")
		}
		if err := o.Check(); err != nil {
			return nil, err
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("refusing to send an oauth2 token over plain http to %s", u.Host)
		}
	}
	if (cfg.ClientCertFile == "") != (cfg.ClientKeyFile == "") {
		return nil, errors.New("client certificate and key must be given together")
	}
	if u.Scheme == "http" && (cfg.ClientCertFile != "" || cfg.CAFile != "") {
		return nil, fmt.Errorf("TLS settings given for plain http url %q", cfg.URL)
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificates found", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.MaxIdleConnsPerHost = cfg.Connections
	if transport.MaxIdleConnsPerHost <= 0 {
		transport.MaxIdleConnsPerHost = dispatch.DefaultConcurrency
	}

	s := &Sink{
		url:           u.String(),
		token:         cfg.Token,
		userAgent:     cfg.UserAgent,
		maxRetryAfter: cfg.MaxRetryAfter,
		now:           cfg.Now,
		shape:         cfg.API.Payload,
		responseID:    cfg.API.ResponseID,
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			// A redirected POST may be replayed as a GET, or carry the
			// token to another host; treat a redirect as a configuration
			// error instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if s.client.Timeout <= 0 {
		s.client.Timeout = DefaultTimeout
	}
	if s.maxRetryAfter <= 0 {
		s.maxRetryAfter = DefaultMaxRetryAfter
	}
	if s.userAgent == "" {
		s.userAgent = "jobplan-hub"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.API.OAuth2 != nil {
		// The token endpoint is reached as the API is: the same CA
		// bundle and client certificate.
		s.tokens = newTokenSource(cfg.API.OAuth2, s.client, s.retryAfter)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Deliver posts one record, p.Record, with its idempotency key p.Key (the
// record is shaped first if a payload shape is configured). With OAuth2, a
// 401 fetches a new token and sends the record once more. On failure the
// error is classified with retry.Permanent or retry.Temporary; an
// unclassified error means ctx ended. Its text is for operators (it is
// the delivery's reason in the ledger, on the status page and in status):
// it says what happened, without this package's name. A file (p.File) is
// refused: the ESR API takes records.
func (s *Sink) Deliver(ctx context.Context, p dispatch.Parcel) (dispatch.Receipt, error) {
	var rc dispatch.Receipt
	if p.File != nil {
		return rc, retry.Permanent(errors.New("an esr_api destination takes records, not whole files"))
	}
	key, body := p.Key, p.Record
	if s.shape != nil {
		shaped, err := s.shape.Apply(body)
		if err != nil {
			return rc, retry.Permanent(err) // "payload shape: ..."
		}
		body = shaped
	}
	for refreshed := false; ; refreshed = true {
		auth, tok, err := s.authorization(ctx)
		if err != nil {
			return rc, err
		}
		a, err := s.post(ctx, key, body, auth, &rc.Requests)
		if a.status == http.StatusUnauthorized && tok != nil && !refreshed {
			// The token may have been revoked before it expired.
			s.tokens.invalidate(tok)
			continue
		}
		rc.Result, rc.RemoteID, rc.RemoteIDProblem = a.result, a.id, a.idProblem
		return rc, err
	}
}

// authorization returns the Authorization header to send, and the OAuth2
// token it carries, if any.
func (s *Sink) authorization(ctx context.Context) (string, *oauth2.Token, error) {
	switch {
	case s.tokens != nil:
		tok, err := s.tokens.token(ctx)
		if err != nil {
			return "", nil, err
		}
		return tok.Type() + " " + tok.AccessToken, tok, nil
	case s.token != "":
		return "Bearer " + s.token, nil, nil
	}
	return "", nil, nil
}

// answer is what one request came to.
type answer struct {
	status        int
	result        dispatch.Result
	id, idProblem string
}

// post sends one request and counts in *written each time it is written
// whole to a connection.
func (s *Sink) post(ctx context.Context, key string, body []byte, auth string, written *int) (answer, error) {
	// The trace counts every write, so that a re-send by the transport
	// could not go unseen; GetBody (below) is what prevents those.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				*written++
			}
		},
	})
	var a answer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return a, retry.Permanent(fmt.Errorf("build the request: %w", err))
	}
	// Go's transport re-sends a request whose connection was lost after
	// it was written if the request is "replayable", and a POST that
	// carries an Idempotency-Key counts as such if it can rewind its
	// body (net/http: Request.isReplayable, persistConn.shouldRetryRequest).
	// Those re-sends reach the receiver but not the ledger or the metrics.
	// Without GetBody the transport returns the error instead, and the
	// dispatcher retries, counted, with backoff.
	req.GetBody = nil
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set("Idempotency-Key", key)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}

	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return a, fmt.Errorf("request cut off: %w", ctx.Err())
		}
		// Network and TLS failures are retried, TLS ones included: a bad
		// certificate is fixed by an operator, and the queue should then
		// drain by itself rather than every record needing a requeue.
		// The error names the method and address: Post "https://...": ...
		return a, retry.Temporary(err, 0)
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300, code == http.StatusConflict:
		a.result = dispatch.Delivered
		if code == http.StatusConflict {
			a.result = dispatch.AlreadyDelivered
		}
		a.id, a.idProblem = s.readID(resp.Body, code != http.StatusConflict)
		// Drain so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return a, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("the receiver answered %s: %s", resp.Status, readSnippet(resp.Body))
		return a, retry.Temporary(err, s.retryAfter(resp.Header.Get("Retry-After")))
	case code == http.StatusUnauthorized:
		// Credentials are the destination's, not the record's: every
		// record would be refused alike. Temporary, so the breaker holds
		// the queue until an operator fixes them, and it then drains.
		return a, retry.Temporary(fmt.Errorf("the receiver answered %s: %s", resp.Status, readSnippet(resp.Body)), 0)
	default:
		return a, retry.Permanent(fmt.Errorf("the receiver answered %s: %s", resp.Status, readSnippet(resp.Body)))
	}
}

// maxAnswer bounds the part of an answer read for the receiver's id.
const maxAnswer = 1 << 20

// readID reads the receiver's id from an answer, if a ResponseID is
// configured. Its absence is a problem only when required.
func (s *Sink) readID(body io.Reader, required bool) (id, problem string) {
	if s.responseID == nil {
		return "", ""
	}
	b, err := io.ReadAll(io.LimitReader(body, maxAnswer))
	if err == nil {
		id, err = s.responseID.ID(b)
	}
	if err != nil && required {
		return "", err.Error()
	}
	return id, ""
}

// readSnippet returns the start of a response body for an error message.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, errorBodyLimit+1))
	truncated := len(b) > errorBodyLimit
	if truncated {
		b = b[:errorBodyLimit]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1] // do not cut a character in half
		}
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "(empty body)"
	}
	if truncated {
		s += " …(truncated)"
	}
	return s
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP-date.
// Unparseable values count as absent.
func (s *Sink) retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(s.maxRetryAfter/time.Second) {
			return s.maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(s.now())
	}
	return min(max(d, 0), s.maxRetryAfter)
}
