package observe

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// Defaults and limits of a Server.
const (
	// DefaultListen is the address a hub serves on unless told otherwise.
	DefaultListen = "127.0.0.1:8080"
	// ShutdownTimeout bounds how long Run waits for requests in flight
	// once its context ends.
	ShutdownTimeout = 5 * time.Second
	// RefreshSeconds is the status page's meta refresh.
	RefreshSeconds = 10
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// StateDir is the hub's state folder; reports are served from its
	// files/<id>/ folders only.
	StateDir string
	// Ledger is the hub's open ledger.
	Ledger *ledger.Ledger
	// Recorder holds the metrics and the sources' health.
	Recorder *Recorder
	// Token, if set, is required from every request but /livez, /readyz
	// and /healthz, as "Authorization: Bearer <token>" or
	// "?token=<token>". Without it, those name what fails but not its
	// errors.
	Token string
	// Logger receives server errors. Default slog.Default().
	Logger *slog.Logger
}

// Server serves a hub's status page (/), its reports and errors.csv
// files (/files/{id}/{name}), /livez, /readyz (and /healthz, the same),
// and /metrics.
type Server struct {
	cfg     ServerConfig
	handler http.Handler
	page    *pageCache
	// ledgerStatus is the status page's read of the ledger.
	ledgerStatus cached[*relay.Status]
}

// NewServer returns a Server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.StateDir == "" || cfg.Ledger == nil || cfg.Recorder == nil {
		return nil, errors.New("observe: server needs a state directory, a ledger and a recorder")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, page: newPageCache(), ledgerStatus: cached[*relay.Status]{now: time.Now}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	// /healthz was the only check before /livez and /readyz: kept, as
	// /readyz.
	mux.HandleFunc("GET /healthz", s.readyz)
	mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(cfg.Recorder.Registry(), promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	})))
	mux.Handle("GET /files/{id}/{name}", s.auth(http.HandlerFunc(s.file)))
	mux.Handle("GET /{$}", s.auth(http.HandlerFunc(s.status)))
	s.handler = mux
	return s, nil
}

// Handler returns the server's routes, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on ln until ctx ends, then shuts down, giving requests in
// flight ShutdownTimeout to finish. It returns once the server has
// stopped, with nil after ctx ended.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("observe: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("observe: shutdown: %w", err)
	}
	return nil
}

// CheckListen refuses an address that is not loopback when no token is
// configured: the status page names files and assignment numbers.
func CheckListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if token != "" || IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback: refusing to serve without a token (--listen-token-file or JOBPLAN_HUB_LISTEN_TOKEN)", addr)
}

// IsLoopback reports whether host (a name or an IP, without port) is
// "localhost" or a loopback IP. An empty host means every interface.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// auth requires the token, if one is configured.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jobplan-hub"`)
			http.Error(w, "unauthorized: give the token as Authorization: Bearer or ?token=", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token, or none is configured.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	got, ok := requestToken(r)
	// Hashing both first makes the comparison independent of the length.
	sum, want := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
	return ok && subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// requestToken is the bearer token of r, or its token query parameter.
func requestToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), true
		}
		return "", false
	}
	if q := r.URL.Query(); q.Has("token") {
		return q.Get("token"), true
	}
	return "", false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
