package restore

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/project"
)

// hook is one restore hook of a service.
type hook struct {
	service string
	when    string
	cmd     project.Command
}

// runHooks runs hooks in their services' first running container, in
// order; the first that fails stops them and fails the restore. Their
// output goes to events, each line prefixed with the service's name.
func runHooks(ctx context.Context, x execer, p *project.Project, hooks []hook, out event.Sink) error {
	for _, h := range hooks {
		s, err := p.Service(h.service)
		if err != nil {
			return err
		}
		c, ok := s.Primary()
		if !ok {
			return fmt.Errorf("%s restore hook of service %s: the service is not running", h.when, h.service)
		}
		out.Messagef("running %s hook in service %s: %s", h.when, h.service, describe(h.cmd))
		pw := &prefixWriter{out: out, prefix: h.service + " | "}
		code, err := x.Exec(ctx, c.ID, engine.ExecOptions{Cmd: h.cmd, Stdout: pw, Stderr: pw})
		pw.flush()
		if err != nil {
			return fmt.Errorf("%s restore hook of service %s: %w", h.when, h.service, err)
		}
		if code != 0 {
			return fmt.Errorf("%s restore hook of service %s (%s) failed with exit code %d", h.when, h.service, describe(h.cmd), code)
		}
	}
	return nil
}

// describe shows a hook's command as written: sh -c's script, or the list.
func describe(c project.Command) string {
	if len(c) == 3 && c[0] == "sh" && c[1] == "-c" {
		return c[2]
	}
	return strings.Join(c, " ")
}

// prefixWriter prefixes every line; Exec writes from one goroutine.
type prefixWriter struct {
	out    event.Sink
	prefix string
	part   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.part = append(p.part, b...)
	for {
		i := strings.IndexByte(string(p.part), '\n')
		if i < 0 {
			break
		}
		p.out.Messagef("%s%s", p.prefix, p.part[:i])
		p.part = p.part[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.part) > 0 {
		p.out.Messagef("%s%s", p.prefix, p.part)
		p.part = nil
	}
}
