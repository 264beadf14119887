//go:build e2e

// Package e2e runs docker-backup against a real Docker engine and real
// docker compose v2, through the real docker CLI, as users run it.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Images built by images/build.sh from Debian packages.
const (
	postgresImage = "docker-backup-test/postgres:15"
	mariadbImage  = "docker-backup-test/mariadb:10.11"
	debianImage   = "docker-backup-test/debian:bookworm"
	// The docker-backup image itself, built by make image.
	imageRepo   = "docker-backup-test/docker-backup"
	backupImage = imageRepo + ":e2e"
)

var (
	// setupErr says why the suite cannot run; tests skip with it, or fail
	// under E2E_REQUIRED=1.
	setupErr error
	// dockerConfig is a DOCKER_CONFIG holding only the freshly built plugin.
	dockerConfig string
	repoRoot     string
)

func TestMain(m *testing.M) {
	code := func() int {
		_, file, _, _ := runtime.Caller(0)
		repoRoot = filepath.Dir(filepath.Dir(file))
		tmp, err := os.MkdirTemp("", "docker-backup-e2e-")
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer os.RemoveAll(tmp)
		setupErr = setup(tmp)
		if setupErr != nil {
			fmt.Fprintln(os.Stderr, "e2e setup:", setupErr)
		}
		defer runSuiteCleanups()
		return m.Run()
	}()
	os.Exit(code)
}

func setup(tmp string) error {
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		return fmt.Errorf("no Docker engine answers (%v): %s", err, bytes.TrimSpace(out))
	}
	for _, script := range []string{"e2e/tools/install-compose.sh", "images/build.sh"} {
		cmd := exec.Command("bash", filepath.Join(repoRoot, script))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", script, err)
		}
	}
	if os.Getenv("VERSITYGW") == "" {
		out, err := exec.Command("bash", filepath.Join(repoRoot, "e2e/tools/install-versitygw.sh")).Output()
		if err != nil {
			return fmt.Errorf("e2e/tools/install-versitygw.sh: %w", err)
		}
		os.Setenv("VERSITYGW", strings.TrimSpace(string(out)))
	}
	dockerConfig = filepath.Join(tmp, "docker-config")
	plugins := filepath.Join(dockerConfig, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(plugins, "docker-backup"),
		"-ldflags", "-X github.com/docker-backup/docker-backup/internal/version.Version=e2e",
		"./cmd/docker-backup")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the plugin: %v: %s", err, out)
	}
	// The image, as users build it (make image), for this platform only.
	img := exec.Command("make", "image", "IMAGE="+imageRepo, "VERSION=e2e", "IMAGE_ARCHES="+runtime.GOARCH, "IMAGE_ARCH="+runtime.GOARCH)
	img.Dir = repoRoot
	if out, err := img.CombinedOutput(); err != nil {
		return fmt.Errorf("make image: %v: %s", err, out)
	}
	return nil
}

// suiteCleanups undo what fixtures shared by several tests set up (the
// second engine), once every test has run; last in, first out.
var (
	suiteMu       sync.Mutex
	suiteCleanups []func()
)

func suiteCleanup(f func()) {
	suiteMu.Lock()
	defer suiteMu.Unlock()
	suiteCleanups = append(suiteCleanups, f)
}

func runSuiteCleanups() {
	suiteMu.Lock()
	defer suiteMu.Unlock()
	for i := len(suiteCleanups) - 1; i >= 0; i-- {
		suiteCleanups[i]()
	}
}

// requireEngine skips the test, or fails it under E2E_REQUIRED=1, when the
// suite could not be set up.
func requireEngine(t *testing.T) {
	t.Helper()
	if setupErr == nil {
		return
	}
	if os.Getenv("E2E_REQUIRED") == "1" {
		t.Fatalf("end-to-end environment unavailable: %v", setupErr)
	}
	t.Skipf("end-to-end environment unavailable (set E2E_REQUIRED=1 to fail instead): %v", setupErr)
}

// result is what a command printed and how it ended.
type result struct {
	Stdout, Stderr string
	Err            error
}

func (r result) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
}

// run runs a command with the plugin's DOCKER_CONFIG and returns its output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) result {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+dockerConfig), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// project is a compose project of a test, in its own folder.
type project struct {
	t    *testing.T
	Name string
	Dir  string
	// Env reaches another engine (DOCKER_HOST); nil for the default one.
	Env []string
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// newProject writes files (compose.yaml among them) to a fresh folder and
// gives the project a unique name. `down -v` removes it when the test ends.
func newProject(t *testing.T, files map[string]string) *project {
	t.Helper()
	requireEngine(t)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 30 {
		base = base[:30]
	}
	p := &project{t: t, Name: "dbt-" + base + "-" + hex.EncodeToString(suffix), Dir: t.TempDir()}
	for name, content := range files {
		path := filepath.Join(p.Dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := danglingVolumes(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if r := p.compose(ctx, "down", "-v", "--remove-orphans", "--timeout", "5"); r.Err != nil {
			t.Errorf("compose down: %s", r)
		}
		// Helpers are created from the services' images, whose VOLUME
		// paths get anonymous volumes: removing a helper must remove them.
		for v := range danglingVolumes(t) {
			if !before[v] {
				t.Errorf("volume %s was left behind (no container uses it)", v)
			}
		}
	})
	return p
}

// danglingVolumes lists the volumes no container uses.
func danglingVolumes(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "dangling=true").Output()
	if err != nil {
		t.Fatalf("docker volume ls: %v", err)
	}
	set := map[string]bool{}
	for _, v := range strings.Fields(string(out)) {
		set[v] = true
	}
	return set
}

// compose runs `docker compose -p NAME ...` in the project's folder.
func (p *project) compose(ctx context.Context, args ...string) result {
	return run(ctx, p.Dir, p.Env, "docker", append([]string{"compose", "-p", p.Name}, args...)...)
}

// up starts the project (or only services) and waits until every health
// check passes.
func (p *project) up(services ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if r := p.compose(ctx, append([]string{"up", "-d", "--wait", "--wait-timeout", "150"}, services...)...); r.Err != nil {
		logs := p.compose(context.Background(), "logs", "--no-color", "--tail", "50")
		p.t.Fatalf("compose up: %s\nlogs:\n%s", r, logs.Stdout)
	}
}

// exec runs a command in a service's container, stdin from input.
func (p *project) exec(service, input string, args ...string) result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"compose", "-p", p.Name, "exec", "-T", service}, args...)...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// startBackup starts `docker backup ARGS...` in the project's folder and
// returns it running, with its stderr collected.
func startBackup(t *testing.T, p *project, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	return startBackupEnv(t, p, nil, args...)
}

// startBackupEnv is startBackup with more environment variables.
func startBackupEnv(t *testing.T, p *project, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"backup"}, args...)...)
	cmd.Dir = p.Dir
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+dockerConfig), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stderr
}

// waitForPartial waits until the partial archive in dir holds more than n
// bytes: the backup is under way.
func waitForPartial(t *testing.T, dir string, n int64) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		partial, _ := filepath.Glob(filepath.Join(dir, ".*.partial"))
		if len(partial) == 1 {
			if fi, err := os.Stat(partial[0]); err == nil && fi.Size() > n {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no partial archive of more than %d bytes in %s within 90 s", n, dir)
}

// backup runs `docker backup ARGS...` through the real docker CLI, in dir.
func backup(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return run(ctx, dir, env, "docker", append([]string{"backup"}, args...)...)
}
