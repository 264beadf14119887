//go:build e2e

package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRestoreSpecialFiles: an archive can hold a setuid-root program,
// devices and fifos, which a restore would hand to whoever uses the app's
// container (an attack round planted a setuid-root file that an
// unprivileged user then ran as root). The restore drops setuid and setgid
// bits and refuses devices and fifos, also from a genuine cold archive
// (the manifest's cold flag unlocks nothing), unless told to keep them
// with --preserve-special. inspect says what an archive holds.
func TestRestoreSpecialFiles(t *testing.T) {
	requireEngine(t)
	p, volume := oneVolumeProject(t, debianImage)
	inVolume := func(script string) string { t.Helper(); return runInVolume(t, volume, script) }
	inVolume(`cd "$1" && cp /usr/bin/id tool && chown 0:0 tool && chmod 4755 tool && mkfifo pipe && mknod null c 1 3 && echo v1 > marker`)
	// What an unprivileged user of the app's container gets from it.
	runTool := func() string {
		t.Helper()
		out, err := exec.Command("docker", "run", "--rm", "--network", "none", "--user", "65534:65534", "-v", volume+":/v", debianImage, "/v/tool").CombinedOutput()
		if err != nil {
			t.Fatalf("running the tool: %v: %s", err, out)
		}
		return string(out)
	}
	if out := runTool(); !strings.Contains(out, "euid=0") {
		t.Fatalf("the setuid tool does not run as root before the backup (%s): the test proves nothing", out)
	}

	hot := create(t, p)
	cold := create(t, p, "--stop")
	r := backup(t, p.Dir, nil, "inspect", cold)
	if r.Err != nil {
		t.Fatalf("inspect: %s", r)
	}
	for _, want := range []string{"setuid", "device"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("inspect does not say the archive holds a %s file:\n%s", want, r.Stdout)
		}
	}

	// A hot archive with the setuid program: restored without the bit.
	inVolume(`cd "$1" && rm -f tool && echo v2 > marker`)
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", hot)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if !strings.Contains(r.Stderr, "setuid or setgid file(s) restored without those bits") || !strings.Contains(r.Stderr, "--preserve-special") {
		t.Errorf("the plan does not say the setuid bit is dropped:\n%s", r.Stderr)
	}
	if mode := strings.TrimSpace(inVolume(`stat -c %a "$1/tool"`)); mode != "755" {
		t.Errorf("the tool was restored with mode %s, want 755", mode)
	}
	if out := runTool(); strings.Contains(out, "euid=0") {
		t.Errorf("an unprivileged user runs the restored tool as root: %s", out)
	}

	// The cold archive holds a fifo and a device: refused, nothing
	// changed, the app still runs.
	inVolume(`cd "$1" && echo v3 > marker`)
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", cold)
	if r.Err == nil {
		t.Fatalf("a restore of devices and fifos was not refused: %s", r)
	}
	if !strings.Contains(r.Stderr, "device or fifo node") || !strings.Contains(r.Stderr, "--preserve-special") || !strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("the refusal does not say what and how: %s", r.Stderr)
	}
	if got := strings.TrimSpace(inVolume(`cat "$1/marker"`)); got != "v3" {
		t.Errorf("the refused restore changed the volume: marker %q", got)
	}
	if st := p.state(t, "app"); st != "running" {
		t.Errorf("app is %s after the refused restore", st)
	}

	// Told to keep them, the restore writes them as archived.
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", "--preserve-special", cold)
	if r.Err != nil {
		t.Fatalf("restore --preserve-special: %s", r)
	}
	if got := strings.TrimSpace(inVolume(`cd "$1" && test -p pipe && test -c null && stat -c '%a %u' tool && cat marker`)); got != "4755 0\nv1" {
		t.Errorf("after --preserve-special: %q, want the fifo, the device, the setuid tool and marker v1", got)
	}
	if st := p.state(t, "app"); st != "running" {
		t.Errorf("app is %s after the restore", st)
	}
}
