package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/storage"
	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

func TestLocalConformance(t *testing.T) {
	storagetest.Suite{New: func(t *testing.T) storage.Backend {
		return storage.NewLocal(filepath.Join(t.TempDir(), "backups"))
	}}.Run(t)
}

// The local backend keeps today's file handling: a hidden partial file
// while writing, mode 0600, nothing left after an abort.
func TestLocalPartialFileAndMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	l := storage.NewLocal(dir)
	ctx := context.Background()
	up, err := l.Create(ctx, "p.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("data"))
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".p.tar.zst.") || !strings.HasSuffix(entries[0].Name(), ".partial") {
		t.Fatalf("while writing: %v", entries)
	}
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "p.tar.zst"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("committed: %v %v", fi.Mode(), err)
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v", d.Mode())
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("after commit: %v", entries)
	}
}

func TestParse(t *testing.T) {
	wd := t.TempDir()
	os.Mkdir(filepath.Join(wd, "existing"), 0o755)
	for _, c := range []struct {
		in   string
		kind storage.Kind
		want string // scheme|bucket|dir|name or "error"
	}{
		{"s3://bucket/site/", storage.FolderOrObject, "s3|bucket|site|"},
		{"s3://bucket/site", storage.FolderOrObject, "s3|bucket|site|"},
		{"s3://bucket", storage.FolderOrObject, "s3|bucket||"},
		{"s3://bucket/a/b/p-1.tar.zst", storage.FolderOrObject, "s3|bucket|a/b|p-1.tar.zst"},
		{"s3://bucket/p-1.tar.zst.age", storage.Object, "s3|bucket||p-1.tar.zst.age"},
		{"s3://bucket/site/", storage.Object, "error"},
		{"s3://bucket/x", storage.Folder, "s3|bucket|x|"},
		{"s3:///x", storage.Folder, "error"},
		{"s3://key:secret@bucket/x", storage.Folder, "error"},
		// A secret that breaks the URL, or holds "/" (AWS secret keys
		// may), is not shown either; nor is a port taken for a bucket.
		{"s3://key:se cret@bucket/x", storage.Folder, "error"},
		{"s3://AKIA:abc/secretXYZ@bucket/x", storage.Folder, "error"},
		{"s3://AKIA:123456/secretXYZ@bucket/x", storage.Folder, "error"},
		{"gs://key:secret@bucket/x", storage.Folder, "error"},
		{"s3://ab/x", storage.Folder, "error"},
		{"s3://bucket/a%01b/", storage.Folder, "error"},
		// Keys as written: a prefix ".x." was cut to "x", "a/../b" shown as "b".
		{"s3://bucket/.x./p-1.tar.zst", storage.Object, "s3|bucket|.x.|p-1.tar.zst"},
		{"s3://bucket/a/../b/", storage.Folder, "error"},
		{"s3://bucket/a//b/", storage.Folder, "error"},
		{"s3://bucket/a%23b/", storage.Folder, "error"},
		{"/abs/a\x00b.tar", storage.Object, "error"},
		{"gs://bucket/x", storage.Folder, "error"},
		{"ftp://host/x.tar.zst", storage.Object, "error"},
		{"file:///tmp/x/", storage.FolderOrObject, "file||/tmp/x|"},
		{"file:///tmp/x/a.tar", storage.Object, "file||/tmp/x|a.tar"},
		{"file://otherhost/x", storage.Object, "error"},
		{"existing", storage.FolderOrObject, "file||" + filepath.Join(wd, "existing") + "|"},
		{"new/", storage.FolderOrObject, "file||" + filepath.Join(wd, "new") + "|"},
		{"out.tar.zst", storage.FolderOrObject, "file||" + wd + "|out.tar.zst"},
		{"existing", storage.Object, "error"},
		{"/abs/a.tar", storage.Object, "file||/abs|a.tar"},
	} {
		loc, err := storage.Parse(c.in, wd, c.kind)
		got := "error"
		if err == nil {
			got = loc.Scheme + "|" + loc.Bucket + "|" + loc.Dir + "|" + loc.Name
		} else if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "cret@") {
			t.Errorf("%s: the error shows the secret: %v", c.in, err)
		}
		if got != c.want {
			t.Errorf("Parse(%q, %d) = %s (%v), want %s", c.in, c.kind, got, err, c.want)
		}
	}
}

// The part sizes keep memory small for most archives and fit a 500 GB
// archive within the provider's part limit.
func TestPartPlan(t *testing.T) {
	for _, c := range []struct {
		maxParts        int
		first, last     int64
		capacityAtLeast float64
	}{
		{10000, 16 << 20, 64 << 20, 500e9},
		{1000, 160 << 20, 640 << 20, 500e9},
	} {
		p := storage.NewPartPlanForTest(storage.DefaultPartSize, c.maxParts)
		var total float64
		for n := 1; n <= c.maxParts; n++ {
			total += float64(p(n))
		}
		if p(1) != c.first || p(c.maxParts) != c.last || total < c.capacityAtLeast {
			t.Errorf("%d parts: first %d MiB, last %d MiB, capacity %.0f GB", c.maxParts, p(1)>>20, p(c.maxParts)>>20, total/1e9)
		}
	}
}
