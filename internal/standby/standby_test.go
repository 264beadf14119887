package standby

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// fakeEngine keeps the marker container's files as the engine would:
// CopyToContainer replaces a file whole, CopyFromContainer reads it as a
// tar of one entry.
type fakeEngine struct {
	mu         sync.Mutex
	containers map[string]map[string][]byte // name -> file -> content
	image      bool
}

func newFakeEngine() *fakeEngine { return &fakeEngine{containers: map[string]map[string][]byte{}} }

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.image {
		return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("no such image " + ref)
	}
	return image.InspectResponse{ID: "sha256:lock"}, nil
}

func (f *fakeEngine) ImageImport(_ context.Context, _ image.ImportSource, _ string, _ image.ImportOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.image = true
	return io.NopCloser(strings.NewReader(`{"status":"sha256:lock"}`)), nil
}

func (f *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.image || cfg.Image == "" {
		return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("no such image")
	}
	if _, ok := f.containers[name]; ok {
		return container.CreateResponse{}, cerrdefs.ErrConflict.WithMessage("name in use")
	}
	f.containers[name] = map[string][]byte{}
	return container.CreateResponse{ID: name}, nil
}

func (f *fakeEngine) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; !ok {
		return container.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + id}}, nil
}

func (f *fakeEngine) CopyToContainer(_ context.Context, id, dst string, content io.Reader, _ container.CopyToContainerOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	files, ok := f.containers[id]
	if !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	tr := tar.NewReader(content)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		files[path.Join(dst, hdr.Name)] = data
	}
}

func (f *fakeEngine) CopyFromContainer(_ context.Context, id, src string) (io.ReadCloser, container.PathStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	files, ok := f.containers[id]
	if !ok {
		return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	data, ok := files[src]
	if !ok {
		return nil, container.PathStat{}, cerrdefs.ErrNotFound.WithMessage("no such file " + src)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(src, "/"), Mode: 0o644, Size: int64(len(data))})
	_, _ = tw.Write(data)
	_ = tw.Close()
	return io.NopCloser(&buf), container.PathStat{Name: src, Size: int64(len(data))}, nil
}

// fakeApplier records what it restored. fail, when set, decides a
// restore's error and whether it left the project intact; during runs
// in the middle of the restore, the lock held.
type fakeApplier struct {
	mu      sync.Mutex
	applied []string
	started int
	fail    func(name string) (intact bool, err error)
	during  func()
}

func (a *fakeApplier) Apply(ctx context.Context, name string, h Hooks) (bool, error) {
	if err := h.Locked(ctx); err != nil {
		return true, err
	}
	if a.during != nil {
		a.during()
	}
	if a.fail != nil {
		if intact, err := a.fail(name); err != nil {
			return intact, err
		}
	}
	a.mu.Lock()
	a.applied = append(a.applied, name)
	a.mu.Unlock()
	return false, h.Done(ctx)
}

func (a *fakeApplier) Start(ctx context.Context, locked, done func(context.Context) error) error {
	if err := locked(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	a.started++
	a.mu.Unlock()
	return done(ctx)
}

func (a *fakeApplier) names() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.applied...)
}

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// put stores an archive of project taken at t, with its index, as create
// does; host is the index's.
func put(t *testing.T, b storage.Backend, project, host string, t1 time.Time, safety bool) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s-%s.tar.zst", project, t1.Format("20060102T150405Z"))
	if host != "" {
		name = host + "_" + name
	}
	up, err := b.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("archive " + name)
	if _, err := up.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := storage.WriteIndex(ctx, b, storage.Index{Archive: name, Project: project, Host: host, CreatedAt: t1, Size: int64(len(data)), Safety: safety}); err != nil {
		t.Fatal(err)
	}
	return name
}

func newFollower(t *testing.T) (*Follower, *fakeApplier, storage.Backend, *fakeEngine) {
	eng := newFakeEngine()
	store := storage.NewLocal(t.TempDir())
	a := &fakeApplier{}
	now := t0.Add(time.Hour)
	f := &Follower{Project: "shop", Store: store, Marker: &Marker{API: eng, Project: "shop"}, Applier: a, Now: func() time.Time { return now }}
	return f, a, store, eng
}

