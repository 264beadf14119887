// Package restore brings a compose project back to the state of an
// archive: verified first, the current state backed up, then volumes
// replaced and databases reloaded with the app stopped, and everything put
// back as it was if anything fails.
package restore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/sign"
)

// Options are the flags of `docker backup restore`.
type Options struct {
	Project project.Options
	// NameGiven: the target project was named (-p), so an archive of
	// another project may be restored into it (a staging copy).
	NameGiven bool
	Archive   string
	// Fetched is Archive as Fetch downloaded and verified it: unless the
	// file changed since, it is not read a second time to be verified.
	Fetched *Fetched
	// Services and Databases narrow the restore; empty for everything.
	Services  []string
	Databases []string
	// Yes skips the confirmation; DryRun prints the plan and stops.
	Yes, DryRun bool
	// Force loads MySQL dumps into MariaDB (and the reverse) and archives
	// of another project.
	Force          bool
	NoSafetyBackup bool
	// SafetyDir is where the safety backup goes: "" for ./backups.
	SafetyDir string
	// Confirm asks the user a yes/no question; nil when nobody can be
	// asked (not a terminal).
	Confirm func(question string) (bool, error)
	// Compose runs docker compose with the project's flags and args, to
	// create a project that does not exist yet.
	Compose func(ctx context.Context, args ...string) error
	// Identities open an encrypted archive (age); none for a plain one.
	Identities []age.Identity
	// Trust are the keys the archive must be signed by (its signature
	// is ARCHIVE.sig, or Fetched's): an unsigned archive, or one signed
	// by another key, is refused before it is read. Nil: any archive,
	// and a signature that comes with it is still checked.
	Trust *sign.Trust
	// Lock takes the project's lock; nil for none. JobGone tells
	// whether another run is over (backup.Options).
	Lock    backup.Locker
	JobGone func(ctx context.Context, job string) (bool, error)
	// Events gets the plan and what happens; nil for nobody.
	Events   event.Sink
	Progress backup.Progress
	Logger   *slog.Logger
	// Exclude are services the restore leaves alone, never stopped nor
	// restored: the daemon's own, which runs the restore.
	Exclude []string
	// ReadyTimeout bounds the wait for each started container.
	ReadyTimeout time.Duration
	// Standby keeps the app down: after the restore only the database
	// services it loaded run, whatever ran before (a standby host, whose
	// app starts only when it is promoted).
	Standby bool
	// IncludeBindMounts also restores the bind mounts outside the
	// project folder (those in it always are).
	IncludeBindMounts bool
	// DataRoot is the engine's data root, never written as a bind
	// mount; "" when unknown.
	DataRoot string
	// PreserveSpecial writes what the volumes hold that could give a
	// user of the app's container more than the app has: setuid and
	// setgid bits, file capabilities, device and fifo nodes. Without it
	// (and unless the archive is signed by a trusted key) the bits and
	// capabilities are dropped and an archive holding devices or fifos
	// is refused: whoever could write the archive could plant them.
	PreserveSpecial bool
	// trusted: the archive is signed by a key of Trust, which lets its
	// special files through as PreserveSpecial does.
	trusted bool
	// Limits bound the archive's entries and their depth, as it is
	// verified and as it is applied (archive.Limits; zero: defaults).
	Limits archive.Limits
}

// Result is what a restore did: `--json` prints it.
type Result struct {
	Project       string   `json:"project"`
	Archive       string   `json:"archive"`
	DryRun        bool     `json:"dryRun,omitempty"`
	SafetyBackup  string   `json:"safetyBackup,omitempty"`
	SafetySeconds float64  `json:"safetyBackupSeconds,omitempty"`
	Volumes       []string `json:"volumes"`
	Databases     []string `json:"databases"`
	Seconds       float64  `json:"durationSeconds"`
	Notes         []string `json:"notes,omitempty"`
	// Signature is how the archive was signed, as verified.
	Signature sign.Status `json:"signature"`
}

// dockerAPI is what restore needs from the Engine API besides exec and
// volumes (the safety backup's needs included).
type dockerAPI interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ImageInspect(ctx context.Context, id string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
}

// Engine is everything restore does on the engine.
type Engine interface {
	backup.Engine
	volumeWriter
	WaitReady(ctx context.Context, id string) error
}

