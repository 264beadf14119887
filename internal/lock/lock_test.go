//go:build unix && !aix && !solaris

package lock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	engineA = "unix:///var/run/docker.sock"
	engineB = "tcp://10.0.0.2:2376"
)

// setup points the lock directory at a fresh temporary directory and returns
// where the lock files will be.
func setup(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", base)
	return filepath.Join(base, "docker-backup")
}

func mustAcquire(t *testing.T, endpoint, project, verb string) *Lock {
	t.Helper()
	l, err := Acquire(context.Background(), endpoint, project, verb, true, nil)
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", endpoint, project, err)
	}
	t.Cleanup(func() { l.Release() })
	return l
}

func TestNoWaitFailsNamingHolder(t *testing.T) {
	setup(t)
	mustAcquire(t, engineA, "shop", "restore")

	called := false
	l, err := Acquire(context.Background(), engineA, "shop", "create", true, func(string) { called = true })
	if err == nil {
		l.Release()
		t.Fatal("second Acquire succeeded while the lock was held")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("err = %v, want ErrLocked", err)
	}
	msg := err.Error()
	for _, want := range []string{"shop", "pid " + strconv.Itoa(os.Getpid()), "docker backup restore", "since ", "without --no-wait"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if called {
		t.Error("waiting was called with noWait")
	}
}

func TestOtherProjectOrEngineDoesNotConflict(t *testing.T) {
	setup(t)
	mustAcquire(t, engineA, "shop", "create")
	mustAcquire(t, engineA, "blog", "create")
	mustAcquire(t, engineB, "shop", "create")
	// Default endpoint (empty) is yet another engine as far as the lock goes.
	mustAcquire(t, "", "shop", "create")
}

func TestWaitsUntilReleased(t *testing.T) {
	setup(t)
	first, err := Acquire(context.Background(), engineA, "shop", "restore", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		first.Release()
	}()

	var calls atomic.Int32
	var holder atomic.Value
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	second, err := Acquire(ctx, engineA, "shop", "create", false, func(h string) {
		calls.Add(1)
		holder.Store(h)
	})
	if err != nil {
		t.Fatalf("waiting Acquire: %v", err)
	}
	defer second.Release()
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("Acquire returned after %v, before the holder released", d)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("waiting called %d times, want 1", n)
	}
	h, _ := holder.Load().(string)
	if !strings.Contains(h, "docker backup restore") || !strings.Contains(h, "pid "+strconv.Itoa(os.Getpid())) || strings.Contains(h, "\n") {
		t.Errorf("holder = %q, want a one-line description naming restore and our pid", h)
	}

	// The new holder's record replaced the old one.
	r := readFileRecord(t, engineA, "shop")
	if r.Verb != "create" {
		t.Errorf("record verb = %q after handover, want create", r.Verb)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	setup(t)
	mustAcquire(t, engineA, "shop", "restore")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var calls atomic.Int32
	l, err := Acquire(ctx, engineA, "shop", "create", false, func(string) { calls.Add(1) })
	if err == nil {
		l.Release()
		t.Fatal("Acquire succeeded while the lock was held")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrLocked) {
		t.Errorf("err = %v wraps ErrLocked, which is for --no-wait", err)
	}
	if want := "waiting for the lock of project shop"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("waiting called %d times, want 1", n)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel2()
	if _, err := Acquire(ctx, engineA, "shop", "create", false, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestModesAndRecord(t *testing.T) {
	dir := setup(t)
	mustAcquire(t, engineA, "shop", "restore")

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode = %04o, want 0700", got)
	}
	path := lockFile(t, engineA, "shop")
	if filepath.Dir(path) != dir {
		t.Errorf("lock file %s is not in %s", path, dir)
	}
	fi, err = os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); got != 0o600 {
		t.Errorf("lock file mode = %v, want -rw-------", got)
	}

	r := readFileRecord(t, engineA, "shop")
	if r.PID != os.Getpid() || r.Verb != "restore" {
		t.Errorf("record = %+v, want pid %d verb restore", r, os.Getpid())
	}
	since, err := time.Parse(time.RFC3339, r.Since)
	if err != nil || !strings.HasSuffix(r.Since, "Z") || time.Since(since) > time.Minute {
		t.Errorf("since = %q (%v), want a recent RFC 3339 UTC time", r.Since, err)
	}
}

func TestFileName(t *testing.T) {
	n, err := fileName(engineA, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := filepath.Match("shop-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].lock", n); !ok {
		t.Errorf("fileName = %q, want shop-<12 hex>.lock", n)
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "a/b", "../x", "a\\b", "a\x00b", strings.Repeat("a", 201)} {
		if _, err := fileName(engineA, bad); !errors.Is(err, ErrInvalidProject) {
			t.Errorf("fileName(%q) err = %v, want ErrInvalidProject", bad, err)
		}
		setup(t)
		if _, err := Acquire(context.Background(), engineA, bad, "create", true, nil); !errors.Is(err, ErrInvalidProject) {
			t.Errorf("Acquire(%q) err = %v, want ErrInvalidProject", bad, err)
		}
	}
}

func TestDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got, want := Dir(), "/run/user/1000/docker-backup"; got != want {
		t.Errorf("Dir() = %q, want %q", got, want)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	want := filepath.Join(tmp, fmt.Sprintf("docker-backup-%d", os.Getuid()))
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_RUNTIME_DIR", xdg)
		if got := Dir(); got != want {
			t.Errorf("XDG_RUNTIME_DIR=%q: Dir() = %q, want %q", xdg, got, want)
		}
	}
	// The fallback works end to end.
	l, err := Acquire(context.Background(), engineA, "shop", "create", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("fallback directory: %v, %v", fi, err)
	}
}

func TestRefusesUnsafeDirectory(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string){
		"group writable": func(t *testing.T, dir string) {
			mkdir(t, dir, 0o770)
		},
		"world writable": func(t *testing.T, dir string) {
			mkdir(t, dir, 0o707)
		},
		"symlink": func(t *testing.T, dir string) {
			target := t.TempDir()
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		},
		"file": func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, prepare := range cases {
		t.Run(name, func(t *testing.T) {
			dir := setup(t)
			prepare(t, dir)
			l, err := Acquire(context.Background(), engineA, "shop", "create", true, nil)
			if err == nil {
				l.Release()
				t.Fatal("Acquire accepted an unsafe directory")
			}
			if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), dir) {
				t.Errorf("err = %v, want ErrUnsafeDir naming %s", err, dir)
			}
		})
	}

	t.Run("existing private directory", func(t *testing.T) {
		dir := setup(t)
		mkdir(t, dir, 0o700)
		mustAcquire(t, engineA, "shop", "create")
	})
}

