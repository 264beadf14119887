package convert

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker-backup/docker-backup/internal/dbdump"
)

// replaceDatabase dumps db into a safety file with the server's own dump
// tool, as a restore's safety backup does, then drops it. undo drops
// whatever the import left and loads the safety dump back.
func replaceDatabase(ctx context.Context, x Execer, engineName string, t dbdump.Target, db, projectName, dir string, now time.Time) (string, func(context.Context) error, error) {
	plan, err := dbdump.For(engineName).Plan(ctx, x, t)
	if err != nil {
		return "", nil, err
	}
	var job *dbdump.Job
	for i := range plan.Jobs {
		if plan.Jobs[i].Kind == "database" && plan.Jobs[i].Database == db {
			job = &plan.Jobs[i]
		}
	}
	if job == nil {
		return "", nil, fmt.Errorf("no dump of database %s of service %s can be taken: it cannot be replaced safely", db, t.Service)
	}
	if dir == "" {
		dir = "backups"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("creating the folder of the safety backup: %w", err)
	}
	name := fmt.Sprintf("%s-%s-%s-before-import-%s%s", projectName, t.Service, safeName(db), now.UTC().Format("20060102T150405Z"), path.Ext(job.Path))
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", nil, fmt.Errorf("creating the safety backup: %w", err)
	}
	rc := job.Open(ctx)
	_, err = io.Copy(tmp, rc)
	rc.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", nil, fmt.Errorf("taking the safety backup of database %s of service %s: %w", db, t.Service, err)
	}
	if err := dropDatabase(ctx, x, engineName, t, db); err != nil {
		return "", nil, err
	}
	undo := func(ctx context.Context) error {
		srv, err := dbdump.Connect(ctx, x, engineName, t)
		if err != nil {
			return err
		}
		f, err := os.Open(final)
		if err != nil {
			return err
		}
		defer f.Close()
		// LoadDatabase drops what the import left first.
		return srv.LoadDatabase(ctx, db, f)
	}
	return final, undo, nil
}

func dropDatabase(ctx context.Context, x Execer, engineName string, t dbdump.Target, db string) error {
	srv, err := dbdump.Connect(ctx, x, engineName, t)
	if err != nil {
		return err
	}
	return srv.Drop(ctx, "database", db)
}

// safeName keeps a database's name usable in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r < ' ' {
			return '_'
		}
		return r
	}, s)
}
