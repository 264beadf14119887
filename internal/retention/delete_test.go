package retention_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

func TestDeleteOne(t *testing.T) {
	dir := t.TempDir()
	b := storage.NewLocal(dir)
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	putArchive(t, b, "shop-old.tar.zst", "shop", t0, false)
	putArchive(t, b, "shop-new.tar.zst", "shop", t0.Add(time.Hour), false)
	putArchive(t, b, "blog-only.tar.zst", "blog", t0.Add(-time.Hour), false)
	putArchive(t, b, "shop-x-pre-restore.tar.zst", "shop", t0.Add(-time.Hour), true)
	putArchive(t, b, "other.tar.zst", "", time.Time{}, false)
	ctx := context.Background()

	for name, want := range map[string]error{
		"shop-new.tar.zst":           retention.ErrNewest,
		"blog-only.tar.zst":          retention.ErrNewest,
		"shop-x-pre-restore.tar.zst": retention.ErrNewest, // the newest of the safety series
		"other.tar.zst":              retention.ErrForeign,
		"missing.tar.zst":            storage.ErrNotExist,
		"../shop-old.tar.zst":        storage.ErrNotExist,
		"shop-old.tar.zst.index":     storage.ErrNotExist,
	} {
		if err := retention.Delete(ctx, b, name); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	if err := retention.Delete(ctx, b, "shop-old.tar.zst"); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "shop-old*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, keep := range []string{"shop-new.tar.zst", "blog-only.tar.zst", "other.tar.zst", "shop-x-pre-restore.tar.zst"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}
