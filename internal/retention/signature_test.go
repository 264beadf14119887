package retention_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

func putSignature(t *testing.T, b storage.Backend, archive string) {
	t.Helper()
	if err := storage.WriteSignature(context.Background(), b, archive, []byte("-----BEGIN SSH SIGNATURE-----\n")); err != nil {
		t.Fatal(err)
	}
}

func leftIn(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	sort.Strings(left)
	return fmt.Sprint(left)
}

// A pruned archive's signature goes with it; an orphan index's too. The
// signatures are never taken for archives, and a foreign archive's stays.
func TestPruneRemovesSignatures(t *testing.T) {
	dir := t.TempDir()
	b := storage.NewLocal(dir)
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	for i := range 3 {
		name := fmt.Sprintf("shop-%d.tar.zst", i)
		putArchive(t, b, name, "shop", t0.Add(time.Duration(i)*time.Hour), false)
		putSignature(t, b, name)
	}
	// An archive deleted by a prune cut short: its signature and index stay.
	putArchive(t, b, "shop-gone.tar.zst", "shop", t0.Add(-time.Hour), false)
	putSignature(t, b, "shop-gone.tar.zst")
	os.Remove(filepath.Join(dir, "shop-gone.tar.zst"))
	putArchive(t, b, "foreign.tar.zst", "", time.Time{}, false)
	putSignature(t, b, "foreign.tar.zst")

	ctx := context.Background()
	plan, err := retention.Plan(ctx, b, retention.PruneOptions{Project: "shop", Policy: retention.Policy{Last: 1, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	if del := deletedNames(plan); fmt.Sprint(del) != "[shop-0.tar.zst shop-1.tar.zst]" {
		t.Fatalf("deletes %v", del)
	}
	if _, err := retention.Execute(ctx, b, plan); err != nil {
		t.Fatal(err)
	}
	want := "[foreign.tar.zst foreign.tar.zst.sig shop-2.tar.zst shop-2.tar.zst.index.json shop-2.tar.zst.sig]"
	if got := leftIn(t, dir); got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
}

func TestDeleteRemovesTheSignature(t *testing.T) {
	dir := t.TempDir()
	b := storage.NewLocal(dir)
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	for i, name := range []string{"shop-old.tar.zst", "shop-new.tar.zst"} {
		putArchive(t, b, name, "shop", t0.Add(time.Duration(i)*time.Hour), false)
		putSignature(t, b, name)
	}
	ctx := context.Background()
	if err := retention.Delete(ctx, b, "shop-old.tar.zst.sig"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("deleting a signature as an archive: %v", err)
	}
	if err := retention.Delete(ctx, b, "shop-old.tar.zst"); err != nil {
		t.Fatal(err)
	}
	if got, want := leftIn(t, dir), "[shop-new.tar.zst shop-new.tar.zst.index.json shop-new.tar.zst.sig]"; got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
}
