package plugin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/docker/docker/client"
	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/api"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/daemon"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/version"
)

// apiFlags are the daemon's flags of the HTTP API.
func apiFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Usage: "Serve the HTTP API and the web page on `ADDR` (e.g. 127.0.0.1:8080, or :8080 with a token); off by default"},
		&cli.StringFlag{Name: "api-token-file", Usage: "The API's bearer token is the content of `FILE` (at least 16 characters); needed to listen on anything but loopback"},
		&cli.StringFlag{Name: "tls-cert", Usage: "Serve the API over HTTPS with the certificate in `FILE` (PEM, with --tls-key)"},
		&cli.StringFlag{Name: "tls-key", Usage: "The private key of --tls-cert, in `FILE` (PEM)"},
		&cli.StringFlag{Name: "max-upload-size", Value: "100g", Usage: "Refuse uploaded archives over `SIZE` (e.g. 500m, 20g)"},
		&cli.StringFlag{Name: "work-dir", Usage: "Keep uploads, downloads and the restores' safety backups in `DIR` (default: a docker-backup folder in the temporary folder)"},
		&cli.StringFlag{Name: "identity", Aliases: []string{"i"}, Usage: "Decrypt archives to restore with the age identity or SSH private key in `FILE`"},
		trustFlag("The API then restores only archives so signed: an unsigned one, or one signed by another key, is refused before it is read."),
	}
}

// apiSetup is the API's settings, checked at start.
type apiSetup struct {
	addr       string
	token      string
	tokenFile  string
	generated  bool
	tls        *tls.Config
	maxUpload  int64
	workDir    string
	identities []age.Identity
	// trust are the keys the archives it restores must be signed by.
	trust *sign.Trust
}

