package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

// fakeEngine records stops and starts; nothing else is expected of it here.
type fakeEngine struct {
	mu        sync.Mutex
	calls     []string // "stop ID" / "start ID"
	stopErr   map[string]error
	startErr  map[string]error
	onStop    func(id string)
	startCtxs []context.Context
	startErrs []error // ctx.Err() when started
	helpers   []engine.Helper
}

func (f *fakeEngine) StopContainer(ctx context.Context, id string, timeout *int) error {
	f.mu.Lock()
	f.calls = append(f.calls, "stop "+id)
	f.mu.Unlock()
	if f.onStop != nil {
		f.onStop(id)
	}
	return f.stopErr[id]
}

func (f *fakeEngine) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "start "+id)
	f.startCtxs = append(f.startCtxs, ctx)
	f.startErrs = append(f.startErrs, ctx.Err())
	return f.startErr[id]
}

func (f *fakeEngine) Exec(context.Context, string, engine.ExecOptions) (int, error) {
	return -1, errors.New("unexpected Exec")
}

func (f *fakeEngine) ReadVolume(context.Context, string, string, func(io.Reader) error) error {
	return errors.New("unexpected ReadVolume")
}

func (f *fakeEngine) ReadBind(context.Context, string, string, []string, func(io.Reader) error) error {
	return errors.New("unexpected ReadBind")
}

func (f *fakeEngine) ReadBindFile(context.Context, string, string, func(io.Reader) error) error {
	return errors.New("unexpected ReadBindFile")
}

func (f *fakeEngine) StatBind(context.Context, string, string) (fs.FileMode, error) {
	return 0, errors.New("unexpected StatBind")
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stopFixture is a project in dependency order:
// db, cache (exited) <- api (2 replicas, one exited) <- web; idle has no container.
func stopFixture() *project.Project {
	c := func(id string, running bool) project.Container {
		state := "exited"
		if running {
			state = "running"
		}
		return project.Container{ID: id, Name: "shop-" + id, Running: running, State: state}
	}
	return &project.Project{Name: "shop", Services: []*project.Service{
		{Name: "cache", Containers: []project.Container{c("cache1", false)}},
		{Name: "db", Containers: []project.Container{c("db1", true)}},
		{Name: "idle"},
		{Name: "api", DependsOn: []string{"cache", "db"}, Containers: []project.Container{c("api1", true), c("api2", false), c("api3", true)}},
		{Name: "web", DependsOn: []string{"api"}, Containers: []project.Container{c("web1", true)}},
	}}
}

func pick(p *project.Project, names ...string) []*project.Service {
	var out []*project.Service
	for _, n := range names {
		s, err := p.Service(n)
		if err != nil {
			panic(err)
		}
		out = append(out, s)
	}
	return out
}

// inLevels tells whether calls are levels, in order, each in any order.
func inLevels(calls []string, levels ...[]string) bool {
	i := 0
	for _, level := range levels {
		if i+len(level) > len(calls) {
			return false
		}
		got := append([]string{}, calls[i:i+len(level)]...)
		want := append([]string{}, level...)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return false
		}
		i += len(level)
	}
	return i == len(calls)
}

