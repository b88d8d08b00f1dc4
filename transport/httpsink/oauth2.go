package httpsink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/nhs-esr/jobplan-hub/transport/retry"
)

// OAuth2 configures the OAuth2 client-credentials grant (RFC 6749 §4.4):
// the hub asks TokenURL for an access token with its client id and secret
// and sends it as a bearer token, fetching a new one when it expires or
// when the API answers 401.
type OAuth2 struct {
	// TokenURL is the token endpoint (https, or http to loopback).
	TokenURL string
	// ClientID and ClientSecret identify the hub to the token endpoint.
	// The secret is resolved already (from ${ENV} or a file).
	ClientID     string
	ClientSecret Secret
	// Scopes are requested with each token, if any.
	Scopes []string
	// Params are further form fields of the token request, such as
	// audience or resource.
	Params map[string]string
	// AuthStyle is how the client id and secret are sent: "header" (HTTP
	// Basic), "params" (form fields), or "" to find out from the endpoint
	// (header first).
	AuthStyle string
}

// Secret is a resolved secret. It prints as a placeholder, so that one
// formatted or logged by mistake does not leak.
type Secret string

func (Secret) String() string   { return "[secret]" }
func (Secret) GoString() string { return "[secret]" }

// Check reports what is wrong with o: every problem, joined.
func (o *OAuth2) Check() error {
	var errs []error
	u, err := url.Parse(o.TokenURL)
	switch {
	case o.TokenURL == "":
		errs = append(errs, errors.New("oauth2: token_url is required"))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		// Not quoted: a mistyped URL may hold a secret.
		errs = append(errs, errors.New("oauth2: token_url: want https://host/path"))
	case u.User != nil:
		errs = append(errs, errors.New("oauth2: token_url must not carry credentials; give client_id and a client secret"))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		errs = append(errs, fmt.Errorf("oauth2: refusing to send the client secret over plain http to %s", u.Host))
	}
	if o.ClientID == "" {
		errs = append(errs, errors.New("oauth2: client_id is required"))
	}
	if o.ClientSecret == "" {
		errs = append(errs, errors.New("oauth2: a client secret is required"))
	}
	switch o.AuthStyle {
	case "", "header", "params":
	default:
		errs = append(errs, fmt.Errorf("oauth2: auth_style %q: want header or params", o.AuthStyle))
	}
	return errors.Join(errs...)
}

// tokenSource fetches access tokens and keeps the current one. Workers
// that need a token while one is being fetched wait for it rather than
// fetching their own.
type tokenSource struct {
	conf       clientcredentials.Config
	client     *http.Client
	retryAfter func(string) time.Duration // the Sink's reading of Retry-After
	sem        chan struct{}              // held while fetching

	mu  sync.Mutex
	tok *oauth2.Token
}

func newTokenSource(o *OAuth2, client *http.Client, retryAfter func(string) time.Duration) *tokenSource {
	conf := clientcredentials.Config{
		ClientID: o.ClientID, ClientSecret: string(o.ClientSecret), TokenURL: o.TokenURL, Scopes: o.Scopes,
	}
	switch o.AuthStyle {
	case "header":
		conf.AuthStyle = oauth2.AuthStyleInHeader
	case "params":
		conf.AuthStyle = oauth2.AuthStyleInParams
	}
	if len(o.Params) > 0 {
		conf.EndpointParams = url.Values{}
		for k, v := range o.Params {
			conf.EndpointParams.Set(k, v)
		}
	}
	return &tokenSource{conf: conf, client: client, retryAfter: retryAfter, sem: make(chan struct{}, 1)}
}

// token returns a valid access token, fetching one if there is none or it
// is about to expire. Its errors are temporary: the token endpoint is
// part of the destination, and a refused secret is fixed by an operator,
// after which the queue should drain by itself.
func (ts *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	if tok := ts.current(); tok != nil {
		return tok, nil
	}
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-ts.sem }()
	if tok := ts.current(); tok != nil {
		return tok, nil // another worker fetched it meanwhile
	}
	tok, err := ts.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, ts.client))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var after string
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			after = re.Response.Header.Get("Retry-After")
		}
		return nil, retry.Temporary(fmt.Errorf("get an OAuth2 token: %w", err), ts.retryAfter(after))
	}
	ts.mu.Lock()
	ts.tok = tok
	ts.mu.Unlock()
	return tok, nil
}

func (ts *tokenSource) current() *oauth2.Token {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.tok.Valid() {
		return ts.tok
	}
	return nil
}

// invalidate drops tok, which the API refused, unless a newer token has
// replaced it already.
func (ts *tokenSource) invalidate(tok *oauth2.Token) {
	ts.mu.Lock()
	if ts.tok == tok {
		ts.tok = nil
	}
	ts.mu.Unlock()
}
