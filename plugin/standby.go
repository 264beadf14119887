package plugin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/daemon"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/notify"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/standby"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// followFlags say what a standby follows: shared by standby and promote.
func followFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "from", Usage: "The `LOCATION` the primary backs up to: a folder, file:///path or s3://BUCKET/PREFIX (default for --status and promote: the one the standby follows)"},
		&cli.StringFlag{Name: "source-project", Usage: "Follow the archives of project `NAME` (default: this project's name)"},
		&cli.StringFlag{Name: "source-host", Usage: "Follow only the archives of `HOST`, the primary engine's name (see ls)"},
		&cli.StringFlag{Name: "work-dir", Usage: "Download archives into `DIR`, and keep the safety backup there while a restore runs (default ./backups)"},
		preserveSpecialFlag(),
		trustFlag("Its signature is NAME.sig beside it (or its index's copy); an archive without one, or signed by another key, is never downloaded nor applied."),
	}, limitsFlags()...)
}

func standbyCommand(env *Env) *cli.Command {
	flags := append(append(append(projectFlags(), identityFlags()...), followFlags()...),
		&cli.DurationFlag{Name: "interval", Value: time.Minute, Usage: "Look for a new archive every `DURATION`"},
		&cli.BoolFlag{Name: "once", Usage: "Look once, apply the newest archive if it is new, and exit"},
		&cli.BoolFlag{Name: "status", Usage: "Show what this host applied, the newest archive, the lag and whether it was promoted; then exit"},
		&cli.BoolFlag{Name: "json", Usage: "With --status or --once: print the result as JSON on stdout"},
		&cli.StringSliceFlag{Name: "notify", Usage: "Send failed restores to notification `URL`s (as the daemon's --notify)"},
		&cli.BoolFlag{Name: "notify-success", Usage: "Also notify each archive applied"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "Serve Prometheus metrics on `ADDR`, at /metrics (the lag among them); off by default"},
		&cli.StringFlag{Name: "status-file", Value: defaultStatusFile(), Usage: "Write the status to `FILE`, for the health check"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "Log lines as text or json"},
	)
	flags = withEnv(append(flags, storageFlags()...), map[string]string{"notify": "BACKUP_NOTIFY_URLS", "trust": trustEnv})
	return &cli.Command{
		Name:      "standby",
		Usage:     "Keep this host a warm standby: restore each new archive of the project as it appears",
		ArgsUsage: " ",
		Description: `Run on the standby host, in the project's folder (its compose files are
needed to create the project the first time). Every --interval it lists
--from; when the newest complete archive of the project is newer than the
one applied, it downloads and verifies it, and restores it with the app
kept down: only the database services run on a standby. What was applied
is recorded on the engine (container docker-backup-standby-PROJECT), so a
restart resumes where it was and an older archive never replaces a newer
one. A restore that fails is rolled back and tried again at the next look;
failures are notified as the daemon's are. After 'docker backup promote'
it does nothing. Every flag is also a BACKUP_ variable.`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("%q accepts no arguments", env.HelpName+" standby")
			}
			if c.Bool("json") && !c.Bool("status") && !c.Bool("once") {
				return fmt.Errorf("--json goes with --status or --once")
			}
			if c.Bool("status") {
				return standbyStatus(c, env)
			}
			return runStandby(c, env)
		},
	}
}

func promoteCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "promote",
		Usage:     "End the standby: apply the newest archive, start the whole project, and never restore over it again",
		ArgsUsage: " ",
		Description: `Run on the standby host when the primary is lost. It marks the project as
being promoted (a standby still running stops touching it), waits for a
restore under way, applies the newest archive unless --no-catch-up, starts
every service, and records the promotion on the engine ('docker backup
standby --status' shows it). A restore that was interrupted halfway
(its process killed) is applied again by the catch-up; with --no-catch-up
promote refuses to start such data unless --force.`,
		Flags: append(append(append(append(projectFlags(), identityFlags()...), followFlags()...),
			&cli.BoolFlag{Name: "no-catch-up", Usage: "Start the project with the data it holds, without applying the newest archive first"},
			&cli.BoolFlag{Name: "force", Usage: "Start the project even though a restore was interrupted halfway"},
			&cli.BoolFlag{Name: "no-wait", Usage: "Fail at once if a restore or backup of the project runs"},
			&cli.BoolFlag{Name: "json", Usage: "Print the result as JSON on stdout"},
		), storageFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("%q accepts no arguments", env.HelpName+" promote")
			}
			log := newLogger(env.Stderr)
			need := storeNeeded
			if c.Bool("no-catch-up") {
				need = storeNone
			}
			f, err := newFollower(c, env, log, "promote", c.Bool("no-wait"), need)
			if err != nil {
				return err
			}
			res, err := f.Promote(c.Context, standby.PromoteOptions{NoCatchUp: c.Bool("no-catch-up"), Force: c.Bool("force")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(env.Stdout, res)
			}
			switch {
			case res.Already:
				fmt.Fprintf(env.Stderr, "project %s was promoted already, at %s\n", res.Project, res.Since.Format(time.RFC3339))
			case res.CaughtUp:
				fmt.Fprintf(env.Stderr, "project %s promoted: caught up with %s (taken %s), every service started\n", res.Project, res.Applied.Name, res.Applied.CreatedAt.Format(time.RFC3339))
			case res.Applied != nil:
				fmt.Fprintf(env.Stderr, "project %s promoted with %s (taken %s), every service started\n", res.Project, res.Applied.Name, res.Applied.CreatedAt.Format(time.RFC3339))
			default:
				fmt.Fprintf(env.Stderr, "project %s promoted (no archive was ever applied to it), every service started\n", res.Project)
			}
			return nil
		},
	}
}

