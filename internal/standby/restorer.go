package standby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"

	"github.com/docker-backup/docker-backup/internal/lock"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// Restorer is the Applier of production: restore's Fetch, Prepare and
// Apply, with the app kept down.
type Restorer struct {
	API    client.APIClient
	Engine restore.Engine
	Store  storage.Backend
	// Project is the local project's name, which Start locks.
	Project string
	// Dir is where archives are downloaded and safety backups written,
	// in a folder of each run's, removed once the restore is over.
	Dir string
	// Options is the restore's template: Project, Lock, Compose,
	// Exclude, Identities, Trust, Logger, Events, JobGone.
	Options restore.Options
}

// Apply downloads name (verified on the way), restores it and records it
// through h under the project's lock.
func (r *Restorer) Apply(ctx context.Context, name string, h Hooks) (bool, error) {
	dir, err := r.runDir()
	if err != nil {
		return true, err
	}
	defer os.RemoveAll(dir)
	f, err := restore.Fetch(ctx, r.Store, name, dir, restore.VerifyOptions{Identities: r.Options.Identities, Limits: r.Options.Limits, Trust: r.Options.Trust})
	if err != nil {
		return true, err
	}
	if h.Verified != nil {
		if err := h.Verified(f.Manifest.CreatedAt); err != nil {
			return true, err
		}
	}
	opts := r.Options
	opts.Archive, opts.Fetched = f.Path, f
	// The archive of another project (Source) is restored into this one
	// as -p would.
	opts.NameGiven, opts.Yes, opts.Standby = true, true, true
	opts.SafetyDir = dir
	opts.Lock = r.guarded(h.Locked)
	pr, err := restore.Prepare(ctx, r.API, r.Engine, opts)
	if err != nil {
		return true, err
	}
	defer pr.Close()
	// The download and the safety backup go with the run's folder: the
	// safety backup is only for the rollback, and a standby that failed
	// at every poll must not fill its disk.
	if _, err := pr.Apply(ctx); err != nil {
		return errors.Is(err, restore.ErrRolledBack), err
	}
	return false, h.Done(ctx)
}

// runsDir holds a folder per restore under way, named after nothing the
// user keeps: each holds the download and the safety backup of its run.
const runsDir = ".docker-backup-standby"

// ownerFile says which process a run's folder belongs to.
const ownerFile = "owner.json"

// runDir makes the folder of a new run, after removing those of runs
// whose process is provably gone (killed mid-restore): their downloads
// and safety backups would otherwise stay forever.
func (r *Restorer) runDir() (string, error) {
	root := filepath.Join(r.Dir, runsDir)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("the work folder: %w", err)
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		var owner lock.Process
		data, err := os.ReadFile(filepath.Join(root, e.Name(), ownerFile))
		if err == nil && json.Unmarshal(data, &owner) == nil && owner.Gone() {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	dir, err := os.MkdirTemp(root, "run-")
	if err != nil {
		return "", fmt.Errorf("the work folder: %w", err)
	}
	data, err := json.Marshal(lock.Self())
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ownerFile), data, 0o600)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("the work folder: %w", err)
	}
	return dir, nil
}

// Start starts the whole project under its lock.
func (r *Restorer) Start(ctx context.Context, locked, done func(ctx context.Context) error) error {
	if r.Options.Lock == nil {
		return fmt.Errorf("no lock to start the project under")
	}
	lctx, release, err := r.guarded(locked)(ctx, r.Project)
	if err != nil {
		return err
	}
	defer release()
	if err := restore.Start(lctx, r.API, r.Engine, r.Options); err != nil {
		return err
	}
	return done(lctx)
}

// guarded is the restore's lock, with check run once it is held.
func (r *Restorer) guarded(check func(ctx context.Context) error) func(ctx context.Context, project string) (context.Context, func(), error) {
	lock := r.Options.Lock
	return func(ctx context.Context, project string) (context.Context, func(), error) {
		if lock == nil {
			return ctx, func() {}, check(ctx)
		}
		locked, release, err := lock(ctx, project)
		if err != nil {
			return nil, nil, err
		}
		if err := check(locked); err != nil {
			release()
			return nil, nil, err
		}
		return locked, release, nil
	}
}
