// Package daemon runs backups on a schedule: the long-running mode of the
// container image (and of a host under systemd). Each tick backs up every
// project in turn (create, upload, prune: the Backup function the caller
// gives), never two ticks at once, and reports each run to the logs, the
// metrics, the status file the health check reads, and the notification
// services.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/errgroup"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/notify"
)

// Outcome is what one project's run produced.
type Outcome struct {
	// Archive is where the archive went: its URL or path.
	Archive string `json:"archive"`
	Size    int64  `json:"size"`
	// Pruned counts the archives retention deleted after it.
	Pruned int `json:"pruned"`
	// Idle says why the run had nothing to do (a standby poll that found
	// no new archive): logged at debug level, never notified.
	Idle string `json:"idle,omitempty"`
}

// BackupFunc backs up one project: create, upload, prune. A cancelled
// ctx (SIGTERM) must leave nothing half done: containers started again,
// no incomplete archive.
type BackupFunc func(ctx context.Context, project string) (Outcome, error)

// Notifier delivers a notification (notify.Sender in production).
type Notifier interface {
	Send(ctx context.Context, m notify.Message) error
}

// Config is a daemon's whole configuration.
type Config struct {
	Schedule Schedule
	// RunNow takes one backup at start, besides the schedule.
	RunNow   bool
	Projects []string
	Backup   BackupFunc
	// Notify receives failures, and successes when NotifySuccess is set;
	// nil for none.
	Notify        Notifier
	NotifySuccess bool
	// Metrics, nil for none.
	Metrics *Metrics
	// StatusFile is where the status is written for the health check;
	// "" for nowhere.
	StatusFile string
	// Host names this host in notifications: the engine's name.
	Host string
	// Action names a run in logs and notifications: "backup" (the
	// default), or "standby restore".
	Action string
	// Parallel bounds how many projects a tick backs up at once (on
	// several engines); 0 or 1: one after the other.
	Parallel int
	// Polls: the runs are polls, frequent and mostly with nothing to do;
	// their start is logged at debug level.
	Polls  bool
	Clock  clockwork.Clock
	Logger *slog.Logger
	// Rand draws the jitter; nil for math/rand.
	Rand func(n int64) int64
}

// Daemon is a running schedule.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	clock   clockwork.Clock
	running atomic.Bool
	runs    sync.WaitGroup

	mu       sync.Mutex
	job      gocron.Job
	status   Status
	stopping bool
}

// New checks cfg and prepares the schedule; nothing runs before Run.
func New(cfg Config) (*Daemon, error) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Int64N
	}
	if cfg.Action == "" {
		cfg.Action = "backup"
	}
	if len(cfg.Projects) == 0 {
		return nil, fmt.Errorf("no project to back up")
	}
	if cfg.Backup == nil {
		return nil, fmt.Errorf("no backup function")
	}
	now := cfg.Clock.Now()
	if err := cfg.Schedule.Validate(now); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, clock: cfg.Clock}
	d.status = Status{
		PID:       os.Getpid(),
		StartedAt: now.UTC(),
		Schedule:  cfg.Schedule.Cron,
		TimeZone:  cfg.Schedule.location().String(),
		Interval:  cfg.Schedule.Interval(now),
		Jitter:    cfg.Schedule.Jitter,
		Projects:  map[string]*ProjectStatus{},
	}
	for _, p := range cfg.Projects {
		d.status.Projects[p] = &ProjectStatus{}
		if cfg.Metrics != nil {
			cfg.Metrics.project(p)
		}
	}
	return d, nil
}