// ErrRolledBack: the restore failed and the rollback put the project
// back as it was before it (errors.Is).
var ErrRolledBack = errors.New("restore rolled back")

// rolledBack is a restore's error after a rollback that succeeded.
type rolledBack struct{ error }

func (e rolledBack) Unwrap() error        { return e.error }
func (e rolledBack) Is(target error) bool { return target == ErrRolledBack }

// ErrNotConfirmed: the user said no, or could not be asked.
var ErrNotConfirmed = errors.New("restore not confirmed")

// rollbackTimeout bounds the rollback, which runs after an interrupt too.
const rollbackTimeout = time.Hour

// Prepared is a restore verified and planned, under the project's lock,
// with nothing changed yet: Apply carries it out, Close gives it up. A
// client shows Plan and asks for confirmation in between; one that may
// wait long for it gives the lock up meanwhile (Release) and takes it
// again with Replan.
type Prepared struct {
	Plan *event.Plan
	// Result is what Apply will report, filled in so far.
	Result *Result

	api    dockerAPI
	eng    Engine
	opts   Options
	f      *os.File
	before os.FileInfo
	m      *archive.Manifest
	pl     *plan
	safety string
	start  time.Time
	closed bool
	// locked and release are the lock's while it is held.
	locked  context.Context
	release func()

	// signature is how the archive was signed, as verified with m.
	signature sign.Status
}

// Restore restores an archive into a compose project: Prepare, the
// user's go (opts.Yes or opts.Confirm), Apply.
func Restore(ctx context.Context, api dockerAPI, eng Engine, opts Options) (*Result, error) {
	pr, err := Prepare(ctx, api, eng, opts)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	if opts.DryRun {
		return pr.Result, nil
	}
	if !opts.Yes {
		if opts.Confirm == nil {
			return nil, fmt.Errorf("%w: the restore replaces the data above; confirm with -y/--yes when not on a terminal", ErrNotConfirmed)
		}
		ok, err := opts.Confirm("Replace the data of project " + pr.Plan.Project + " with the archive's?")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: nothing was changed", ErrNotConfirmed)
		}
	}
	return pr.Apply(ctx)
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Progress == nil {
		o.Progress = backup.Lines{}
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 3 * time.Minute
	}
}

// Prepare verifies the archive, takes the project's lock, and makes the
// plan, checking the servers can load the dumps; it emits the plan and
// changes nothing. ctx must last until Close: the lock lives in it.
func Prepare(ctx context.Context, api dockerAPI, eng Engine, opts Options) (*Prepared, error) {
	pr, err := prepare(ctx, api, eng, opts)
	return pr, backup.Interrupted(ctx, err, "restore interrupted, nothing was changed")
}

func prepare(ctx context.Context, api dockerAPI, eng Engine, opts Options) (_ *Prepared, err error) {
	start := time.Now()
	opts.defaults()
	if opts.Archive == "-" {
		return nil, fmt.Errorf("restore reads the archive twice (to verify it, then to restore it): give a file, not -")
	}
	f, err := os.Open(opts.Archive)
	if err != nil {
		return nil, fmt.Errorf("cannot open the archive: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	before, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if before.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not an archive", opts.Archive)
	}

	// 1. Verify every byte before anything else.
	m, signature, err := verifyArchive(ctx, f, before, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("restore interrupted while verifying the archive, nothing was changed: %w", err)
		}
		return nil, refused(opts.Archive, err)
	}
	if opts.Fetched.unchanged(opts.Archive, before) {
		// Applied with the limits it was verified with.
		opts.Limits = opts.Fetched.limits
	}
	// A signature by a trusted key lets the archive's setuid files and
	// devices through, as --preserve-special does.
	opts.trusted = signature.Trusted
	pr := &Prepared{api: api, eng: eng, opts: opts, f: f, before: before, m: m, signature: signature, start: start}
	if err := pr.plan(ctx, opts.Lock); err != nil {
		return nil, err
	}
	opts.Events.Emit(event.Event{Type: event.PlanReady, Plan: pr.Plan})
	return pr, nil
}

