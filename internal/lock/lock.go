// Package lock keeps two docker-backup runs from working on the same compose
// project of the same Docker engine at once: a backup taken while a restore
// rewrites the volumes, or two restores interleaving, would leave data that
// neither run intended. The second run waits for the first, or fails at once
// when the user asked not to wait.
//
// The lock lives on the engine itself, so that every copy of docker-backup
// that reaches the engine sees it: the plugin on the host, a cron job with
// another environment, the scheduled container, another machine through a
// docker context. It is a container that is created and never started,
// named after the project: the engine creates a name at most once, so
// creating it is taking the lock, and removing it is releasing it. Its
// labels say who holds it (host, pid, verb, start time) and carry the job's
// ID, which the helper containers of that run carry too.
//
// A holder that dies cannot release it, so the lock is a lease: the holder
// renews it every TTL/6 by writing a file into the container, whose mtime
// is the engine's time (the engine's clock is the one every copy shares).
// A waiting run takes the lock over only when it is provably stale: its
// lease is older than its TTL, or its holder is a process of this very
// host and process namespace that no longer exists. A holder that finds
// its lock gone (taken over while it could not renew it) is told through
// Lost, and stops.
package lock

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// API is what the lock needs of the Engine API (client.APIClient).
type API interface {
	Info(ctx context.Context) (system.Info, error)
	ImageAPI
	Creator
	FileWriter
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error)
}

// Sentinel errors; test with errors.Is.
var (
	// ErrLocked: another run holds the project's lock and the caller did
	// not want to wait.
	ErrLocked = errors.New("project is locked")
	// ErrLost: the lock was taken over by another run while its holder
	// could not renew it.
	ErrLost = errors.New("the project's lock was lost")
)

// Labels of the lock containers.
const (
	// Label marks a lock container: "project" for a project's lock, "job"
	// for the lease of a run that locks no project (verify --deep).
	Label        = "org.docker-backup.lock"
	ProjectLabel = "org.docker-backup.lock.project"
	// JobLabel carries the run's ID: its lock and its helpers have it.
	JobLabel    = "org.docker-backup.job"
	ttlLabel    = "org.docker-backup.lock.ttl"
	engineLabel = "org.docker-backup.lock.engine" // the engine's ID
	hostLabel   = "org.docker-backup.lock.holder.host"
	pidLabel    = "org.docker-backup.lock.holder.pid"
	verbLabel   = "org.docker-backup.lock.holder.verb"
	sinceLabel  = "org.docker-backup.lock.holder.since"
	// procLabel identifies the holder's process beyond its pid: boot,
	// pid namespace and start time, so that a dead holder is told from a
	// live one with the same pid.
	procLabel = "org.docker-backup.lock.holder.process"
)

// Image is the image lock containers are created from: empty, imported
// once (nothing is pulled), never run.
const Image = "docker-backup/lock:1"

// leaseFile is the file whose mtime is the lease.
const leaseFile = "lease"

// DefaultTTL is how long a lease lasts unless renewed.
const DefaultTTL = 60 * time.Second

// Options say what is locked, and how to wait.
type Options struct {
	// Project is locked exclusively; "" registers a job lease that locks
	// nothing (its helpers are then known to be live).
	Project string
	Verb    string
	// NoWait fails at once when the project is locked; otherwise Waiting
	// (if set) is told once whom the run waits for.
	NoWait  bool
	Waiting func(holder string)
	// TTL of the lease (DefaultTTL), and how often a waiter looks again
	// (a second). Tests shorten them.
	TTL, Poll time.Duration
	// Self is this process, Alive tells whether a process of this host
	// runs: tests replace them.
	Self  *Process
	Alive func(Process) bool
}

// Lock is a held lock, renewed until Release.
type Lock struct {
	api   API
	id    string
	name  string
	job   string
	clock *engineClock
	ttl   time.Duration

	stop     chan struct{}
	done     chan struct{}
	lost     chan struct{}
	lostOnce sync.Once
	relOnce  sync.Once
}

