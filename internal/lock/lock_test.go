package lock

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is an engine's containers, as far as locks use them: names
// are unique, creation is atomic, a lease file's mtime is kept. Its clock
// is its own, set by the test.
type fakeEngine struct {
	mu       sync.Mutex
	now      time.Time
	image    bool
	imports  int
	seq      int
	byName   map[string]*fakeContainer
	byID     map[string]*fakeContainer
	failCopy map[string]bool // ids whose lease cannot be written (engine away)
}

type fakeContainer struct {
	id, name string
	labels   map[string]string
	created  time.Time
	lease    time.Time // zero: never written
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{now: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), byName: map[string]*fakeContainer{}, byID: map[string]*fakeContainer{}, failCopy: map[string]bool{}}
}

func (f *fakeEngine) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeEngine) Info(context.Context) (system.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return system.Info{SystemTime: f.now.Format(time.RFC3339Nano)}, nil
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ref != Image || !f.image {
		return image.InspectResponse{}, cerrdefs.ErrNotFound
	}
	return image.InspectResponse{}, nil
}

func (f *fakeEngine) ImageImport(_ context.Context, _ image.ImportSource, ref string, _ image.ImportOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.image = ref == Image
	f.imports++
	return io.NopCloser(strings.NewReader(`{"status":"sha256:0"}`)), nil
}

func (f *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cfg.Image != Image || !f.image {
		return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("no such image")
	}
	if _, taken := f.byName[name]; taken {
		return container.CreateResponse{}, cerrdefs.ErrConflict.WithMessage("name in use")
	}
	f.seq++
	c := &fakeContainer{id: "id" + strconv.Itoa(f.seq), name: name, labels: cfg.Labels, created: f.now}
	f.byName[name], f.byID[c.id] = c, c
	return container.CreateResponse{ID: c.id}, nil
}

func (f *fakeEngine) find(ref string) *fakeContainer {
	if c := f.byID[ref]; c != nil {
		return c
	}
	return f.byName[ref]
}

func (f *fakeEngine) ContainerInspect(_ context.Context, ref string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(ref)
	if c == nil {
		return container.InspectResponse{}, cerrdefs.ErrNotFound
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: c.id, Name: "/" + c.name, Created: c.created.Format(time.RFC3339Nano)},
		Config:            &container.Config{Labels: c.labels},
	}, nil
}

func (f *fakeEngine) ContainerRemove(_ context.Context, ref string, _ container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(ref)
	if c == nil {
		return cerrdefs.ErrNotFound
	}
	delete(f.byName, c.name)
	delete(f.byID, c.id)
	return nil
}

func (f *fakeEngine) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for _, c := range f.byID {
		ok := true
		for _, want := range opts.Filters.Get("label") {
			k, v, hasV := strings.Cut(want, "=")
			got, has := c.labels[k]
			if !has || (hasV && got != v) {
				ok = false
			}
		}
		if ok {
			out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Labels: c.labels})
		}
	}
	return out, nil
}

func (f *fakeEngine) CopyToContainer(_ context.Context, id, path string, content io.Reader, _ container.CopyToContainerOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byID[id]
	if c == nil {
		return cerrdefs.ErrNotFound
	}
	if f.failCopy[id] {
		return errors.New("Cannot connect to the Docker daemon")
	}
	hdr, err := tar.NewReader(content).Next()
	if err != nil || path != "/" || hdr.Name != leaseFile {
		return fmt.Errorf("unexpected copy %s %v %v", path, hdr, err)
	}
	c.lease = hdr.ModTime
	return nil
}

func (f *fakeEngine) ContainerStatPath(_ context.Context, id, path string) (container.PathStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byID[id]
	if c == nil || path != "/"+leaseFile || c.lease.IsZero() {
		return container.PathStat{}, cerrdefs.ErrNotFound
	}
	return container.PathStat{Name: leaseFile, Mtime: c.lease}, nil
}

// Processes of the tests: one on this host, one elsewhere.
var (
	here      = &Process{Host: "web1", PID: 100, Boot: "b1", NS: "4026531836", Start: "555"}
	elsewhere = &Process{Host: "web2", PID: 100, Boot: "b2", NS: "4026531836", Start: "777"}
)