// plan takes the project's lock with lock and plans the restore of the
// verified archive into the project as it is now, checking the servers
// can load the dumps.
func (pr *Prepared) plan(ctx context.Context, lock backup.Locker) (err error) {
	api, eng, m := pr.api, pr.eng, pr.m
	p, err := loadProject(ctx, api, pr.opts)
	if err != nil {
		return err
	}
	if p.Name != m.Project.Name && !pr.opts.NameGiven && !pr.opts.Force {
		return fmt.Errorf("the archive is of project %s, not %s: to restore it into %s anyway (a copy), name it with -p %s or use --force", m.Project.Name, p.Name, p.Name, p.Name)
	}
	p, locked, release, err := backup.LockProject(ctx, api, p, pr.opts.Project, lock)
	if err != nil {
		return err
	}
	p = without(p, pr.opts.Exclude)
	defer func() {
		if err != nil {
			release()
		}
	}()

	// 2. What goes where, and whether the servers can load it.
	if pr.opts.DataRoot == "" {
		pr.opts.DataRoot = backup.DataRoot(ctx, api)
	}
	opts := pr.opts
	pl, err := makePlan(p, m, opts)
	if err != nil {
		return err
	}
	pl.signature = pr.signature
	if pl.empty() {
		return pl.nothing()
	}
	if err := pl.checkHooks(); err != nil {
		return err
	}
	if err := pl.connect(locked, api, eng, opts.Force, false); err != nil {
		return err
	}
	res := &Result{Project: p.Name, Archive: opts.Archive, DryRun: opts.DryRun, Signature: pr.signature}
	for _, v := range pl.volumes {
		res.Volumes = append(res.Volumes, v.Name)
	}
	for _, d := range pl.dbs {
		for _, dump := range d.Dumps {
			if dump.Kind != "globals" {
				res.Databases = append(res.Databases, d.Service+"/"+dump.Database)
			}
		}
	}
	// A plan made again keeps the safety backup's name: the same plan
	// reads the same.
	safety := ""
	if !opts.NoSafetyBackup && !pl.fresh {
		if safety = pr.safety; safety == "" {
			if safety, err = safetyPath(opts, p.Name, pr.start); err != nil {
				return err
			}
		}
	}
	res.Notes = pl.notes
	pr.Plan, pr.Result, pr.pl, pr.safety, pr.locked, pr.release = pl.describe(opts.Archive, safety), res, pl, safety, locked, release
	return nil
}

// Release gives up the project's lock and keeps the verified archive: a
// restore that waits long for its confirmation does not keep backups of
// the project out meanwhile. Replan takes the lock again before Apply.
func (pr *Prepared) Release() {
	if pr.release != nil {
		pr.release()
		pr.release, pr.locked = nil, nil
	}
}

// Replan takes the project's lock again with lock (an Options.Lock) and
// plans the restore again, from the project as it is now: what changed
// while the lock was not held (a service stopped, a backup that ran)
// shows. changed tells whether the plan differs from the one shown (its
// JSON, what a client confirmed): then the new plan is emitted and wants
// a confirmation of its own before Apply.
func (pr *Prepared) Replan(ctx context.Context, lock backup.Locker) (changed bool, err error) {
	if pr.closed {
		return false, fmt.Errorf("the restore was closed before it was planned again")
	}
	pr.Release()
	shown := pr.Plan
	if err := pr.plan(ctx, lock); err != nil {
		return false, backup.Interrupted(ctx, err, "restore interrupted, nothing was changed")
	}
	if samePlan(shown, pr.Plan) {
		return false, nil
	}
	pr.opts.Events.Messagef("project %s changed since its plan was shown: the new plan follows, and needs a confirmation of its own", pr.Plan.Project)
	pr.opts.Events.Emit(event.Event{Type: event.PlanReady, Plan: pr.Plan})
	return true, nil
}

// samePlan tells whether two plans say the same, field by field.
func samePlan(a, b *event.Plan) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// Close gives up the lock and the archive; after Apply, or instead of it.
func (pr *Prepared) Close() {
	pr.Release()
	if !pr.closed {
		pr.closed = true
		pr.f.Close()
	}
}

// Apply carries out the plan. ctx cancels it (the rollback then runs);
// the lock is Prepare's (or Replan's), and must be held.
func (pr *Prepared) Apply(ctx context.Context) (*Result, error) {
	if pr.closed {
		return nil, fmt.Errorf("the restore was closed before it was applied")
	}
	if pr.release == nil {
		return nil, fmt.Errorf("the restore gave up the project's lock: plan it again (Replan) before applying it")
	}
	actx, cancel := context.WithCancelCause(pr.locked)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stop()
	return pr.apply(actx)
}

