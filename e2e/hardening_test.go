//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
)

// appendToDump copies an archive with text appended to a dump stored in
// one part, the manifest's size and SHA-256 made to match: every
// checksum verifies, only what the dump says can give it away.
func appendToDump(t *testing.T, arch, dump, text string) string {
	t.Helper()
	var whole []byte
	out := rewriteArchive(t, arch, func(name string, body []byte) []byte {
		if name == dump+".000000" {
			whole = append(append([]byte(nil), body...), text...)
			return whole
		}
		return body
	}, func(m *archive.Manifest) {
		sum := sha256.Sum256(whole)
		for i, f := range m.Files {
			if f.Path == dump {
				if f.Parts != 1 {
					t.Fatalf("%s has %d parts", dump, f.Parts)
				}
				m.Files[i].Size, m.Files[i].SHA256 = int64(len(whole)), hex.EncodeToString(sum[:])
			}
		}
	})
	if whole == nil {
		t.Fatalf("no %s in the archive", dump)
	}
	return out
}

// hostileRefused checks that an archive whose dump makes the database's
// client run a shell command is refused by verify and restore, naming the
// entry and line, with nothing changed and nothing run.
func hostileRefused(t *testing.T, p *project, hostile, where string) {
	t.Helper()
	before := startedAt(t, p)
	if r := backup(t, p.Dir, nil, "verify", hostile); r.Err == nil || !strings.Contains(r.Stderr, where) {
		t.Errorf("verify: %s", r)
	}
	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", hostile)
	refused(t, p, r, before, where)
	if !strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("the refusal should say nothing was changed: %s", r.Stderr)
	}
	if r := p.exec("db", "", "test", "-e", "/tmp/pwned"); r.Err == nil {
		t.Errorf("the archive ran a command in the database container")
	}
}

// TestRestoreRefusesClientCommands: an archive is data. A psql \! line in
// PostgreSQL's roles dump, or a mysql system line in MariaDB's, used to
// pass verify and run as root in the database container.
func TestRestoreRefusesClientCommands(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		p := newProject(t, postgresProject(t))
		p.up()
		seedPostgres(t, p)
		arch := create(t, p)
		lines := strings.Count(string(dumpOf(t, arch, "databases/db/globals.sql")), "\n")
		hostile := appendToDump(t, arch, "databases/db/globals.sql", "\\! touch /tmp/pwned\n")
		hostileRefused(t, p, hostile, "databases/db/globals.sql, line "+strconv.Itoa(lines+1)+`: psql meta-command \!`)
	})
	t.Run("mariadb", func(t *testing.T) {
		p := newProject(t, mariadbProject(t))
		p.up()
		seedMariaDB(t, p)
		// A database and a table named like options: they used to make
		// every backup of the project fail ("unknown option").
		mariadb(t, p, "CREATE DATABASE `-dash`; CREATE TABLE `-dash`.`-t` (x int); INSERT INTO `-dash`.`-t` VALUES (1), (2);")
		arch := create(t, p, "--exclude-table-data", "-dash.-t")
		if got := string(dumpOf(t, arch, "databases/db/-dash.sql")); !strings.Contains(got, "CREATE TABLE `-t`") || strings.Contains(got, "INSERT INTO `-t`") {
			t.Errorf("the dump of -dash:\n%s", got)
		}
		lines := strings.Count(string(dumpOf(t, arch, "databases/db/users.sql")), "\n")
		hostile := appendToDump(t, arch, "databases/db/users.sql", "system touch /tmp/pwned\n")
		hostileRefused(t, p, hostile, "databases/db/users.sql, line "+strconv.Itoa(lines+1)+": mysql client command system")
		hostile = appendToDump(t, arch, "databases/db/users.sql", "SELECT 1; \\! touch /tmp/pwned\n")
		hostileRefused(t, p, hostile, "databases/db/users.sql, line "+strconv.Itoa(lines+1)+`: mysql client command \!`)
		// The sound archive restores, -dash with it, through a client in
		// --binary-mode and --sandbox.
		mariadb(t, p, "DROP DATABASE `-dash`;")
		if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", arch); r.Err != nil {
			t.Fatalf("restore: %s", r)
		}
		if got := mariadb(t, p, "SELECT COUNT(*) FROM `-dash`.`-t`"); got != "0" {
			t.Errorf("-dash.-t after the restore: %q rows, want its structure only", got)
		}
	})
}

