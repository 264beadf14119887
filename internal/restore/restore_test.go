package restore

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

// world is a fake engine running project shop: app (volume data), web
// (depends on app), worker (stopped). While app runs it writes to its
// volume: every call the engine gets bumps the volume's write counter, so
// that a write lost by a rollback shows. Every call is recorded in
// events.
type world struct {
	mu      sync.Mutex
	events  []string
	running map[string]bool
	// content of volume shop_data, and what a replacement set aside.
	content  string
	aside    string
	prepared bool
	// the volume's content when app stopped, and each time it started.
	atStop  string
	atStart []string
	// failures to play.
	failExtract error
	hookCode    int
	cancelOn    string // event that cancels the restore
	cancel      context.CancelFunc
	onList      func() // called as the containers are listed
}

func newWorld() *world {
	return &world{running: map[string]bool{"app1": true, "web1": true}, content: "before"}
}

// event records what happened, and what app wrote meanwhile.
func (w *world) event(e string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running["app1"] && !w.prepared {
		w.content += "+w"
	}
	w.events = append(w.events, e)
	if e == w.cancelOn && w.cancel != nil {
		w.cancel()
	}
}

func (w *world) ContainerList(ctx context.Context, _ container.ListOptions) ([]container.Summary, error) {
	if w.onList != nil {
		w.onList()
	}
	if err := ctx.Err(); err != nil {
		return nil, err // as the engine's client does
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []container.Summary
	for _, c := range []struct{ id, svc, img string }{{"app1", "app", "img-app"}, {"web1", "web", "img-web"}, {"worker1", "worker", "img-app"}} {
		state := "exited"
		if w.running[c.id] {
			state = "running"
		}
		out = append(out, container.Summary{ID: c.id, Names: []string{"/shop-" + c.svc + "-1"}, ImageID: c.img, State: state,
			Labels: map[string]string{project.LabelProject: "shop", project.LabelService: c.svc, project.LabelNumber: "1", project.LabelOneoff: "False"}})
	}
	return out, nil
}

func (w *world) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + id, State: &container.State{Running: w.running[id]}},
		Config:            &container.Config{},
	}, nil
}

func (w *world) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, nil
}

func (w *world) Exec(_ context.Context, id string, opts engine.ExecOptions) (int, error) {
	if len(opts.Cmd) == 3 && opts.Cmd[2] == "check" {
		w.event("hook " + id)
		return w.hookCode, nil
	}
	return 127, nil // a probe for a database: none here
}

// volumeTar is a volume holding one file, content.
func volumeTar(prefix, content string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: prefix, Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: prefix + "content", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))})
	tw.Write([]byte(content))
	tw.Close()
	return b.Bytes()
}

func (w *world) ReadVolume(_ context.Context, _ string, volume string, fn func(io.Reader) error) error {
	w.event("read " + volume)
	w.mu.Lock()
	content := w.content
	w.mu.Unlock()
	return fn(bytes.NewReader(volumeTar("./", content)))
}

func (w *world) ReadBind(context.Context, string, string, []string, func(io.Reader) error) error {
	return errors.New("no bind mounts here")
}

func (w *world) ReadBindFile(context.Context, string, string, func(io.Reader) error) error {
	return errors.New("no bind mounts here")
}

func (w *world) StatBind(context.Context, string, string) (fs.FileMode, error) {
	return 0, errors.New("no bind mounts here")
}

func (w *world) StopContainer(ctx context.Context, id string, _ *int) error {
	w.event("stop " + id)
	w.mu.Lock()
	defer w.mu.Unlock()
	if id == "app1" && w.running[id] && w.atStop == "" {
		w.atStop = w.content
	}
	// Stopped, but the client gave up waiting for the answer.
	w.running[id] = false
	return ctx.Err()
}

func (w *world) StartContainer(_ context.Context, id string) error {
	w.mu.Lock()
	if id == "app1" {
		w.atStart = append(w.atStart, w.content)
	}
	w.mu.Unlock()
	w.event("start " + id)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running[id] = true
	return nil
}

// restarted is the volume's content when app started again last.
func (w *world) restarted() string {
	if len(w.atStart) == 0 {
		return "(app never started again)"
	}
	return w.atStart[len(w.atStart)-1]
}

func (w *world) WaitReady(context.Context, string) error { return nil }

func (w *world) ListHelpers(context.Context) ([]engine.Helper, error) { return nil, nil }
func (w *world) RemoveHelper(context.Context, engine.Helper) error    { return nil }

func (w *world) PrepareReplace(_ context.Context, _ []string, place engine.Place) (engine.Replacement, error) {
	volume := place.String()
	w.event("prepare " + volume)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.aside, w.content, w.prepared = w.content, "", true
	return engine.Replacement{Volume: volume, Image: "img-app", Aside: "aside", Revertible: true}, nil
}