func (pr *Prepared) apply(ctx context.Context) (*Result, error) {
	api, eng, opts, pl, m, safety, res := pr.api, pr.eng, pr.opts, pr.pl, pr.m, pr.safety, pr.Result
	log := opts.Logger
	p := pl.p
	var err error
	backup.RemoveStaleHelpers(ctx, eng, opts.JobGone, p.Name, log)

	// A new host: create the project, then plan again with its containers.
	if pl.fresh {
		if opts.Compose == nil {
			return nil, fmt.Errorf("project %s does not exist: create it with docker compose up --no-start", p.Name)
		}
		opts.Events.Messagef("creating project %s", p.Name)
		if err := opts.Compose(ctx, "up", "--no-start"); err != nil {
			return nil, fmt.Errorf("creating project %s: %w", p.Name, err)
		}
		if p, err = loadProject(ctx, api, opts); err != nil {
			return nil, err
		}
		if pl, err = makePlan(p, m, opts); err != nil {
			return nil, err
		}
		pl.signature = pr.signature
		pl.fresh = true
		pr.pl = pl
	}
	// Until the replacing starts, a failure puts the containers back as
	// they were, and nothing else needs undoing.
	notReplaced := func(err error) error {
		return errors.Join(backup.Interrupted(ctx, err, "restore interrupted, nothing was replaced"), putBack(ctx, api, eng, pl, opts, log))
	}
	// Database services that do not run are started to be loaded (and
	// stopped again afterwards if they did not run before).
	if err := startForLoad(ctx, api, eng, pl, opts.ReadyTimeout, log); err != nil {
		return nil, notReplaced(err)
	}
	if err := pl.connect(ctx, api, eng, opts.Force, true); err != nil {
		return nil, notReplaced(err)
	}
	if err := pl.snapshot(ctx); err != nil {
		return nil, notReplaced(err)
	}

	// 4. The app stops first, so that nothing it writes after the safety
	// backup is lost by a rollback; then the safety backup, before
	// anything is replaced.
	if err := stopServices(ctx, eng, pl.stopSet(), log); err != nil {
		return nil, notReplaced(err)
	}
	if safety != "" {
		opts.Events.Messagef("backing up the current state to %s", safety)
		sStart := time.Now()
		_, err := backup.Create(ctx, api, eng, backup.Options{
			Project: opts.Project, Services: pl.affected(), Exclude: opts.Exclude, Output: safety, Stop: m.Cold, Safety: true,
			IncludeBindMounts: len(pl.bindPaths()) > 0, BindPaths: pl.bindPaths(), DataRoot: opts.DataRoot,
			Progress: opts.Progress, Logger: log,
		})
		if err != nil {
			return nil, notReplaced(fmt.Errorf("the safety backup failed, nothing was replaced: %w", err))
		}
		res.SafetyBackup = safety
		res.SafetySeconds = time.Since(sStart).Seconds()
	}

	// 5-8. Replace, start.
	if err := replace(ctx, api, eng, pl, pr.f, pr.before, opts, log); err != nil {
		return nil, rollback(ctx, api, eng, pl, safety, err, opts, log)
	}
	res.Seconds = time.Since(pr.start).Seconds()
	return res, nil
}

// loadProject loads the target project, without the excluded services.
func loadProject(ctx context.Context, api dockerAPI, opts Options) (*project.Project, error) {
	p, err := project.Load(ctx, api, opts.Project)
	if err != nil {
		return nil, err
	}
	return without(p, opts.Exclude), nil
}

// without is p less the services named.
func without(p *project.Project, exclude []string) *project.Project {
	if len(exclude) == 0 {
		return p
	}
	c := *p
	c.Services = slices.DeleteFunc(slices.Clone(p.Services), func(s *project.Service) bool { return slices.Contains(exclude, s.Name) })
	return &c
}

// refused is the error of an archive that failed verification.
func refused(where string, err error) error {
	if errors.Is(err, archive.ErrTruncated) || errors.Is(err, archive.ErrChecksum) || errors.Is(err, archive.ErrInvalid) {
		return fmt.Errorf("archive %s refused, nothing was changed: %w: restore from another copy of it, or from another archive", where, err)
	}
	return fmt.Errorf("archive %s refused, nothing was changed: %w", where, err)
}