// followStore says whether a command reads the storage followed.
type followStore int

const (
	// storeNone: only --from (promote --no-catch-up starts without it).
	storeNone followStore = iota
	// storeKnown: --from, else the one the standby follows, if any.
	storeKnown
	// storeNeeded: --from, else the one the standby follows; an error
	// when there is neither.
	storeNeeded
)

// newFollower reads the flags shared by standby and promote.
func newFollower(c *cli.Context, env *Env, log *slog.Logger, verb string, noWait bool, need followStore) (*standby.Follower, error) {
	ctx := c.Context
	api, err := env.Client(ctx)
	if err != nil {
		return nil, err
	}
	po := projectOptions(c)
	p, err := project.Load(ctx, api, po)
	if err != nil {
		return nil, err
	}
	marker := &standby.Marker{API: api, Project: p.Name}
	from := c.String("from")
	if from == "" && need != storeNone {
		st, err := marker.Read(ctx)
		if err != nil {
			return nil, err
		}
		if st.Source == "" && need == storeNeeded {
			return nil, fmt.Errorf("project %s has never been a standby here: give --from LOCATION, where the primary's archives are", p.Name)
		}
		from = st.Source
	}
	var store storage.Backend
	if from != "" {
		if store, err = openLocation(c, from, "--from"); err != nil {
			return nil, err
		}
	}
	ids, err := identities(c)
	if err != nil {
		return nil, err
	}
	lim, err := limits(c)
	if err != nil {
		return nil, err
	}
	trust, err := trustList(c)
	if err != nil {
		return nil, err
	}
	dir := c.String("work-dir")
	if dir == "" {
		wd, err := workDir(c)
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(wd, backup.DefaultDir)
	}
	var exclude []string
	if self := selfService(ctx, api, p.Name); self != "" {
		exclude = []string{self}
	}
	return &standby.Follower{
		Project: p.Name, Source: c.String("source-project"), Host: c.String("source-host"),
		Store: store, Marker: marker, Log: log,
		Applier: &standby.Restorer{
			API: api, Engine: engine.New(api), Store: store, Project: p.Name, Dir: dir,
			Options: restore.Options{
				Project: po, Compose: composeRunner(env, po), Exclude: exclude, Identities: ids, Limits: lim, Trust: trust,
				PreserveSpecial: c.Bool("preserve-special"),
				Logger:          log, Progress: backup.Events{Log: log}, Events: logEvents(log), JobGone: jobGone(api),
				Lock: lockWith(api, verb, noWait, func(holder, project string) {
					log.Info("waiting for the project's lock", "holder", holder, "project", project)
				}),
			},
		},
	}, nil
}

// openLocation opens a folder or bucket given by flag.
func openLocation(c *cli.Context, loc, flag string) (storage.Backend, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	l, err := storage.Parse(loc, wd, storage.Folder)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	cfg, err := storageConfig(c)
	if err != nil {
		return nil, err
	}
	return storage.For(l, cfg)
}

// selfService is this process's own service when it runs as a container
// of project: it is never stopped nor restored.
func selfService(ctx context.Context, api client.APIClient, name string) string {
	id := engine.SelfID()
	if id == "" {
		return ""
	}
	info, err := api.ContainerInspect(ctx, id)
	if err != nil || info.Config == nil || info.Config.Labels[project.LabelProject] != name {
		return ""
	}
	return info.Config.Labels[project.LabelService]
}

// logEvents logs a restore's messages and warnings.
func logEvents(log *slog.Logger) event.Sink {
	return func(e event.Event) {
		switch e.Type {
		case event.Message:
			log.Info(e.Message)
		case event.PlanReady:
			if e.Plan != nil {
				for _, n := range e.Plan.Notes {
					log.Info("plan: " + n)
				}
			}
		}
	}
}

