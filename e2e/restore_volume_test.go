//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
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
	p := newProject(t, map[string]string{"compose.yaml": `
services:
  app:
    image: ` + noShellImage + `
    network_mode: none
    init: true
    volumes:
      - data:/srv/data
volumes:
  data:
`})
	p.up()
	volume := p.Name + "_data"
	// The app has no shell: the tree is made and listed from helpers.
	inVolume := func(script string) string {
		t.Helper()
		out, err := exec.Command("docker", "run", "--rm", "--network", "none", "-v", volume+":/v", debianImage,
			"bash", "-c", script, "_", "/v").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", script, err, out)
		}
		return string(out)
	}
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