func TestRefusesSymlinkedLockFile(t *testing.T) {
	dir := setup(t)
	mkdir(t, dir, 0o700)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, lockFile(t, engineA, "shop")); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(context.Background(), engineA, "shop", "create", true, nil)
	if err == nil {
		l.Release()
		t.Fatal("Acquire followed a symbolic link")
	}
	if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("err = %v, want ErrUnsafeDir about a symbolic link", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("symlink target was modified: %q", b)
	}
}

func TestReleaseTwiceThenAcquire(t *testing.T) {
	setup(t)
	l := mustAcquire(t, engineA, "shop", "create")
	if err := l.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	var nilLock *Lock
	if err := nilLock.Release(); err != nil {
		t.Fatalf("nil Release: %v", err)
	}
	// The file stays: deleting it would race with waiters.
	if _, err := os.Stat(lockFile(t, engineA, "shop")); err != nil {
		t.Errorf("lock file gone after Release: %v", err)
	}
	mustAcquire(t, engineA, "shop", "restore")
}

func TestUnknownHolder(t *testing.T) {
	setup(t)
	mustAcquire(t, engineA, "shop", "create")
	// A holder that has not written its record yet, or is rewriting it.
	for _, content := range []string{"", "{\"pid\":", "not json", `{"pid":0}`} {
		if err := os.WriteFile(lockFile(t, engineA, "shop"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Acquire(context.Background(), engineA, "shop", "restore", true, nil)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another docker-backup process") {
			t.Errorf("record %q: err = %v, want ErrLocked naming another docker-backup process", content, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	now := time.Date(2025, 6, 1, 10, 3, 12, 0, time.UTC)
	for _, c := range []struct {
		r    *record
		want string
	}{
		{nil, "another docker-backup process"},
		{&record{PID: 42, Verb: "restore", Since: "2025-06-01T10:00:00Z"}, "docker backup restore (pid 42, since 2025-06-01T10:00:00Z, 3m12s ago)"},
		{&record{PID: 42, Verb: "create", Since: "garbage"}, "docker backup create (pid 42)"},
		{&record{PID: 42, Since: "2025-06-01T10:00:00Z"}, "docker backup (pid 42, since 2025-06-01T10:00:00Z, 3m12s ago)"},
		{&record{PID: 42, Verb: "re\nstore\x1b[2J", Since: "2025-06-01T11:00:00Z"}, "docker backup restore[2J (pid 42, since 2025-06-01T11:00:00Z)"},
	} {
		if got := describe(c.r, now); got != c.want {
			t.Errorf("describe(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

// TestOtherProcess holds the lock in a real second process (this test binary
// run again), and checks that its death frees the lock with no clean-up.
func TestOtherProcess(t *testing.T) {
	if os.Getenv("DOCKER_BACKUP_LOCK_HELPER") == "1" {
		holdLockAndWait()
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	setup(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestOtherProcess$")
	cmd.Env = append(os.Environ(), "DOCKER_BACKUP_LOCK_HELPER=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	_, err = Acquire(context.Background(), engineA, "shop", "create", true, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("docker backup restore (pid %d,", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to name %q", err, want)
	}

	// Killed without a chance to release: the kernel frees the lock.
	time.AfterFunc(300*time.Millisecond, func() { cmd.Process.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Acquire(ctx, engineA, "shop", "create", false, nil)
	if err != nil {
		t.Fatalf("Acquire after the holder died: %v", err)
	}
	l.Release()
}

// holdLockAndWait is the helper process: it takes the lock, says so, and
// holds it until stdin closes or it is killed.
func holdLockAndWait() {
	l, err := Acquire(context.Background(), engineA, "shop", "restore", true, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	l.Release()
	os.Exit(0)
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Chmod, because Mkdir's mode goes through the umask.
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func lockFile(t *testing.T, endpoint, project string) string {
	t.Helper()
	n, err := fileName(endpoint, project)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(Dir(), n)
}

func readFileRecord(t *testing.T, endpoint, project string) record {
	t.Helper()
	b, err := os.ReadFile(lockFile(t, endpoint, project))
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("lock file %q: %v", b, err)
	}
	return r
}
