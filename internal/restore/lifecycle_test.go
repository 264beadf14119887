package restore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-backup/docker-backup/internal/project"
)

// slowApps is five app services that each take a while to stop or to
// start (an app ignoring SIGTERM waits out its grace period), behind a
// database. It records how many were at it at once.
type slowApps struct {
	mu            sync.Mutex
	running       map[string]bool
	busy, maxBusy int
	order         []string
}

func (a *slowApps) work(what, id string, running bool) {
	a.mu.Lock()
	a.busy++
	a.maxBusy = max(a.maxBusy, a.busy)
	a.order = append(a.order, what+" "+id)
	a.mu.Unlock()
	// An app is busy until the five are, or for long: one after the
	// other, they never are together.
	if id != "db1" {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			a.mu.Lock()
			all := a.maxBusy == 5
			a.mu.Unlock()
			if all {
				break
			}
		}
	}
	a.mu.Lock()
	a.busy--
	a.running[id] = running
	a.mu.Unlock()
}

func (a *slowApps) StopContainer(_ context.Context, id string, _ *int) error {
	a.work("stop", id, false)
	return nil
}

func (a *slowApps) StartContainer(_ context.Context, id string) error {
	a.work("start", id, true)
	return nil
}

func (a *slowApps) WaitReady(context.Context, string) error { return nil }

func (a *slowApps) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Running: a.running[id]}}}, nil
}

func fiveApps() (*project.Project, *slowApps) {
	a := &slowApps{running: map[string]bool{"db1": true}}
	p := &project.Project{Name: "shop", Services: []*project.Service{{Name: "db", Containers: []project.Container{{ID: "db1", Running: true}}}}}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("app%d", i)
		a.running[id] = true
		p.Services = append(p.Services, &project.Service{Name: id, DependsOn: []string{"db"}, Containers: []project.Container{{ID: id, Running: true}}})
	}
	return p, a
}

// Five apps that depend on the database stop at once, then start at once
// once the database runs, as compose does: not one after the other.
func TestStopAndStartALevelAtOnce(t *testing.T) {
	p, a := fiveApps()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := stopServices(context.Background(), a, p.Services, log); err != nil {
		t.Fatal(err)
	}
	if a.maxBusy != 5 || a.order[5] != "stop db1" {
		t.Errorf("stopped %d at once (%v), want the five apps, then the database", a.maxBusy, a.order)
	}
	a.maxBusy, a.order = 0, nil
	if err := settle(context.Background(), a, a, p, func(project.Container) bool { return true }, time.Minute, log); err != nil {
		t.Fatal(err)
	}
	if a.maxBusy != 5 || a.order[0] != "start db1" {
		t.Errorf("started %d at once (%v), want the database, then the five apps", a.maxBusy, a.order)
	}
}