func TestStopProject(t *testing.T) {
	tests := []struct {
		desc      string
		services  []string
		wantStop  [][]string
		wantStart [][]string
	}{
		{desc: "all", services: []string{"cache", "db", "idle", "api", "web"},
			wantStop:  [][]string{{"stop web1"}, {"stop api1", "stop api3"}, {"stop db1"}},
			wantStart: [][]string{{"start db1"}, {"start api3", "start api1"}, {"start web1"}}},
		{desc: "selection order does not matter", services: []string{"db", "web", "api"},
			wantStop:  [][]string{{"stop web1"}, {"stop api1", "stop api3"}, {"stop db1"}},
			wantStart: [][]string{{"start db1"}, {"start api3", "start api1"}, {"start web1"}}},
		{desc: "only db", services: []string{"db"},
			wantStop: [][]string{{"stop db1"}}, wantStart: [][]string{{"start db1"}}},
		{desc: "only stopped containers", services: []string{"cache", "idle"}},
		{desc: "none", services: nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := stopFixture()
			eng := &fakeEngine{}
			restart, err := stopProject(context.Background(), eng, p, pick(p, tt.services...), quietLog())
			if err != nil {
				t.Fatal(err)
			}
			if restart == nil {
				t.Fatal("no restart func")
			}
			if !inLevels(eng.calls, tt.wantStop...) {
				t.Errorf("stops %v, want %v", eng.calls, tt.wantStop)
			}
			eng.calls = nil
			if err := restart(); err != nil {
				t.Fatal(err)
			}
			if !inLevels(eng.calls, tt.wantStart...) {
				t.Errorf("starts %v, want %v", eng.calls, tt.wantStart)
			}
		})
	}
}

// The containers of one level stop at once, as compose stops them: the
// stop of api1 waits until api3's has begun.
func TestStopProjectStopsALevelAtOnce(t *testing.T) {
	p := stopFixture()
	api3 := make(chan struct{})
	var waited error
	eng := &fakeEngine{onStop: func(id string) {
		switch id {
		case "api3":
			close(api3)
		case "api1":
			select {
			case <-api3:
			case <-time.After(10 * time.Second):
				waited = errors.New("api3 was not being stopped while api1 was")
			}
		}
	}}
	restart, err := stopProject(context.Background(), eng, p, p.Services, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if waited != nil {
		t.Error(waited)
	}
	if err := restart(); err != nil {
		t.Fatal(err)
	}
}

func TestStopProjectRestartAfterCancel(t *testing.T) {
	p := stopFixture()
	eng := &fakeEngine{}
	ctx, cancel := context.WithCancel(context.Background())
	restart, err := stopProject(ctx, eng, p, p.Services, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	cancel() // an interrupt while the backup runs
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	if len(eng.startCtxs) != 4 {
		t.Fatalf("started %d containers, want 4: %v", len(eng.startCtxs), eng.calls)
	}
	for i, c := range eng.startCtxs {
		if eng.startErrs[i] != nil {
			t.Errorf("started with a done context: %v", eng.startErrs[i])
		}
		if dl, ok := c.Deadline(); !ok || time.Until(dl) > restartTimeout {
			t.Errorf("start context deadline %v %v: want one within %v", dl, ok, restartTimeout)
		}
	}
}

func TestStopProjectCancelledWhileStopping(t *testing.T) {
	p := stopFixture()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := &fakeEngine{onStop: func(id string) {
		if id == "api1" {
			cancel()
		}
	}}
	restart, err := stopProject(ctx, eng, p, p.Services, quietLog())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// api3, of api1's level, may have been stopped at the same time; db1
	// never is.
	stops := eng.calls
	if !inLevels(stops, []string{"stop web1"}, []string{"stop api1"}) && !inLevels(stops, []string{"stop web1"}, []string{"stop api1", "stop api3"}) {
		t.Errorf("stops %v, want web1, then api1 (and perhaps api3)", stops)
	}
	eng.calls = nil
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range stops[1:] {
		want = append(want, "start "+strings.TrimPrefix(c, "stop "))
	}
	if !inLevels(eng.calls, want, []string{"start web1"}) {
		t.Errorf("starts %v, want %v then web1: what was stopped", eng.calls, want)
	}
}

func TestStopProjectStopError(t *testing.T) {
	p := stopFixture()
	eng := &fakeEngine{stopErr: map[string]error{"api3": errors.New("timeout stopping")}}
	restart, err := stopProject(context.Background(), eng, p, p.Services, quietLog())
	if err == nil || !strings.Contains(err.Error(), "timeout stopping") || !strings.Contains(err.Error(), "api") {
		t.Fatalf("err = %v", err)
	}
	if !inLevels(eng.calls, []string{"stop web1"}, []string{"stop api1", "stop api3"}) {
		t.Errorf("stops %v, want web1, api1 and api3: nothing stopped after an error", eng.calls)
	}
	eng.calls = nil
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	// The one that failed to stop may have stopped: it is started too.
	if !inLevels(eng.calls, []string{"start api3", "start api1"}, []string{"start web1"}) {
		t.Errorf("starts %v", eng.calls)
	}
}

func TestStopProjectStartError(t *testing.T) {
	p := stopFixture()
	eng := &fakeEngine{startErr: map[string]error{"db1": errors.New("port is already allocated")}}
	restart, err := stopProject(context.Background(), eng, p, p.Services, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	eng.calls = nil
	err = restart()
	if err == nil || !strings.Contains(err.Error(), "port is already allocated") || !strings.Contains(err.Error(), "docker compose start db") {
		t.Errorf("err = %v", err)
	}
	// The others are started all the same.
	if !inLevels(eng.calls, []string{"start db1"}, []string{"start api3", "start api1"}, []string{"start web1"}) {
		t.Errorf("starts %v", eng.calls)
	}
}

func (f *fakeEngine) ListHelpers(context.Context) ([]engine.Helper, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Helper(nil), f.helpers...), nil
}

func (f *fakeEngine) RemoveHelper(_ context.Context, h engine.Helper) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+h.ID)
	return nil
}

