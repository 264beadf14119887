//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// noShellImage is the Debian test image without sh, dash and bash, but with
// find and tar: what restore falls back on when it cannot set a volume's
// old content aside.
const noShellImage = "docker-backup-test/noshell:e2e"

func buildNoShellImage(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "dbt-noshell-build-" + strings.ReplaceAll(t.Name(), "/", "-")
	_ = exec.Command("docker", "rm", "-f", name).Run()
	if out, err := exec.CommandContext(ctx, "docker", "run", "--name", name, "--network", "none", debianImage,
		"rm", "-f", "/usr/bin/sh", "/usr/bin/dash", "/usr/bin/bash").CombinedOutput(); err != nil {
		t.Fatalf("removing the shells: %v: %s", err, out)
	}
	defer exec.Command("docker", "rm", "-f", name).Run()
	if out, err := exec.CommandContext(ctx, "docker", "commit", "--change", `CMD ["sleep", "infinity"]`, name, noShellImage).CombinedOutput(); err != nil {
		t.Fatalf("docker commit: %v: %s", err, out)
	}
	if err := exec.Command("docker", "run", "--rm", "--network", "none", noShellImage, "sh", "-c", "true").Run(); err == nil {
		t.Fatal("the image without a shell still runs sh")
	}
}

// TestRestoreVolumeOfAnImageWithoutShell restores a volume whose only
// service's image has no shell: the old content cannot be set aside, so it
// is deleted with find first, and the tree comes back all the same.
func TestRestoreVolumeOfAnImageWithoutShell(t *testing.T) {
	requireEngine(t)
	buildNoShellImage(t)
	p, volume := oneVolumeProject(t, noShellImage)
	// The app has no shell: the tree is made and listed from helpers.
	inVolume := func(script string) string { t.Helper(); return runInVolume(t, volume, script) }
	inVolume(`cd "$1" && mkdir -p docs/a .hidden && echo one > docs/a/one.txt && echo two > .hidden/two && ln -s docs/a/one.txt link && head -c 3000000 /dev/urandom > big.bin && chown -R 1000:1000 docs && chmod 0750 docs && touch -d 2020-01-02T03:04:05 docs/a/one.txt docs/a docs . `)
	before := inVolume(restoreListing)

	out := t.TempDir()
	arch := filepath.Join(out, "app.tar.zst")
	if r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", arch); r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	inVolume(`cd "$1" && rm -rf docs && echo new > added.txt && echo changed > .hidden/two`)
	if inVolume(restoreListing) == before {
		t.Fatal("the change did not change the listing: the test proves nothing")
	}
	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", arch)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if after := inVolume(restoreListing); after != before {
		t.Errorf("volume after restore:\n%s\nwant:\n%s", after, before)
	}
	ps := p.compose(context.Background(), "ps", "--status", "running", "--format", "{{.Service}}")
	if strings.TrimSpace(ps.Stdout) != "app" {
		t.Errorf("app is not running after the restore: %s", ps)
	}
}

