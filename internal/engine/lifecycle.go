package engine

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
)

// StopContainer stops a container, giving it timeout seconds (nil: its own
// stop timeout) before it is killed.
func (e *Engine) StopContainer(ctx context.Context, id string, timeout *int) error {
	if err := e.api.ContainerStop(ctx, id, container.StopOptions{Timeout: timeout}); err != nil {
		return fmt.Errorf("cannot stop container %.12s: %w", id, err)
	}
	return nil
}

// StartContainer starts a stopped container.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	if err := e.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("cannot start container %.12s: %w", id, err)
	}
	return nil
}
