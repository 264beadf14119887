package retention_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

func putHostArchive(t *testing.T, b storage.Backend, host, project string, at time.Time) string {
	t.Helper()
	name := fmt.Sprintf("%s_%s-%s.tar.zst", host, project, at.Format("20060102T150405Z"))
	putIndexed(t, b, name, &storage.Index{Project: project, Host: host, CreatedAt: at})
	return name
}

// Hosts that back up the same project into one place are series of
// their own: the newest archive of each is kept, however much newer
// another host's are.
func TestEachHostKeepsItsNewest(t *testing.T) {
	b := storage.NewLocal(t.TempDir())
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	oldA := putHostArchive(t, b, "host-a", "shop", t0)
	newA := putHostArchive(t, b, "host-a", "shop", t0.Add(time.Hour))
	var bNames []string
	for i := range 3 {
		bNames = append(bNames, putHostArchive(t, b, "host-b", "shop", t0.Add(time.Duration(48+i)*time.Hour)))
	}
	ctx := context.Background()
	plan, err := retention.Plan(ctx, b, retention.PruneOptions{Project: "shop", Policy: retention.Policy{Last: 1, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	del := deletedNames(plan)
	want := []string{oldA, bNames[0], bNames[1]}
	sort.Strings(want)
	if fmt.Sprint(del) != fmt.Sprint(want) {
		t.Fatalf("deletes %v, want %v (host-a's newest, %s, kept)", del, want, newA)
	}
	// --host keeps the prune to one host.
	plan, err = retention.Plan(ctx, b, retention.PruneOptions{Project: "shop", Host: "host-a", Policy: retention.Policy{Last: 1, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	if ds := plan.Deletions(); len(ds) != 1 || ds[0].Name != oldA || len(plan.Backups) != 2 {
		t.Fatalf("prune of host-a: deletes %+v of %+v", ds, plan.Backups)
	}
	// One archive at a time: the newest of each host is refused.
	if err := retention.Delete(ctx, b, newA); !errors.Is(err, retention.ErrNewest) {
		t.Errorf("delete of host-a's newest: %v", err)
	}
	if err := retention.Delete(ctx, b, oldA); err != nil {
		t.Errorf("delete of host-a's older one: %v", err)
	}
}

// deletedNames are the names a plan deletes, sorted.
func deletedNames(plan *retention.PrunePlan) []string {
	var del []string
	for _, d := range plan.Deletions() {
		del = append(del, d.Name)
	}
	sort.Strings(del)
	return del
}
