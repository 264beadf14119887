// Package backup creates archives of compose projects.
package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"golang.org/x/sync/errgroup"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/convert"
	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/storage"
	"github.com/docker-backup/docker-backup/internal/version"
)

// Options are the flags of `docker backup create`.
type Options struct {
	Project  project.Options
	Services []string
	// Output: "" for ./backups/<name>, "-" for stdout, a folder or a file.
	Output      string
	Compression archive.Compression
	// CompressionLevel is the compressor's level (archive.ParseCompression);
	// 0 for its default.
	CompressionLevel int
	ExcludeTable     []string
	ExcludeTableData []string
	// Stop takes a cold backup: services stopped, volumes copied raw.
	Stop              bool
	IncludeBindMounts bool
	IncludeEnv        bool
	// Stdout receives the archive with Output "-".
	Stdout io.Writer
	// Progress receives progress; nil for none.
	Progress Progress
	Logger   *slog.Logger
	// Recipients encrypt the archive with age; none for a plain archive.
	Recipients []age.Recipient
	// Lock takes the project's lock once its name is known; nil for none
	// (a restore's safety backup runs under the restore's lock).
	Lock Locker
	// Storage reaches the backends that -o may name (S3's settings).
	Storage storage.Config
	// Safety marks a restore's safety backup in the archive's index.
	Safety bool
	// Exclude leaves these services out whatever else selects them: the
	// backup daemon's own service, which must never stop or archive itself.
	Exclude []string
	// JobGone tells whether the run of a job ID is over, removing its
	// stale lock if it is: its helpers may then be removed. Nil: only the
	// project's own leftovers are removed.
	JobGone func(ctx context.Context, job string) (bool, error)
	// Host is the engine's name, recorded in the archive's index;
	// NameWithHost also puts it in the archive's name
	// (<host>_<project>-<time>), for many engines backing up into one
	// place.
	Host         string
	NameWithHost bool
	// Export also puts each database into the archive as an SQLite file
	// under exports/: "" for none, "sqlite".
	Export string
	// BindPaths, when not nil, narrows IncludeBindMounts to these host
	// paths (a restore's safety backup: those it writes).
	BindPaths []string
	// DataRoot is the engine's data root, whose bind mounts are never
	// read; "" when unknown.
	DataRoot string
	// Sign signs the archive's manifest: the signature goes beside it
	// (NAME.sig) and into its index. Nil: unsigned (a restore's safety
	// backup always is).
	Sign *sign.Key
}

// Locker takes the lock of a project on the engine. The context it
// returns ends when the lock is lost (taken over by another run while
// this one could not renew it) and carries the run's job ID, which its
// helpers are labelled with; release frees the lock.
type Locker func(ctx context.Context, project string) (locked context.Context, release func(), err error)

// Result is what a backup produced: `--json` prints it.
type Result struct {
	Path    string `json:"path"`
	Project string `json:"project"`
	// Host is the engine's name, when the caller gave it.
	Host     string        `json:"host,omitempty"`
	Size     int64         `json:"size"`
	Duration time.Duration `json:"durationNs"`
	Seconds  float64       `json:"durationSeconds"`
	Entries  []Entry       `json:"entries"`
	// Encrypted: the archive is an age file.
	Encrypted bool     `json:"encrypted,omitempty"`
	Notes     []string `json:"notes,omitempty"`
	// Signature is where the archive's signature is (Path.sig), and
	// SignedBy its key's fingerprint; empty when unsigned.
	Signature string `json:"signature,omitempty"`
	SignedBy  string `json:"signedBy,omitempty"`
}

