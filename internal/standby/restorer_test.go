package standby

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-backup/docker-backup/internal/lock"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/sign/signtest"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// A run killed mid-restore leaves its folder (download, safety backup);
// the next run removes it, and only folders whose process is provably
// gone.
func TestRunFoldersOfDeadRunsAreRemoved(t *testing.T) {
	r := &Restorer{Dir: t.TempDir()}
	root := filepath.Join(r.Dir, runsDir)
	leave := func(name string, owner lock.Process) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(owner)
		if err := os.WriteFile(filepath.Join(dir, ownerFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "shop.tar.zst"), []byte("download"), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dead := lock.Self()
	dead.Start = "1" // this pid, but a process that started at boot: not this one
	other := lock.Self()
	other.Host = "another-container"
	other.Start = "1"
	deadDir := leave("run-dead", dead)
	liveDir := leave("run-live", lock.Self())
	otherDir := leave("run-other", other)

	dir, err := r.runDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("the folder of a dead run is still there (%v)", err)
	}
	for _, d := range []string{liveDir, otherDir, dir} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// noOpen is a storage whose archives must not be opened.
type noOpen struct {
	storage.Backend
	t *testing.T
}

func (n noOpen) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if storage.IsArchiveName(name) {
		n.t.Errorf("%s was opened", name)
	}
	return n.Backend.Open(ctx, name)
}

// With a trust list, a standby refuses an unsigned archive, and one
// signed by another key, before downloading it.
func TestStandbyRefusesWhatTheTrustListDoesNot(t *testing.T) {
	ctx := context.Background()
	b := storage.NewLocal(t.TempDir())
	up, err := b.Create(ctx, "shop-1.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("an archive"))
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	other, _ := signtest.Key(t)
	_, trust := signtest.Key(t)
	r := &Restorer{Dir: t.TempDir(), Store: noOpen{b, t}, Options: restore.Options{Trust: trust}}
	if _, err := r.Apply(ctx, "shop-1.tar.zst", Hooks{}); !errors.Is(err, sign.ErrUnsigned) {
		t.Fatalf("unsigned: %v, want ErrUnsigned", err)
	}
	sig, err := other.Sign([]byte("a manifest"))
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.WriteSignature(ctx, b, "shop-1.tar.zst", sig); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, "shop-1.tar.zst", Hooks{}); !errors.Is(err, sign.ErrUntrusted) {
		t.Fatalf("another key: %v, want ErrUntrusted", err)
	}
}