func runStandby(c *cli.Context, env *Env) error {
	ctx := c.Context
	log, err := daemonLogger(env.Stderr, c.String("log-format"))
	if err != nil {
		return err
	}
	if c.String("from") == "" {
		return fmt.Errorf("no storage to follow: set --from (BACKUP_FROM) to where the primary backs up (a folder, file:///path or s3://BUCKET/PREFIX)")
	}
	if c.Duration("interval") < time.Second {
		return fmt.Errorf("--interval (BACKUP_INTERVAL) %s: give at least 1s", c.Duration("interval"))
	}
	urls, err := secretSetting(c, "notify", "BACKUP_NOTIFY_URLS")
	if err != nil {
		return err
	}
	notifier, err := notify.New(urls)
	if err != nil {
		return err
	}
	f, err := newFollower(c, env, log, "standby", false, storeNeeded)
	if err != nil {
		return err
	}
	if c.Bool("once") {
		out, err := f.Poll(ctx)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(env.Stdout, out)
		}
		if out.Applied != nil {
			fmt.Fprintf(env.Stderr, "applied %s (taken %s)\n", out.Applied.Name, out.Applied.CreatedAt.Format(time.RFC3339))
		} else {
			fmt.Fprintln(env.Stderr, out.Why)
		}
		return nil
	}
	// The storage answers now, or the standby does not start.
	if _, err := f.Newest(ctx); err != nil {
		return fmt.Errorf("--from (BACKUP_FROM): %w", err)
	}
	api, err := env.Client(ctx)
	if err != nil {
		return err
	}
	info, err := api.Info(ctx)
	if err != nil {
		return fmt.Errorf("cannot reach the Docker engine: %w", err)
	}
	var metrics *daemon.Metrics
	if addr := c.String("metrics-addr"); addr != "" {
		metrics = daemon.NewMetrics()
		f.Metrics = standby.NewMetrics(metrics.Registry(), f.Project, nil)
		stop, err := serveMetrics(ctx, addr, metrics.Handler(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg := daemon.Config{
		Schedule:      daemon.Schedule{Cron: "@every " + c.Duration("interval").String(), Location: time.UTC},
		RunNow:        true,
		Projects:      []string{f.Project},
		NotifySuccess: c.Bool("notify-success"),
		Metrics:       metrics,
		StatusFile:    c.String("status-file"),
		Host:          info.Name,
		Action:        "standby restore",
		Polls:         true,
		Logger:        log,
		Backup: func(ctx context.Context, _ string) (daemon.Outcome, error) {
			out, err := f.Poll(ctx)
			if err != nil {
				return daemon.Outcome{}, err
			}
			if out.Applied == nil {
				return daemon.Outcome{Idle: out.Why}, nil
			}
			return daemon.Outcome{Archive: out.Applied.Name}, nil
		},
	}
	if notifier.Len() > 0 {
		cfg.Notify = notifier
	}
	d, err := daemon.New(cfg)
	if err != nil {
		return err
	}
	log.Info("standby", "project", f.Project, "from", f.Store.Location(), "interval", c.Duration("interval").String())
	return d.Run(ctx)
}

func standbyStatus(c *cli.Context, env *Env) error {
	f, err := newFollower(c, env, slog.New(slog.DiscardHandler), "standby", true, storeKnown)
	if err != nil {
		return err
	}
	s, err := f.Status(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(env.Stdout, s)
	}
	printStatus(env.Stdout, s)
	return nil
}

func printStatus(w io.Writer, s *standby.Status) {
	mode := string(s.Mode)
	if s.Mode == standby.ModeNone {
		mode = "not a standby"
	}
	if !s.Since.IsZero() {
		mode += " since " + s.Since.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "project:   %s\nmode:      %s\n", s.Project, mode)
	if s.Source != "" {
		src := s.Source + ", project " + s.SourceProject
		if s.SourceHost != "" {
			src += ", host " + s.SourceHost
		}
		fmt.Fprintf(w, "source:    %s\n", src)
	}
	age := func(sec float64) string { return time.Duration(sec * float64(time.Second)).Round(time.Second).String() }
	if a := s.Applied; a != nil {
		fmt.Fprintf(w, "applied:   %s (taken %s, %s ago; applied %s)\n", a.Name, a.CreatedAt.Format(time.RFC3339), age(s.AppliedAgeSeconds), a.AppliedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "applied:   nothing yet")
	}
	if a := s.Applying; a != nil {
		fmt.Fprintf(w, "applying:  %s since %s (under way, or interrupted: the next look applies the newest archive again)\n", a.Name, a.Since.Format(time.RFC3339))
	}
	if n := s.Newest; n != nil {
		fmt.Fprintf(w, "newest:    %s (taken %s, %s ago)\n", n.Name, n.CreatedAt.Format(time.RFC3339), age(s.NewestAgeSeconds))
		if s.LagSeconds == 0 {
			fmt.Fprintln(w, "lag:       0s (caught up)")
		} else {
			fmt.Fprintf(w, "lag:       %s\n", age(s.LagSeconds))
		}
	}
}