// Entry is one database dump, volume or config file in the result.
type Entry struct {
	Kind string `json:"kind"` // "database", "volume", "config"
	Name string `json:"name"`
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// dockerAPI is what create needs from the Engine API besides exec and volumes.
type dockerAPI interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ImageInspect(ctx context.Context, id string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
}

// Engine is everything create does on the engine.
type Engine interface {
	Exec(ctx context.Context, containerID string, opts engine.ExecOptions) (int, error)
	ReadVolume(ctx context.Context, image, volume string, fn func(io.Reader) error) error
	ReadBind(ctx context.Context, image, hostPath string, exclude []string, fn func(io.Reader) error) error
	ReadBindFile(ctx context.Context, image, hostPath string, fn func(io.Reader) error) error
	StatBind(ctx context.Context, image, hostPath string) (fs.FileMode, error)
	StopContainer(ctx context.Context, id string, timeout *int) error
	StartContainer(ctx context.Context, id string) error
	helperRemover
}

// helperRemover finds and removes helpers (engine.Engine in production).
type helperRemover interface {
	ListHelpers(ctx context.Context) ([]engine.Helper, error)
	RemoveHelper(ctx context.Context, h engine.Helper) error
}

// database is a database service and its dump plan.
type database struct {
	svc  *project.Service
	plan *dbdump.Plan
	ext  project.Extension
	// target is what the plan was made for, filters included.
	target dbdump.Target
	// dataDirs are where the server keeps its files.
	dataDirs []string
}

// volumeJob is one volume (or bind mount) to archive.
type volumeJob struct {
	key      string // name in the archive
	name     string // engine name or host path
	image    string
	services []string
	bind     bool
	raw      bool
	// target is where the first service mounts it; file: a bind mount
	// of a single file.
	target string
	file   bool
	// exclude are folders of the tree left out, relative to its root.
	exclude []string
}

// label names the job in progress lines: a bind mount by its host path,
// which is what the user wrote, rather than by its name in the archive.
func (v *volumeJob) label() string {
	if v.bind {
		return "bind mount " + v.name
	}
	return "volume " + v.key
}

// Create backs up a compose project into one archive.
func Create(ctx context.Context, api dockerAPI, eng Engine, opts Options) (*Result, error) {
	res, err := create(ctx, api, eng, opts)
	// Also before the archive was opened: a connection, a listing.
	return res, Interrupted(ctx, err, notWritten)
}

// notWritten begins the error of a backup that an interrupt ended.
const notWritten = "backup interrupted, no archive written"

// Interrupted prefixes with what an error that an interrupt (Ctrl-C,
// SIGTERM, a lost lock) caused: the step the cancel broke is not what
// went wrong, and the user needs to know what state things are in. An
// error that says it was interrupted already is left as it is.
func Interrupted(ctx context.Context, err error, what string) error {
	if err == nil || ctx.Err() == nil || strings.Contains(err.Error(), "interrupted") {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func create(ctx context.Context, api dockerAPI, eng Engine, opts Options) (*Result, error) {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Progress == nil {
		opts.Progress = Lines{}
	}
	if opts.Compression == "" {
		opts.Compression = archive.Zstd
	}
	switch opts.Compression {
	case archive.Zstd, archive.Gzip, archive.None:
	default:
		return nil, fmt.Errorf("unknown compression %q: use zstd, gzip or none", opts.Compression)
	}
	switch opts.Export {
	case "", ExportSQLite:
	default:
		return nil, fmt.Errorf("unknown export format %q: use sqlite", opts.Export)
	}
	if opts.Export != "" && opts.Stop {
		return nil, errors.New("--export reads the running databases: it cannot be combined with --stop")
	}
	if opts.Sign != nil && opts.Output == "-" {
		return nil, errors.New("--sign with -o -: the signature goes beside the archive (NAME.sig), and stdout has nowhere beside it: write to a file, a folder or s3://BUCKET/PREFIX/")
	}
	p, err := project.Load(ctx, api, opts.Project)
	if err != nil {
		return nil, err
	}
	p, ctx, release, err := LockProject(ctx, api, p, opts.Project, opts.Lock)
	if err != nil {
		return nil, err
	}
	defer release()
	if opts.Lock != nil {
		// Without a lock of its own (a restore's safety backup), the run
		// that holds it has done this already.
		RemoveStaleHelpers(ctx, eng, opts.JobGone, p.Name, log)
	}
	services, err := selectServices(p, opts.Services)
	if err != nil {
		return nil, err
	}
	var notes []string
	note := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		notes = append(notes, msg)
		log.Info(msg)
	}
	services = excludeServices(services, opts.Exclude, note)
	if len(services) == 0 {
		return nil, fmt.Errorf("project %s has no service to back up besides %s", p.Name, strings.Join(opts.Exclude, ", "))
	}

	// Everything that can fail because of the user's setup fails here,
	// before the archive is opened.
	var dbs []*database
	skipped := map[string]bool{}
	for _, s := range services {
		ext := s.Backup
		if s.BackupErr != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, s.BackupErr)
		}
		if ext.Skip {
			note("service %s skipped (x-backup skip)", s.Name)
			skipped[s.Name] = true
			continue
		}
		engineName := ext.Engine
		if engineName == "" {
			engineName = dbdump.DetectByImage(s.Image)
		}
		if engineName == "" && dbdump.NotARecord(s.Image) && !ext.Include {
			note("service %s (%s) skipped: it holds no system of record by default; set x-backup include: true to back it up", s.Name, s.Image)
			skipped[s.Name] = true
			continue
		}
		if engineName == "" {
			if c, ok := s.Primary(); ok {
				engineName = dbdump.DetectByProbe(ctx, eng, c.ID)
			}
		}
		if engineName == "" || engineName == "none" {
			continue
		}
		dbs = append(dbs, &database{svc: s, ext: ext, plan: &dbdump.Plan{Engine: engineName}})
	}
	if !opts.Stop {
		for _, db := range dbs {
			if err := planDatabase(ctx, api, eng, db, opts); err != nil {
				return nil, err
			}
			notes = append(notes, db.plan.Notes...)
		}
	}
	for _, n := range literalSecrets(p) {
		note("%s", n)
	}
	for _, db := range dbs {
		db.dataDirs = dataDirs(ctx, api, db)
	}
	if opts.DataRoot == "" {
		opts.DataRoot = DataRoot(ctx, api)
	}
	volumes, volNotes := collectVolumes(services, skipped, dbs, opts)
	for _, n := range volNotes {
		note("%s", n)
	}
	if volumes, volNotes, err = statBinds(ctx, eng, volumes); err != nil {
		return nil, err
	}
	for _, n := range volNotes {
		note("%s", n)
	}

	manifest := &archive.Manifest{
		ToolVersion: version.Version,
		CreatedAt:   start.UTC(),
		Cold:        opts.Stop,
		Project:     archive.Project{Name: p.Name, WorkingDir: p.WorkingDir, ConfigFiles: p.ConfigFiles},
	}
	manifest.Services = describeServices(ctx, api, p)

	workDir := opts.Project.WorkingDir
	if workDir == "" {
		if workDir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	prefix := p.Name
	if opts.NameWithHost && opts.Host != "" {
		prefix = HostPrefix(opts.Host) + p.Name
	}
	dest, err := openDestination(ctx, opts.Output, workDir, prefix, start, ext(opts.Compression, len(opts.Recipients) > 0), opts.Stdout, opts.Storage)
	if err != nil {
		return nil, err
	}
	res := &Result{Path: dest.final, Project: p.Name, Host: opts.Host, Encrypted: len(opts.Recipients) > 0}
	// A bind-mounted folder that holds the archives' folder (.:/app)
	// would hold each archive in the next.
	if filepath.IsAbs(dest.final) {
		out := filepath.Dir(dest.final)
		for _, v := range volumes {
			if rel, ok := project.RelTo(v.name, out); ok && v.bind && !v.file {
				v.exclude = append(v.exclude, rel)
				note("bind mount %s of service %s: the archives' folder %s in it is left out", v.name, strings.Join(v.services, ", "), out)
			}
		}
	}
	// restart starts what --stop stopped, once, as soon as the data is
	// read, and in any case before Create returns.
	var restart func() error
	var restartErr error
	restartNow := func() {
		if restart != nil {
			restartErr = restart()
			restart = nil
		}
	}
	err = func() (err error) {
		// Encrypted as it is written: no plaintext reaches the disk.
		sink := io.Writer(dest.w)
		var enc io.WriteCloser
		if len(opts.Recipients) > 0 {
			if enc, err = crypt.Encrypt(dest.w, opts.Recipients); err != nil {
				return err
			}
			sink = enc
		}
		w, err := archive.NewWriterLevel(sink, opts.Compression, opts.CompressionLevel)
		if err != nil {
			return err
		}
		// Device and fifo nodes are kept only in cold archives, where they
		// belong to a stopped database's files; a restore refuses them
		// elsewhere (a hostile archive could plant a device in a volume).
		w.DropSpecial = !opts.Stop
		defer func() {
			if err != nil {
				w.Abort()
			}
		}()
		if err := writeConfig(w, p, opts, res); err != nil {
			return err
		}
		if opts.Stop {
			var serr error
			restart, serr = stopProject(ctx, eng, p, services, log)
			if serr != nil {
				return serr
			}
		}
		// Databases and volumes are read concurrently, a few at a time:
		// each holds one chunk buffer, and their entries interleave in the
		// archive. The first failure cancels the others.
		out := &collector{m: manifest, res: res}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(maxConcurrent)
		if !opts.Stop {
			for _, db := range dbs {
				g.Go(func() error { return writeDatabase(gctx, eng, w, db, out, opts.Progress, opts.Export) })
			}
		}
		for _, v := range volumes {
			g.Go(func() error { return writeVolume(gctx, eng, w, v, out, opts.Progress) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		// Everything is read: the stopped containers need not wait for
		// the archive's end.
		restartNow()
		out.sort()
		sort.Strings(out.notes)
		notes = append(notes, out.notes...)
		manifest.Notes = notes
		if err := w.Close(manifest); err != nil {
			return fmt.Errorf("writing the archive: %w", err)
		}
		if opts.Sign != nil {
			// Over manifest.json as stored: it holds the size and
			// SHA-256 of everything else in the archive.
			sig, err := opts.Sign.Sign(w.ManifestBytes())
			if err != nil {
				return err
			}
			if err := dest.signWith(ctx, sig); err != nil {
				return err
			}
		}
		res.Size = w.Written()
		if enc != nil {
			if err := enc.Close(); err != nil {
				return fmt.Errorf("finishing the encryption: %w", err)
			}
			res.Size = dest.written()
		}
		return dest.commit(ctx)
	}()
	restartNow()
	if err != nil {
		return nil, errors.Join(dest.fail(ctx, Interrupted(ctx, err, notWritten)), restartErr)
	}
	if restartErr != nil {
		// The archive is whole; the project is not as it was.
		return nil, fmt.Errorf("backup of project %s written to %s, but %w", p.Name, dest.final, restartErr)
	}
	// Without its index the archive is whole but listed as foreign, and
	// never pruned: the backup stands, the user hears of it.
	if err := dest.index(ctx, manifest, res, opts.Safety); err != nil {
		log.Warn("the archive is complete, but its index could not be written: docker backup ls lists it as foreign and prune leaves it", "archive", dest.final, "err", err)
		notes = append(notes, fmt.Sprintf("the archive is complete, but its index could not be written (%v): docker backup ls lists it as foreign and prune never deletes it", err))
	}
	if dest.sig != nil {
		res.Signature, res.SignedBy = dest.final+storage.SignatureSuffix, opts.Sign.Fingerprint()
	}
	res.Notes = notes
	res.Duration = time.Since(start)
	res.Seconds = res.Duration.Seconds()
	return res, nil
}

// RemoveStaleHelpers removes the helper containers (and throwaway
// volumes) killed runs left behind, which would hold their volumes
// (docker compose down -v could not remove them): those of project's
// other runs, since the caller holds the project's lock (ctx carries its
// job), and any other whose run jobGone says is over. A failure is only
// logged: leftovers do not keep this run from working.
func RemoveStaleHelpers(ctx context.Context, eng helperRemover, jobGone func(context.Context, string) (bool, error), project string, log *slog.Logger) {
	me := engine.JobOf(ctx)
	helpers, err := eng.ListHelpers(ctx)
	if err != nil {
		log.Warn(err.Error())
		return
	}
	gone := map[string]bool{}
	removed := 0
	for _, h := range helpers {
		if me != "" && h.Job == me {
			continue
		}
		stale := false
		switch {
		case me != "" && project != "" && h.Project == project:
			stale = true // no other run of the project runs: we hold its lock
		case h.Job != "" && jobGone != nil:
			g, known := gone[h.Job]
			if !known {
				if g, err = jobGone(ctx, h.Job); err != nil {
					log.Warn(fmt.Sprintf("cannot tell whether the run of helper %s is over: %v", h.ID, err))
				}
				gone[h.Job] = g
			}
			stale = g
		}
		if !stale {
			continue
		}
		if err := eng.RemoveHelper(ctx, h); err != nil {
			log.Warn(err.Error())
			continue
		}
		removed++
	}
	if removed > 0 {
		log.Info(fmt.Sprintf("removed %d helper container(s) or volume(s) left by an interrupted run of docker backup", removed))
	}
}

// LockProject takes the lock of project p with lock (nil: none) and, since
// another run may have changed the project while we waited, loads it again.
// The context returned ends if the lock is lost, and makes the helpers
// carry the project and the run's job. release must be called when done.
func LockProject(ctx context.Context, api project.ContainerLister, p *project.Project, opts project.Options, lock Locker) (_ *project.Project, _ context.Context, release func(), err error) {
	if lock == nil {
		return p, ctx, func() {}, nil
	}
	locked, release, err := lock(ctx, p.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	if p, err = project.Load(locked, api, opts); err != nil {
		release()
		return nil, nil, nil, err
	}
	return p, locked, release, nil
}

func selectServices(p *project.Project, names []string) ([]*project.Service, error) {
	if len(names) == 0 {
		return p.Services, nil
	}
	var out []*project.Service
	for _, n := range names {
		s, err := p.Service(n)
		if err != nil {
			return nil, fmt.Errorf("%w: see the services with docker compose config --services", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// excludeServices drops the excluded services from the selection.
func excludeServices(services []*project.Service, exclude []string, note func(string, ...any)) []*project.Service {
	if len(exclude) == 0 {
		return services
	}
	out := services[:0:0]
	for _, s := range services {
		if slices.Contains(exclude, s.Name) {
			note("service %s skipped: it runs this backup", s.Name)
			continue
		}
		out = append(out, s)
	}
	return out
}

// planDatabase connects to a running database service and lists its dumps.
func planDatabase(ctx context.Context, api dockerAPI, eng Engine, db *database, opts Options) error {
	s := db.svc
	c, ok := s.Primary()
	if !ok {
		return fmt.Errorf("database service %s is not running: start it with docker compose up -d %s, or take a cold backup with --stop", s.Name, s.Name)
	}
	info, err := api.ContainerInspect(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("inspecting the container of service %s: %w", s.Name, err)
	}
	var env []string
	if info.Config != nil {
		env = info.Config.Env
	}
	t := dbdump.Target{
		Service:          s.Name,
		ContainerID:      c.ID,
		Env:              env,
		UserEnv:          db.ext.UserEnv,
		PasswordEnv:      db.ext.PasswordEnv,
		ExcludeTable:     append(append([]string{}, opts.ExcludeTable...), db.ext.ExcludeTable...),
		ExcludeTableData: append(append([]string{}, opts.ExcludeTableData...), db.ext.ExcludeTableData...),
	}
	plan, err := dbdump.For(db.plan.Engine).Plan(ctx, eng, t)
	if err != nil {
		return err
	}
	db.plan = plan
	db.target = t
	return nil
}

// maxConcurrent bounds the databases and volumes read at once.
const maxConcurrent = 2

// collector gathers what concurrent readers produced for the manifest and
// the result, in a stable order at the end.
type collector struct {
	mu    sync.Mutex
	m     *archive.Manifest
	res   *Result
	notes []string
}

func (c *collector) note(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes = append(c.notes, msg)
}

func (c *collector) database(d archive.Database, entries []Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Databases = append(c.m.Databases, d)
	c.res.Entries = append(c.res.Entries, entries...)
}

func (c *collector) volume(v archive.Volume, e Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Volumes = append(c.m.Volumes, v)
	c.res.Entries = append(c.res.Entries, e)
}

func (c *collector) sort() {
	sort.SliceStable(c.m.Databases, func(i, j int) bool { return c.m.Databases[i].Service < c.m.Databases[j].Service })
	sort.SliceStable(c.m.Volumes, func(i, j int) bool { return c.m.Volumes[i].Name < c.m.Volumes[j].Name })
	sort.SliceStable(c.res.Entries, func(i, j int) bool { return c.res.Entries[i].Path < c.res.Entries[j].Path })
}

func writeDatabase(ctx context.Context, x Engine, w *archive.Writer, db *database, out *collector, prog Progress, export string) error {
	t := db.target
	entry := archive.Database{
		Service: db.svc.Name, Engine: db.plan.Engine, Flavor: db.plan.Flavor, Version: db.plan.Version,
		ExcludeTables: t.ExcludeTable, ExcludeTableData: t.ExcludeTableData,
	}
	var entries []Entry
	for _, job := range db.plan.Jobs {
		label := db.svc.Name + "/" + job.Database
		if job.Database == "" {
			label = db.svc.Name + " (" + job.Kind + ")"
		}
		rc := job.Open(ctx)
		counter := prog.Start(label)
		f, err := w.WriteStream(ctx, job.Path, counter.Reader(rc))
		rc.Close()
		counter.Done(err)
		if err != nil {
			return fmt.Errorf("dumping %s of service %s: %w", describeDump(job.Dump), db.svc.Name, err)
		}
		entry.Dumps = append(entry.Dumps, job.Dump)
		entries = append(entries, Entry{Kind: "database", Name: label, Path: f.Path, Size: f.Size})
	}
	if export == ExportSQLite {
		more, err := writeExports(ctx, x, w, db, &entry, prog)
		if err != nil {
			return err
		}
		entries = append(entries, more...)
	}
	out.database(entry, entries)
	return nil
}

// ExportSQLite is create --export's one format.
const ExportSQLite = "sqlite"

// writeExports exports each database of a service into an SQLite file
// and adds it to the archive. SQLite writes files, not streams: each is
// made in the temporary folder, copied in, and removed. Each export is a
// snapshot of its own, taken after the dumps.
func writeExports(ctx context.Context, x Engine, w *archive.Writer, db *database, entry *archive.Database, prog Progress) ([]Entry, error) {
	srv, err := dbdump.ConnectPortable(ctx, x, db.plan.Engine, db.target)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "docker-backup-export-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary folder for the SQLite exports (set TMPDIR to a writable folder): %w", err)
	}
	defer os.RemoveAll(tmp)
	var entries []Entry
	for i, job := range db.plan.Jobs {
		if job.Kind != "database" {
			continue
		}
		label := db.svc.Name + "/" + job.Database + " (sqlite)"
		counter := prog.Start(label)
		file := filepath.Join(tmp, fmt.Sprintf("%d.sqlite", i))
		res, err := convert.ExportTo(ctx, srv, db.svc.Name, job.Database, file)
		if err != nil {
			counter.Done(err)
			return nil, err
		}
		f, err := os.Open(file)
		if err != nil {
			counter.Done(err)
			return nil, err
		}
		name := archive.ExportsDir + db.svc.Name + "/" + path.Base(strings.TrimSuffix(job.Path, path.Ext(job.Path))) + ".sqlite"
		af, err := w.WriteStream(ctx, name, counter.Reader(f))
		f.Close()
		os.Remove(file)
		counter.Done(err)
		if err != nil {
			return nil, fmt.Errorf("adding the SQLite export of database %s of service %s: %w", job.Database, db.svc.Name, err)
		}
		entry.Exports = append(entry.Exports, archive.Export{Path: name, Database: job.Database, Format: ExportSQLite, Tables: len(res.Tables), Rows: res.Rows})
		entries = append(entries, Entry{Kind: "export", Name: label, Path: af.Path, Size: af.Size})
	}
	return entries, nil
}

func describeDump(d archive.Dump) string {
	if d.Database == "" {
		return "the " + d.Kind
	}
	return "database " + d.Database
}

// collectVolumes lists the named volumes (and, when asked, bind mounts) of
// the selected services, each once. Live databases' data volumes are left
// to the logical dump: copying live database files gives corrupt backups.
func collectVolumes(services []*project.Service, skipped map[string]bool, dbs []*database, opts Options) ([]*volumeJob, []string) {
	isDB := map[string]*database{}
	for _, db := range dbs {
		isDB[db.svc.Name] = db
	}
	var jobs []*volumeJob
	byName := map[string]*volumeJob{}
	var notes []string
	var liveBinds []string
	for _, s := range services {
		if skipped[s.Name] {
			continue
		}
		img := ""
		if len(s.Containers) > 0 {
			img = s.Containers[0].ImageID
		}
		for _, m := range s.Volumes {
			if m.Anonymous {
				notes = append(notes, fmt.Sprintf("anonymous volume at %s of service %s skipped: give it a name in the compose file to back it up", m.Target, s.Name))
				continue
			}
			if m.Bind && !(opts.IncludeBindMounts || s.Backup.BindMounts) {
				continue
			}
			if m.Bind && opts.BindPaths != nil && !slices.Contains(opts.BindPaths, m.Name) {
				continue
			}
			if m.Bind {
				if sys, why := project.SystemPath(m.Name, opts.DataRoot); sys {
					notes = append(notes, fmt.Sprintf("bind mount %s of service %s skipped: %s (back it up with the host's own tools)", m.Name, s.Name, why))
					continue
				}
			}
			raw := false
			// Whatever holds a database's files, volume or bind mount,
			// is left to the dump while the server runs.
			if db := isDB[s.Name]; db != nil && isDataDir(db, m.Target) {
				if !opts.Stop {
					what := "volume"
					if m.Bind {
						what = "bind mount"
						liveBinds = append(liveBinds, m.Name)
					}
					notes = append(notes, fmt.Sprintf("%s %s of database service %s holds the server's live files: covered by the database dump, not copied raw (use --stop for a cold copy)", what, volName(m), s.Name))
					continue
				}
				raw = true
			}
			if img == "" {
				notes = append(notes, fmt.Sprintf("volume %s skipped: service %s has no container (run docker compose up first)", volName(m), s.Name))
				continue
			}
			if j := byName[m.Name]; j != nil {
				j.services = append(j.services, s.Name)
				continue
			}
			key := m.Key
			if key == "" {
				key = m.Name
			}
			if m.Bind {
				key = "bind" + strings.ReplaceAll(filepath.Clean(m.Name), "/", "_")
			}
			j := &volumeJob{key: key, name: m.Name, image: img, services: []string{s.Name}, bind: m.Bind, raw: raw, target: m.Target}
			byName[m.Name] = j
			jobs = append(jobs, j)
		}
	}
	// A bind-mounted folder that holds a running database's files (the
	// project folder, .:/app) is archived without them.
	for _, j := range jobs {
		for _, live := range liveBinds {
			if rel, ok := project.RelTo(j.name, live); ok && j.bind && j.name != live {
				j.exclude = append(j.exclude, rel)
				notes = append(notes, fmt.Sprintf("bind mount %s of service %s: the database's live files in %s are left out (the dump covers them)", j.name, strings.Join(j.services, ", "), live))
			}
		}
	}
	sort.SliceStable(jobs, func(i, k int) bool { return jobs[i].key < jobs[k].key })
	return jobs, notes
}

func volName(m project.Mount) string {
	if m.Key != "" {
		return m.Key
	}
	return m.Name
}

// isDataDir tells whether a mount at target holds (part of) the
// database's files.
func isDataDir(db *database, target string) bool {
	target = path.Clean(target)
	for _, dir := range db.dataDirs {
		dir = path.Clean(dir)
		if target == dir || strings.HasPrefix(dir, target+"/") || strings.HasPrefix(target, dir+"/") {
			return true
		}
	}
	return false
}

// dataDirs are where a database service keeps its files: where its
// engine's images do (PGDATA too), where its image declares a VOLUME,
// where its server says, and its x-backup data-dir.
func dataDirs(ctx context.Context, api dockerAPI, db *database) []string {
	var env []string
	var image string
	if len(db.svc.Containers) > 0 {
		c, ok := db.svc.Primary()
		if !ok {
			c = db.svc.Containers[0]
		}
		if info, err := api.ContainerInspect(ctx, c.ID); err == nil && info.Config != nil {
			env = info.Config.Env
		}
		image = c.ImageID
	}
	dirs := dbdump.For(db.plan.Engine).DataDirs(env)
	if image != "" {
		if img, err := api.ImageInspect(ctx, image); err == nil && img.Config != nil {
			for v := range img.Config.Volumes {
				dirs = append(dirs, v)
			}
		}
	}
	for _, d := range []string{db.plan.DataDir, db.ext.DataDir} {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// statBinds finds what each bind mount's host path is, as the engine's
// host sees it: a folder is archived as a tree, a file as that one file;
// a socket, a device, a fifo (the docker socket, /dev/...) is never
// read, nor a path that does not exist. Each left out is a note.
func statBinds(ctx context.Context, eng Engine, jobs []*volumeJob) ([]*volumeJob, []string, error) {
	var notes []string
	out := jobs[:0:0]
	for _, j := range jobs {
		if !j.bind {
			out = append(out, j)
			continue
		}
		mode, err := eng.StatBind(ctx, j.image, j.name)
		switch {
		case errors.Is(err, engine.ErrNoHostPath):
			notes = append(notes, fmt.Sprintf("bind mount %s of service %s skipped: the path does not exist on the engine's host", j.name, strings.Join(j.services, ", ")))
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("bind mount %s of service %s: %w", j.name, strings.Join(j.services, ", "), err)
		case mode.IsDir():
		case mode.IsRegular():
			j.file = true
		default:
			notes = append(notes, fmt.Sprintf("bind mount %s of service %s skipped: it is a %s, not a file or a folder", j.name, strings.Join(j.services, ", "), describeMode(mode)))
			continue
		}
		out = append(out, j)
	}
	return out, notes, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

func writeVolume(ctx context.Context, eng Engine, w *archive.Writer, v *volumeJob, out *collector, prog Progress) error {
	prefix := archive.VolumesDir + v.key + "/"
	counter := prog.Start(v.label())
	var sum archive.TreeSummary
	read := eng.ReadVolume
	switch {
	case v.file:
		read = eng.ReadBindFile
	case v.bind:
		read = func(ctx context.Context, image, hostPath string, fn func(io.Reader) error) error {
			return eng.ReadBind(ctx, image, hostPath, v.exclude, fn)
		}
	}
	var left leftoverReader
	err := read(ctx, v.image, v.name, func(r io.Reader) error {
		var err error
		left.Reader = tar.NewReader(counter.Reader(io.NopCloser(r)))
		var tr archive.TreeReader = &left
		if v.file {
			tr = &fileTree{Reader: left.Reader, name: path.Base(v.name)}
		}
		if len(v.exclude) > 0 {
			tr = &excludeTree{TreeReader: tr, dirs: v.exclude}
		}
		sum, err = w.WriteTree(ctx, prefix, tr)
		return err
	})
	counter.Done(err)
	if err != nil {
		return fmt.Errorf("archiving volume %s: %w", v.key, err)
	}
	if len(left.found) > 0 {
		out.note(fmt.Sprintf("volume %s holds %s, left by a restore that was interrupted: the volume's content from before that restore, backed up with the rest; delete it once you no longer need it (the next restore of the volume deletes it too)",
			v.key, strings.Join(left.found, ", ")))
	}
	if sum.Dropped > 0 {
		out.note(fmt.Sprintf("volume %s: %d device or fifo node(s) left out: only a cold backup (--stop) keeps them", v.key, sum.Dropped))
	}
	av := archive.Volume{
		Name: v.key, EngineName: v.name, Services: v.services, Raw: v.raw,
		Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest,
	}
	kind := "volume"
	if v.bind {
		av.Target = v.target
		kind = "bind mount"
	}
	if v.file {
		av.Kind = archive.KindFile
	}
	out.volume(av, Entry{Kind: kind, Name: v.key, Path: prefix, Size: sum.Bytes})
	return nil
}

// describeServices records each service's image and digest.
func describeServices(ctx context.Context, api dockerAPI, p *project.Project) []archive.Service {
	var out []archive.Service
	for _, s := range p.Services {
		as := archive.Service{Name: s.Name, Image: s.Image, Containers: len(s.Containers), Running: s.Running()}
		if len(s.Containers) > 0 {
			as.ImageID = s.Containers[0].ImageID
			if img, err := api.ImageInspect(ctx, as.ImageID); err == nil && len(img.RepoDigests) > 0 {
				as.ImageDigest = img.RepoDigests[0]
			}
		}
		out = append(out, as)
	}
	return out
}

// leftoverReader notes the folders at a volume's root in which a restore
// that was killed left the volume's old content (engine.ReplacedPrefix).
type leftoverReader struct {
	*tar.Reader
	found []string
}

func (l *leftoverReader) Next() (*tar.Header, error) {
	hdr, err := l.Reader.Next()
	if err == nil {
		// The helper's tar names entries "./name".
		name := path.Clean(hdr.Name)
		if hdr.Typeflag == tar.TypeDir && !strings.Contains(name, "/") && strings.HasPrefix(name, engine.ReplacedPrefix) && len(l.found) < 5 {
			l.found = append(l.found, name)
		}
	}
	return hdr, err
}

// fileTree is the tar of a bind-mounted file (one entry, the helper's
// mount point) as a tree of that one file, under its own name.
type fileTree struct {
	*tar.Reader
	name string
	seen bool
}

func (f *fileTree) Next() (*tar.Header, error) {
	hdr, err := f.Reader.Next()
	if err != nil {
		return hdr, err
	}
	if f.seen || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != '\x00') {
		return nil, fmt.Errorf("bind-mounted file %s: unexpected entry %q in its stream", f.name, hdr.Name)
	}
	f.seen = true
	h := *hdr
	h.Name = "./" + f.name
	return &h, nil
}

// DataRoot is the engine's data root (docker info), "" when api cannot
// say: its bind mounts are never read nor written.
func DataRoot(ctx context.Context, api any) string {
	if i, ok := api.(interface {
		Info(ctx context.Context) (system.Info, error)
	}); ok {
		if info, err := i.Info(ctx); err == nil {
			return info.DockerRootDir
		}
	}
	return ""
}

// excludeTree leaves folders (relative to the tree's root) out of a
// tree: their entries are skipped, their content never read.
type excludeTree struct {
	archive.TreeReader
	dirs []string
}

func (e *excludeTree) Next() (*tar.Header, error) {
	for {
		hdr, err := e.TreeReader.Next()
		if err != nil {
			return hdr, err
		}
		if !e.excluded(path.Clean(hdr.Name)) {
			return hdr, nil
		}
	}
}

func (e *excludeTree) excluded(name string) bool {
	for _, d := range e.dirs {
		if d == "." || name == d || strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	return false
}