func (w *world) ExtractIntoVolume(ctx context.Context, rep engine.Replacement, r io.Reader) error {
	w.event("extract " + rep.Volume)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if w.failExtract != nil {
			return w.failExtract
		}
		if strings.HasSuffix(hdr.Name, "/content") {
			b, _ := io.ReadAll(tr)
			w.mu.Lock()
			w.content = string(b)
			w.mu.Unlock()
		}
	}
	return ctx.Err()
}

func (w *world) CommitReplace(_ context.Context, rep engine.Replacement) error {
	w.event("commit " + rep.Volume)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.aside, w.prepared = "", false
	return nil
}

func (w *world) RevertReplace(_ context.Context, rep engine.Replacement) error {
	w.event("revert " + rep.Volume)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.content, w.aside, w.prepared = w.aside, "", false
	return nil
}

// shopProject writes the compose file of shop and an archive of its
// volume data holding "from the archive".
func shopProject(t *testing.T) (dir, arch string) {
	t.Helper()
	dir = t.TempDir()
	compose := `name: shop
services:
  app:
    image: myapp
    volumes: [data:/srv]
    x-backup:
      restore-hooks:
        after-start: ["check"]
  web:
    image: myweb
    depends_on: [app]
  worker:
    image: myapp
volumes:
  data:
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	aw, _ := archive.NewWriter(&out, archive.Zstd)
	sum, err := aw.WriteTree(context.Background(), "volumes/data/", tar.NewReader(bytes.NewReader(volumeTar("./", "from the archive"))))
	if err != nil {
		t.Fatal(err)
	}
	m := &archive.Manifest{Project: archive.Project{Name: "shop"}, Volumes: []archive.Volume{{
		Name: "data", EngineName: "shop_data", Services: []string{"app"}, Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest}}}
	if err := aw.Close(m); err != nil {
		t.Fatal(err)
	}
	arch = filepath.Join(dir, "shop.tar.zst")
	if err := os.WriteFile(arch, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, arch
}

func restoreShop(t *testing.T, w *world, ctx context.Context) (*Result, error) {
	t.Helper()
	dir, arch := shopProject(t)
	return Restore(ctx, w, w, Options{
		Project: project.Options{WorkingDir: dir, Environment: []string{}}, Archive: arch, Yes: true,
		SafetyDir: t.TempDir(), ReadyTimeout: 1e9,
	})
}

// indexOf is the position of event e, or -1.
func (w *world) indexOf(e string) int {
	for i, got := range w.events {
		if got == e {
			return i
		}
	}
	return -1
}

func (w *world) before(t *testing.T, a, b string) {
	t.Helper()
	i, j := w.indexOf(a), w.indexOf(b)
	if i < 0 || j < 0 || i > j {
		t.Errorf("%q must come before %q: %q", a, b, w.events)
	}
}

// The app stops before the safety backup reads its volume, dependents
// first; the old content is deleted only once the data is in; what ran
// starts again, dependencies first, and the after-start hook runs last.
func TestRestoreOrder(t *testing.T) {
	w := newWorld()
	res, err := restoreShop(t, w, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{
		{"stop web1", "stop app1"},
		{"stop app1", "read shop_data"},
		{"read shop_data", "prepare shop_data"},
		{"extract shop_data", "commit shop_data"},
		{"commit shop_data", "start app1"},
		{"start app1", "start web1"},
		{"start web1", "hook app1"},
	} {
		w.before(t, pair[0], pair[1])
	}
	if w.restarted() != "from the archive" || w.running["worker1"] || !w.running["app1"] || !w.running["web1"] {
		t.Errorf("after the restore: %q, running %v", w.restarted(), w.running)
	}
	if res.SafetyBackup == "" || w.indexOf("revert shop_data") >= 0 {
		t.Errorf("result %+v, events %q", res, w.events)
	}
}

// A failure before the old content is deleted puts it back by renaming:
// the safety backup's copy of the volume is not extracted, and nothing the
// app wrote before it was stopped is lost.
func TestRestoreRollbackPutsTheVolumeBack(t *testing.T) {
	w := newWorld()
	w.failExtract = errors.New("disk full")
	_, err := restoreShop(t, w, context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v", err)
	}
	w.before(t, "extract shop_data", "revert shop_data")
	w.before(t, "revert shop_data", "start app1")
	if n := strings.Count(strings.Join(w.events, "\n"), "extract shop_data"); n != 1 {
		t.Errorf("the volume was extracted %d times: %q", n, w.events)
	}
	// What app wrote up to its stop is there, and nothing was added.
	if w.restarted() != w.atStop || !strings.HasPrefix(w.atStop, "before+w") {
		t.Errorf("volume %q after the rollback, want %q (app's content when it stopped)", w.restarted(), w.atStop)
	}
	if w.running["worker1"] || !w.running["app1"] || !w.running["web1"] {
		t.Errorf("running %v", w.running)
	}
}

// A failure after the old content was deleted (an after-start hook) rolls
// the volume back from the safety backup, with the app stopped.
func TestRestoreRollbackFromTheSafetyBackup(t *testing.T) {
	w := newWorld()
	w.hookCode = 3
	_, err := restoreShop(t, w, context.Background())
	if err == nil || !strings.Contains(err.Error(), "exit code 3") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v", err)
	}
	// A standby tells from it that the project is as it was.
	if !errors.Is(err, ErrRolledBack) {
		t.Errorf("a rolled-back restore's error is not ErrRolledBack: %v", err)
	}
	hook := w.indexOf("hook app1")
	after := w.events[hook+1:]
	want := []string{"stop web1", "stop app1", "prepare shop_data", "extract shop_data", "commit shop_data", "start app1", "start web1"}
	if strings.Join(after, ",") != strings.Join(want, ",") {
		t.Errorf("rollback %q, want %q", after, want)
	}
	if w.restarted() != w.atStop {
		t.Errorf("volume %q after the rollback, want %q", w.restarted(), w.atStop)
	}
}

// Ctrl-C while the archive is applied: the rollback runs all the same,
// and what ran runs again.
func TestRestoreInterruptedRollsBack(t *testing.T) {
	w := newWorld()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.cancel, w.cancelOn = cancel, "extract shop_data"
	_, err := restoreShop(t, w, ctx)
	if err == nil || !strings.Contains(err.Error(), "restore interrupted") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("got %v", err)
	}
	w.before(t, "extract shop_data", "revert shop_data")
	if !w.running["app1"] || !w.running["web1"] || w.running["worker1"] {
		t.Errorf("running %v: %q", w.running, w.events)
	}
	if w.restarted() != w.atStop {
		t.Errorf("volume %q after the rollback, want %q", w.restarted(), w.atStop)
	}
}

// A restore whose archive holds only a bind mount outside the project
// folder refuses, and says what to give to restore it.
func TestRestoreOfNothingSaysWhatToGive(t *testing.T) {
	dir, _ := shopProject(t)
	b, _ := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	compose := strings.Replace(string(b), "volumes: [data:/srv]", "volumes: [data:/srv, /mnt/media:/media]", 1)
	if compose == string(b) {
		t.Fatal("the compose file of shop changed: update this test")
	}
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644)
	var out bytes.Buffer
	aw, _ := archive.NewWriter(&out, archive.Zstd)
	sum, err := aw.WriteTree(context.Background(), "volumes/bind_mnt_media/", tar.NewReader(bytes.NewReader(volumeTar("./", "media"))))
	if err != nil {
		t.Fatal(err)
	}
	m := &archive.Manifest{Project: archive.Project{Name: "shop", WorkingDir: dir}, Volumes: []archive.Volume{{
		Name: "bind_mnt_media", EngineName: "/mnt/media", Target: "/media", Services: []string{"app"}, Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest}}}
	if err := aw.Close(m); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(dir, "media.tar.zst")
	os.WriteFile(arch, out.Bytes(), 0o600)
	w := newWorld()
	_, err = Restore(context.Background(), w, w, Options{
		Project: project.Options{WorkingDir: dir, Environment: []string{}}, Archive: arch, Yes: true,
		SafetyDir: t.TempDir(), ReadyTimeout: 1e9,
	})
	if !errors.Is(err, errNothing) || !strings.Contains(err.Error(), "/mnt/media is outside the project folder; give --include-bind-mounts") {
		t.Errorf("err %v", err)
	}
	if len(w.events) != 0 {
		t.Errorf("events %q: nothing should have been done", w.events)
	}
}

// Ctrl-C before anything is replaced: what stopped runs again, and the
// error says what state the project is in rather than only which step
// the cancel broke.
func TestRestoreInterruptedBeforeReplacing(t *testing.T) {
	for _, tc := range []struct {
		name, state string
		set         func(w *world, cancel context.CancelFunc)
	}{
		{"while the project is looked at", "nothing was changed", func(w *world, cancel context.CancelFunc) { w.onList = cancel }},
		{"while the app stops", "nothing was replaced", func(w *world, cancel context.CancelFunc) { w.cancel, w.cancelOn = cancel, "stop web1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.set(w, cancel)
			_, err := restoreShop(t, w, ctx)
			if err == nil || !strings.HasPrefix(err.Error(), "restore interrupted, "+tc.state+": ") || !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v", err)
			}
			if !w.running["web1"] || !w.running["app1"] || w.running["worker1"] || w.indexOf("prepare shop_data") >= 0 {
				t.Errorf("running %v: %q", w.running, w.events)
			}
		})
	}
}
