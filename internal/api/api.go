// Package api is the daemon's HTTP API and web page: start a backup,
// follow it, list, download and delete archives, restore a stored or an
// uploaded archive after showing its plan. Every route but /healthz and
// the static page needs the bearer token.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// Service is the daemon's side: the projects it serves and how it backs
// them up and restores them.
type Service interface {
	Projects() []string
	// Lock takes a project's engine-wide lock at once, failing with
	// lock.ErrLocked when a backup or restore of it runs. The context it
	// returns ends if the lock is lost.
	Lock(ctx context.Context, project string) (context.Context, func(), error)
	// Backup backs the project up as a scheduled run does (create, then
	// prune), under the lock that lock hands over.
	Backup(ctx context.Context, project string, lock backup.Locker, sink event.Sink) (any, error)
	// PrepareRestore verifies and plans a restore, changing nothing.
	PrepareRestore(ctx context.Context, req RestoreRequest, lock backup.Locker, sink event.Sink) (Prepared, error)
	// Health is nil when the daemon is healthy.
	Health() error
	// Schedule is the cron line, its zone and the next run (zero for
	// none).
	Schedule() Schedule
}

// Prepared is a restore planned and not applied. While it waits for a
// confirmation it gives up the project's lock (Release); the confirmation
// takes the lock again and plans again (Replan), and changed tells that
// the new plan differs from the one shown (and was emitted).
type Prepared interface {
	Apply(ctx context.Context) (any, error)
	Release()
	Replan(ctx context.Context, lock backup.Locker) (changed bool, err error)
	Close()
}

// RestoreRequest is what a client asked to restore, and how.
type RestoreRequest struct {
	Project string
	// Path is the archive on local disk, verified; Verified is what
	// verified it (restore.Fetched), so that it is not read twice.
	Path     string
	Verified any
	Force    bool
	// NoSafetyBackup skips the safety backup (no rollback possible).
	NoSafetyBackup bool
}

// Schedule is when the daemon backs up by itself.
type Schedule struct {
	Cron     string     `json:"cron"`
	TimeZone string     `json:"timeZone,omitempty"`
	NextRun  *time.Time `json:"nextRun,omitempty"`
}

// Config is a server's whole configuration.
type Config struct {
	Service Service
	Store   storage.Backend
	Jobs    *jobs.Registry
	// Token is the bearer token every protected route wants.
	Token string
	// Identities decrypt encrypted archives to verify them.
	Identities []age.Identity
	// Limits bound the entries of the archives it verifies (zero:
	// archive's defaults), as the restore that applies them does.
	Limits archive.Limits
	// Trust are the keys the archives to restore must be signed by: an
	// unsigned one, or one signed by another key, is refused before it
	// is read. Nil: any archive (a signature that comes with one is
	// still checked).
	Trust *sign.Trust
	// WorkDir holds uploads and downloads while they are restored.
	WorkDir string
	// MaxUpload bounds an uploaded archive, in bytes.
	MaxUpload int64
	// ConfirmTimeout is how long a restore's plan waits for its
	// confirmation; 0 for 15 minutes.
	ConfirmTimeout time.Duration
	// A request body (an upload) that sends nothing for UploadIdleTimeout
	// (0 for 60 s), or less than UploadMinBytes (0 for 64 KiB) in any
	// UploadWindow (0 for a minute) of the server's waiting for it, is
	// cut: a trickle holds no connection, no disk and no lock for long.
	UploadIdleTimeout time.Duration
	UploadMinBytes    int64
	UploadWindow      time.Duration
	// Metrics serves /metrics; nil for none.
	Metrics http.Handler
	Version string
	Logger  *slog.Logger
}

// Server is the API.
type Server struct {
	cfg   Config
	token [32]byte
	log   *slog.Logger
	// base is the daemon's life: jobs run under it, not under the
	// request that started them.
	base context.Context

	mu      sync.Mutex
	tickets map[string]ticket
	// awaiting are the restores waiting for a confirmation, by job.
	awaiting map[string]*confirmation
}