// isLoopback tells whether a listen address only answers this host.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// setupAPI reads the API's settings; nil when --listen is not set.
func setupAPI(c *cli.Context, ids []age.Identity) (*apiSetup, error) {
	addr := c.String("listen")
	if addr == "" {
		for _, f := range []string{"api-token-file", "tls-cert", "tls-key", "trust"} {
			if c.IsSet(f) {
				v := envName(f)
				if f == "trust" {
					v = trustEnv
				}
				return nil, fmt.Errorf("--%s (%s) without --listen (BACKUP_LISTEN): set the address to serve the API on", f, v)
			}
		}
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("--listen (BACKUP_LISTEN) %q: give HOST:PORT, e.g. 127.0.0.1:8080 or :8080", addr)
	}
	s := &apiSetup{addr: addr, identities: ids}
	trust, err := trustList(c)
	if err != nil {
		return nil, err
	}
	s.trust = trust
	s.workDir = c.String("work-dir")
	if s.workDir == "" {
		s.workDir = filepath.Join(os.TempDir(), "docker-backup")
	}
	if err := os.MkdirAll(s.workDir, 0o700); err != nil {
		return nil, fmt.Errorf("--work-dir (BACKUP_WORK_DIR): %w", err)
	}
	n, err := units.RAMInBytes(c.String("max-upload-size"))
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("--max-upload-size (BACKUP_MAX_UPLOAD_SIZE) %q: give a size such as 500m or 20g", c.String("max-upload-size"))
	}
	s.maxUpload = n
	if f := c.String("api-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--api-token-file (BACKUP_API_TOKEN_FILE): %w", err)
		}
		s.token, s.tokenFile = strings.TrimSpace(string(b)), f
		if len(s.token) < 16 {
			return nil, fmt.Errorf("--api-token-file (BACKUP_API_TOKEN_FILE) %s holds %d characters: use at least 16 (e.g. openssl rand -hex 32 > %s)", f, len(s.token), f)
		}
	} else {
		if !isLoopback(addr) {
			return nil, fmt.Errorf("--listen (BACKUP_LISTEN) %s answers other hosts: set --api-token-file (BACKUP_API_TOKEN_FILE), or listen on 127.0.0.1 only", addr)
		}
		// Loopback without a token still needs one: every route that
		// reads or changes data is behind it. It is made up here and
		// written where only this user reads it.
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		s.token, s.generated = hex.EncodeToString(b), true
		s.tokenFile = filepath.Join(s.workDir, "api-token")
		if err := os.WriteFile(s.tokenFile, []byte(s.token+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing the API token: %w", err)
		}
	}
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key (BACKUP_TLS_CERT, BACKUP_TLS_KEY) go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// apiService is the daemon's side of the API: its projects, backed up
// and restored as the CLI does.
type apiService struct {
	api     client.APIClient
	setup   *daemonSetup
	targets map[string]target
	names   []string
	d       *daemon.Daemon
	log     *slog.Logger
	workDir string
	ids     []age.Identity
	trust   *sign.Trust
	sched   daemon.Schedule
}

func (s *apiService) Projects() []string { return s.names }

func (s *apiService) Lock(ctx context.Context, project string) (context.Context, func(), error) {
	return lockWith(s.api, "api", true, func(string, string) {})(ctx, project)
}

// jobLogger logs a job's run to the daemon's log and reports its
// warnings as the job's events.
func jobLogger(log *slog.Logger, sink event.Sink, project string) *slog.Logger {
	return slog.New(event.Handler(log.Handler(), sink)).With("project", project)
}

func (s *apiService) Backup(ctx context.Context, project string, lock backup.Locker, sink event.Sink) (any, error) {
	log := jobLogger(s.log, sink, project)
	return s.d.BackupNow(ctx, project, "api", func(ctx context.Context, name string) (daemon.Outcome, error) {
		return backupOnce(ctx, s.setup, s.targets[name], log, sink, lock)
	})
}

func (s *apiService) PrepareRestore(ctx context.Context, req api.RestoreRequest, lock backup.Locker, sink event.Sink) (api.Prepared, error) {
	pr, err := restore.Prepare(ctx, s.api, engine.New(s.api), s.restoreOptions(req, lock, sink))
	if err != nil {
		return nil, err
	}
	return preparedRestore{pr}, nil
}

// restoreOptions are those of a restore asked for through the API: what
// the caller may choose (force, no safety backup) and the rest from the
// daemon's settings.
func (s *apiService) restoreOptions(req api.RestoreRequest, lock backup.Locker, sink event.Sink) restore.Options {
	t := s.targets[req.Project]
	log := jobLogger(s.log, sink, req.Project)
	f, _ := req.Verified.(*restore.Fetched)
	return restore.Options{
		Project:        t.opts,
		Archive:        req.Path,
		Fetched:        f,
		Force:          req.Force,
		NoSafetyBackup: req.NoSafetyBackup,
		// The operator's choice, not the caller's: a token holder may
		// not write host paths the daemon was not told to back up.
		IncludeBindMounts: s.setup.base.IncludeBindMounts,
		SafetyDir:         filepath.Join(s.workDir, "safety"),
		Identities:        s.ids,
		Limits:            s.setup.limits,
		Trust:             s.trust,
		Lock:              lock,
		JobGone:           jobGone(s.api),
		Exclude:           t.exclude,
		Events:            sink,
		Progress:          backup.Events{Sink: sink, Log: log},
		Logger:            log,
	}
}

type preparedRestore struct{ *restore.Prepared }

func (p preparedRestore) Apply(ctx context.Context) (any, error) { return p.Prepared.Apply(ctx) }

func (s *apiService) Health() error {
	st := s.d.Status()
	return daemon.Health(&st, time.Now())
}

func (s *apiService) Schedule() api.Schedule {
	st := s.d.Status()
	out := api.Schedule{Cron: s.sched.Cron}
	if !s.sched.None() {
		out.TimeZone = st.TimeZone
	}
	if !st.NextRun.IsZero() {
		next := st.NextRun
		out.NextRun = &next
	}
	return out
}

// serveAPI serves the API until ctx ends, then lets requests in flight
// finish for a while; the jobs themselves end with ctx.
func serveAPI(ctx context.Context, a *apiSetup, srv *api.Server, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return nil, fmt.Errorf("--listen (BACKUP_LISTEN) %s: %w", a.addr, err)
	}
	// No ReadTimeout nor WriteTimeout: an upload of many GB and a job's
	// event stream last as long as they need. The API cuts a body that
	// stalls or trickles itself (api.Config's Upload* settings).
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, TLSConfig: a.tls,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if a.tls != nil {
		scheme = "https"
	}
	go func() {
		var err error
		if a.tls != nil {
			err = hs.ServeTLS(ln, "", "")
		} else {
			err = hs.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server", "err", err)
		}
	}()
	attrs := []any{"url", scheme + "://" + ln.Addr().String() + "/", "token_file", a.tokenFile}
	if a.generated {
		attrs = append(attrs, "note", "no --api-token-file: a token was made up for this run (loopback only)")
	}
	log.Info("API served", attrs...)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}, nil
}

func newAPIServer(ctx context.Context, a *apiSetup, svc *apiService, reg *jobs.Registry, s *daemonSetup, metrics http.Handler, log *slog.Logger) (*api.Server, error) {
	return api.New(ctx, api.Config{
		Service: svc, Store: s.store, Jobs: reg, Token: a.token, Identities: a.identities, Limits: s.limits, Trust: a.trust, WorkDir: a.workDir,
		MaxUpload: a.maxUpload, Metrics: metrics, Version: version.Version, Logger: log,
	})
}