func TestPollAppliesTheNewestAndNeverAnOlderOne(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)

	out, err := f.Poll(ctx)
	if err != nil || out.Applied != nil || !strings.Contains(out.Why, "no archive") {
		t.Fatalf("poll of an empty storage = %+v, %v", out, err)
	}
	put(t, store, "shop", "", t0, false)
	b := put(t, store, "shop", "", t0.Add(10*time.Minute), false)
	put(t, store, "other", "", t0.Add(20*time.Minute), false)    // another project
	put(t, store, "shop", "", t0.Add(30*time.Minute), true)      // a safety backup
	if err := store.Delete(ctx, "foreign.tar.zst"); err != nil { // nothing there: no error
		t.Fatal(err)
	}
	out, err = f.Poll(ctx)
	if err != nil || out.Applied == nil || out.Applied.Name != b {
		t.Fatalf("poll = %+v, %v; want %s applied", out, err, b)
	}
	st, err := f.Marker.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != ModeStandby || st.Applied == nil || st.Applied.Name != b || st.Applying != nil {
		t.Fatalf("state after the apply = %+v", st)
	}

	// Nothing new: nothing applied.
	if out, err = f.Poll(ctx); err != nil || out.Applied != nil {
		t.Fatalf("second poll = %+v, %v", out, err)
	}
	// An older archive that appears late is never applied.
	put(t, store, "shop", "", t0.Add(5*time.Minute), false)
	if out, err = f.Poll(ctx); err != nil || out.Applied != nil {
		t.Fatalf("poll after a late older archive = %+v, %v", out, err)
	}
	// Even when the newer ones are gone from the storage.
	if err := store.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if out, err = f.Poll(ctx); err != nil || out.Applied != nil {
		t.Fatalf("poll after the applied archive was deleted = %+v, %v", out, err)
	}
	d := put(t, store, "shop", "", t0.Add(40*time.Minute), false)
	if out, err = f.Poll(ctx); err != nil || out.Applied == nil || out.Applied.Name != d {
		t.Fatalf("poll after a newer archive = %+v, %v", out, err)
	}
	if got := a.names(); len(got) != 2 || got[0] != b || got[1] != d {
		t.Fatalf("applied %v, want [%s %s]", got, b, d)
	}
}

func TestPollFollowsOneHost(t *testing.T) {
	ctx := context.Background()
	f, _, store, _ := newFollower(t)
	f.Host = "primary"
	want := put(t, store, "shop", "primary", t0, false)
	put(t, store, "shop", "other-host", t0.Add(time.Minute), false)
	out, err := f.Poll(ctx)
	if err != nil || out.Applied == nil || out.Applied.Name != want || out.Applied.Host != "primary" {
		t.Fatalf("poll = %+v, %v; want %s", out, err, want)
	}
}

func TestAnInterruptedRestoreIsAppliedAgain(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	name := put(t, store, "shop", "", t0, false)
	// The first run dies halfway: its error says the data was changed.
	a.fail = func(string) (bool, error) { return false, errors.New("killed") }
	if _, err := f.Poll(ctx); err == nil {
		t.Fatal("the failing restore succeeded")
	}
	st, _ := f.Marker.Read(ctx)
	if st.Applying == nil || st.Applying.Name != name || st.Applied != nil {
		t.Fatalf("state after an interrupted restore = %+v", st)
	}
	s, err := f.Status(ctx)
	if err != nil || s.Applying == nil || s.Newest == nil || s.Newest.Name != name {
		t.Fatalf("status = %+v, %v", s, err)
	}
	a.fail = nil
	out, err := f.Poll(ctx)
	if err != nil || out.Applied == nil || out.Applied.Name != name {
		t.Fatalf("poll after the interruption = %+v, %v", out, err)
	}
	// Applied, and then interrupted again on the same archive: the same
	// archive is applied once more, since the data may be half of it.
	a.fail = func(string) (bool, error) { return false, errors.New("killed") }
	if err := f.Marker.WriteProgress(ctx, Progress{Applied: &Applied{Archive: Archive{Name: name, CreatedAt: t0}}, Applying: &Applying{Archive: Archive{Name: name, CreatedAt: t0}}}); err != nil {
		t.Fatal(err)
	}
	a.fail = nil
	if out, err = f.Poll(ctx); err != nil || out.Applied == nil {
		t.Fatalf("poll after an interrupted re-apply = %+v, %v", out, err)
	}
}

func TestARolledBackRestoreLeavesTheLastGoodState(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	first := put(t, store, "shop", "", t0, false)
	if _, err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, store, "shop", "", t0.Add(time.Minute), false)
	a.fail = func(string) (bool, error) { return true, errors.New("load failed; rolled back") }
	if _, err := f.Poll(ctx); err == nil {
		t.Fatal("the failing restore succeeded")
	}
	st, _ := f.Marker.Read(ctx)
	if st.Applying != nil || st.Applied == nil || st.Applied.Name != first {
		t.Fatalf("state after a rolled-back restore = %+v; want %s applied, nothing applying", st, first)
	}
	// Retried at the next poll.
	a.fail = nil
	if out, err := f.Poll(ctx); err != nil || out.Applied == nil {
		t.Fatalf("retry = %+v, %v", out, err)
	}
}