// verifyArchive verifies the archive, or takes Fetch's verification of
// it when it is still the same file (and, with a trust list, was found
// signed by a trusted key). The signature is ARCHIVE.sig, or the one
// Fetch checked: an archive the trust list refuses is refused before it
// is read.
func verifyArchive(ctx context.Context, f io.Reader, fi os.FileInfo, opts Options) (*archive.Manifest, sign.Status, error) {
	if opts.Fetched.unchanged(opts.Archive, fi) && (opts.Trust == nil || opts.Fetched.Signature.Trusted) {
		opts.Events.Messagef("%s was verified as it was downloaded (%s)", opts.Archive, backup.HumanBytes(fi.Size()))
		return opts.Fetched.Manifest, opts.Fetched.Signature, nil
	}
	vo := VerifyOptions{Identities: opts.Identities, Trust: opts.Trust}
	if opts.Fetched != nil && opts.Fetched.Path == opts.Archive && opts.Fetched.sig != nil {
		vo.Signature = opts.Fetched.sig
	} else {
		var err error
		if vo.Signature, err = sign.ReadFile(opts.Archive); err != nil {
			return nil, sign.Status{}, err
		}
	}
	if _, err := vo.Admit(); err != nil {
		return nil, sign.Status{}, err
	}
	opts.Events.Messagef("verifying %s (%s)", opts.Archive, backup.HumanBytes(fi.Size()))
	plain, err := decrypted(f, opts.Identities)
	if err != nil {
		return nil, sign.Status{}, err
	}
	vo.Limits = opts.Limits
	return VerifySigned(ctx, plain, vo)
}

// applyAll restores volumes and databases in one pass over the archive.
// The archive interleaves their entries as create read them, so each
// loader gets its entries while the others work, each through a bounded
// buffer. Two passes side by side, one for the databases and one for the
// volumes, were measured too: each decompresses the whole archive, and on
// two cores that extra work cost more than the loaders' waiting for each
// other saves (bench scale 0.25: 11.2 s against 10.5 s, 6.1 s of the
// plugin's CPU against 4.3 s).
func applyAll(ctx context.Context, f io.ReaderAt, size int64, ids []age.Identity, m *archive.Manifest, w *work, vw volumeWriter, prog backup.Progress) error {
	r, err := decrypted(io.NewSectionReader(f, 0, size), ids)
	if err != nil {
		return err
	}
	return apply(ctx, r, m, w, vw, prog)
}

// decrypted is the archive's plaintext: r itself, or r decrypted when it
// is an age file.
func decrypted(r io.Reader, ids []age.Identity) (io.Reader, error) {
	p, _, err := crypt.Open(r, ids)
	return p, err
}

// safetyPath is where the safety backup goes:
// ./backups/<project>-<time>-pre-restore.tar.zst.
func safetyPath(opts Options, name string, t time.Time) (string, error) {
	dir := opts.SafetyDir
	if dir == "" {
		wd := opts.Project.WorkingDir
		if wd == "" {
			var err error
			if wd, err = os.Getwd(); err != nil {
				return "", err
			}
		}
		dir = filepath.Join(wd, backup.DefaultDir)
	}
	return filepath.Join(dir, backup.ArchiveName(name, t, "-pre-restore"+archive.Zstd.Ext())), nil
}

