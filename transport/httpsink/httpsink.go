// Package httpsink delivers records to the ESR HTTP API, one record per
// request, and runs the dispatcher that drains the ledger's delivery queue
// into it.
//
// Each record is POSTed as JSON with an Idempotency-Key header (the
// ledger's key), so a request repeated after a lost response is recognised
// by the receiver. Responses are classified by what to do next:
//
//	2xx                  delivered
//	409 Conflict         the receiver already has it: delivered, as a duplicate
//	408, 429, 5xx        temporary (retry.Temporary), honouring Retry-After
//	other 4xx, 3xx, 1xx  permanent (retry.Permanent), with the response body
//	network errors       temporary
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
	// Default DefaultConcurrency.
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
}

// Result says how a successful delivery ended.
type Result int

// Results of Deliver.
const (
	// Delivered means the receiver accepted the record (2xx).
	Delivered Result = iota + 1
	// AlreadyDelivered means the receiver already had a record with this
	// idempotency key (409).
	AlreadyDelivered
)

func (r Result) String() string {
	switch r {
	case Delivered:
		return "delivered"
	case AlreadyDelivered:
		return "already delivered"
	}
	return "unknown"
}

// Receipt is what one call of Deliver came to, beside its error.
type Receipt struct {
	// Result is how a successful delivery ended; zero with an error.
	Result Result
	// Requests counts the requests written to the receiver, each of which
	// it may have acted on: more than one when a token was refreshed
	// after a 401, none when nothing reached it (no connection). It is
	// set with an error too. Zero from a Deliverer that does not count
	// counts as one.
	Requests int
}

// Sink posts records to one endpoint. It is safe for concurrent use.
type Sink struct {
	url           string
	token         string
	userAgent     string
	maxRetryAfter time.Duration
	now           func() time.Time
	client        *http.Client
}

// New checks cfg, loads any certificates and returns a Sink.
func New(cfg Config) (*Sink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("httpsink: url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("httpsink: url %q: want an http(s)://host/path address", cfg.URL)
	}
	if u.Scheme == "http" && cfg.Token != "" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("httpsink: refusing to send a bearer token over plain http to %s", u.Host)
	}
	if (cfg.ClientCertFile == "") != (cfg.ClientKeyFile == "") {
		return nil, errors.New("httpsink: client certificate and key must be given together")
	}
	if u.Scheme == "http" && (cfg.ClientCertFile != "" || cfg.CAFile != "") {
		return nil, fmt.Errorf("httpsink: TLS settings given for plain http url %q", cfg.URL)
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("httpsink: client certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("httpsink: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("httpsink: ca file %s: no PEM certificates found", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.MaxIdleConnsPerHost = cfg.Connections
	if transport.MaxIdleConnsPerHost <= 0 {
		transport.MaxIdleConnsPerHost = DefaultConcurrency
	}

	s := &Sink{
		url:           u.String(),
		token:         cfg.Token,
		userAgent:     cfg.UserAgent,
		maxRetryAfter: cfg.MaxRetryAfter,
		now:           cfg.Now,
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
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Deliver posts one record. key is its idempotency key and body its JSON.
// On failure the error is classified with retry.Permanent or
// retry.Temporary; an unclassified error means ctx ended.
func (s *Sink) Deliver(ctx context.Context, key string, body []byte) (Receipt, error) {
	var rc Receipt
	res, err := s.post(ctx, key, body, &rc.Requests)
	rc.Result = res
	return rc, err
}

// post sends one request and counts in *written each time it is written
// whole to a connection.
func (s *Sink) post(ctx context.Context, key string, body []byte, written *int) (Result, error) {
	// The trace counts every write, so that a re-send by the transport
	// could not go unseen; GetBody (below) is what prevents those.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				*written++
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, retry.Permanent(fmt.Errorf("httpsink: build request: %w", err))
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
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}

	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("httpsink: post: %w", ctx.Err())
		}
		// Network and TLS failures are retried, TLS ones included: a bad
		// certificate is fixed by an operator, and the queue should then
		// drain by itself rather than every record needing a requeue.
		return 0, retry.Temporary(fmt.Errorf("httpsink: post: %w", err), 0)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		// Drain so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return Delivered, nil
	case code == http.StatusConflict:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return AlreadyDelivered, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("httpsink: %s: %s", resp.Status, readSnippet(resp.Body))
		return 0, retry.Temporary(err, s.retryAfter(resp.Header.Get("Retry-After")))
	default:
		return 0, retry.Permanent(fmt.Errorf("httpsink: %s: %s", resp.Status, readSnippet(resp.Body)))
	}
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
