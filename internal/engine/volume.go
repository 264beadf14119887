package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
)

// HelperLabel marks the containers docker-backup creates to reach volumes.
const HelperLabel = "org.docker-backup.helper"

// helperMount is where a helper container mounts the volume.
const helperMount = "/docker-backup-volume"

// ReadVolume streams a volume's content as a tar (entries "./...") and calls
// fn with it. It creates, but never starts, a helper container from an image
// already present (nothing is pulled), mounts the volume read-only, and
// always removes the helper. The daemon holds the helper's lock while the
// stream is open, which is why this never runs on a user's container.
func (e *Engine) ReadVolume(ctx context.Context, image, volume string, fn func(io.Reader) error) error {
	return e.read(ctx, image, mount.Mount{
		Type: mount.TypeVolume, Source: volume, Target: helperMount, ReadOnly: true,
		// The image's content at the mount point must not be copied in.
		VolumeOptions: &mount.VolumeOptions{NoCopy: true},
	}, fn)
}

func (e *Engine) read(ctx context.Context, image string, m mount.Mount, fn func(io.Reader) error) error {
	volume := m.Source
	id, err := e.createHelper(ctx, image, m)
	if err != nil {
		return err
	}
	defer e.removeHelper(ctx, id)
	rc, _, err := e.api.CopyFromContainer(ctx, id, helperMount+"/.")
	if err != nil {
		return fmt.Errorf("cannot read volume %s: %w", volume, err)
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	if err := fn(rc); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

func (e *Engine) createHelper(ctx context.Context, image string, m mount.Mount) (string, error) {
	volume := m.Source
	resp, err := e.api.ContainerCreate(ctx, &container.Config{
		Image: image,
		// Never started: any command will do, but the engine wants one.
		Entrypoint:      []string{"/docker-backup-helper-is-never-started"},
		Cmd:             []string{},
		Labels:          map[string]string{HelperLabel: "true"},
		NetworkDisabled: true,
	}, &container.HostConfig{
		NetworkMode: "none",
		Mounts:      []mount.Mount{m},
	}, &network.NetworkingConfig{}, nil, "")
	if err != nil {
		return "", fmt.Errorf("cannot create a helper container for volume %s from image %s: %w", volume, image, err)
	}
	return resp.ID, nil
}

// removeHelper runs even after a cancel: a helper left behind would hold
// the volume.
func (e *Engine) removeHelper(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = e.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: false})
}

// ReadBind streams a bind-mounted host folder like ReadVolume.
func (e *Engine) ReadBind(ctx context.Context, image, hostPath string, fn func(io.Reader) error) error {
	return e.read(ctx, image, mount.Mount{Type: mount.TypeBind, Source: hostPath, Target: helperMount, ReadOnly: true}, fn)
}