// Job is the run's ID, which its helpers carry (JobLabel).
func (l *Lock) Job() string { return l.job }

// Lost is closed when the lock was taken over: the run must stop.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Name is the project's lock name on the engine.
func Name(project string) string { return "docker-backup-lock-" + project }

func jobName(job string) string { return "docker-backup-job-" + job }

// Acquire takes the lock of opts.Project on the engine, or registers a
// job's lease when Project is "".
func Acquire(ctx context.Context, api API, opts Options) (*Lock, error) {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Self == nil {
		opts.Self = self
	}
	if opts.Alive == nil {
		opts.Alive = alive
	}
	if err := validProject(opts.Project); err != nil {
		return nil, err
	}
	if err := EnsureImage(ctx, api); err != nil {
		return nil, err
	}
	clock, err := newEngineClock(ctx, api)
	if err != nil {
		return nil, err
	}
	job := newJob()
	kind, name := "project", Name(opts.Project)
	if opts.Project == "" {
		kind, name = "job", jobName(job)
	}
	labels := map[string]string{
		Label: kind, JobLabel: job, ttlLabel: opts.TTL.String(),
		hostLabel: opts.Self.Host, pidLabel: strconv.Itoa(opts.Self.PID), procLabel: opts.Self.key(),
		verbLabel: opts.Verb, sinceLabel: clock.now().UTC().Format(time.RFC3339), engineLabel: clock.engine,
	}
	if opts.Project != "" {
		labels[ProjectLabel] = opts.Project
	}
	told := false
	for {
		id, err := CreateInert(ctx, api, name, "lock", labels)
		if err == nil {
			l := &Lock{api: api, id: id, name: name, job: job, clock: clock, ttl: opts.TTL,
				stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
			if err := l.renew(ctx); err != nil {
				l.remove(ctx)
				return nil, fmt.Errorf("cannot take the lock of project %s: %w", opts.Project, err)
			}
			go l.keep(ctx)
			return l, nil
		}
		if !cerrdefs.IsConflict(err) {
			return nil, fmt.Errorf("cannot take the lock of project %s on the engine: %w", opts.Project, err)
		}
		h, err := inspect(ctx, api, clock, name, opts)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // released meanwhile
			}
			return nil, fmt.Errorf("cannot read the lock of project %s: %w", opts.Project, err)
		}
		if h.stale {
			// Removed by ID: a lock another waiter took over meanwhile
			// has another ID, and stays.
			if err := api.ContainerRemove(ctx, h.id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return nil, fmt.Errorf("cannot remove the stale lock of project %s (%s): %w", opts.Project, h.describe, err)
			}
			continue
		}
		if opts.NoWait {
			return nil, fmt.Errorf("%w: %s is in use by %s; run it again without --no-wait to wait for it to finish", ErrLocked, opts.Project, h.describe)
		}
		if !told && opts.Waiting != nil {
			opts.Waiting(h.describe)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock of project %s: %w", opts.Project, ctx.Err())
		case <-time.After(opts.Poll):
		}
	}
}

// Release removes the lock. Safe to call twice, and on a nil Lock; it
// runs after a cancel too.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	var err error
	l.relOnce.Do(func() {
		close(l.stop)
		<-l.done
		err = l.remove(context.Background())
	})
	return err
}

