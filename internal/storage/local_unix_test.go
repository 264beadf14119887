//go:build unix

package storage_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// Only regular files in the folder are archives: a symlink placed in it
// (to /etc/passwd, or to another archive), a FIFO or a folder is neither
// listed, nor stated, nor read through, and a FIFO does not block.
func TestLocalReadsOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("root:x:0:0"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := storage.NewLocal(dir)
	ctx := context.Background()
	up, _ := l.Create(ctx, "real.tar.zst")
	up.Write([]byte("archive"))
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	os.Symlink(outside, filepath.Join(dir, "x.tar.zst"))
	os.Symlink("real.tar.zst", filepath.Join(dir, "alias.tar.zst"))
	os.Symlink(outside, filepath.Join(dir, "real.tar.zst"+storage.IndexSuffix))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.tar.zst"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "dir.tar.zst"), 0o700)

	list, err := l.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "real.tar.zst" {
		t.Fatalf("List: %+v %v", list, err)
	}
	for _, name := range []string{"x.tar.zst", "alias.tar.zst", "real.tar.zst" + storage.IndexSuffix, "fifo.tar.zst", "dir.tar.zst"} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := l.Stat(ctx, name); !errors.Is(err, storage.ErrNotExist) {
				t.Errorf("Stat(%s): %v, want ErrNotExist", name, err)
			}
			read := map[string]func() (io.ReadCloser, error){
				"Open":      func() (io.ReadCloser, error) { return l.Open(ctx, name) },
				"OpenRange": func() (io.ReadCloser, error) { return l.OpenRange(ctx, name, 0, -1) },
				"File":      func() (io.ReadCloser, error) { return l.File(name) },
			}
			for how, open := range read {
				rc, err := open()
				if err == nil {
					b, _ := io.ReadAll(rc)
					rc.Close()
					t.Errorf("%s(%s) read %q", how, name, b)
					continue
				}
				if !errors.Is(err, storage.ErrNotExist) {
					t.Errorf("%s(%s): %v, want ErrNotExist", how, name, err)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("reading %s blocks", name)
		}
	}
	if _, err := storage.ReadIndex(ctx, l, "real.tar.zst"); err == nil {
		t.Error("an index read through a symlink")
	}
	rc, err := l.Open(ctx, "real.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "archive" {
		t.Fatalf("the archive itself: %q", b)
	}
}