func opts(project, verb string, p *Process) Options {
	return Options{Project: project, Verb: verb, NoWait: true, TTL: time.Minute, Poll: 10 * time.Millisecond, Self: p,
		Alive: func(Process) bool { return true }}
}

func mustAcquire(t *testing.T, e *fakeEngine, o Options) *Lock {
	t.Helper()
	l, err := Acquire(context.Background(), e, o)
	if err != nil {
		t.Fatalf("Acquire %+v: %v", o.Project, err)
	}
	t.Cleanup(func() { l.Release() })
	return l
}

func TestNoWaitFailsNamingHolder(t *testing.T) {
	e := newFakeEngine()
	mustAcquire(t, e, opts("shop", "restore", elsewhere))
	if e.imports != 1 {
		t.Errorf("the lock image was imported %d times", e.imports)
	}
	_, err := Acquire(context.Background(), e, opts("shop", "create", here))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	for _, want := range []string{"shop is in use by docker backup restore (pid 100 on host web2, since 2026-12-01T03:00:00Z", "without --no-wait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// Another project is another lock; the image is there already.
	mustAcquire(t, e, opts("blog", "create", here))
	if e.imports != 1 {
		t.Errorf("the lock image was imported %d times", e.imports)
	}
}

func TestWaitsUntilReleased(t *testing.T) {
	e := newFakeEngine()
	first := mustAcquire(t, e, opts("shop", "restore", elsewhere))
	o := opts("shop", "create", here)
	o.NoWait = false
	told := make(chan string, 4)
	o.Waiting = func(h string) { told <- h }
	got := make(chan error, 1)
	var second *Lock
	go func() {
		var err error
		second, err = Acquire(context.Background(), e, o)
		got <- err
	}()
	select {
	case h := <-told:
		if !strings.Contains(h, "docker backup restore") {
			t.Errorf("waiting for %q", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not told whom it waits for")
	}
	select {
	case err := <-got:
		t.Fatalf("the lock was taken while held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
		second.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the lock once released")
	}
	if len(told) != 0 {
		t.Errorf("the waiter was told %d more times", len(told))
	}
	// A cancelled wait ends.
	mustAcquire(t, e, opts("shop", "restore", elsewhere))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o.Waiting = nil
	if _, err := Acquire(ctx, e, o); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: %v", err)
	}
}

// A lock whose holder stopped renewing it is taken over once its lease
// is older than its TTL, by the engine's clock, and not before.
func TestStaleLeaseIsTakenOver(t *testing.T) {
	e := newFakeEngine()
	o := opts("shop", "restore", elsewhere)
	o.TTL = 600 * time.Millisecond
	old := mustAcquire(t, e, o)
	// The holder's engine goes away for it: it can renew no more.
	stopRenewing(e, old)

	e.advance(500 * time.Millisecond)
	if _, err := Acquire(context.Background(), e, opts("shop", "create", here)); !errors.Is(err, ErrLocked) {
		t.Fatalf("taken over before its lease ran out: %v", err)
	}
	e.advance(time.Second)
	l := mustAcquire(t, e, opts("shop", "create", here))
	if l.id == old.id {
		t.Fatal("the same lock")
	}
	// The old holder learns it lost the lock at its next renewal.
	e.mu.Lock()
	delete(e.failCopy, old.id)
	e.mu.Unlock()
	select {
	case <-old.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the old holder was not told it lost the lock")
	}
	// Its release does not remove the new holder's lock.
	old.Release()
	if _, err := Acquire(context.Background(), e, opts("shop", "create", elsewhere)); !errors.Is(err, ErrLocked) {
		t.Errorf("the old holder's release freed the new lock: %v", err)
	}
}

// A holder that renews its lease keeps it, however long it runs.
func TestRenewedLeaseIsKept(t *testing.T) {
	e := newFakeEngine()
	o := opts("shop", "restore", elsewhere)
	o.TTL = 300 * time.Millisecond
	l := mustAcquire(t, e, o)
	// The engine's clock runs with the test's: the holder renews every
	// 50 ms.
	for i := 0; i < 10; i++ {
		time.Sleep(60 * time.Millisecond)
		e.advance(60 * time.Millisecond)
		if _, err := Acquire(context.Background(), e, opts("shop", "create", here)); !errors.Is(err, ErrLocked) {
			t.Fatalf("a renewed lock was taken over: %v", err)
		}
	}
	select {
	case <-l.Lost():
		t.Fatal("the holder lost its renewed lock")
	default:
	}
}

// A holder of this host and namespace that no longer runs is known dead:
// its lock is taken over at once. One that runs is waited for; one of
// another host is judged by its lease only.
func TestDeadHolderOfThisHostIsTakenOverAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		holder   *Process
		alive    bool
		takeover bool
	}{
		{"dead here", here, false, true},
		{"alive here", here, true, false},
		{"elsewhere", elsewhere, false, false},
		{"same host name, another namespace", &Process{Host: "web1", PID: 100, Boot: "b1", NS: "4026532000", Start: "555"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine()
			mustAcquire(t, e, opts("shop", "restore", tc.holder))
			o := opts("shop", "create", here)
			o.Alive = func(p Process) bool {
				if p.PID != 100 || p.Start != tc.holder.Start {
					t.Errorf("asked about %+v", p)
				}
				return tc.alive
			}
			_, err := Acquire(context.Background(), e, o)
			if tc.takeover != (err == nil) {
				t.Errorf("takeover %v, got %v", tc.takeover, err)
			}
		})
	}
}

// Waiters racing for a stale lock: exactly one takes it.
func TestOneWaiterTakesAStaleLock(t *testing.T) {
	e := newFakeEngine()
	o := opts("shop", "restore", elsewhere)
	o.TTL = time.Second
	old := mustAcquire(t, e, o)
	stopRenewing(e, old)
	e.advance(time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Acquire(context.Background(), e, opts("shop", "create", here))
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
				t.Cleanup(func() { l.Release() })
			} else if !errors.Is(err, ErrLocked) {
				t.Errorf("got %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d waiters took the lock", won)
	}
}

func TestGone(t *testing.T) {
	e := newFakeEngine()
	o := opts("", "verify", elsewhere)
	o.TTL = time.Second
	l := mustAcquire(t, e, o)
	ctx := context.Background()
	if gone, err := Gone(ctx, e, l.Job()); err != nil || gone {
		t.Errorf("a held job: gone %v, %v", gone, err)
	}
	if gone, _ := Gone(ctx, e, "0123456789abcdef"); !gone {
		t.Error("an unknown job is live")
	}
	// Jobs lock nothing: two run side by side.
	mustAcquire(t, e, o)
	stopRenewing(e, l)
	e.advance(time.Hour)
	if gone, _ := Gone(ctx, e, l.Job()); !gone {
		t.Error("a job whose lease ran out is live")
	}
	// Its stale lock is removed with it, the other's kept.
	if list, _ := e.ContainerList(ctx, container.ListOptions{}); len(list) != 1 {
		t.Errorf("after Gone, %d lock containers", len(list))
	}
	l.Release()
	if gone, _ := Gone(ctx, e, l.Job()); !gone {
		t.Error("a released job is live")
	}
}

// stopRenewing makes the engine refuse l's renewals, as one that went
// away for l would.
func stopRenewing(e *fakeEngine, l *Lock) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failCopy[l.id] = true
}

func TestInvalidProject(t *testing.T) {
	e := newFakeEngine()
	for _, p := range []string{"-x", "a/b", "Shop", "a b"} {
		if _, err := Acquire(context.Background(), e, opts(p, "create", here)); err == nil || !strings.Contains(err.Error(), "invalid project name") {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func TestDescribeSanitizes(t *testing.T) {
	got := describe(map[string]string{verbLabel: "create\x1b[2J\nx", pidLabel: "7", hostLabel: strings.Repeat("h", 60)}, time.Now())
	if strings.ContainsAny(got, "\x1b\n") || !strings.Contains(got, "pid 7 on host "+strings.Repeat("h", 40)+"…") {
		t.Errorf("got %q", got)
	}
}
