//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cmdlineScanner reads every process's command line on the host, where the
// containers' processes are visible too, until stopped.
type cmdlineScanner struct {
	mu      sync.Mutex
	secrets [][]byte
	leaks   []string
	seen    map[string]bool // first words seen, to prove the scan saw the tools
	// uids of the loads seen: pg_restore, and psql reading a script.
	loadUIDs map[string]bool
	scans    int
	stop     chan struct{}
	done     chan struct{}
}

func scanCmdlines(secrets ...string) *cmdlineScanner {
	s := &cmdlineScanner{seen: map[string]bool{}, loadUIDs: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, sec := range secrets {
		s.secrets = append(s.secrets, []byte(sec))
	}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil || len(b) == 0 {
					continue
				}
				first := filepath.Base(string(bytes.SplitN(b, []byte{0}, 2)[0]))
				uid := ""
				if first == "pg_restore" || (first == "psql" && bytes.Contains(b, []byte("\x00-f\x00-\x00"))) {
					uid = procUID(filepath.Dir(p))
				}
				s.mu.Lock()
				s.seen[first] = true
				if uid != "" {
					s.loadUIDs[uid] = true
				}
				for _, sec := range s.secrets {
					if bytes.Contains(b, sec) {
						s.leaks = append(s.leaks, strings.ReplaceAll(string(b), "\x00", " "))
					}
				}
				s.mu.Unlock()
			}
			s.mu.Lock()
			s.scans++
			s.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return s
}

// procUID is the real uid of the process whose /proc folder is dir.
func procUID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	return ""
}

func (s *cmdlineScanner) finish() {
	close(s.stop)
	<-s.done
}

// TestNoPasswordOnAnyCommandLine runs a backup and a restore while every
// process's argv on the host (containers included) is read: the password
// must be in none, nor in any output, manifest or safety backup manifest.
func TestNoPasswordOnAnyCommandLine(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	// Enough rows that the dump and the load take a while.
	bigTable(t, p, 400000)
	scan := scanCmdlines(pgPassword, "p@ss'word")
	arch := filepath.Join(t.TempDir(), "a.tar.zst")
	rc := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", arch, "--json")
	rr := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--json", arch)
	scan.finish()
	if rc.Err != nil || rr.Err != nil {
		t.Fatalf("create: %s\nrestore: %s", rc, rr)
	}
	if len(scan.leaks) > 0 {
		t.Errorf("the password is on a command line: %q", scan.leaks)
	}
	for _, tool := range []string{"pg_dump", "pg_dumpall", "pg_restore", "psql"} {
		if !scan.seen[tool] {
			t.Errorf("%s was never seen in %d scans: the scan proves nothing", tool, scan.scans)
		}
	}
	// The loads ran as postgres, never as root: whatever a dump could make
	// them do, root's rights in the container are not among it.
	if len(scan.loadUIDs) == 0 || scan.loadUIDs["0"] {
		t.Errorf("the loads ran as uids %v, want postgres's", scan.loadUIDs)
	}
	for name, out := range map[string]string{"create": rc.Stdout + rc.Stderr, "restore": rr.Stdout + rr.Stderr} {
		if strings.Contains(out, "p@ss'word") {
			t.Errorf("the password appears in the output of %s", name)
		}
	}
	for _, a := range []string{arch, safetyOf(t, rr)} {
		r := backup(t, p.Dir, nil, "inspect", "--json", a)
		if r.Err != nil || strings.Contains(r.Stdout, "p@ss'word") {
			t.Errorf("inspect %s: %s", a, r)
		}
		if fi, err := os.Stat(a); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", a, fi, err)
		}
	}
	// A failing restore's error names no password either.
	bad := filepath.Join(t.TempDir(), "bad.tar.zst")
	data, _ := os.ReadFile(arch)
	os.WriteFile(bad, data[:len(data)/2], 0o600)
	if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", bad); r.Err == nil || strings.Contains(r.Stderr, "p@ss'word") {
		t.Errorf("a failed restore: %s", r)
	}
}

func safetyOf(t *testing.T, r result) string {
	t.Helper()
	i := strings.Index(r.Stdout, `"safetyBackup": "`)
	if i < 0 {
		t.Fatalf("no safety backup in %s", r.Stdout)
	}
	rest := r.Stdout[i+len(`"safetyBackup": "`):]
	return rest[:strings.Index(rest, `"`)]
}
