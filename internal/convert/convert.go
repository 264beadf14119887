// Package convert exports a database of a running PostgreSQL or
// MySQL/MariaDB service into one SQLite file, and imports such a file into
// a service of either engine: the way to move a database between engines,
// or to hand it to someone who has no server.
package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/portable"
	"github.com/docker-backup/docker-backup/internal/project"
)

// API is what convert asks of the engine's API.
type API interface {
	project.ContainerLister
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
}

// Execer runs commands in containers.
type Execer interface {
	Exec(ctx context.Context, containerID string, opts engine.ExecOptions) (int, error)
}

// server is a database server as export and import use it
// (*dbdump.Portable).
type server interface {
	Databases(ctx context.Context) ([]string, error)
	Schema(ctx context.Context, db string) (*portable.Schema, error)
	Rows(ctx context.Context, db string, s *portable.Schema, fn func(t *portable.Table, row []any) error) error
	Tables(ctx context.Context, db string) ([]dbdump.TableCount, error)
}

// Locker takes a project's lock (backup.Locker's shape).
type Locker func(ctx context.Context, project string) (locked context.Context, release func(), err error)

// Service is the database service an export reads or an import writes.
type Service struct {
	Project  project.Options
	Name     string
	Database string
}

// target finds the running container of a database service and what it
// runs.
func target(ctx context.Context, api API, x Execer, s Service) (*project.Project, dbdump.Target, string, error) {
	var t dbdump.Target
	p, err := project.Load(ctx, api, s.Project)
	if err != nil {
		return nil, t, "", err
	}
	svc, err := p.Service(s.Name)
	if err != nil {
		return nil, t, "", err
	}
	if svc.BackupErr != nil {
		return nil, t, "", fmt.Errorf("service %s: %w", svc.Name, svc.BackupErr)
	}
	c, ok := svc.Primary()
	if !ok {
		return nil, t, "", fmt.Errorf("service %s is not running: start it with docker compose up -d %s", svc.Name, svc.Name)
	}
	engineName := svc.Backup.Engine
	if engineName == "" {
		engineName = dbdump.DetectByImage(svc.Image)
	}
	if engineName == "" {
		engineName = dbdump.DetectByProbe(ctx, x, c.ID)
	}
	if engineName != dbdump.Postgres && engineName != dbdump.MySQL {
		return nil, t, "", fmt.Errorf("service %s (%s) is neither PostgreSQL nor MySQL/MariaDB; if it is one, say so with x-backup engine: postgres or mysql", svc.Name, svc.Image)
	}
	info, err := api.ContainerInspect(ctx, c.ID)
	if err != nil {
		return nil, t, "", fmt.Errorf("inspecting the container of service %s: %w", svc.Name, err)
	}
	if info.Config != nil {
		t.Env = info.Config.Env
	}
	t.Service, t.ContainerID = svc.Name, c.ID
	t.UserEnv, t.PasswordEnv = svc.Backup.UserEnv, svc.Backup.PasswordEnv
	return p, t, engineName, nil
}

// chooseDatabase is the database named, or the only one the server
// holds besides its defaults, or the one the image's variables create.
func chooseDatabase(ctx context.Context, srv server, t dbdump.Target, named string) (string, error) {
	dbs, err := srv.Databases(ctx)
	if err != nil {
		return "", err
	}
	if named != "" {
		for _, d := range dbs {
			if d == named {
				return named, nil
			}
		}
		return "", fmt.Errorf("service %s has no database %s (it has %s)", t.Service, named, strings.Join(dbs, ", "))
	}
	var user []string
	for _, d := range dbs {
		if d != "postgres" {
			user = append(user, d)
		}
	}
	if len(user) == 1 {
		return user[0], nil
	}
	for _, k := range []string{"POSTGRES_DB", "MARIADB_DATABASE", "MYSQL_DATABASE"} {
		for _, kv := range t.Env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok && v != "" {
				for _, d := range dbs {
					if d == v {
						return v, nil
					}
				}
			}
		}
	}
	return "", fmt.Errorf("service %s has several databases (%s): name one with --database", t.Service, strings.Join(dbs, ", "))
}

// ExportOptions say what to export where.
type ExportOptions struct {
	Service
	// Output is the file to write ("" for DATABASE.sqlite); Stdout gets
	// it when Output is "-".
	Output string
	Stdout io.Writer
	Logger *slog.Logger
}

