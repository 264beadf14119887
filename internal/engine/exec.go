package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// KillOnCancel stops the command inside the container when ctx ends
	// or its streams fail: closing the connection does not (a pg_dump
	// waiting on a lock would go on holding its transaction). The
	// command then runs under sh, which tells its pid first.
	KillOnCancel bool
}

// pidWrapper reports the command's pid on stderr, then becomes it.
const pidWrapper = `echo "docker-backup-pid $$" >&2; exec "$@"`

// killScript asks the process to stop as Ctrl-C would (the database
// clients then cancel their query on the server), then terminates it,
// then kills it.
const killScript = `p=$1
kill -INT "$p" 2>/dev/null || exit 0
for sig in INT INT INT INT INT INT INT INT INT INT TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM TERM; do
  sleep 0.1
  kill -0 "$p" 2>/dev/null || exit 0
  [ "$sig" = TERM ] && kill -TERM "$p" 2>/dev/null
done
kill -KILL "$p" 2>/dev/null
exit 0`

// killTimeout bounds the stop of a command after a cancel.
const killTimeout = 15 * time.Second

// Exec runs a command in a container, streams its output into the writers
// until it ends, and returns its exit code. Output is never read through a
// TTY: a TTY merges stderr and rewrites newlines.
func (e *Engine) Exec(ctx context.Context, containerID string, opts ExecOptions) (code int, err error) {
	cmd := opts.Cmd
	stderr := opts.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	var pid *pidCatcher
	if opts.KillOnCancel {
		pid = &pidCatcher{w: stderr}
		stderr = pid
		cmd = append([]string{"sh", "-c", pidWrapper, "sh"}, cmd...)
	}
	created, err := e.api.ContainerExecCreate(ctx, containerID, container.ExecOptions{
		Cmd:          cmd,
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
	if pid != nil {
		defer func() {
			if err != nil {
				e.kill(ctx, containerID, opts.User, pid.pid())
			}
		}()
	}

	var stdinErr error
	var wg sync.WaitGroup
	stdinDone := make(chan struct{})
	in := &eofReader{r: opts.Stdin}
	if opts.Stdin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stdinDone)
			_, stdinErr = io.Copy(resp.Conn, in)
			// EOF for the process, while its output is still drained.
			_ = resp.CloseWrite()
		}()
	} else {
		close(stdinDone)
	}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	// Multiplexed because Tty is false, whatever the media type says
	// (engines below API 1.42 label it a raw stream).
	_, copyErr := stdcopy.StdCopy(stdout, stderr, resp.Reader)
	// The output ends when the process does. One that exits before it
	// has read all of its input (a client stopping at the first error)
	// leaves the engine holding the connection, and our write of stdin
	// blocked for minutes: the connection is closed instead, and the
	// exit code says what happened.
	exitedEarly := false
	select {
	case <-stdinDone:
	default:
		if copyErr == nil {
			exitedEarly = true
			resp.Close()
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if copyErr != nil {
		return -1, fmt.Errorf("reading the output of %s: %w", opts.Cmd[0], copyErr)
	}
	if stdinErr != nil && !exitedEarly {
		return -1, fmt.Errorf("feeding %s: %w", opts.Cmd[0], stdinErr)
	}
	// Exit code 0 can also mean "still running": ask until it is not.
	for i := 0; ; i++ {
		ins, err := e.api.ContainerExecInspect(context.WithoutCancel(ctx), created.ID)
		if err != nil {
			return -1, fmt.Errorf("cannot read the exit code of %s: %w", opts.Cmd[0], err)
		}
		if !ins.Running {
			if exitedEarly && ins.ExitCode == 0 && !in.eof.Load() {
				return -1, fmt.Errorf("%s exited before it read all of its input", opts.Cmd[0])
			}
			return ins.ExitCode, nil
		}
		if err := sleepCtx(ctx, i); err != nil {
			return -1, err
		}
	}
}

// eofReader tells whether its reader reached its end.
type eofReader struct {
	r   io.Reader
	eof atomic.Bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof.Store(true)
	}
	return n, err
}

// kill stops the process pid of a command whose Exec failed or was
// cancelled, also after a cancel: a dump left running holds its
// transaction open on the server.
func (e *Engine) kill(ctx context.Context, containerID, user string, pid int) {
	if pid <= 0 {
		return
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
	defer cancel()
	_, _ = e.Exec(kctx, containerID, ExecOptions{Cmd: []string{"sh", "-c", killScript, "sh", strconv.Itoa(pid)}, User: user})
}

// pidCatcher takes the wrapper's first stderr line, the pid, and passes
// the rest on.
type pidCatcher struct {
	w    io.Writer
	line []byte
	done bool
	n    int
}

func (p *pidCatcher) Write(b []byte) (int, error) {
	if p.done {
		return p.w.Write(b)
	}
	total := len(b)
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(p.line) < 64 {
			p.line = append(p.line, b...)
		}
		return total, nil
	}
	p.line = append(p.line, b[:i]...)
	p.done = true
	if v, ok := strings.CutPrefix(string(p.line), "docker-backup-pid "); ok {
		p.n, _ = strconv.Atoi(v)
	} else {
		// Not the wrapper's line (sh failed first): it is the error.
		if _, err := p.w.Write(append(p.line, '\n')); err != nil {
			return 0, err
		}
	}
	if _, err := p.w.Write(b[i+1:]); err != nil {
		return 0, err
	}
	return total, nil
}

func (p *pidCatcher) pid() int { return p.n }