// TestRestoreKilledThenRunAgain kills restore with SIGKILL while it
// extracts a volume, when nothing can clean up: the volume's old content
// stays aside in a folder, which the next create notes, and the helper
// stays, which the next run removes. The next restore brings the archive's
// tree back whole, with neither left.
func TestRestoreKilledThenRunAgain(t *testing.T) {
	requireEngine(t)
	p, volume := oneVolumeProject(t, debianImage)
	// The restore stops app: the tree is made and listed from helpers.
	inVolume := func(script string) string { t.Helper(); return runInVolume(t, volume, script) }
	inVolume(`cd "$1" && mkdir docs && for i in $(seq 1 200); do echo "file $i" > docs/f$i.txt; done && head -c 50000000 /dev/urandom > big.bin && chown -R 1000:1000 docs`)
	before := inVolume(restoreListing)
	arch := filepath.Join(t.TempDir(), "app.tar.zst")
	if r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", arch); r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	inVolume(`cd "$1" && rm -rf docs/f1*.txt && echo new > added.txt`)

	cmd, stderr := startBackup(t, p, "restore", "-p", p.Name, "-y", "--no-safety-backup", arch)
	// The helper that extracts is paused, so that the kill lands mid-volume.
	helper := waitForHelper(t, volume, "tar -x")
	if r := run(context.Background(), p.Dir, nil, "docker", "pause", helper); r.Err != nil {
		t.Fatal(r)
	}
	killPlugin(t, cmd.Process.Pid)
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the killed restore succeeded: %s", stderr)
	}
	if left := helpersOf(t, p.Name); len(left) == 0 {
		t.Fatal("no helper was left behind by the killed restore: the test proves nothing")
	}
	if root := inVolume(`ls -A "$1"`); !strings.Contains(root, ".docker-backup-replaced-") {
		t.Fatalf("no folder set aside in the volume after the kill: the test proves nothing: %s", root)
	}

	// create removes the stale helper and says what the folder is.
	r := backup(t, p.Dir, nil, "create", "-p", p.Name, "--json", "-o", t.TempDir()+"/")
	if r.Err != nil {
		t.Fatalf("create after the kill: %s", r)
	}
	if !strings.Contains(r.Stdout, "left by a restore that was interrupted") {
		t.Errorf("create does not note the folder the killed restore left: %s", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "removed 1 helper container(s) or volume(s) left by an interrupted run") {
		t.Errorf("create does not say that it removed the stale helper: %s", r.Stderr)
	}
	if left := helpersOf(t, p.Name); len(left) > 0 {
		t.Errorf("helpers left after the next create: %v", left)
	}

	// The restore run again puts the archive's tree back, and nothing else.
	if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", arch); r.Err != nil {
		t.Fatalf("restore after the kill: %s", r)
	}
	if after := inVolume(restoreListing); after != before {
		t.Errorf("volume after the second restore:\n%s\nwant:\n%s", after, before)
	}
	if left := helpersOf(t, p.Name); len(left) > 0 {
		t.Errorf("helpers left after the second restore: %v", left)
	}
}

// oneVolumeProject starts a project whose one service, app, runs image
// with the named volume data at /srv/data; it returns the volume's name.
func oneVolumeProject(t *testing.T, image string) (*project, string) {
	t.Helper()
	p := newProject(t, map[string]string{"compose.yaml": `
services:
  app:
    image: ` + image + `
    network_mode: none
    init: true
    command: ["sleep", "infinity"]
    volumes:
      - data:/srv/data
volumes:
  data:
`})
	p.up()
	return p, p.Name + "_data"
}

// runInVolume runs the bash script with the volume mounted at $1 in a
// container of the Debian test image, and returns its output.
func runInVolume(t *testing.T, volume, script string) string {
	t.Helper()
	out, err := exec.Command("docker", "run", "--rm", "--network", "none", "-v", volume+":/v", debianImage,
		"bash", "-c", script, "_", "/v").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
	return string(out)
}

// waitForHelper waits for a running helper container of volume whose
// command holds what, and returns its ID.
func waitForHelper(t *testing.T, volume, what string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		r := run(context.Background(), "", nil, "docker", "ps", "--no-trunc", "--filter", "label=org.docker-backup.helper",
			"--filter", "volume="+volume, "--format", "{{.ID}} {{.Command}}")
		for _, l := range strings.Split(r.Stdout, "\n") {
			if id, command, ok := strings.Cut(l, " "); ok && strings.Contains(command, what) {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no helper running %q on volume %s within 2 minutes", what, volume)
	return ""
}

// helpersOf lists the helper containers, in any state, of a project.
func helpersOf(t *testing.T, project string) []string {
	t.Helper()
	r := run(context.Background(), "", nil, "docker", "ps", "-a", "-q", "--filter", "label=org.docker-backup.helper.project="+project)
	if r.Err != nil {
		t.Fatal(r)
	}
	return strings.Fields(r.Stdout)
}

// killPlugin sends SIGKILL to the plugin process the docker CLI (pid)
// runs: what the OOM killer or kill -9 does, with no chance to clean up.
func killPlugin(t *testing.T, pid int) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		child, _ := strconv.Atoi(filepath.Base(dir))
		comm, fields, ok := procStat(child)
		if ok && comm == "docker-backup" && len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no docker-backup process under the docker CLI (pid %d)", pid)
}
