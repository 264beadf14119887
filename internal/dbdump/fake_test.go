package dbdump

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/docker-backup/docker-backup/internal/engine"
)

// reply is what a fake command prints and how it ends.
type reply struct {
	stdout, stderr string
	code           int
	err            error
}

// execCall is one recorded Exec.
type execCall struct {
	id    string
	cmd   []string
	env   []string
	user  string
	stdin string
	kill  bool
}

// fakeExec answers commands with a handler and records every call.
type fakeExec struct {
	mu      sync.Mutex
	calls   []execCall
	handler func(cmd, env []string) reply
}

func (f *fakeExec) Exec(_ context.Context, id string, opts engine.ExecOptions) (int, error) {
	call := execCall{id: id, cmd: append([]string(nil), opts.Cmd...), env: append([]string(nil), opts.Env...), user: opts.User, kill: opts.KillOnCancel}
	if opts.Stdin != nil {
		b, err := io.ReadAll(opts.Stdin)
		if err != nil {
			return -1, err
		}
		call.stdin = string(b)
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	r := reply{code: 127, stderr: "sh: " + opts.Cmd[0] + ": not found"}
	if f.handler != nil {
		r = f.handler(opts.Cmd, opts.Env)
	}
	if r.err != nil {
		return -1, r.err
	}
	if r.stdout != "" && opts.Stdout != nil {
		if _, err := io.WriteString(opts.Stdout, r.stdout); err != nil {
			return -1, err
		}
	}
	if r.stderr != "" && opts.Stderr != nil {
		io.WriteString(opts.Stderr, r.stderr)
	}
	return r.code, nil
}

func (f *fakeExec) recorded() []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]execCall(nil), f.calls...)
}

// callsOf returns the recorded calls whose command starts with prog.
func (f *fakeExec) callsOf(prog string) []execCall {
	var out []execCall
	for _, c := range f.recorded() {
		if len(c.cmd) > 0 && c.cmd[0] == prog {
			out = append(out, c)
		}
	}
	return out
}

// assertSecretOnlyInEnv checks that secret appears in no command line and
// only in the environment of execs, as NAME=secret.
func assertSecretOnlyInEnv(t *testing.T, f *fakeExec, secret, envName string) {
	t.Helper()
	inEnv := 0
	for _, c := range f.recorded() {
		for _, arg := range c.cmd {
			if strings.Contains(arg, secret) {
				t.Errorf("secret in the command line of %q: %q", c.cmd[0], c.cmd)
			}
		}
		for _, e := range c.env {
			if strings.Contains(e, secret) {
				if e != envName+"="+secret {
					t.Errorf("secret in env %q, want only in %s", e, envName)
				}
				inEnv++
			}
		}
	}
	if inEnv == 0 {
		t.Errorf("secret never passed in %s", envName)
	}
}

// hasArg reports whether cmd holds arg.
func hasArg(cmd []string, arg string) bool {
	for _, a := range cmd {
		if a == arg {
			return true
		}
	}
	return false
}

// argsWithPrefix returns cmd's arguments that start with prefix.
func argsWithPrefix(cmd []string, prefix string) []string {
	var out []string
	for _, a := range cmd {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

// readJob opens a job and reads its stream to the end.
func readJob(t *testing.T, j Job) (string, error) {
	t.Helper()
	rc := j.Open(context.Background())
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

// catFiles answers `cat -- PATH` from files, other commands with next.
func catFiles(files map[string]string, next func(cmd, env []string) reply) func(cmd, env []string) reply {
	return func(cmd, env []string) reply {
		if len(cmd) == 3 && cmd[0] == "cat" && cmd[1] == "--" {
			if content, ok := files[cmd[2]]; ok {
				return reply{stdout: content}
			}
			return reply{code: 1, stderr: fmt.Sprintf("cat: %s: No such file or directory", cmd[2])}
		}
		if next == nil {
			return reply{code: 127, stderr: "not found"}
		}
		return next(cmd, env)
	}
}
