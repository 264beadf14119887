package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/daemon"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/notify"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// defaultStatusFile is where the daemon and the health check meet, in
// the image's /tmp (or TMPDIR on a host).
func defaultStatusFile() string { return os.TempDir() + "/docker-backup-daemon.json" }

// daemonFlags are the daemon's flags, each also a BACKUP_ variable.
func daemonFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "cron", Value: "@daily", Usage: "When to back up: a cron line of 5 fields (6 with seconds first), or @daily, @hourly, @every 6h; none for no schedule (backups through the API only)"},
		&cli.StringFlag{Name: "tz", Usage: "Time `ZONE` of the schedule and of retention's days (e.g. Europe/Berlin; default: TZ, else local time: UTC in the image)"},
		&cli.DurationFlag{Name: "jitter", Usage: "Delay each scheduled run by a random part of `DURATION` (e.g. 10m), so that many hosts do not hit the storage at once"},
		&cli.BoolFlag{Name: "run-now", Usage: "Also back up once at start"},
		&cli.StringSliceFlag{Name: "project", Usage: "Back up project `NAME` (repeatable; default: the compose project the daemon's own container belongs to)"},
		&cli.StringFlag{Name: "to", Aliases: []string{"o", "output"}, Usage: "Where archives go: a `FOLDER`, file:///path or s3://BUCKET/PREFIX (required)"},
		&cli.StringFlag{Name: "compression", Value: string(archive.Zstd), Usage: "Archive compression: zstd, gzip or none; zstd:LEVEL (1-22) or gzip:LEVEL (1-9)"},
		&cli.StringSliceFlag{Name: "exclude-table", Usage: "Leave out tables matching `PATTERN`"},
		&cli.StringSliceFlag{Name: "exclude-table-data", Usage: "Keep the structure but leave out the rows of tables matching `PATTERN`"},
		&cli.BoolFlag{Name: "stop", Usage: "Cold backups: stop the services, copy every volume raw, start them again"},
		&cli.BoolFlag{Name: "include-bind-mounts", Usage: "Also archive the services' bind mounts; restores through the API then also write those outside the project folder"},
		&cli.BoolFlag{Name: "include-env", Usage: "Also archive the project's .env file (when the daemon can read it)"},
		&cli.StringSliceFlag{Name: "encrypt-to", Aliases: []string{"r"}, Usage: "Encrypt archives with age to `RECIPIENT` (repeatable)"},
		&cli.StringFlag{Name: "recipients-file", Usage: "Encrypt to the recipients listed in `FILE`"},
		&cli.StringFlag{Name: "passphrase-file", Usage: "Encrypt with the passphrase in `FILE` (scrypt)"},
		signFlag(),
		&cli.IntFlag{Name: "keep-last", Usage: "After each backup, keep the `N` newest archives (and those other --keep rules keep); no --keep: never delete"},
		&cli.IntFlag{Name: "keep-hourly", Usage: "Keep the newest archive of each of the last `N` hours that have one"},
		&cli.IntFlag{Name: "keep-daily", Usage: "Keep the newest archive of each of the last `N` days that have one"},
		&cli.IntFlag{Name: "keep-weekly", Usage: "Keep the newest archive of each of the last `N` weeks that have one"},
		&cli.IntFlag{Name: "keep-monthly", Usage: "Keep the newest archive of each of the last `N` months that have one"},
		&cli.IntFlag{Name: "keep-yearly", Usage: "Keep the newest archive of each of the last `N` years that have one"},
		&cli.StringSliceFlag{Name: "notify", Usage: "Send failures to notification `URL`s (shoutrrr: slack://, discord://, telegram://, smtp://, ntfy://, generic+https://...; also BACKUP_NOTIFY_URLS_FILE)"},
		&cli.BoolFlag{Name: "notify-success", Usage: "Also notify successful backups"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "Serve Prometheus metrics on `ADDR` (e.g. :9090), at /metrics; off by default"},
		&cli.StringFlag{Name: "status-file", Value: defaultStatusFile(), Usage: "Write the daemon's status to `FILE`, for the health check"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "Log lines as text or json"},
		contextsFlag("back up the --project projects on each engine where they run, 4 at most at once, each archive named HOST_PROJECT-TIME and pruned per host"),
	}
	flags = append(flags, apiFlags()...)
	flags = append(flags, limitsFlags()...)
	flags = append(flags, storageFlags()...)
	return withEnv(flags, map[string]string{"notify": "BACKUP_NOTIFY_URLS", "sign": signEnv, "trust": trustEnv})
}