// What killed runs left is removed: the project's other runs' helpers
// (the caller holds the project's lock), and any helper whose run is
// over, whatever project or host it was for; never a live run's.
func TestRemoveStaleHelpers(t *testing.T) {
	eng := &fakeEngine{helpers: []engine.Helper{
		{ID: "mine", Project: "shop", Job: "me"},
		{ID: "shop-killed", Project: "shop", Job: "killed"},
		{ID: "shop-old", Project: "shop"}, // an older docker-backup: no job
		{ID: "blog-live", Project: "blog", Job: "live"},
		{ID: "blog-killed", Project: "blog", Job: "killed"},
		{ID: "verify-vol", Volume: true, Job: "dead-verify"},
		{ID: "verify-live", Job: "live"},
		{ID: "unknown", Project: "other"},
	}}
	asked := map[string]int{}
	gone := func(_ context.Context, job string) (bool, error) {
		asked[job]++
		return job != "live" && job != "me", nil
	}
	ctx := engine.WithJob(context.Background(), "shop", "me")
	RemoveStaleHelpers(ctx, eng, gone, "shop", quietLog())
	want := []string{"remove shop-killed", "remove shop-old", "remove blog-killed", "remove verify-vol"}
	if !reflect.DeepEqual(eng.calls, want) {
		t.Errorf("got %v, want %v", eng.calls, want)
	}
	for job, n := range asked {
		if n != 1 {
			t.Errorf("job %s asked about %d times", job, n)
		}
	}
	// Without a lock (no job of its own), only finished runs' helpers go.
	eng.calls = nil
	RemoveStaleHelpers(context.Background(), eng, gone, "shop", quietLog())
	want = []string{"remove shop-killed", "remove blog-killed", "remove verify-vol"}
	if !reflect.DeepEqual(eng.calls, want) {
		t.Errorf("without a lock: got %v, want %v", eng.calls, want)
	}
}

func TestExcludeServicesLeavesTheDaemonOut(t *testing.T) {
	p := stopFixture()
	var notes []string
	note := func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }
	got := excludeServices(p.Services, []string{"web"}, note)
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if strings.Join(names, " ") != "cache db idle api" {
		t.Errorf("services = %v", names)
	}
	if len(p.Services) != 5 {
		t.Errorf("the project's own list changed: %d services", len(p.Services))
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "service web skipped: it runs this backup") {
		t.Errorf("notes = %q", notes)
	}
}