// remove removes the lock container. An engine that does not answer (a
// restart) is given a little while: a lock left behind would make the
// next run wait for its lease to run out, unless that run is on this
// host.
func (l *Lock) remove(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for {
		err := l.api.ContainerRemove(ctx, l.id, container.RemoveOptions{Force: true})
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if !client.IsErrConnectionFailed(err) || ctx.Err() != nil {
			return fmt.Errorf("cannot release the lock %s: %w (remove it with docker rm -f %s)", l.name, err, l.name)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// keep renews the lease until Release, or until the lock is found gone.
// An engine that does not answer for a while is not a lost lock: the
// lease is renewed once it answers, unless another run took the lock
// over meanwhile.
func (l *Lock) keep(ctx context.Context) {
	defer close(l.done)
	ctx = context.WithoutCancel(ctx)
	t := time.NewTicker(l.ttl / 6)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		err := l.renew(rctx)
		cancel()
		if cerrdefs.IsNotFound(err) {
			l.lostOnce.Do(func() { close(l.lost) })
			return
		}
	}
}

// renew writes the lease file with the engine's time as its mtime.
func (l *Lock) renew(ctx context.Context) error {
	return WriteFile(ctx, l.api, l.id, leaseFile, []byte("docker-backup lease\n"), l.clock.now())
}

// FileWriter is what WriteFile needs of the Engine API.
type FileWriter interface {
	CopyToContainer(ctx context.Context, id, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
}

// WriteFile puts one small file at the root of a container made by
// CreateInert, replacing it whole, with mtime as its time.
func WriteFile(ctx context.Context, api FileWriter, id, name string, body []byte, mtime time.Time) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(body); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return api.CopyToContainer(ctx, id, "/", &buf, container.CopyToContainerOptions{})
}

// holder is what a waiter knows of the lock's holder.
type holder struct {
	id       string
	describe string
	stale    bool
}

// inspect reads the lock named name and tells whether it is stale.
func inspect(ctx context.Context, api API, clock *engineClock, name string, opts Options) (holder, error) {
	info, err := api.ContainerInspect(ctx, name)
	if err != nil {
		return holder{}, err
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	h := holder{id: info.ID, describe: describe(labels, clock.now())}
	stale, err := isStale(ctx, api, clock, info, opts)
	if err != nil {
		return holder{}, err
	}
	h.stale = stale
	return h, nil
}

// isStale: the lease is older than its TTL by the engine's clock, or the
// holder is a process of this host and namespace that no longer runs.
func isStale(ctx context.Context, api API, clock *engineClock, info container.InspectResponse, opts Options) (bool, error) {
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if p, ok := parseProcess(labels); ok && p.sameNamespace(opts.Self) && !opts.Alive(p) {
		return true, nil
	}
	ttl := DefaultTTL
	if d, err := time.ParseDuration(labels[ttlLabel]); err == nil && d > 0 {
		ttl = d
	}
	var renewed time.Time
	st, err := api.ContainerStatPath(ctx, info.ID, "/"+leaseFile)
	switch {
	case err == nil:
		renewed = st.Mtime
	case cerrdefs.IsNotFound(err):
		// Taken, never renewed: its holder died right away, or is
		// writing its first lease now; the creation time stands in.
		if info.ContainerJSONBase == nil {
			return false, nil
		}
		if renewed, err = time.Parse(time.RFC3339Nano, info.Created); err != nil {
			return false, nil
		}
	default:
		return false, err
	}
	return clock.now().Sub(renewed) > ttl, nil
}

// Gone tells whether job's run is over: no lock of the job is on the
// engine, or only stale ones, which it removes. Its helpers may then go.
func Gone(ctx context.Context, api API, job string) (bool, error) {
	list, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", Label), filters.Arg("label", JobLabel+"="+job))})
	if err != nil || len(list) == 0 {
		return err == nil, err
	}
	clock, err := newEngineClock(ctx, api)
	if err != nil {
		return false, err
	}
	var stale []string
	for _, c := range list {
		info, err := api.ContainerInspect(ctx, c.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		st, err := isStale(ctx, api, clock, info, Options{Self: self, Alive: alive})
		if err != nil || !st {
			return false, err
		}
		stale = append(stale, c.ID)
	}
	for _, id := range stale {
		if err := api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return true, err
		}
	}
	return true, nil
}

// Creator is what CreateInert needs of the Engine API.
type Creator interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
}

// CreateInert creates a container of the empty image (EnsureImage) that
// is never started and has no network: the engine keeps its files, which
// is all a lock or the standby's marker needs. what names it in its
// entrypoint, for whoever inspects it.
func CreateInert(ctx context.Context, api Creator, name, what string, labels map[string]string) (string, error) {
	resp, err := api.ContainerCreate(ctx, &container.Config{
		Image: Image, Labels: labels, NetworkDisabled: true,
		Entrypoint: []string{"/docker-backup-" + what + "-is-never-started"}, Cmd: []string{},
	}, &container.HostConfig{NetworkMode: "none"}, &network.NetworkingConfig{}, nil, name)
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// ImageAPI is what EnsureImage needs of the Engine API.
type ImageAPI interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
}

// EnsureImage imports the empty image locks (and the standby's marker)
// are made of, once per engine: nothing can be pulled, and an empty
// layer needs no registry.
func EnsureImage(ctx context.Context, api ImageAPI) error {
	if _, err := api.ImageInspect(ctx, Image); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("cannot look for the lock image: %w", err)
	}
	var empty bytes.Buffer
	tw := tar.NewWriter(&empty)
	tw.Close()
	rc, err := api.ImageImport(ctx, image.ImportSource{Source: &empty, SourceName: "-"}, Image, image.ImportOptions{
		Changes: []string{`LABEL ` + Label + `=image`, `CMD ["/docker-backup-lock-is-never-started"]`},
	})
	if err != nil {
		return fmt.Errorf("cannot make the lock image %s: %w", Image, err)
	}
	defer rc.Close()
	// The import's progress; an error in it is the import's error.
	out, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return fmt.Errorf("cannot make the lock image %s: %w", Image, err)
	}
	if bytes.Contains(out, []byte(`"error"`)) {
		return fmt.Errorf("cannot make the lock image %s: %s", Image, bytes.TrimSpace(out))
	}
	return nil
}

