package engine

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Engine is docker-backup's view of the Docker API: the few operations it
// performs, with the pitfalls of the raw API handled once, here.
type Engine struct {
	api client.APIClient
}

// New wraps an API client (the docker CLI's, or one from NewFromEnv).
func New(api client.APIClient) *Engine { return &Engine{api: api} }

// API is the underlying client, for operations without pitfalls.
func (e *Engine) API() client.APIClient { return e.api }

// ExecOptions describe a command run inside a running container.
type ExecOptions struct {
	Cmd []string
	// Env adds variables to the process: this is where credentials go,
	// never Cmd.
	Env    []string
	User   string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Exec runs a command in a container, streams its output into the writers
// until it ends, and returns its exit code. Output is never read through a
// TTY: a TTY merges stderr and rewrites newlines.
func (e *Engine) Exec(ctx context.Context, containerID string, opts ExecOptions) (int, error) {
	created, err := e.api.ContainerExecCreate(ctx, containerID, container.ExecOptions{
		Cmd:          opts.Cmd,
		Env:          opts.Env,
		User:         opts.User,
		AttachStdin:  opts.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Tty:          false,
	})
	if err != nil {
		return -1, fmt.Errorf("cannot run %s in container %.12s: %w", opts.Cmd[0], containerID, err)
	}
	resp, err := e.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: false})
	if err != nil {
		return -1, fmt.Errorf("cannot attach to %s in container %.12s: %w", opts.Cmd[0], containerID, err)
	}
	// The hijacked connection ignores ctx: close it when ctx ends.
	stop := context.AfterFunc(ctx, resp.Close)
	defer stop()
	defer resp.Close()

	var stdinErr error
	var wg sync.WaitGroup
	if opts.Stdin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, stdinErr = io.Copy(resp.Conn, opts.Stdin)
			// EOF for the process, while its output is still drained.
			_ = resp.CloseWrite()
		}()
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// Multiplexed because Tty is false, whatever the media type says
	// (engines below API 1.42 label it a raw stream).
	_, copyErr := stdcopy.StdCopy(stdout, stderr, resp.Reader)
	wg.Wait()
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if copyErr != nil {
		return -1, fmt.Errorf("reading the output of %s: %w", opts.Cmd[0], copyErr)
	}
	if stdinErr != nil {
		return -1, fmt.Errorf("feeding %s: %w", opts.Cmd[0], stdinErr)
	}
	// Exit code 0 can also mean "still running": ask until it is not.
	for i := 0; ; i++ {
		ins, err := e.api.ContainerExecInspect(context.WithoutCancel(ctx), created.ID)
		if err != nil {
			return -1, fmt.Errorf("cannot read the exit code of %s: %w", opts.Cmd[0], err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		if err := sleepCtx(ctx, i); err != nil {
			return -1, err
		}
	}
}
