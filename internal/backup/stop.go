package backup

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/docker-backup/docker-backup/internal/project"
)

// restartTimeout bounds the restart of containers after an error or an
// interrupt, when the command's context is already cancelled.
const restartTimeout = 2 * time.Minute

// stopProject stops the running containers of the selected services,
// dependents first, a level of the dependency graph at once as compose
// does, and returns the function that starts them again, dependencies
// first, a level at once. It must always be called, also on failure: it
// runs under a context the interrupt does not cancel. Containers that
// were not running are left alone.
func stopProject(ctx context.Context, eng Engine, p *project.Project, services []*project.Service, log *slog.Logger) (func() error, error) {
	selected := map[string]bool{}
	for _, s := range services {
		selected[s.Name] = true
	}
	var sel []*project.Service
	for _, s := range p.Services {
		if selected[s.Name] {
			sel = append(sel, s)
		}
	}
	var mu sync.Mutex
	stopped := map[string]bool{}
	restart := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restartTimeout)
		defer cancel()
		err := project.InLevels(sel, false, true, func(s *project.Service, c project.Container) error {
			mu.Lock()
			was := stopped[c.ID]
			mu.Unlock()
			if !was {
				return nil
			}
			log.Info("starting container", "service", s.Name, "container", c.Name)
			if err := eng.StartContainer(rctx, c.ID); err != nil {
				return fmt.Errorf("service %s: %w (start it with docker compose start %s)", s.Name, err, s.Name)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("could not restart every container: %w", err)
		}
		return nil
	}
	err := project.InLevels(sel, true, false, func(s *project.Service, c project.Container) error {
		if !c.Running {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		log.Info("stopping container", "service", s.Name, "container", c.Name)
		err := eng.StopContainer(ctx, c.ID, nil)
		// It may have stopped even when that failed: start it again too.
		mu.Lock()
		stopped[c.ID] = true
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("stopping service %s: %w", s.Name, err)
		}
		return nil
	})
	return restart, err
}