// dumpOf is a dump's content, its parts joined.
func dumpOf(t *testing.T, arch, dump string) []byte {
	t.Helper()
	var out []byte
	eachEntry(t, arch, func(hdr *tar.Header, body []byte) {
		if base, _, ok := archive.SplitPart(hdr.Name); ok && base == dump {
			out = append(out, body...)
		}
	})
	return out
}

// seedMariaDB gives the shop database a table.
func seedMariaDB(t *testing.T, p *project) {
	t.Helper()
	mariadb(t, p, "CREATE TABLE shop.items (id int PRIMARY KEY, name text); INSERT INTO shop.items VALUES (1, 'it''s'), (2, 'back\\\\slash');")
}

// dumpProcesses lists the dump and load tools running on the host, the
// containers' processes included.
func dumpProcesses() []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range procs {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			continue
		}
		switch filepath.Base(string(bytes.SplitN(b, []byte{0}, 2)[0])) {
		case "pg_dump", "pg_dumpall", "pg_restore", "mariadb-dump", "mysqldump":
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// TestCancelledCreateStopsItsDump interrupts a backup whose pg_dump waits
// on a lock another transaction holds: the dump used to go on waiting in
// the database container, holding its own transaction, after the backup
// had ended.
func TestCancelledCreateStopsItsDump(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	// A transaction holds the table: pg_dump's LOCK TABLE waits for it.
	holder, _ := startIn(t, p, "db", "psql", "-X", "-U", "app", "-d", "appdb", "-c", "BEGIN; LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);")
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	waitFor(t, 30*time.Second, "the lock to be held", func() bool {
		return psql(t, p, "appdb", "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'users' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1"
	})
	out := t.TempDir()
	cmd, stderr := startBackup(t, p, "create", "-p", p.Name, "-o", out+"/")
	waitFor(t, 60*time.Second, "pg_dump to wait on the lock", func() bool {
		return psql(t, p, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'") == "1"
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the interrupted backup succeeded: %s", stderr)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("the error should say the backup was interrupted: %s", stderr)
	}
	// Within a few seconds, nothing of the dump is left: no pg_dump
	// process, and no session of it on the server.
	waitFor(t, 5*time.Second, "the dump to stop", func() bool { return len(dumpProcesses()) == 0 })
	waitFor(t, 5*time.Second, "the dump's session to end", func() bool {
		return psql(t, p, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'") == "0"
	})
	if got, _ := filepath.Glob(filepath.Join(out, "*")); len(got) > 0 {
		t.Errorf("the interrupted backup left %v", got)
	}
}

// startIn starts a command in a service's container and returns it
// running.
func startIn(t *testing.T, p *project, service string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "docker", append([]string{"compose", "-p", p.Name, "exec", "-T", service}, args...)...)
	cmd.Dir = p.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writerApp is the app service of postgresCompose, but writing a line to
// its volume every 20 ms and saying so on stdout once written; each run
// starts with a line "start".
const writerApp = `    command: ["bash", "-c", "mkdir -p /srv/data/live && echo start >> /srv/data/live/log && echo start && i=0 && while :; do i=$$((i+1)); echo $$i >> /srv/data/live/log && echo wrote $$i; sleep 0.02; done"]
`

// TestRestoreRollbackKeepsWritesMadeDuringIt fails a restore after its
// data is in (a before-start hook fails): the app's writes up to the
// moment the restore stopped it must all be there after the rollback.
// The safety backup used to be taken while the app ran, and the app
// stopped only afterwards: what it wrote in between was lost, while the
// message said the project was as it was.
func TestRestoreRollbackKeepsWritesMadeDuringIt(t *testing.T) {
	files := postgresProject(t)
	compose := strings.Replace(files["compose.yaml"], `    command: ["sleep", "infinity"]
`, writerApp, 1)
	compose = strings.Replace(compose, "      - dbdata:/var/lib/postgresql/data\n", "      - dbdata:/var/lib/postgresql/data\n    x-backup:\n      restore-hooks:\n        before-start: [\"echo migration failed >&2; exit 3\"]\n", 1)
	files["compose.yaml"] = compose
	p := newProject(t, files)
	p.up()
	seedPostgres(t, p)
	// Enough rows that the safety backup takes a while.
	bigTable(t, p, 300000)
	arch := create(t, p)
	if r := p.exec("app", volumeChange, "bash"); r.Err != nil {
		t.Fatal(r)
	}
	stable := func() string { // the volume but for the app's live folder
		var keep []string
		for _, l := range strings.Split(volumeState(t, p), "\n") {
			if !strings.HasPrefix(l, "./live") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	want, wantDB := stable(), tableDigest(t, p, "appdb", "public.users")

	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", arch)
	if r.Err == nil || !strings.Contains(r.Stderr, "exit code 3") || !strings.Contains(r.Stderr, "rolled back") {
		t.Fatalf("the restore should fail on its hook and roll back: %s", r)
	}
	if st := p.state(t, "app"); st != "running" {
		t.Fatalf("app is %s after the rollback", st)
	}
	// The app's first run wrote lines 1..n before the restore stopped
	// it (its log says so); the log file must hold all of them.
	logs := p.compose(context.Background(), "logs", "--no-color", "--no-log-prefix", "app")
	runs := strings.Split(logs.Stdout, "start\n")
	if len(runs) < 3 {
		t.Fatalf("the app's log holds %d runs, want a run before and one after the restore:\n%s", len(runs)-1, logs.Stdout)
	}
	lines := strings.Fields(strings.ReplaceAll(runs[1], "wrote", ""))
	last := lines[len(lines)-1]
	kept := p.exec("app", "", "bash", "-c", "awk 'NR>1 && /^start$/ {exit} {print}' /srv/data/live/log | tail -n 1")
	if got := strings.TrimSpace(kept.Stdout); got != last {
		t.Errorf("the app wrote line %s before it was stopped; after the rollback the volume ends at line %q", last, got)
	}
	// Everything else is exactly as before the restore, mtimes of the
	// volume's root and folders included.
	if got := stable(); got != want {
		t.Errorf("the volume differs after the rollback\nwant:\n%s\ngot:\n%s", want, got)
	}
	if got := tableDigest(t, p, "appdb", "public.users"); got != wantDB {
		t.Errorf("users differ after the rollback: %s, want %s", got, wantDB)
	}
	// Nothing of the set-aside content is left.
	if r := p.exec("app", "", "bash", "-c", "ls -A /srv/data | grep -c docker-backup-replaced || true"); strings.TrimSpace(r.Stdout) != "0" {
		t.Errorf("set-aside folders left in the volume: %s", r)
	}
}

// TestRestoreCatchesAnArchiveChangedDuringIt changes a file's content in
// the archive, in place, keeping its size and mtime, while the restore
// takes its safety backup, between the verification and the pass that
// applies the archive: the change must be caught, and the restore rolled
// back. Only size and mtime used to be compared.
func TestRestoreCatchesAnArchiveChangedDuringIt(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	bigTable(t, p, 300000)
	arch := create(t, p, "--compression", "none")
	data, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte("hello\n"))
	if at < 0 || bytes.Count(data, []byte("hello\n")) != 1 {
		t.Fatal("hello.txt's content is not in the archive once")
	}
	fi, _ := os.Stat(arch)
	change(t, p)
	want := volumeState(t, p)

	cmd, stderr := startRestore(t, p, arch)
	waitFor(t, 2*time.Minute, "the safety backup", func() bool {
		partial, _ := filepath.Glob(filepath.Join(p.Dir, "backups", ".*.partial"))
		return len(partial) > 0
	})
	f, err := os.OpenFile(arch, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("j"), int64(at)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(arch, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(arch); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("the archive's size or mtime changed: the test proves nothing")
	}
	err = cmd.Wait()
	if err == nil {
		t.Fatalf("the restore applied an archive changed after it was verified: %s", stderr)
	}
	if !strings.Contains(stderr.String(), "changed since the archive was verified") || !strings.Contains(stderr.String(), "rolled back") {
		t.Errorf("the error should say the archive changed, and that it rolled back:\n%s", stderr)
	}
	if got := volumeState(t, p); got != want {
		t.Errorf("the volume differs after the rollback\nwant:\n%s\ngot:\n%s", want, got)
	}
}

// TestOneLockPerEngine: the project's lock is on the engine, so that every
// copy of docker-backup that reaches it sees it: another
// XDG_RUNTIME_DIR (a cron job), another address of the same socket, a
// container with the socket mounted (the scheduled image). Each used to
// have a lock of its own.
func TestOneLockPerEngine(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	arch := create(t, p)
	bigTable(t, p, 600000)
	out := t.TempDir()
	first, firstErr := startBackup(t, p, "create", "-p", p.Name, "-o", out+"/")
	waitForPartial(t, out, 1<<20)
	host, _ := os.Hostname()
	holder := "is in use by docker backup create (pid "
	for name, r := range map[string]result{
		"another XDG_RUNTIME_DIR": backup(t, p.Dir, []string{"XDG_RUNTIME_DIR=" + t.TempDir()}, "create", "-p", p.Name, "--no-wait", "-o", t.TempDir()+"/"),
		"another socket path":     run(context.Background(), p.Dir, nil, "docker", "-H", "unix:///run/docker.sock", "backup", "create", "-p", p.Name, "--no-wait", "-o", t.TempDir()+"/"),
		"a restore":               backup(t, p.Dir, nil, "restore", "-p", p.Name, "--no-wait", "-y", arch),
		"a container":             inContainer(t, "create", "-p", p.Name, "--no-wait", "-o", "/tmp/"),
	} {
		if r.Err == nil || !strings.Contains(r.Stderr+r.Stdout, holder) || !strings.Contains(r.Stderr+r.Stdout, "on host "+host) {
			t.Errorf("%s: ran beside the first create, or did not name it:\n%s", name, r)
		}
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first create: %v: %s", err, firstErr.String())
	}
	// Released: the next run goes ahead, from a container too.
	if r := inContainer(t, "create", "-p", p.Name, "--no-wait", "-o", "/tmp/"); r.Err != nil {
		t.Errorf("a create after the first ended: %s", r)
	}
	if r := run(context.Background(), "", nil, "docker", "ps", "-aq", "--filter", "label=org.docker-backup.lock.project="+p.Name); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("locks left on the engine: %s", r.Stdout)
	}
}

// inContainer runs the plugin's binary standalone in a container of the
// Debian test image with the engine's socket mounted: the scheduled
// image's setup.
func inContainer(t *testing.T, args ...string) result {
	t.Helper()
	bin := filepath.Join(dockerConfig, "cli-plugins", "docker-backup")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return run(ctx, "", nil, "docker", append([]string{"run", "--rm", "--network", "none",
		"-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", bin + ":/usr/local/bin/docker-backup:ro",
		debianImage, "docker-backup"}, args...)...)
}

// TestKilledVerifyDeepIsCleanedUp kills verify --deep while its
// throwaway server runs: the next verify --deep removes the container and
// its volume, which carried no project and used to stay forever.
func TestKilledVerifyDeepIsCleanedUp(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	arch := create(t, p)
	cmd, stderr := startBackup(t, p, "verify", "--deep", arch)
	var throwaway string
	waitFor(t, 2*time.Minute, "the throwaway server", func() bool {
		r := run(context.Background(), "", nil, "docker", "ps", "-q", "--filter", "label=org.docker-backup.helper", "--filter", "ancestor="+postgresImage)
		throwaway = strings.TrimSpace(r.Stdout)
		return throwaway != ""
	})
	killPlugin(t, cmd.Process.Pid)
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the killed verify succeeded: %s", stderr)
	}
	left := func() string {
		c := run(context.Background(), "", nil, "docker", "ps", "-aq", "--filter", "label=org.docker-backup.helper")
		v := run(context.Background(), "", nil, "docker", "volume", "ls", "-q", "--filter", "label=org.docker-backup.helper")
		return strings.TrimSpace(c.Stdout + v.Stdout)
	}
	if left() == "" {
		t.Fatal("the killed verify left nothing: the test proves nothing")
	}
	r := backup(t, p.Dir, nil, "verify", "--deep", arch)
	if r.Err != nil {
		t.Fatalf("verify --deep after the kill: %s", r)
	}
	if !strings.Contains(r.Stderr, "left by an interrupted run") {
		t.Errorf("verify --deep does not say it removed what the killed run left: %s", r.Stderr)
	}
	if got := left(); got != "" {
		t.Errorf("left after the next verify --deep: %s", got)
	}
}