func daemonCommand(env *Env) *cli.Command {
	flags := daemonFlags()
	return &cli.Command{
		Name:      "daemon",
		Usage:     "Back up compose projects on a schedule: create, upload, prune; with notifications, metrics and a health check",
		ArgsUsage: " ",
		Description: `The long-running mode of the container image (and of a host under systemd).
Add it to a compose file as one more service, with the docker socket mounted,
and it backs up the project it belongs to (found from its own container's
labels) on the schedule, never itself. Every flag is also an environment
variable, shown in brackets; a BACKUP_ variable that no flag reads is an
error. The S3 settings are read as the AWS tools read them (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY_FILE, ...).
A run never overlaps the previous one: a tick that finds it still going is
skipped and logged. SIGTERM cancels a running backup cleanly (containers
started again, nothing half written) and exits 0.
With --listen, it also serves an HTTP API and a web page: start a backup,
follow it, download, delete, restore a stored or an uploaded archive. Every
route but /healthz needs the bearer token of --api-token-file; without one
the API listens on loopback only, with a token made up for the run and
written to the work folder (see the log).`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("%q accepts no arguments: name projects with --project", env.HelpName+" daemon")
			}
			if err := checkEnv(flags, os.Environ(), env.HelpName+" daemon", "BACKUP_NOTIFY_URLS_FILE"); err != nil {
				return err
			}
			return runDaemon(c, env)
		},
	}
}

// daemonLogger logs one line per record to stderr, as text or JSON.
func daemonLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// daemonSetup is everything the daemon checked at start.
type daemonSetup struct {
	api      *apiSetup
	sched    daemon.Schedule
	store    storage.Backend
	output   string
	policy   retention.Policy
	base     backup.Options
	notifier *notify.Sender
	// limits bound the archives the API restores.
	limits archive.Limits
}