// Run runs the schedule until ctx ends. A run going on then is cancelled
// through its context and waited for (its cleanup restarts containers
// and removes what it wrote); Run returns nil once it is over.
func (d *Daemon) Run(ctx context.Context) error {
	sched, err := gocron.NewScheduler(
		gocron.WithClock(d.clock),
		gocron.WithLocation(d.cfg.Schedule.location()),
		gocron.WithStopTimeout(time.Minute),
	)
	if err != nil {
		return err
	}
	if !d.cfg.Schedule.None() {
		def, dst := d.cfg.Schedule.definition()
		// The overlap check is ours, not gocron's singleton mode, so that
		// a skipped tick is logged and counted.
		job, err := sched.NewJob(def, gocron.NewTask(func() { d.tick(ctx, "schedule") }), dst, gocron.WithName("backup"))
		if err != nil {
			return fmt.Errorf("--cron %q: %w", d.cfg.Schedule.Cron, err)
		}
		d.mu.Lock()
		d.job = job
		d.mu.Unlock()
	}
	sched.Start()
	d.updateNext()
	d.log.Info("daemon started", "schedule", d.cfg.Schedule.Cron, "tz", d.cfg.Schedule.location().String(),
		"jitter", d.cfg.Schedule.Jitter.String(), "projects", d.cfg.Projects, "next", d.next())
	d.save()
	if d.cfg.RunNow {
		go d.tick(ctx, "start (--run-now)")
	} else {
		d.pageOut() // the start-up's code is not needed again
	}
	<-ctx.Done()
	d.log.Info("stopping: waiting for the run in progress to end", "running", d.running.Load())
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.runs.Wait()
	// gocron's own wait covers a tick that began as ctx ended.
	if err := sched.Shutdown(); err != nil {
		d.log.Warn("scheduler shutdown", "err", err)
	}
	d.log.Info("daemon stopped")
	return nil
}

// tick runs one scheduled (or --run-now) backup of every project, unless
// one is still going.
func (d *Daemon) tick(ctx context.Context, why string) {
	if ctx.Err() != nil || !d.begin() {
		return
	}
	defer d.runs.Done()
	if !d.running.CompareAndSwap(false, true) {
		// A poll (standby) that finds the restore still going is the
		// normal case, not a warning.
		level := slog.LevelWarn
		if d.cfg.Polls {
			level = slog.LevelDebug
		}
		d.log.Log(ctx, level, "run skipped: the previous run is still going", "trigger", why)
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.skipped.Inc()
		}
		return
	}
	d.save()
	defer func() {
		d.updateNext()
		// The daemon idles between runs far longer than it runs: the
		// run's buffers (compression windows, upload parts) go back to
		// the system rather than staying in the heap until the next one,
		// and so do the pages of code only the run needed.
		debug.FreeOSMemory()
		d.pageOut()
		d.running.Store(false)
		d.save()
	}()
	if j := d.cfg.Schedule.Jitter; j > 0 && why == "schedule" {
		wait := time.Duration(d.cfg.Rand(int64(j)))
		d.log.Info("waiting before the run (jitter)", "wait", wait.Round(time.Second).String())
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(wait):
		}
	}
	var g errgroup.Group
	g.SetLimit(max(d.cfg.Parallel, 1))
	for _, p := range d.cfg.Projects {
		if ctx.Err() != nil {
			break
		}
		// One project's failure is its own: the others go on.
		g.Go(func() error {
			d.runProject(ctx, p, why, d.cfg.Backup)
			return nil
		})
	}
	_ = g.Wait()
}

// ErrStopping: the daemon is stopping and starts nothing more.
var ErrStopping = errors.New("the daemon is stopping")

// BackupNow runs fn as a backup of project outside the schedule (the
// API's): recorded in the status and the metrics, and notified, as a
// scheduled run is. The daemon's stop waits for it.
func (d *Daemon) BackupNow(ctx context.Context, project, trigger string, fn BackupFunc) (Outcome, error) {
	if !d.begin() {
		return Outcome{}, ErrStopping
	}
	defer d.runs.Done()
	return d.runProject(ctx, project, trigger, fn)
}

// begin counts a run in, unless the daemon is stopping: Run waits for
// every run counted.
func (d *Daemon) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return false
	}
	d.runs.Add(1)
	return true
}

