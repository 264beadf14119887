package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// StopContainer stops a container, giving it timeout seconds (nil: its own
// stop timeout) before it is killed.
func (e *Engine) StopContainer(ctx context.Context, id string, timeout *int) error {
	if err := e.api.ContainerStop(ctx, id, container.StopOptions{Timeout: timeout}); err != nil {
		return fmt.Errorf("cannot stop container %.12s: %w", id, err)
	}
	return nil
}

// engineRestartWait bounds how long StartContainer waits for an engine
// that does not answer.
const engineRestartWait = 90 * time.Second

// StartContainer starts a stopped container. When the engine does not
// answer, or fails the start while it shuts down (a restart, say, which is
// also what broke the backup or restore that now puts the containers
// back), it waits for the engine and tries again: a container we stopped
// must not stay stopped because the engine was away for a moment.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	give := time.Now().Add(engineRestartWait)
	for {
		err := e.api.ContainerStart(ctx, id, container.StartOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(give) || !(client.IsErrConnectionFailed(err) || e.goingAway(ctx)) {
			return fmt.Errorf("cannot start container %.12s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot start container %.12s: %w", id, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// goingAway tells whether the engine stops answering within a few
// seconds: an engine that shuts down fails requests for a moment before
// its socket closes.
func (e *Engine) goingAway(ctx context.Context) bool {
	for range 6 {
		if _, err := e.api.Ping(ctx); client.IsErrConnectionFailed(err) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
	return false
}

// WaitReady waits until a started container runs and, when it has a health
// check, reports healthy. It fails when the container exits or turns
// unhealthy; ctx bounds the wait. A container that exited with code 0
// completed, as compose's service_completed_successfully says.
func (e *Engine) WaitReady(ctx context.Context, id string) error {
	for i := 0; ; i++ {
		info, err := e.api.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("cannot inspect container %.12s: %w", id, err)
		}
		st := info.State
		switch {
		case st == nil:
		case !st.Running && !st.Restarting && st.Status == "exited" && st.ExitCode == 0:
			// A one-shot service (a migration job) that completed.
			return nil
		case !st.Running && !st.Restarting && st.Status != "created":
			return fmt.Errorf("container %s exited with code %d: see docker logs %s", name(info), st.ExitCode, name(info))
		case st.Running && (st.Health == nil || st.Health.Status == "" || st.Health.Status == "healthy"):
			return nil
		case st.Health != nil && st.Health.Status == "unhealthy":
			return fmt.Errorf("container %s is unhealthy: see docker inspect %s", name(info), name(info))
		}
		if err := sleepCtx(ctx, i+20); err != nil {
			return fmt.Errorf("waiting for container %s to be ready: %w", name(info), err)
		}
	}
}

func name(info container.InspectResponse) string {
	if info.ContainerJSONBase == nil {
		return ""
	}
	return strings.TrimPrefix(info.Name, "/")
}

// Throwaway starts a container of image with env, no network and a fresh
// volume at dataDir, labelled as a helper; remove stops it and deletes it
// and the volume, also after a cancel. Nothing is pulled: the image must be
// present.
func (e *Engine) Throwaway(ctx context.Context, image string, env []string, dataDir string) (id string, remove func(), err error) {
	vol, err := e.api.VolumeCreate(ctx, volume.CreateOptions{Labels: helperLabels(ctx)})
	if err != nil {
		return "", nil, fmt.Errorf("cannot create a temporary volume: %w", err)
	}
	removeVolume := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = e.api.VolumeRemove(rctx, vol.Name, true)
	}
	resp, err := e.api.ContainerCreate(ctx, &container.Config{
		Image:           image,
		Env:             env,
		Labels:          helperLabels(ctx),
		NetworkDisabled: true,
	}, &container.HostConfig{
		NetworkMode: "none",
		Mounts:      e.helperMounts(ctx, image, mount.Mount{Type: mount.TypeVolume, Source: vol.Name, Target: dataDir}),
	}, &network.NetworkingConfig{}, nil, "")
	if err != nil {
		removeVolume()
		return "", nil, fmt.Errorf("cannot create a test container from image %s: %w", image, err)
	}
	remove = func() {
		e.removeHelper(ctx, resp.ID)
		removeVolume()
	}
	if err := e.api.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		remove()
		return "", nil, fmt.Errorf("cannot start a test container from image %s: %w", image, err)
	}
	return resp.ID, remove, nil
}
