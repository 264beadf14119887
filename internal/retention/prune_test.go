package retention_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

func putArchive(t *testing.T, b storage.Backend, name, project string, at time.Time, safety bool) {
	t.Helper()
	var idx *storage.Index
	if project != "" {
		idx = &storage.Index{Project: project, CreatedAt: at, Safety: safety}
	}
	putIndexed(t, b, name, idx)
}

// putIndexed writes an archive and, unless idx is nil, its index.
func putIndexed(t *testing.T, b storage.Backend, name string, idx *storage.Index) {
	t.Helper()
	ctx := context.Background()
	up, err := b.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("archive " + name))
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if idx == nil {
		return
	}
	idx.Archive, idx.Size = name, int64(len("archive "+name))
	if err := storage.WriteIndex(ctx, b, *idx); err != nil {
		t.Fatal(err)
	}
}

func TestPruneOnlyTouchesTheProjectsOwnArchives(t *testing.T) {
	dir := t.TempDir()
	b := storage.NewLocal(dir)
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	for i := range 5 {
		putArchive(t, b, fmt.Sprintf("shop-%d.tar.zst", i), "shop", t0.Add(time.Duration(i)*24*time.Hour), false)
		putArchive(t, b, fmt.Sprintf("blog-%d.tar.zst", i), "blog", t0.Add(time.Duration(i)*24*time.Hour), false)
	}
	putArchive(t, b, "shop-a-pre-restore.tar.zst", "shop", t0.Add(-time.Hour), true)
	putArchive(t, b, "shop-b-pre-restore.tar.zst", "shop", t0.Add(-2*time.Hour), true)
	putArchive(t, b, "shop-foreign.tar.zst", "", time.Time{}, false) // no index: not ours
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("keep me"), 0o644)
	// An orphan index of shop and one of blog.
	putArchive(t, b, "shop-gone.tar.zst", "shop", t0, false)
	os.Remove(filepath.Join(dir, "shop-gone.tar.zst"))
	putArchive(t, b, "blog-gone.tar.zst", "blog", t0, false)
	os.Remove(filepath.Join(dir, "blog-gone.tar.zst"))

	ctx := context.Background()
	plan, err := retention.Plan(ctx, b, retention.PruneOptions{Project: "shop", Policy: retention.Policy{Last: 2, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	del := deletedNames(plan)
	want := "[shop-0.tar.zst shop-1.tar.zst shop-2.tar.zst]"
	if fmt.Sprint(del) != want {
		t.Fatalf("deletes %v, want %s", del, want)
	}
	if fmt.Sprint(plan.Foreign) != "[shop-foreign.tar.zst]" || fmt.Sprint(plan.Orphans) != "[shop-gone.tar.zst.index.json]" {
		t.Fatalf("foreign %v, orphans %v", plan.Foreign, plan.Orphans)
	}
	// Safety backups: keep-last 2 keeps both.
	for _, d := range plan.SafetyBackups {
		if !d.Keep {
			t.Errorf("safety backup %s deleted", d.Name)
		}
	}
	if _, err := retention.Execute(ctx, b, plan); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	wantLeft := []string{"README.txt", "blog-0.tar.zst", "blog-0.tar.zst.index.json", "blog-1.tar.zst", "blog-1.tar.zst.index.json",
		"blog-2.tar.zst", "blog-2.tar.zst.index.json", "blog-3.tar.zst", "blog-3.tar.zst.index.json", "blog-4.tar.zst", "blog-4.tar.zst.index.json",
		"blog-gone.tar.zst.index.json",
		"shop-3.tar.zst", "shop-3.tar.zst.index.json", "shop-4.tar.zst", "shop-4.tar.zst.index.json",
		"shop-a-pre-restore.tar.zst", "shop-a-pre-restore.tar.zst.index.json", "shop-b-pre-restore.tar.zst", "shop-b-pre-restore.tar.zst.index.json",
		"shop-foreign.tar.zst"}
	if fmt.Sprint(left) != fmt.Sprint(wantLeft) {
		t.Errorf("left\n%v\nwant\n%v", left, wantLeft)
	}
}

func TestPruneRefusesWithoutRules(t *testing.T) {
	b := storage.NewLocal(t.TempDir())
	putArchive(t, b, "shop-0.tar.zst", "shop", time.Now(), false)
	if _, err := retention.Plan(context.Background(), b, retention.PruneOptions{Project: "shop"}); err == nil {
		t.Fatal("a prune without rules was planned")
	}
	if _, err := retention.Plan(context.Background(), b, retention.PruneOptions{Policy: retention.Policy{Last: 1}}); err == nil {
		t.Fatal("a prune without a project was planned")
	}
}