func (d *Daemon) runProject(ctx context.Context, project, why string, backup BackupFunc) (Outcome, error) {
	log := d.log.With("project", project)
	level := slog.LevelInfo
	if d.cfg.Polls {
		level = slog.LevelDebug
	}
	log.Log(ctx, level, d.cfg.Action+" started", "trigger", why)
	r := &RunStatus{Start: d.clock.Now().UTC()}
	out, err := backup(ctx, project)
	r.End = d.clock.Now().UTC()
	r.Archive, r.Size = out.Archive, out.Size
	took := r.End.Sub(r.Start)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped by SIGTERM: not a failure of the backup, and the
			// next start takes a new one.
			msg := d.cfg.Action + " cancelled: the daemon is stopping"
			if why == "api" {
				msg = d.cfg.Action + " cancelled" // by a client, or by the stop
			}
			log.Warn(msg, "err", err)
			return out, err
		}
		r.Error = err.Error()
		log.Error(d.cfg.Action+" failed", "err", err, "seconds", took.Seconds())
	} else {
		r.Succeeded = true
		if out.Idle != "" {
			log.Debug("nothing to do", "why", out.Idle)
		} else {
			log.Info(d.cfg.Action+" done", "archive", out.Archive, "bytes", out.Size, "pruned", out.Pruned, "seconds", took.Seconds())
		}
	}
	d.mu.Lock()
	ps := d.status.Projects[project]
	ps.LastRun = r
	if r.Succeeded {
		ps.LastSuccess = r
	}
	d.mu.Unlock()
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.record(project, r)
	}
	d.save()
	if d.cfg.Notify != nil && (!r.Succeeded || d.cfg.NotifySuccess && out.Idle == "") {
		// A notification is never the backup's failure, nor a reason to
		// hold the next one: bounded, logged, dropped.
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notify.Timeout+5*time.Second)
		defer cancel()
		if err := d.cfg.Notify.Send(nctx, d.message(project, r, out)); err != nil {
			log.Warn("notification not delivered", "err", err)
		}
	}
	return out, err
}

// message is the notification of one run.
func (d *Daemon) message(project string, r *RunStatus, out Outcome) notify.Message {
	took := r.End.Sub(r.Start).Round(time.Second)
	if !r.Succeeded {
		return notify.Message{
			Title: fmt.Sprintf("docker-backup: %s of %s on %s FAILED", d.cfg.Action, project, d.cfg.Host),
			Body: fmt.Sprintf("The %s of project %s on host %s failed after %s.\nError: %s\nStarted: %s",
				d.cfg.Action, project, d.cfg.Host, took, r.Error, r.Start.Format(time.RFC3339)),
		}
	}
	return notify.Message{
		Title: fmt.Sprintf("docker-backup: %s of %s on %s succeeded", d.cfg.Action, project, d.cfg.Host),
		Body: fmt.Sprintf("The %s of project %s on host %s succeeded in %s.\nArchive: %s (%s)\nPruned: %d old archive(s)\nStarted: %s",
			d.cfg.Action, project, d.cfg.Host, took, out.Archive, backup.HumanBytes(out.Size), out.Pruned, r.Start.Format(time.RFC3339)),
	}
}

// Status is a copy of the daemon's status.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	// Derived from the flag that guards the ticks: whoever sees "not
	// running" can count on the next tick not being skipped.
	s.Running = d.running.Load()
	s.Projects = map[string]*ProjectStatus{}
	for k, v := range d.status.Projects {
		c := *v
		s.Projects[k] = &c
	}
	return s
}

func (d *Daemon) next() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status.NextRun.IsZero() {
		return ""
	}
	return d.status.NextRun.In(d.cfg.Schedule.location()).Format(time.RFC3339)
}

// updateNext reads the next run from the scheduler.
func (d *Daemon) updateNext() {
	d.mu.Lock()
	job := d.job
	d.mu.Unlock()
	if job == nil {
		return
	}
	next, err := job.NextRun()
	if err != nil || next.IsZero() {
		return
	}
	d.mu.Lock()
	d.status.NextRun = next.UTC()
	d.mu.Unlock()
	if d.cfg.Metrics != nil {
		for _, p := range d.cfg.Projects {
			d.cfg.Metrics.nextRun.WithLabelValues(p).Set(float64(next.Unix()))
		}
	}
}

// save writes the status file; a failure is logged, since the backups
// themselves go on.
func (d *Daemon) save() {
	if d.cfg.StatusFile == "" {
		return
	}
	s := d.Status()
	if err := WriteStatus(d.cfg.StatusFile, &s); err != nil {
		d.log.Warn("could not write the status file: the health check will report unhealthy", "err", err)
	}
}

// NextRuns are the next n scheduled times, once Run has started.
func (d *Daemon) NextRuns(n int) ([]time.Time, error) {
	d.mu.Lock()
	job := d.job
	d.mu.Unlock()
	if job == nil {
		return nil, fmt.Errorf("not started")
	}
	return job.NextRuns(n)
}

// pageOut hands the resident pages of the executable back to the kernel;
// where it cannot, the daemon only keeps more memory.
func (d *Daemon) pageOut() {
	if err := pageOutBinary(); err != nil {
		d.log.Debug("the executable's pages stay resident", "err", err)
	}
}