func TestAPromotedProjectIsNeverRestoredInto(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	put(t, store, "shop", "", t0, false)
	if _, err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	newest := put(t, store, "shop", "", t0.Add(time.Minute), false)
	res, err := f.Promote(ctx, PromoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.CaughtUp || res.Applied == nil || res.Applied.Name != newest || a.started != 1 {
		t.Fatalf("promote = %+v (started %d); want caught up with %s", res, a.started, newest)
	}
	put(t, store, "shop", "", t0.Add(2*time.Minute), false)
	out, err := f.Poll(ctx)
	if err != nil || out.Applied != nil || !strings.Contains(out.Why, "promoted") {
		t.Fatalf("poll after promote = %+v, %v", out, err)
	}
	if n := len(a.names()); n != 2 {
		t.Fatalf("%d archives applied, want 2", n)
	}
	again, err := f.Promote(ctx, PromoteOptions{})
	if err != nil || !again.Already || a.started != 1 {
		t.Fatalf("second promote = %+v, %v (started %d)", again, err, a.started)
	}
}

// A poll that decided to apply, then waited for the lock while promote
// ran, must not restore once it gets it.
func TestAPollThatWaitedForPromoteRefuses(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	put(t, store, "shop", "", t0, false)
	other := *f
	other.Applier = &fakeApplier{}
	orig := f.Applier
	f.Applier = applierFunc(func(ctx context.Context, name string, h Hooks) (bool, error) {
		// promote runs while this poll waits for the lock.
		if _, err := other.Promote(ctx, PromoteOptions{NoCatchUp: true}); err != nil {
			t.Fatal(err)
		}
		return orig.Apply(ctx, name, h)
	})
	_, err := f.Poll(ctx)
	if !errors.Is(err, ErrPromoted) {
		t.Fatalf("poll = %v, want ErrPromoted", err)
	}
	if len(a.names()) != 0 {
		t.Fatalf("restored %v into a promoted project", a.names())
	}
}

type applierFunc func(ctx context.Context, name string, h Hooks) (bool, error)

func (f applierFunc) Apply(ctx context.Context, name string, h Hooks) (bool, error) {
	return f(ctx, name, h)
}

func (f applierFunc) Start(context.Context, func(context.Context) error, func(context.Context) error) error {
	return errors.New("not used")
}

func TestPromoteRefusesHalfRestoredDataUnlessForced(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	put(t, store, "shop", "", t0, false)
	a.fail = func(string) (bool, error) { return false, errors.New("killed") }
	if _, err := f.Poll(ctx); err == nil {
		t.Fatal("the failing restore succeeded")
	}
	a.fail = nil
	_, err := f.Promote(ctx, PromoteOptions{NoCatchUp: true})
	if err == nil || !strings.Contains(err.Error(), "interrupted halfway") || a.started != 0 {
		t.Fatalf("promote --no-catch-up over half-restored data = %v (started %d)", err, a.started)
	}
	// The standby stops touching the project as soon as promote began.
	if out, err := f.Poll(ctx); err != nil || out.Applied != nil {
		t.Fatalf("poll during a promotion = %+v, %v", out, err)
	}
	if _, err := f.Promote(ctx, PromoteOptions{NoCatchUp: true, Force: true}); err != nil || a.started != 1 {
		t.Fatalf("promote --force = %v (started %d)", err, a.started)
	}
	// Without --no-catch-up, the catch-up would have applied it again.
	g, b, store2, _ := newFollower(t)
	put(t, store2, "shop", "", t0, false)
	b.fail = func(string) (bool, error) { return false, errors.New("killed") }
	_, _ = g.Poll(ctx)
	b.fail = nil
	if res, err := g.Promote(ctx, PromoteOptions{}); err != nil || !res.CaughtUp || b.started != 1 {
		t.Fatalf("promote with catch-up = %+v, %v", res, err)
	}
}

func TestLagMetricsAndStatus(t *testing.T) {
	ctx := context.Background()
	f, _, store, _ := newFollower(t)
	reg := prometheus.NewRegistry()
	now := t0.Add(time.Hour)
	f.Metrics = NewMetrics(reg, "shop", func() time.Time { return now })
	put(t, store, "shop", "", t0, false)
	if _, err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, store, "shop", "", t0.Add(10*time.Minute), false)
	// A poll that fails still sees the newest archive.
	f.Applier.(*fakeApplier).fail = func(string) (bool, error) { return true, errors.New("down") }
	_, _ = f.Poll(ctx)
	want := map[string]float64{
		"docker_backup_standby_lag_seconds":                      600,
		"docker_backup_standby_applied_archive_age_seconds":      3600,
		"docker_backup_standby_newest_archive_age_seconds":       3000,
		"docker_backup_standby_promoted":                         0,
		"docker_backup_standby_newest_archive_timestamp_seconds": float64(t0.Add(10 * time.Minute).Unix()),
	}
	for name, v := range want {
		got, err := gather(reg, name)
		if err != nil || got != v {
			t.Errorf("%s = %v, %v; want %v", name, got, err, v)
		}
	}
	s, err := f.Status(ctx)
	if err != nil || s.LagSeconds != 600 || s.AppliedAgeSeconds != 3600 || s.NewestAgeSeconds != 3000 {
		t.Fatalf("status = %+v, %v", s, err)
	}
}

