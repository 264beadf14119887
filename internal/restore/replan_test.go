package restore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/project"
)

// fakeLock is a project's lock: one holder at a time.
type fakeLock struct {
	mu    sync.Mutex
	held  bool
	takes int
}

var errHeld = errors.New("the lock is held")

func (l *fakeLock) lock(ctx context.Context, _ string) (context.Context, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return nil, nil, errHeld
	}
	l.held = true
	l.takes++
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.held = false
		})
	}, nil
}

func (l *fakeLock) isHeld() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// A prepared restore gives up the lock while it waits (a backup may run
// meanwhile), takes it again to be planned again, and tells whether the
// new plan differs from the one shown; it is applied only under the lock.
func TestReleaseAndReplan(t *testing.T) {
	ctx := context.Background()
	w := newWorld()
	dir, arch := shopProject(t)
	var plans []*event.Plan
	l := &fakeLock{}
	pr, err := Prepare(ctx, w, w, Options{
		Project: project.Options{WorkingDir: dir, Environment: []string{}}, Archive: arch,
		SafetyDir: t.TempDir(), ReadyTimeout: 1e9, Lock: l.lock,
		Events: func(e event.Event) {
			if e.Type == event.PlanReady {
				plans = append(plans, e.Plan)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if !l.isHeld() || len(plans) != 1 {
		t.Fatalf("after Prepare: held %v, plans %d", l.isHeld(), len(plans))
	}
	pr.Release()
	if l.isHeld() {
		t.Fatal("Release kept the lock")
	}
	// A backup takes the lock meanwhile, and gives it back.
	_, release, err := l.lock(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := pr.Apply(ctx); err == nil || len(w.events) != 0 {
		t.Fatalf("applied without the lock: %v, %q", err, w.events)
	}

	// Nothing changed: the same plan, not shown again.
	changed, err := pr.Replan(ctx, l.lock)
	if err != nil || changed || len(plans) != 1 || !l.isHeld() {
		t.Fatalf("Replan of the same state: changed %v, %v, plans %d, held %v", changed, err, len(plans), l.isHeld())
	}

	// web was stopped meanwhile: the new plan no longer stops it, and is
	// shown.
	pr.Release()
	w.mu.Lock()
	w.running["web1"] = false
	w.mu.Unlock()
	changed, err = pr.Replan(ctx, l.lock)
	if err != nil || !changed || len(plans) != 2 {
		t.Fatalf("Replan of a changed state: changed %v, %v, plans %d", changed, err, len(plans))
	}
	if !slices.Equal(plans[0].Stop, []string{"app", "web"}) || !slices.Equal(plans[1].Stop, []string{"app"}) || pr.Plan != plans[1] {
		t.Fatalf("stop %v, then %v", plans[0].Stop, plans[1].Stop)
	}
	if plans[1].SafetyBackup != plans[0].SafetyBackup {
		t.Errorf("the safety backup moved: %s, then %s", plans[0].SafetyBackup, plans[1].SafetyBackup)
	}

	// Held by another run: Replan fails and Apply refuses.
	pr.Release()
	_, release, _ = l.lock(ctx, "shop")
	if _, err := pr.Replan(ctx, l.lock); !errors.Is(err, errHeld) {
		t.Fatalf("Replan under another's lock: %v", err)
	}
	if _, err := pr.Apply(ctx); err == nil || len(w.events) != 0 {
		t.Fatalf("applied without the lock: %v, %q", err, w.events)
	}
	release()

	if changed, err := pr.Replan(ctx, l.lock); err != nil || changed {
		t.Fatalf("Replan: %v %v", changed, err)
	}
	if _, err := pr.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if w.restarted() != "from the archive" || w.indexOf("stop web1") >= 0 {
		t.Errorf("after the restore: %q, events %q", w.restarted(), w.events)
	}
	pr.Close()
	if l.isHeld() {
		t.Fatal("Close kept the lock")
	}
	if _, err := pr.Replan(ctx, l.lock); err == nil || l.isHeld() {
		t.Fatalf("Replan after Close: %v, held %v", err, l.isHeld())
	}
}
