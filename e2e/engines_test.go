//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The second engine stands for a second host: a dockerd of its own in a
// network namespace of its own (started in the host's, it deletes the
// first engine's docker0 bridge) and a UTS namespace of its own, so that
// its name, the host's name archives carry, is not the first engine's.
const (
	engineBName   = "e2e-engine-b"
	engineBSocket = "/run/docker-e2e-b.sock"
	engineBRoot   = "/var/lib/docker-e2e-b"
	engineBExec   = "/run/docker-e2e-b"
	engineBPID    = "/run/docker-e2e-b.pid"
	// Contexts of both engines, in the plugin's DOCKER_CONFIG.
	contextA = "e2e-a"
	contextB = "e2e-b"
)

// engineBEnv points docker and the standalone binary at engine b.
var engineBEnv = []string{"DOCKER_HOST=unix://" + engineBSocket}

var (
	engineBOnce sync.Once
	engineBErr  error
)

// engineB starts the second engine once for the suite (with the test
// images and a context for each engine), or again if a test stopped it.
func engineB(t *testing.T) {
	t.Helper()
	requireEngine(t)
	engineBOnce.Do(func() {
		engineBErr = setupEngineB()
		suiteCleanup(removeEngineB)
	})
	if engineBErr != nil {
		t.Fatalf("second engine: %v", engineBErr)
	}
	if !engineBUp() {
		if err := startEngineB(); err != nil {
			t.Fatalf("starting the second engine again: %v", err)
		}
	}
}

func sudo(args ...string) *exec.Cmd {
	if os.Getuid() != 0 {
		args = append([]string{"sudo", "-n"}, args...)
	}
	return exec.Command(args[0], args[1:]...)
}

func engineBUp() bool {
	return exec.Command("docker", "-H", "unix://"+engineBSocket, "info", "--format", "{{.Name}}").Run() == nil
}

func startEngineB() error {
	for _, d := range []string{engineBRoot, engineBExec} {
		if out, err := sudo("mkdir", "-p", d).CombinedOutput(); err != nil {
			return fmt.Errorf("mkdir %s: %v: %s", d, err, out)
		}
	}
	script := "hostname " + engineBName + "; ip link set lo up; exec dockerd -H unix://" + engineBSocket +
		" --data-root " + engineBRoot + " --exec-root " + engineBExec + " --pidfile " + engineBPID
	log, err := os.OpenFile(filepath.Join(os.TempDir(), "dockerd-e2e-b.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := sudo("unshare", "--net", "--uts", "--fork", "sh", "-c", script)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	go cmd.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if engineBUp() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := os.ReadFile(log.Name())
	return fmt.Errorf("dockerd did not answer within 60 s:\n%s", tail(string(out), 30))
}

// stopEngineB stops the second engine as a host going down would, and
// waits until it is gone.
func stopEngineB(t *testing.T) {
	t.Helper()
	pid := enginePID()
	if pid == 0 {
		t.Fatal("the second engine has no pid file")
	}
	if out, err := sudo("kill", strconv.Itoa(pid)).CombinedOutput(); err != nil {
		t.Fatalf("kill dockerd: %v: %s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil && !engineBUp() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the second engine did not stop within 60 s")
}

func enginePID() int {
	b, err := os.ReadFile(engineBPID)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func setupEngineB() error {
	if err := startEngineB(); err != nil {
		return err
	}
	// Nothing can be pulled: the images come from the first engine.
	save := exec.Command("docker", "save", postgresImage, debianImage)
	load := exec.Command("docker", "-H", "unix://"+engineBSocket, "load", "-q")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	var loadOut strings.Builder
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		return err
	}
	if err := save.Run(); err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	if err := load.Wait(); err != nil {
		return fmt.Errorf("docker load into the second engine: %v: %s", err, loadOut.String())
	}
	for name, host := range map[string]string{contextA: "unix:///var/run/docker.sock", contextB: "unix://" + engineBSocket} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r := run(ctx, "", nil, "docker", "context", "create", name, "--docker", "host="+host)
		cancel()
		if r.Err != nil && !strings.Contains(r.Stderr, "already exists") {
			return fmt.Errorf("docker context create %s: %s", name, r)
		}
	}
	return nil
}

func removeEngineB() {
	if pid := enginePID(); pid != 0 {
		_ = sudo("kill", strconv.Itoa(pid)).Run()
		for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	_ = sudo("rm", "-rf", engineBRoot, engineBExec).Run()
}

// onEngineB is a compose project on the second engine, in a folder of
// its own with files; `down -v` removes it when the test ends.
func onEngineB(t *testing.T, name string, files map[string]string) *project {
	t.Helper()
	p := &project{t: t, Name: name, Dir: t.TempDir(), Env: engineBEnv}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(p.Dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if !engineBUp() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if r := p.compose(ctx, "down", "-v", "--remove-orphans", "--timeout", "5"); r.Err != nil {
			t.Errorf("compose down on the second engine: %s", r)
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
