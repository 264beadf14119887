package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

// execer runs commands in containers (engine.Engine in production).
type execer interface {
	Exec(ctx context.Context, containerID string, opts engine.ExecOptions) (int, error)
}

// lifecycle stops, starts and waits for containers.
type lifecycle interface {
	StopContainer(ctx context.Context, id string, timeout *int) error
	StartContainer(ctx context.Context, id string) error
	WaitReady(ctx context.Context, id string) error
}

// containerInspector reads a container's state and config.
type containerInspector interface {
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
}

// stopServices stops the running containers of services, dependents
// first: as compose does, every container of one level of the dependency
// graph at once, each with its own stop signal and grace period.
func stopServices(ctx context.Context, eng lifecycle, services []*project.Service, log *slog.Logger) error {
	return project.InLevels(services, true, false, func(s *project.Service, c project.Container) error {
		if !c.Running {
			return nil
		}
		log.Info("stopping container", "service", s.Name, "container", c.Name)
		if err := eng.StopContainer(ctx, c.ID, nil); err != nil {
			return fmt.Errorf("stopping service %s: %w", s.Name, err)
		}
		return nil
	})
}

// settle brings every container of p to the state want says (running or
// not): it starts those that should run, dependencies first, a level of
// the dependency graph at a time, waiting until each is ready (healthy,
// when it has a health check) before starting the next level; then it
// stops those that should not run, dependents first.
func settle(ctx context.Context, api containerInspector, eng lifecycle, p *project.Project, want func(project.Container) bool, readyTimeout time.Duration, log *slog.Logger) error {
	startErr := project.InLevels(p.Services, false, true, func(s *project.Service, c project.Container) error {
		if !want(c) {
			return nil
		}
		running, err := isRunning(ctx, api, c.ID)
		if err != nil {
			return err
		}
		if !running {
			log.Info("starting container", "service", s.Name, "container", c.Name)
			if err := eng.StartContainer(ctx, c.ID); err != nil {
				return fmt.Errorf("service %s: %w (start it with docker compose start %s)", s.Name, err, s.Name)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := eng.WaitReady(wctx, c.ID); err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
		return nil
	})
	stopErr := project.InLevels(p.Services, true, true, func(s *project.Service, c project.Container) error {
		if want(c) {
			return nil
		}
		running, err := isRunning(ctx, api, c.ID)
		if err != nil {
			return err
		}
		if running {
			log.Info("stopping container", "service", s.Name, "container", c.Name)
			if err := eng.StopContainer(ctx, c.ID, nil); err != nil {
				return fmt.Errorf("service %s: %w", s.Name, err)
			}
		}
		return nil
	})
	return errors.Join(startErr, stopErr)
}

func isRunning(ctx context.Context, api containerInspector, id string) (bool, error) {
	info, err := api.ContainerInspect(ctx, id)
	if err != nil {
		return false, fmt.Errorf("cannot inspect container %.12s: %w", id, err)
	}
	return info.State != nil && info.State.Running, nil
}

// startForLoad starts the stopped containers of the database services to
// load and waits until they accept connections.
func startForLoad(ctx context.Context, api containerInspector, eng lifecycle, pl *plan, readyTimeout time.Duration, log *slog.Logger) error {
	var toStart []*project.Service
	for _, s := range pl.p.Services {
		if pl.loaded[s.Name] && !s.Running() && len(s.Containers) > 0 {
			toStart = append(toStart, s)
		}
	}
	err := project.InLevels(toStart, false, false, func(s *project.Service, c project.Container) error {
		if c.ID != s.Containers[0].ID {
			return nil
		}
		log.Info("starting database container to load it", "service", s.Name, "container", c.Name)
		if err := eng.StartContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("starting database service %s: %w", s.Name, err)
		}
		wctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := eng.WaitReady(wctx, c.ID); err != nil {
			return fmt.Errorf("database service %s: %w", s.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range toStart {
		s.Containers[0].Running = true
	}
	return nil
}

// connectDB connects to a database service's server for a restore. A
// server that just started may not accept connections yet (the official
// images restart it after their first initialisation): it is retried for a
// while.
func connectDB(ctx context.Context, api containerInspector, x execer, s *project.Service, id, engineName string) (*dbdump.Server, error) {
	info, err := api.ContainerInspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("inspecting the container of service %s: %w", s.Name, err)
	}
	var env []string
	if info.Config != nil {
		env = info.Config.Env
	}
	t := dbdump.Target{Service: s.Name, ContainerID: id, Env: env, UserEnv: s.Backup.UserEnv, PasswordEnv: s.Backup.PasswordEnv}
	deadline := time.Now().Add(connectRetry)
	for {
		srv, err := dbdump.Connect(ctx, x, engineName, t)
		if err == nil {
			return srv, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// connectRetry bounds how long a database that just started may refuse
// connections.
var connectRetry = 60 * time.Second

// Start starts every service of the project but the excluded ones,
// dependencies first, each waited for until it is ready: a standby
// host's project when it is promoted. A service without a container
// (never created) is an error that says how to create it.
func Start(ctx context.Context, api dockerAPI, eng Engine, opts Options) error {
	opts.defaults()
	p, err := loadProject(ctx, api, opts)
	if err != nil {
		return err
	}
	var missing []string
	for _, s := range p.Services {
		if len(s.Containers) == 0 {
			missing = append(missing, s.Name)
		}
	}
	err = settle(ctx, api, eng, p, func(project.Container) bool { return true }, opts.ReadyTimeout, opts.Logger)
	if len(missing) > 0 {
		err = errors.Join(err, fmt.Errorf("service(s) %s have no container: create them with docker compose up -d", strings.Join(missing, ", ")))
	}
	return err
}