// replace replaces the data of the stopped project, runs the hooks and
// puts the services back as they were. The volumes' old content is kept
// aside until everything is in and the before-start hooks passed: up to
// then, a rollback moves it back.
func replace(ctx context.Context, api dockerAPI, eng Engine, pl *plan, f *os.File, before os.FileInfo, opts Options, log *slog.Logger) error {
	// The archive was verified in the first pass: it must not have
	// changed since (every entry's checksum is checked again as it is
	// applied; this catches a replaced file before anything is done).
	now, err := f.Stat()
	if err != nil {
		return err
	}
	if now.Size() != before.Size() || !now.ModTime().Equal(before.ModTime()) {
		return fmt.Errorf("the archive changed while it was being restored")
	}
	opts.Events.Messagef("restoring %s", pl.summary())
	w := &work{dbs: pl.dbs, volumes: pl.volumes, limits: opts.Limits, keepSpecial: pl.keepSpecial}
	if err := applyAll(ctx, f, now.Size(), opts.Identities, pl.m, w, eng, opts.Progress); err != nil {
		return err
	}
	if err := runHooks(ctx, eng, pl.p, pl.hooks("before-start"), opts.Events); err != nil {
		return err
	}
	// The app must not see the old content, nor start while its deletion
	// competes for the disk.
	if err := commitVolumes(ctx, eng, pl.volumes); err != nil {
		return err
	}
	if err := settle(ctx, api, eng, pl.p, pl.wanted, opts.ReadyTimeout, log); err != nil {
		return fmt.Errorf("starting the project again: %w", err)
	}
	return runHooks(ctx, eng, pl.p, pl.hooks("after-start"), opts.Events)
}

// wanted tells whether a container should run after the restore: those that
// ran before, or all of a project created by the restore.
func (pl *plan) wanted(c project.Container) bool {
	if pl.standbyIDs != nil {
		return pl.standbyIDs[c.ID]
	}
	return pl.fresh || pl.wasRunning[c.ID]
}

// putBack returns containers to the state they had before the restore,
// under a context an interrupt does not cancel.
func putBack(ctx context.Context, api dockerAPI, eng Engine, pl *plan, opts Options, log *slog.Logger) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ReadyTimeout*2)
	defer cancel()
	if err := settle(rctx, api, eng, pl.p, func(c project.Container) bool { return pl.wasRunning[c.ID] }, opts.ReadyTimeout, log); err != nil {
		return fmt.Errorf("putting the containers back as they were: %w", err)
	}
	return nil
}