// ExportResult is what an export wrote.
type ExportResult struct {
	Service  string              `json:"service"`
	Engine   string              `json:"engine"`
	Flavor   string              `json:"flavor"`
	Version  string              `json:"version"`
	Database string              `json:"database"`
	File     string              `json:"file"`
	Size     int64               `json:"size"`
	Tables   []dbdump.TableCount `json:"tables"`
	Rows     int64               `json:"rows"`
	Unmapped []portable.Unmapped `json:"unmapped,omitempty"`
	Notes    []string            `json:"notes,omitempty"`
	Seconds  float64             `json:"seconds"`
}

// Export writes one database of a running service into an SQLite file.
func Export(ctx context.Context, api API, x Execer, opts ExportOptions) (*ExportResult, error) {
	start := time.Now()
	_, t, engineName, err := target(ctx, api, x, opts.Service)
	if err != nil {
		return nil, err
	}
	srv, err := dbdump.ConnectPortable(ctx, x, engineName, t)
	if err != nil {
		return nil, err
	}
	db, err := chooseDatabase(ctx, srv, t, opts.Database)
	if err != nil {
		return nil, err
	}
	path := opts.Output
	if path == "" {
		path = safeName(db) + ".sqlite"
	}
	toStdout := path == "-"
	if toStdout {
		// SQLite writes a file, not a stream: it is made in the
		// temporary folder and copied out.
		dir, err := os.MkdirTemp("", "docker-backup-export-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "export.sqlite")
	}
	res, err := ExportTo(ctx, srv, t.Service, db, path)
	if err != nil {
		return nil, err
	}
	res.Notes = append(srv.Notes, res.Notes...)
	if toStdout {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := io.Copy(opts.Stdout, f); err != nil {
			return nil, fmt.Errorf("writing the export to stdout: %w", err)
		}
		res.File = "-"
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// ExportTo exports database db of a connected server into the file path,
// which only appears once complete and checked.
func ExportTo(ctx context.Context, srv *dbdump.Portable, service, db, path string) (*ExportResult, error) {
	res, err := exportTo(ctx, srv, service, db, path)
	if err != nil {
		return nil, err
	}
	res.Engine, res.Flavor, res.Version = srv.Engine, srv.Flavor, srv.Version
	return res, nil
}

func exportTo(ctx context.Context, srv server, service, db, path string) (*ExportResult, error) {
	s, err := srv.Schema(ctx, db)
	if err != nil {
		return nil, err
	}
	w, err := portable.Create(ctx, path, s)
	if err != nil {
		return nil, err
	}
	err = srv.Rows(ctx, db, s, func(t *portable.Table, row []any) error { return w.Insert(ctx, t, row) })
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("exporting database %s of service %s: %w", db, service, err)
	}
	if err := w.Commit(ctx); err != nil {
		return nil, fmt.Errorf("exporting database %s of service %s: %w", db, service, err)
	}
	res := &ExportResult{Service: service, Database: db, File: path, Unmapped: s.Unmapped}
	counts := w.Rows()
	for _, tb := range s.Tables {
		res.Tables = append(res.Tables, dbdump.TableCount{Table: tb.Name, Rows: counts[tb.Name]})
		res.Rows += counts[tb.Name]
	}
	if fi, err := os.Stat(path); err == nil {
		res.Size = fi.Size()
	}
	return res, nil
}

// ImportOptions say what to import where.
type ImportOptions struct {
	Service
	File string
	// Replace allows replacing a database that holds rows, after a
	// safety backup of it in SafetyDir ("" for ./backups).
	Replace   bool
	SafetyDir string
	Lock      Locker
	Logger    *slog.Logger
}

// ImportResult is what an import loaded.
type ImportResult struct {
	Service      string              `json:"service"`
	Engine       string              `json:"engine"`
	Flavor       string              `json:"flavor"`
	Version      string              `json:"version"`
	Database     string              `json:"database"`
	Created      bool                `json:"created"`
	Replaced     bool                `json:"replaced"`
	SafetyBackup string              `json:"safetyBackup,omitempty"`
	Tables       []dbdump.TableCount `json:"tables"`
	Rows         int64               `json:"rows"`
	Notes        []string            `json:"notes,omitempty"`
	Seconds      float64             `json:"seconds"`
}

// ErrNotEmpty: the database exists and holds rows.
var ErrNotEmpty = errors.New("the database exists and is not empty")

// Import loads an SQLite file into a database of a running service.
func Import(ctx context.Context, api API, x Execer, opts ImportOptions) (*ImportResult, error) {
	start := time.Now()
	f, err := portable.Open(ctx, opts.File)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Nothing changes before the file has passed its checks.
	if err := f.Check(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.File, err)
	}
	if len(f.Schema.Tables) == 0 {
		return nil, fmt.Errorf("%s holds no table", opts.File)
	}
	p, t, engineName, err := target(ctx, api, x, opts.Service)
	if err != nil {
		return nil, err
	}
	if opts.Lock != nil {
		locked, release, err := opts.Lock(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		defer release()
		ctx = locked
	}
	srv, err := dbdump.ConnectPortable(ctx, x, engineName, t)
	if err != nil {
		return nil, err
	}
	db := opts.Database
	if db == "" {
		db = f.Schema.Meta.Database
	}
	if db == "" {
		db = strings.TrimSuffix(filepath.Base(opts.File), filepath.Ext(opts.File))
	}
	// What the server cannot take (a name it would cut, more locks than
	// it has) is refused before anything changes.
	if err := srv.CheckImport(ctx, db, f.Schema); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.File, err)
	}
	res := &ImportResult{Service: t.Service, Engine: srv.Engine, Flavor: srv.Flavor, Version: srv.Version, Database: db}
	res.Notes = append(res.Notes, srv.Notes...)
	res.Notes = append(res.Notes, f.Notes...)
	exists, rows, err := srv.State(ctx, db)
	if err != nil {
		return nil, err
	}
	if exists && rows > 0 && !opts.Replace {
		return nil, fmt.Errorf("%w: database %s of service %s holds %d rows; to replace it (after a safety backup), use --replace", ErrNotEmpty, db, t.Service, rows)
	}
	src := func(ctx context.Context, tb *portable.Table, fn func([]any) error) error { return f.Rows(ctx, tb, fn) }
	var restoreSafety func(context.Context) error
	create := !exists
	if exists && rows > 0 {
		path, undo, err := replaceDatabase(ctx, x, engineName, t, db, p.Name, opts.SafetyDir, start)
		if err != nil {
			return nil, err
		}
		res.SafetyBackup, res.Replaced, restoreSafety, create = path, true, undo, true
	}
	res.Created = create && !res.Replaced
	notes, err := srv.Load(ctx, db, f.Schema, create, src)
	if err == nil {
		res.Tables, err = checkCounts(ctx, srv, f, db)
		if err != nil && create {
			// The rows did not all arrive: take the new database away.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			if derr := dropDatabase(cctx, x, engineName, t, db); derr != nil {
				err = fmt.Errorf("%w; the database could not be dropped: %v", err, derr)
			}
			cancel()
		}
	}
	if err != nil {
		if restoreSafety != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
			defer cancel()
			if rerr := restoreSafety(cctx); rerr != nil {
				return nil, fmt.Errorf("%w; putting the database back from the safety backup %s failed too: %v", err, res.SafetyBackup, rerr)
			}
			return nil, fmt.Errorf("%w; the database was put back from the safety backup %s", err, res.SafetyBackup)
		}
		return nil, err
	}
	res.Notes = append(res.Notes, notes...)
	for _, c := range res.Tables {
		res.Rows += c.Rows
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// checkCounts compares the rows of every table with the file's, and
// returns the server's counts.
func checkCounts(ctx context.Context, srv server, f *portable.Reader, db string) ([]dbdump.TableCount, error) {
	got, err := srv.Tables(ctx, db)
	if err != nil {
		return nil, err
	}
	have := map[string]int64{}
	for _, c := range got {
		have[strings.TrimPrefix(c.Table, "public.")] = c.Rows
		have[c.Table] = c.Rows
		// MySQL's are db.table.
		if rest, ok := strings.CutPrefix(c.Table, db+"."); ok {
			have[rest] = c.Rows
		}
	}
	var bad []string
	for i := range f.Schema.Tables {
		tb := &f.Schema.Tables[i]
		want, err := f.Count(ctx, tb)
		if err != nil {
			return nil, err
		}
		if n, ok := have[tb.Name]; !ok || n != want {
			bad = append(bad, fmt.Sprintf("%s: %d rows, not %d", tb.Name, n, want))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("the imported row counts differ from the file's: %s", strings.Join(bad, "; "))
	}
	return got, nil
}
