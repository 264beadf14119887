package plugin

import (
	"context"
	"fmt"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/lock"
)

// projectLock takes the lock of a project on the engine: one create or
// restore of a project at a time, whoever runs it and from wherever. The
// context it gives ends if the lock is lost.
func projectLock(env *Env, api lock.API, verb string, noWait bool) backup.Locker {
	return lockWith(api, verb, noWait, func(holder, project string) {
		fmt.Fprintf(env.Stderr, "waiting for %s to finish (project %s)\n", holder, project)
	})
}

// lockWith is projectLock telling waiting whom it waits for.
func lockWith(api lock.API, verb string, noWait bool, waiting func(holder, project string)) backup.Locker {
	return func(ctx context.Context, project string) (context.Context, func(), error) {
		l, err := lock.Acquire(ctx, api, lock.Options{Project: project, Verb: verb, NoWait: noWait, Waiting: func(holder string) {
			waiting(holder, project)
		}})
		if err != nil {
			return nil, nil, err
		}
		locked, release := held(ctx, l, project)
		return locked, release, nil
	}
}

// jobLease registers a run that locks no project (verify --deep), so that
// what it leaves on the engine if killed is known to be stale.
func jobLease(ctx context.Context, api lock.API, verb string) (context.Context, func(), error) {
	l, err := lock.Acquire(ctx, api, lock.Options{Verb: verb})
	if err != nil {
		return nil, nil, err
	}
	locked, release := held(ctx, l, "")
	return locked, release, nil
}

// held is the run's context while it holds l: cancelled if l is lost,
// with its helpers labelled with the project and the run's job.
func held(ctx context.Context, l *lock.Lock, project string) (context.Context, func()) {
	locked, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.Lost():
			cancel(fmt.Errorf("%w: another run took it over while this one could not renew it (the engine did not answer for a minute)", lock.ErrLost))
		case <-locked.Done():
		}
	}()
	return engine.WithJob(locked, project, l.Job()), func() {
		cancel(nil)
		_ = l.Release()
	}
}

// jobGone tells whether the run of job is over (lock.Gone).
func jobGone(api lock.API) func(context.Context, string) (bool, error) {
	return func(ctx context.Context, job string) (bool, error) { return lock.Gone(ctx, api, job) }
}