// rollback puts the project back as it was before the restore: the safety
// backup restored with the app stopped, then what ran started again. It
// runs under a context an interrupt does not cancel, and returns the
// restore's error with how the rollback went.
func rollback(ctx context.Context, api dockerAPI, eng Engine, pl *plan, safety string, cause error, opts Options, log *slog.Logger) error {
	if ctx.Err() != nil {
		cause = fmt.Errorf("restore interrupted: %w", cause)
	} else {
		cause = fmt.Errorf("restore failed: %w", cause)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	// Volumes whose old content is still aside get it back: exact, and a
	// rename away. The safety backup is for the rest.
	reverted, rerr := revertVolumes(rctx, eng, pl.volumes, log)
	if rerr != nil {
		log.Warn("a volume could not be put back from its set-aside content: the safety backup restores it", "error", rerr)
	}
	if pl.fresh {
		// Nothing existed before: stop what was started.
		err := settle(rctx, api, eng, pl.p, func(project.Container) bool { return false }, opts.ReadyTimeout, log)
		if err != nil {
			return fmt.Errorf("%w; stopping the new project failed too: %v", cause, err)
		}
		return fmt.Errorf("%w; project %s did not exist before: its containers are stopped (remove them with docker compose down -v)", cause, pl.p.Name)
	}
	if safety == "" {
		err := errors.Join(rerr, putBack(ctx, api, eng, pl, opts, log))
		if err != nil {
			return fmt.Errorf("%w; no safety backup to roll back to (--no-safety-backup), and %v", cause, err)
		}
		what := "the data may be partly replaced"
		if len(pl.dbs) == 0 && len(reverted) == len(pl.volumes) {
			what = "the volumes were put back as they were"
		}
		return fmt.Errorf("%w; no safety backup to roll back to (--no-safety-backup): %s; the containers are as they were", cause, what)
	}
	opts.Events.Emit(event.Event{Type: event.Warning, Message: cause.Error()})
	opts.Events.Messagef("rolling back to the safety backup %s", safety)
	err := restoreSafety(rctx, api, eng, pl, safety, reverted, opts, log)
	if err != nil {
		// Whatever the data's state, what ran must run again.
		if perr := putBack(ctx, api, eng, pl, opts, log); perr != nil {
			err = errors.Join(err, perr)
		}
		return fmt.Errorf("%w; ROLLBACK FAILED: %v; the state before the restore is in %s: restore it with docker backup restore %s", cause, err, safety, safety)
	}
	return rolledBack{fmt.Errorf("%w; rolled back: the project is as it was before (safety backup kept at %s)", cause, safety)}
}

// restoreSafety restores the safety backup, but for the volumes already
// put back (reverted, by engine name): the loaded database services must
// run (one killed while loading is started again), the others are
// stopped.
func restoreSafety(ctx context.Context, api dockerAPI, eng Engine, pl *plan, safety string, reverted map[string]bool, opts Options, log *slog.Logger) error {
	f, err := os.Open(safety)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := Verify(ctx, bufio.NewReader(f), VerifyOptions{Limits: opts.Limits})
	if err != nil {
		return fmt.Errorf("the safety backup is damaged: %w", err)
	}
	p, err := loadProject(ctx, api, opts)
	if err != nil {
		return err
	}
	backOpts := Options{IncludeBindMounts: opts.IncludeBindMounts, DataRoot: opts.DataRoot, PreserveSpecial: true}
	back, err := makePlan(p, m, backOpts)
	if err != nil {
		return err
	}
	loadOnly := func(c project.Container) bool {
		for _, s := range p.Services {
			for _, sc := range s.Containers {
				if sc.ID == c.ID {
					return back.loaded[s.Name]
				}
			}
		}
		return false
	}
	if err := settle(ctx, api, eng, p, loadOnly, opts.ReadyTimeout, log); err != nil {
		return err
	}
	if p, err = loadProject(ctx, api, opts); err != nil {
		return err
	}
	if back, err = makePlan(p, m, backOpts); err != nil {
		return err
	}
	if err := back.connect(ctx, api, eng, true, true); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var vols []*volumeTarget
	for _, v := range back.volumes {
		if !reverted[v.Target] {
			vols = append(vols, v)
		}
	}
	if len(vols) > 0 || len(back.dbs) > 0 {
		// The safety backup is this restore's own copy of what was
		// there: its setuid files and devices go back as they were.
		w := &work{dbs: back.dbs, volumes: vols, limits: opts.Limits, keepSpecial: true}
		if err := applyAll(ctx, f, fi.Size(), nil, m, w, eng, opts.Progress); err != nil {
			return err
		}
		if err := commitVolumes(ctx, eng, vols); err != nil {
			return err
		}
	}
	// Roles, users and databases the failed restore added, which the
	// safety backup's load tolerates, go too.
	if err := dropAdded(ctx, pl, back); err != nil {
		return err
	}
	back.wasRunning = pl.wasRunning
	return settle(ctx, api, eng, p, back.wanted, opts.ReadyTimeout, log)
}

// commitVolumes deletes the old content the replacement of each volume
// set aside.
func commitVolumes(ctx context.Context, eng volumeWriter, vols []*volumeTarget) error {
	var errs []error
	for _, v := range vols {
		if !v.prepared || v.committed {
			continue
		}
		if err := eng.CommitReplace(ctx, v.rep); err != nil {
			errs = append(errs, err)
			continue
		}
		v.committed = true
	}
	return errors.Join(errs...)
}

// revertVolumes puts back the old content of the volumes whose
// replacement kept it aside, and returns them by engine name, with what
// failed. A volume that cannot be put back this way is left to the
// safety backup.
func revertVolumes(ctx context.Context, eng volumeWriter, vols []*volumeTarget, log *slog.Logger) (map[string]bool, error) {
	done := map[string]bool{}
	var errs []error
	for _, v := range vols {
		if !v.prepared || v.committed {
			continue
		}
		err := eng.RevertReplace(ctx, v.rep)
		switch {
		case err == nil:
			done[v.Target] = true
			v.prepared = false
			log.Info("volume put back as it was", "volume", v.Target)
		case errors.Is(err, engine.ErrNotRevertible):
		default:
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// summary counts what the plan restores, naming bind mounts apart from
// volumes, as the plan's lines do.
func (pl *plan) summary() string {
	vols, binds := 0, 0
	for _, v := range pl.volumes {
		if v.Place.Path != "" {
			binds++
		} else {
			vols++
		}
	}
	var parts []string
	for _, c := range []struct {
		n         int
		one, many string
	}{{vols, "volume", "volumes"}, {binds, "bind mount", "bind mounts"}, {len(pl.dbs), "database service", "database services"}} {
		switch {
		case c.n == 1:
			parts = append(parts, "1 "+c.one)
		case c.n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.many))
		}
	}
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