func gather(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// Status and promote, run without --source-project and --source-host,
// follow what the standby follows: the primary's project may have
// another name than the standby's.
func TestStatusAndPromoteFollowWhatTheStandbyFollows(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	f.Source, f.Host = "prod-shop", "primary"
	put(t, store, "prod-shop", "primary", t0, false)
	put(t, store, "prod-shop", "other", t0.Add(20*time.Minute), false) // not followed
	if out, err := f.Poll(ctx); err != nil || out.Applied == nil {
		t.Fatalf("poll = %+v, %v", out, err)
	}
	newer := put(t, store, "prod-shop", "primary", t0.Add(10*time.Minute), false)

	g := *f
	g.Source, g.Host = "", ""
	s, err := g.Status(ctx)
	if err != nil || s.Newest == nil || s.Newest.Name != newer || s.LagSeconds != 600 {
		t.Fatalf("status = %+v, %v; want %s newest, 10 minutes behind", s, err, newer)
	}
	g = *f
	g.Source, g.Host = "", ""
	res, err := g.Promote(ctx, PromoteOptions{})
	if err != nil || !res.CaughtUp || res.Applied == nil || res.Applied.Name != newer {
		t.Fatalf("promote = %+v, %v; want a catch-up to %s", res, err, newer)
	}
	if got := a.names(); len(got) != 2 || got[1] != newer {
		t.Fatalf("applied %v", got)
	}
}

// An older archive put back under a newer index (whoever writes the
// storage writes indexes) is refused once the archive's own time is
// known, and the standby keeps what it applied.
func TestStandbyRefusesAnArchiveThatIsNotItsIndex(t *testing.T) {
	ctx := context.Background()
	f, a, store, _ := newFollower(t)
	put(t, store, "shop", "", t0, false)
	if out, err := f.Poll(ctx); err != nil || out.Applied == nil {
		t.Fatalf("first poll: %+v, %v", out, err)
	}
	replayed := put(t, store, "shop", "", t0.Add(time.Hour), false)
	orig := f.Applier
	f.Applier = applierFunc(func(ctx context.Context, name string, h Hooks) (bool, error) {
		// What the archive itself says: it was taken at t0.
		if err := h.Verified(t0); err != nil {
			return true, err
		}
		return orig.Apply(ctx, name, h)
	})
	_, err := f.Poll(ctx)
	if !errors.Is(err, ErrNotItsIndex) || !strings.Contains(err.Error(), replayed) {
		t.Fatalf("poll = %v, want ErrNotItsIndex naming %s", err, replayed)
	}
	if names := a.names(); len(names) != 1 {
		t.Fatalf("applied %v", names)
	}
	st, err := f.Marker.Read(ctx)
	if err != nil || st.Applied == nil || !st.Applied.CreatedAt.Equal(t0) || st.Applying != nil {
		t.Fatalf("marker %+v, %v", st, err)
	}
	// The archive whose time is its index's is applied.
	f.Applier = applierFunc(func(ctx context.Context, name string, h Hooks) (bool, error) {
		if err := h.Verified(t0.Add(time.Hour)); err != nil {
			return true, err
		}
		return orig.Apply(ctx, name, h)
	})
	if out, err := f.Poll(ctx); err != nil || out.Applied == nil || out.Applied.Name != replayed {
		t.Fatalf("poll of a true archive: %+v, %v", out, err)
	}
}