// setupDaemon reads and checks every setting that needs no engine, so
// that a mistake fails at start, in one message.
func setupDaemon(c *cli.Context) (*daemonSetup, error) {
	s := &daemonSetup{}
	var loc *time.Location
	if tz := c.String("tz"); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("--tz (BACKUP_TZ) %q: %w", tz, err)
		}
		loc = l
	} else if tz := os.Getenv("TZ"); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("TZ %q: %w", tz, err)
		}
		loc = l
	} else {
		loc = time.Local
	}
	s.sched = daemon.Schedule{Cron: c.String("cron"), Location: loc, Jitter: c.Duration("jitter")}
	if err := s.sched.Validate(time.Now()); err != nil {
		return nil, err
	}
	to := c.String("to")
	if to == "" {
		return nil, fmt.Errorf("no target: set --to (BACKUP_TO) to a folder, file:///path or s3://BUCKET/PREFIX")
	}
	if to == "-" {
		return nil, fmt.Errorf("--to -: the daemon writes archives to a folder or a bucket, not to stdout")
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	l, err := storage.Parse(to, wd, storage.Folder)
	if err != nil {
		return nil, fmt.Errorf("--to (BACKUP_TO): %w", err)
	}
	if storage.IsArchiveName(l.String()) {
		return nil, fmt.Errorf("--to (BACKUP_TO) %s names an archive: the daemon needs a folder or a prefix, where each run adds one", to)
	}
	cfg, err := storageConfig(c)
	if err != nil {
		return nil, err
	}
	if s.store, err = storage.For(l, cfg); err != nil {
		return nil, err
	}
	s.output = l.String() + "/"
	comp, level, err := archive.ParseCompression(c.String("compression"))
	if err != nil {
		return nil, fmt.Errorf("--compression (BACKUP_COMPRESSION): %w", err)
	}
	rs, err := crypt.Recipients(c.StringSlice("encrypt-to"), c.String("recipients-file"), c.String("passphrase-file"))
	if err != nil {
		return nil, err
	}
	ids, err := crypt.Identities(c.String("identity"), c.String("passphrase-file"))
	if err != nil {
		return nil, err
	}
	key, err := signingKey(c, "--sign ("+signEnv+")")
	if err != nil {
		return nil, err
	}
	if s.api, err = setupAPI(c, ids); err != nil {
		return nil, err
	}
	if s.limits, err = limits(c); err != nil {
		return nil, err
	}
	if s.sched.None() && s.api == nil {
		return nil, fmt.Errorf("--cron (BACKUP_CRON) none without --listen (BACKUP_LISTEN): nothing would ever back up; set a schedule, or serve the API")
	}
	s.policy = retention.Policy{
		Last: c.Int("keep-last"), Hourly: c.Int("keep-hourly"), Daily: c.Int("keep-daily"),
		Weekly: c.Int("keep-weekly"), Monthly: c.Int("keep-monthly"), Yearly: c.Int("keep-yearly"),
		Location: loc,
	}
	for _, n := range []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"} {
		if c.Int(n) < 0 {
			return nil, fmt.Errorf("--%s (%s) %d: it cannot be negative", n, envName(n), c.Int(n))
		}
	}
	urls, err := secretSetting(c, "notify", "BACKUP_NOTIFY_URLS")
	if err != nil {
		return nil, err
	}
	if s.notifier, err = notify.New(urls); err != nil {
		return nil, err
	}
	if c.Bool("notify-success") && s.notifier.Len() == 0 {
		return nil, fmt.Errorf("--notify-success (BACKUP_NOTIFY_SUCCESS) without --notify (BACKUP_NOTIFY_URLS): set where notifications go")
	}
	s.base = backup.Options{
		Storage:           cfg,
		Output:            s.output,
		Compression:       comp,
		CompressionLevel:  level,
		ExcludeTable:      c.StringSlice("exclude-table"),
		ExcludeTableData:  c.StringSlice("exclude-table-data"),
		Stop:              c.Bool("stop"),
		IncludeBindMounts: c.Bool("include-bind-mounts"),
		IncludeEnv:        c.Bool("include-env"),
		Recipients:        rs,
		Sign:              key,
	}
	return s, nil
}

// target is one project the daemon backs up, on one engine.
type target struct {
	// name is the project's, or HOST/PROJECT with --context.
	name    string
	opts    project.Options
	exclude []string
	api     client.APIClient
	// host is the engine's name; multi: one of several engines, whose
	// archives are named and pruned by host.
	host  string
	multi bool
}

// daemonTargets finds the projects: those named, else the daemon's own.
// The daemon's own service is never backed up, whichever way its project
// was chosen.
func daemonTargets(ctx context.Context, api client.APIClient, host string, names []string, log *slog.Logger) ([]target, error) {
	selfProject, selfService := "", ""
	if id := engine.SelfID(); id != "" {
		if info, err := api.ContainerInspect(ctx, id); err == nil && info.Config != nil {
			selfProject = info.Config.Labels[project.LabelProject]
			selfService = info.Config.Labels[project.LabelService]
		}
	}
	if len(names) == 0 {
		if selfProject == "" {
			return nil, fmt.Errorf("no project to back up: run the daemon as a service of the compose project to back up (with /var/run/docker.sock mounted), or name projects with --project (BACKUP_PROJECT)")
		}
		names = []string{selfProject}
	}
	var out []target
	for _, n := range names {
		if slices.ContainsFunc(out, func(t target) bool { return t.name == n }) {
			continue
		}
		po, err := project.Labelled(ctx, api, n)
		if err != nil {
			return nil, fmt.Errorf("--project (BACKUP_PROJECT) %s: %w", n, err)
		}
		t := target{name: po.Name, opts: po, api: api, host: host}
		if po.Name == selfProject && selfService != "" {
			t.exclude = []string{selfService}
		}
		if _, err := project.Load(ctx, api, po); err != nil {
			if po.LabelsOnly {
				return nil, fmt.Errorf("project %s: %w", n, err)
			}
			// Compose files that the daemon can see but not load (a
			// variable only the user's shell had): the labels do.
			log.Warn("compose files unreadable here, the project is found by its containers' labels", "project", n, "err", err)
			t.opts = project.Options{Name: po.Name, LabelsOnly: true}
		}
		out = append(out, t)
	}
	return out, nil
}

