//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// restartEngine stops the local dockerd with SIGTERM, as systemctl restart
// docker does, and starts it again with the same command line, then waits
// until it answers. It needs root and a dockerd that wrote its pid file.
func restartEngine(t *testing.T) {
	t.Helper()
	pidData, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		t.Fatalf("restarting the engine needs dockerd's pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidData)))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("dockerd's command line: %v", err)
	}
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping dockerd: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("dockerd (pid %d) did not stop within 90 s", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf, err := os.OpenFile("/var/log/dockerd-e2e-restart.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: it outlives the test binary, as the first one did.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dockerd again: %v", err)
	}
	// Reaped here when it ends (a later restart): a zombie would look
	// alive to running.
	go func() { _ = cmd.Wait() }()
	for {
		if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err == nil {
			return
		} else if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("dockerd did not answer after its restart: %v: %s", err, bytes.TrimSpace(out))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// running tells whether process pid exists and has not exited.
func running(pid int) bool {
	_, fields, ok := procStat(pid)
	return ok && (len(fields) == 0 || fields[0] != "Z")
}

// procStat reads /proc/PID/stat: the command's name and the fields after
// it (state, ppid, ...). The name may hold spaces and parentheses.
func procStat(pid int) (comm string, fields []string, ok bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", nil, false
	}
	s := string(stat)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", nil, true
	}
	return s[open+1 : end], strings.Fields(s[end+1:]), true
}

// TestCreateWhenTheEngineRestarts restarts the engine while a backup is
// written, hot and cold: the backup fails with nothing that looks like a
// backup left, or succeeds with an archive that verifies; the data is
// intact, the containers a cold backup stopped run again once the engine
// is back, and the next backup works.
func TestCreateWhenTheEngineRestarts(t *testing.T) {
	requireEngine(t)
	if os.Geteuid() != 0 {
		t.Skip("restarting the engine needs root")
	}
	for _, cold := range []bool{false, true} {
		name := "hot"
		if cold {
			name = "cold"
		}
		t.Run(name, func(t *testing.T) {
			p := newProject(t, postgresProject(t))
			p.up()
			bigTable(t, p, 1500000)
			want := psql(t, p, "appdb", "SELECT count(*) || ':' || md5(string_agg(md5(v), '' ORDER BY id)) FROM big")
			out := t.TempDir()
			args := []string{"create", "-p", p.Name, "-o", out + "/"}
			if cold {
				args = append(args, "--stop")
			}
			cmd, stderr := startBackup(t, p, args...)
			waitForPartial(t, out, 1<<20)
			restartEngine(t)
			// Either the restart cut the backup's streams, and it failed
			// with nothing left behind, or what it read was whole (a
			// helper's tar ignores the engine's SIGTERM and may finish
			// during the shutdown), and the archive is complete.
			if err := cmd.Wait(); err != nil {
				t.Logf("create failed, as the engine restarted: %s", stderr.String())
				noArchives(t, out)
			} else {
				t.Logf("create succeeded across the engine restart: %s", stderr.String())
				archives, _ := filepath.Glob(filepath.Join(out, "*.tar.zst"))
				if len(archives) != 1 {
					t.Fatalf("create succeeded but wrote %q", archives)
				}
				if r := backup(t, p.Dir, nil, "verify", archives[0]); r.Err != nil {
					t.Errorf("the archive written across the restart does not verify: %s", r)
				}
				// With its index, which ls and prune read.
				for _, f := range []string{archives[0], archives[0] + storage.IndexSuffix} {
					if err := os.Remove(f); err != nil {
						t.Fatal(err)
					}
				}
				noArchives(t, out)
			}

			if cold {
				// The backup stopped them: it must have started them
				// again once the engine was back.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				r := p.compose(ctx, "ps", "--status", "running", "--format", "{{.Service}}")
				if got := strings.Fields(r.Stdout); len(got) != 2 {
					t.Errorf("after the restart, running: %q, want db and app: %s", got, r)
				}
			}
			// The engine stopped the containers of the hot backup itself
			// (no restart policy): up brings them back, with every row.
			p.up()
			if got := psql(t, p, "appdb", "SELECT count(*) || ':' || md5(string_agg(md5(v), '' ORDER BY id)) FROM big"); got != want {
				t.Errorf("after the restart the table holds %s, want %s", got, want)
			}
			if r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", filepath.Join(out, "after.tar.zst")); r.Err != nil {
				t.Fatalf("a backup after the restart: %s", r)
			}
			if r := backup(t, p.Dir, nil, "verify", filepath.Join(out, "after.tar.zst")); r.Err != nil {
				t.Errorf("verify: %s", r)
			}
		})
	}
}
