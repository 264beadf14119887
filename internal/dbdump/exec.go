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

// capture runs a short command and returns its stdout.
func capture(ctx context.Context, x execer, id string, cmd, env []string) (string, error) {
	stdout := &limitedBuffer{max: maxCapture}
	stderr := &tailBuffer{max: 8 << 10}
	code, err := x.Exec(ctx, id, engine.ExecOptions{Cmd: cmd, Env: env, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", toolError(cmd, code, stderr.String())
	}
	return stdout.String(), nil
}

// stream runs a dump command and streams its stdout. The reader fails with
// the tool's stderr when the command exits non-zero; closing it early stops
// reading the exec's output.
func stream(ctx context.Context, x execer, id string, cmds [][]string, env []string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		for _, cmd := range cmds {
			stderr := &tailBuffer{max: 8 << 10}
			code, err := x.Exec(ctx, id, engine.ExecOptions{Cmd: cmd, Env: env, Stdout: pw, Stderr: stderr})
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
