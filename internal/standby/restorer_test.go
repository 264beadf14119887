package standby

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-backup/docker-backup/internal/lock"
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