// New checks cfg; base ends the jobs when the daemon stops.
func New(base context.Context, cfg Config) (*Server, error) {
	if len(cfg.Token) < minToken {
		return nil, fmt.Errorf("the API token is %d characters long: use at least %d (e.g. openssl rand -hex 32)", len(cfg.Token), minToken)
	}
	if cfg.Service == nil || cfg.Store == nil || cfg.Jobs == nil {
		return nil, errors.New("api: a service, a storage and a job registry are needed")
	}
	if cfg.ConfirmTimeout == 0 {
		cfg.ConfirmTimeout = 15 * time.Minute
	}
	if cfg.UploadIdleTimeout == 0 {
		cfg.UploadIdleTimeout = defaultUploadIdle
	}
	if cfg.UploadMinBytes == 0 {
		cfg.UploadMinBytes = defaultUploadMinBytes
	}
	if cfg.UploadWindow == 0 {
		cfg.UploadWindow = defaultUploadWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// A refused request's log line quotes its error: a few KB of it.
	log := slog.New(event.Clipped(cfg.Logger.Handler()))
	return &Server{cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)), log: log, base: base, tickets: map[string]ticket{},
		awaiting: map[string]*confirmation{}}, nil
}

// minToken is the shortest token accepted: 16 characters.
const minToken = 16

// route is one endpoint; Auth: it needs the bearer token.
type route struct {
	Method, Path string
	Auth         bool
	handler      http.HandlerFunc
}

// routes is every endpoint: the handler and the OpenAPI test both use it.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", false, s.healthz},
		{"GET", "/metrics", true, s.metrics},
		{"GET", "/api/v1/openapi.json", true, s.openapi},
		{"GET", "/api/v1/status", true, s.status},
		{"GET", "/api/v1/backups", true, s.listBackups},
		{"POST", "/api/v1/backups", true, s.startBackup},
		{"GET", "/api/v1/backups/{name}", true, s.download},
		{"HEAD", "/api/v1/backups/{name}", true, s.download},
		{"DELETE", "/api/v1/backups/{name}", true, s.deleteBackup},
		{"POST", "/api/v1/backups/{name}/link", true, s.link},
		{"GET", "/api/v1/downloads/{ticket}", false, s.ticketDownload},
		{"POST", "/api/v1/restore", true, s.startRestore},
		{"GET", "/api/v1/jobs", true, s.listJobs},
		{"GET", "/api/v1/jobs/{id}", true, s.getJob},
		{"DELETE", "/api/v1/jobs/{id}", true, s.cancelJob},
		{"GET", "/api/v1/jobs/{id}/events", true, s.jobEvents},
		{"POST", "/api/v1/jobs/{id}/confirm", true, s.confirmJob},
	}
}

// Handler is the whole API and the page.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		h := s.guardBody(r.handler)
		if r.Auth {
			h = s.authorized(h)
		}
		mux.Handle(r.Method+" "+r.Path, apiHeaders(h))
	}
	// Anything else under /api/ is a JSON 404, not the page.
	notFound := apiHeaders(s.authorized(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: see /api/v1/openapi.json")
	})))
	static := page()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/"):
			notFound.ServeHTTP(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			static.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
	}))
	return mux
}

// authorized lets through requests with the bearer token.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Hashes compare in constant time whatever the lengths.
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
			s.log.Warn("API request refused: no or wrong bearer token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="docker-backup"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is needed: Authorization: Bearer TOKEN (the content of --api-token-file)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func apiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// apiError is every error's body.
type apiError struct {
	Error string `json:"error"`
}

// writeError answers an error; its text is clipped (event.Clip): an
// error may quote a huge input, the answer stays small.
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: event.Clip(fmt.Sprintf(format, args...))})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Answers are application/json under nosniff, read by the page
	// with textContent: <, > and & need no \u escape, which made a
	// clipped error six times its bound.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readJSON decodes a small JSON body; an empty body is an empty object.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "the request body is not the JSON expected: %v", err)
		return false
	}
	return true
}

// project picks the project a request is about: the one named, or the
// daemon's only one.
func (s *Server) project(w http.ResponseWriter, name string) (string, bool) {
	ps := s.cfg.Service.Projects()
	if name == "" {
		if len(ps) == 1 {
			return ps[0], true
		}
		writeError(w, http.StatusBadRequest, "the daemon serves several projects (%s): name one with \"project\"", strings.Join(ps, ", "))
		return "", false
	}
	if !slices.Contains(ps, name) {
		writeError(w, http.StatusNotFound, "project %s is not one this daemon serves (%s)", name, strings.Join(ps, ", "))
		return "", false
	}
	return name, true
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Service.Health(); err != nil {
		// The reason may name archives and errors: only the state here,
		// the details are behind the token (/api/v1/status).
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		writeError(w, http.StatusNotFound, "no metrics")
		return
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}