// engineClock is the engine's time, read once and followed on the local
// monotonic clock: leases are written and judged by it, so that runs on
// hosts whose clocks differ agree.
type engineClock struct {
	base   time.Time // engine time when local was read
	local  time.Time
	engine string // the engine's ID
}

func newEngineClock(ctx context.Context, api API) (*engineClock, error) {
	before := time.Now()
	info, err := api.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read the engine's clock: %w", err)
	}
	after := time.Now()
	t, err := time.Parse(time.RFC3339Nano, info.SystemTime)
	if err != nil {
		return nil, fmt.Errorf("cannot read the engine's clock (%q): %w", info.SystemTime, err)
	}
	mid := before.Add(after.Sub(before) / 2)
	return &engineClock{base: t, local: mid, engine: info.ID}, nil
}

func (c *engineClock) now() time.Time { return c.base.Add(time.Since(c.local)) }

func newJob() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// validProject checks a project name can name a container: compose's
// names can, but a caller could pass something unnormalised.
func validProject(p string) error {
	if p == "" {
		return nil
	}
	for i, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_'))
		if !ok || len(p) > 200 {
			return fmt.Errorf("invalid project name %q: use lower-case letters, digits, - and _", p)
		}
	}
	return nil
}

// describe is the one-line description of a holder used in messages, e.g.
// "docker backup restore (pid 4242 on host web1, since
// 2026-06-01T10:00:00Z, 3m12s ago)".
func describe(labels map[string]string, now time.Time) string {
	if labels == nil {
		return "another docker-backup process"
	}
	cmd := "docker backup"
	if v := sanitize(labels[verbLabel]); v != "" {
		cmd += " " + v
	}
	var parts []string
	if pid := sanitize(labels[pidLabel]); pid != "" {
		p := "pid " + pid
		if host := sanitize(labels[hostLabel]); host != "" {
			p += " on host " + host
		}
		parts = append(parts, p)
	}
	if t, err := time.Parse(time.RFC3339, labels[sinceLabel]); err == nil {
		s := "since " + t.UTC().Format(time.RFC3339)
		if d := now.Sub(t).Round(time.Second); d > 0 {
			s += ", " + d.String() + " ago"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return cmd
	}
	return cmd + " (" + strings.Join(parts, ", ") + ")"
}

// sanitize keeps a label read from the engine to a short single line:
// anyone who can reach the engine can write one.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return s
}
