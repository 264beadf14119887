package dbdump

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker-backup/docker-backup/internal/engine"
)

// maxCapture bounds the output of small queries and of stderr kept for errors.
const maxCapture = 1 << 20

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.buf)) }

// limitedBuffer fails once more than max bytes are written. The buffer is
// not embedded: its WriteString and ReadFrom (used by io.WriteString and
// io.Copy) would bypass the limit.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, fmt.Errorf("output larger than %d bytes", l.max)
	}
	return l.buf.Write(p)
}

func (l *limitedBuffer) String() string { return l.buf.String() }

// toolError describes a failed command by its tool name, exit code and
// stderr. The command line is not included: only its first word.
func toolError(cmd []string, code int, stderr string) error {
	if stderr == "" {
		stderr = "no error output"
	}
	return fmt.Errorf("%s failed (exit code %d): %s", cmd[0], code, stderr)
}

// session runs a database's client tools in its container: with the
// credentials in env, as user ("" for the container's own user), each
// command stopped inside the container when its context ends or its
// output is no longer read.
type session struct {
	x    execer
	id   string
	env  []string
	user string
}

func (s session) opts(cmd []string) engine.ExecOptions {
	return engine.ExecOptions{Cmd: cmd, Env: s.env, User: s.user, KillOnCancel: true}
}

// capture runs a short command and returns its stdout.
func (s session) capture(ctx context.Context, cmd []string) (string, error) {
	return s.query(ctx, cmd, nil)
}

// query runs a short command with stdin (nil for none) and returns its
// stdout.
func (s session) query(ctx context.Context, cmd []string, stdin io.Reader) (string, error) {
	stdout := &limitedBuffer{max: maxCapture}
	stderr := &tailBuffer{max: 8 << 10}
	o := s.opts(cmd)
	o.Stdin, o.Stdout, o.Stderr = stdin, stdout, stderr
	code, err := s.x.Exec(ctx, s.id, o)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", toolError(cmd, code, stderr.String())
	}
	return stdout.String(), nil
}

// stream runs dump commands one after the other and streams their
// stdout. The reader fails with the tool's stderr when a command exits
// non-zero; closing it early stops reading the exec's output, and the
// command.
func (s session) stream(ctx context.Context, cmds [][]string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		for _, cmd := range cmds {
			stderr := &tailBuffer{max: 8 << 10}
			o := s.opts(cmd)
			o.Stdout, o.Stderr = pw, stderr
			code, err := s.x.Exec(ctx, s.id, o)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if code != 0 {
				pw.CloseWithError(toolError(cmd, code, stderr.String()))
				return
			}
		}
		pw.Close()
	}()
	return pr
}

// feed runs cmd with r on its stdin; a non-zero exit fails with its
// stderr, which also goes to stderr when not nil.
func (s session) feed(ctx context.Context, cmd []string, r io.Reader, stderr io.Writer) error {
	tail := &tailBuffer{max: 8 << 10}
	var errOut io.Writer = tail
	if stderr != nil {
		errOut = io.MultiWriter(tail, stderr)
	}
	o := s.opts(cmd)
	o.Stdin, o.Stdout, o.Stderr = r, io.Discard, errOut
	code, err := s.x.Exec(ctx, s.id, o)
	if err != nil {
		return err
	}
	if code != 0 {
		return toolError(cmd, code, tail.String())
	}
	return nil
}

// capture runs a short command without credentials, as the container's
// user.
func capture(ctx context.Context, x execer, id string, cmd, env []string) (string, error) {
	return session{x: x, id: id, env: env}.capture(ctx, cmd)
}

// stream is session.stream with the container's user.
func stream(ctx context.Context, x execer, id string, cmds [][]string, env []string) io.ReadCloser {
	return session{x: x, id: id, env: env}.stream(ctx, cmds)
}

// osUser is the user to run a server's client as for a load: the
// container's own when it is not root, else the engine's user (postgres,
// mysql) when the image has it, so that nothing a dump makes the client
// do runs as root. "" with a note when only root is there.
func osUser(ctx context.Context, x execer, id, name string) (string, string) {
	who, err := capture(ctx, x, id, []string{"id", "-un"}, nil)
	if err != nil || strings.TrimSpace(who) != "root" {
		return "", ""
	}
	if _, err := capture(ctx, x, id, []string{"id", "-u", name}, nil); err == nil {
		return name, ""
	}
	return "", "the container has no " + name + " user: its client loads the dumps as root"
}

// lines splits command output into non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}