func runDaemon(c *cli.Context, env *Env) error {
	ctx := c.Context
	log, err := daemonLogger(env.Stderr, c.String("log-format"))
	if err != nil {
		return err
	}
	s, err := setupDaemon(c)
	if err != nil {
		return err
	}
	var api client.APIClient
	var targets []target
	var host string
	if names := contextNames(c); len(names) > 0 {
		if s.api != nil {
			return fmt.Errorf("--listen with --context: the API serves the engine the daemon runs on; run a daemon on each engine to serve it there")
		}
		if targets, err = remoteTargets(ctx, env, names, c.StringSlice("project")); err != nil {
			return err
		}
		host, _ = os.Hostname()
	} else {
		if api, err = env.Client(ctx); err != nil {
			return err
		}
		info, err := api.Info(ctx)
		if err != nil {
			return fmt.Errorf("cannot reach the Docker engine (is /var/run/docker.sock mounted, and readable by this user?): %w", err)
		}
		host = info.Name
		if targets, err = daemonTargets(ctx, api, info.Name, c.StringSlice("project"), log); err != nil {
			return err
		}
	}
	// The storage answers now, or the daemon does not start: a wrong
	// bucket or key shows at once, not at 3 AM.
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err = s.store.List(lctx)
	cancel()
	if err != nil && !errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("--to (BACKUP_TO): %w", err)
	}
	if s.policy.Empty() {
		log.Warn("no retention set (--keep-*, BACKUP_KEEP_*): archives are never deleted")
	}

	var metrics *daemon.Metrics
	if c.String("metrics-addr") != "" || s.api != nil {
		metrics = daemon.NewMetrics()
	}
	if addr := c.String("metrics-addr"); addr != "" {
		stop, err := serveMetrics(ctx, addr, metrics.Handler(), log)
		if err != nil {
			return err
		}
		defer stop()
	}

	byName := map[string]target{}
	var names []string
	for _, t := range targets {
		byName[t.name] = t
		names = append(names, t.name)
	}
	reg := &jobs.Registry{}
	cfg := daemon.Config{
		Schedule:      s.sched,
		RunNow:        c.Bool("run-now"),
		Projects:      names,
		NotifySuccess: c.Bool("notify-success"),
		Metrics:       metrics,
		StatusFile:    c.String("status-file"),
		Host:          host,
		Logger:        log,
		Parallel:      parallelism(targets),
		// Scheduled runs are jobs too: the API shows them as its own.
		Backup: func(ctx context.Context, name string) (daemon.Outcome, error) {
			var out daemon.Outcome
			_, err := reg.Run(ctx, jobs.Backup, name, "schedule", func(ctx context.Context, j *jobs.Job) (any, error) {
				plog := jobLogger(log, j.Sink(), name)
				t := byName[name]
				lock := lockWith(t.api, "daemon", false, func(holder, project string) {
					plog.Info("waiting for the project's lock", "holder", holder)
				})
				var err error
				out, err = backupOnce(ctx, s, t, plog, j.Sink(), lock)
				return out, err
			})
			return out, err
		},
	}
	if s.notifier.Len() > 0 {
		cfg.Notify = s.notifier
	}
	d, err := daemon.New(cfg)
	if err != nil {
		return err
	}
	if s.api != nil {
		svc := &apiService{api: api, setup: s, targets: byName, names: names, d: d, log: log, workDir: s.api.workDir, ids: s.api.identities, trust: s.api.trust, sched: s.sched}
		srv, err := newAPIServer(ctx, s.api, svc, reg, s, metrics.Handler(), log)
		if err != nil {
			return err
		}
		stop, err := serveAPI(ctx, s.api, srv, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	err = d.Run(ctx)
	// Jobs the API started end with ctx too: their cleanup is waited for.
	reg.Wait()
	return err
}

// backupOnce is one scheduled backup of one project: create (to the
// storage), then prune by the policy.
func backupOnce(ctx context.Context, s *daemonSetup, t target, log *slog.Logger, sink event.Sink, lock backup.Locker) (daemon.Outcome, error) {
	api := t.api
	opts := s.base
	opts.Project = t.opts
	opts.Host, opts.NameWithHost = t.host, t.multi
	opts.Exclude = t.exclude
	opts.Logger = log
	opts.Progress = backup.Events{Sink: sink, Log: log}
	opts.Lock = lock
	opts.JobGone = jobGone(api)
	res, err := backup.Create(ctx, api, engine.New(api), opts)
	if err != nil {
		return daemon.Outcome{}, err
	}
	out := daemon.Outcome{Archive: res.Path, Size: res.Size}
	if s.policy.Empty() {
		return out, nil
	}
	prune := retention.PruneOptions{Project: res.Project, Policy: s.policy}
	if t.multi {
		prune.Host = t.host
	}
	plan, err := retention.Plan(ctx, s.store, prune)
	if err != nil {
		return out, fmt.Errorf("backup written to %s, but prune failed: %w", res.Path, err)
	}
	deleted, err := retention.Execute(ctx, s.store, plan)
	for _, d := range deleted {
		if d.Error == "" {
			out.Pruned++
			log.Info("pruned", "archive", d.Name)
		}
	}
	if err != nil {
		return out, fmt.Errorf("backup written to %s, but prune failed: %w", res.Path, err)
	}
	return out, nil
}

// parallelism is how many projects a tick backs up at once: one per
// engine, up to maxEngines. The projects of one engine go one after the
// other, as they always did: they share its disks and CPUs.
func parallelism(targets []target) int {
	hosts := map[string]bool{}
	for _, t := range targets {
		hosts[t.host] = true
	}
	return max(min(len(hosts), maxEngines), 1)
}

// serveMetrics serves h at /metrics on addr until stop.
func serveMetrics(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr (BACKUP_METRICS_ADDR) %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("metrics served", "addr", ln.Addr().String(), "path", "/metrics")
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// remoteTargets finds the named projects on the engines of the docker
// contexts: each where it runs. A project found on none is an error, and
// so is an engine that does not answer at start.
func remoteTargets(ctx context.Context, env *Env, contexts, projects []string) ([]target, error) {
	if len(projects) == 0 {
		return nil, fmt.Errorf("--context (BACKUP_CONTEXT) needs --project (BACKUP_PROJECT): the projects to back up on those engines")
	}
	rs, err := remotes(env, contexts)
	if err != nil {
		return nil, err
	}
	ids := &engineIDs{}
	found := map[string]bool{}
	var out []target
	for _, r := range rs {
		host, err := engineName(ctx, r, ids)
		if err != nil {
			return nil, err
		}
		for _, n := range projects {
			po, err := project.Labelled(ctx, r.API, n)
			if errors.Is(err, project.ErrNoProject) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("context %s: %w", r.Context, err)
			}
			found[n] = true
			name := host + "/" + po.Name
			if slices.ContainsFunc(out, func(t target) bool { return t.name == name }) {
				continue
			}
			// Compose files are on the engine's host, not here: the
			// containers' labels describe the project.
			out = append(out, target{name: name, opts: project.Options{Name: po.Name, LabelsOnly: true}, api: r.API, host: host, multi: true})
		}
	}
	for _, n := range projects {
		if !found[n] {
			return nil, fmt.Errorf("--project (BACKUP_PROJECT) %s runs on none of the engines of contexts %s: check the name with docker --context NAME compose ls -a", n, strings.Join(contexts, ", "))
		}
	}
	return out, nil
}
