package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker-backup/docker-backup/internal/project"
)

// restartTimeout bounds the restart of containers after an error or an
// interrupt, when the command's context is already cancelled.
const restartTimeout = 2 * time.Minute

// stopProject stops the running containers of the selected services,
// dependents first, and returns the function that starts them again,
// dependencies first. It must always be called, also on failure: it runs
// under a context the interrupt does not cancel. Containers that were not
// running are left alone.
func stopProject(ctx context.Context, eng Engine, p *project.Project, services []*project.Service, log *slog.Logger) (func() error, error) {
	selected := map[string]bool{}
	for _, s := range services {
		selected[s.Name] = true
	}
	type stopped struct{ service, id, name string }
	var done []stopped
	restart := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restartTimeout)
		defer cancel()
		var errs []error
		// p.Services is in dependency order; done is in reverse.
		for i := len(done) - 1; i >= 0; i-- {
			c := done[i]
			log.Info("starting container", "service", c.service, "container", c.name)
			if err := eng.StartContainer(rctx, c.id); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w (start it with docker compose start %s)", c.service, err, c.service))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("could not restart every container: %w", errors.Join(errs...))
		}
		return nil
	}
	for i := len(p.Services) - 1; i >= 0; i-- {
		s := p.Services[i]
		if !selected[s.Name] {
			continue
		}
		for _, c := range s.Containers {
			if !c.Running {
				continue
			}
			if err := ctx.Err(); err != nil {
				return restart, err
			}
			log.Info("stopping container", "service", s.Name, "container", c.Name)
			if err := eng.StopContainer(ctx, c.ID, nil); err != nil {
				// It may have stopped all the same: start it again too.
				done = append(done, stopped{s.Name, c.ID, c.Name})
				return restart, fmt.Errorf("stopping service %s: %w", s.Name, err)
			}
			done = append(done, stopped{s.Name, c.ID, c.Name})
		}
	}
	return restart, nil
}
