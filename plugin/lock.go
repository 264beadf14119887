package plugin

import (
	"context"
	"fmt"

	"github.com/docker-backup/docker-backup/internal/lock"
)

// projectLock takes the lock of a project on the engine at endpoint: one
// create or restore of a project at a time.
func projectLock(env *Env, endpoint, verb string, noWait bool) func(ctx context.Context, project string) (func(), error) {
	return func(ctx context.Context, project string) (func(), error) {
		l, err := lock.Acquire(ctx, endpoint, project, verb, noWait, func(holder string) {
			fmt.Fprintf(env.Stderr, "waiting for %s to finish (project %s)\n", holder, project)
		})
		if err != nil {
			return nil, err
		}
		return func() { _ = l.Release() }, nil
	}
}
