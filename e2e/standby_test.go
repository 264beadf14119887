//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

// standbyCompose is the primary's compose file with a before-start
// restore hook on the database that stalls a restore while the file
// /tmp/stall exists in its container: the test kills the standby there,
// in the middle of a restore (data loaded, volumes not committed).
var standbyCompose = strings.Replace(postgresCompose, "    image: "+postgresImage+"\n",
	"    image: "+postgresImage+"\n"+
		"    x-backup:\n"+
		"      restore-hooks:\n"+
		"        before-start: [\"if [ -f /tmp/stall ]; then echo stalling-restore; sleep 120; fi\"]\n", 1)

// standbyStatus is standby --status --json, as far as the test reads it.
type standbyStatus struct {
	Mode    string
	Applied *struct {
		Name      string
		CreatedAt time.Time
	}
	Applying *struct{ Name string }
	Newest   *struct{ Name string }
	Lag      float64 `json:"lagSeconds"`
}

// standbyProc is a running `docker-backup standby` on the second engine.
type standbyProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	// done is closed once the process has exited, with err its end.
	done chan struct{}
	err  error
}

func (s *standbyProc) wait() error {
	<-s.done
	return s.err
}

func (s *standbyProc) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.Write(b)
}

func (s *standbyProc) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// TestStandbyFollowsAndPromotes: a primary on the first engine backs up
// to a bucket while a writer adds rows; a standby on the second engine
// follows, is killed mid-restore and recovers, never applies an older
// archive that appears late, and is promoted; the standby left running
// never touches the promoted project.
func TestStandbyFollowsAndPromotes(t *testing.T) {
	engineB(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "standby")
	env := s3Env(t, gw, gw.Secret)
	const from = "s3://standby/site/"

	primary := newProject(t, postgresProject(t))
	primary.up()
	psql(t, primary, "appdb", "CREATE TABLE rows (n int PRIMARY KEY)")
	// The writer: one row a time, numbered from 1, until the test ends.
	wctx, stopWriter := context.WithCancel(context.Background())
	writer := exec.CommandContext(wctx, "docker", "compose", "-p", primary.Name, "exec", "-T", "db", "bash", "-c",
		`i=0; while :; do i=$((i+1)); psql -X -q -U app -d appdb -c "INSERT INTO rows VALUES ($i)" || exit 1; sleep 0.05; done`)
	writer.Dir = primary.Dir
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stopWriter(); writer.Wait() }()
	count := func(p *project) int {
		t.Helper()
		n, err := strconv.Atoi(psql(t, p, "appdb", "SELECT count(*) FROM rows"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, time.Minute, "the writer's first rows", func() bool { return count(primary) > 5 })

	files := postgresProject(t)
	files["compose.yaml"] = standbyCompose
	sb := onEngineB(t, primary.Name, files)
	t.Cleanup(func() {
		_ = exec.Command("docker", "-H", "unix://"+engineBSocket, "rm", "-f", "docker-backup-standby-"+primary.Name).Run()
	})
	statusFile := filepath.Join(t.TempDir(), "status.json")
	bin := filepath.Join(dockerConfig, "cli-plugins", "docker-backup")
	start := func() *standbyProc {
		t.Helper()
		s := &standbyProc{done: make(chan struct{})}
		s.cmd = exec.Command(bin, "standby", "-p", primary.Name, "--from", from, "--interval", "1s",
			"--metrics-addr", "127.0.0.1:0", "--status-file", statusFile)
		s.cmd.Dir = sb.Dir
		s.cmd.Env = append(append(append(os.Environ(), "DOCKER_CONFIG="+dockerConfig), engineBEnv...), env...)
		s.cmd.Stderr = s
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.err = s.cmd.Wait(); close(s.done) }()
		return s
	}
	proc := start()
	defer func() {
		if proc != nil {
			proc.cmd.Process.Kill()
			proc.wait()
		}
	}()

	status := func() standbyStatus {
		t.Helper()
		r := backupOn(t, contextB, sb.Dir, env, "standby", "--status", "--json", "-p", primary.Name)
		if r.Err != nil {
			t.Fatalf("standby --status: %s", r)
		}
		var s standbyStatus
		if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
			t.Fatalf("standby --status --json: %v: %s", err, r.Stdout)
		}
		return s
	}
	create := func() (name string, before, after int) {
		t.Helper()
		time.Sleep(time.Second) // archive names are to the second
		before = count(primary)
		r := backup(t, primary.Dir, env, "create", "-p", primary.Name, "--to", from, "--json")
		if r.Err != nil {
			t.Fatalf("create: %s", r)
		}
		after = count(primary)
		var res struct{ Path string }
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(res.Path), before, after
	}
	// follows checks the standby holds the archive's data: the rows the
	// primary had when the archive was taken, all of them.
	follows := func(name string, before, after int) int {
		t.Helper()
		waitFor(t, 3*time.Minute, "the standby to apply "+name, func() bool {
			s := status()
			return s.Applied != nil && s.Applied.Name == name && s.Applying == nil
		})
		n := count(sb)
		if n < before || n > after {
			t.Fatalf("the standby holds %d rows after applying %s, taken when the primary had %d to %d\nstandby log:\n%s", n, name, before, after, tail(proc.log(), 40))
		}
		if gaps := psql(t, sb, "appdb", "SELECT count(*) = coalesce(max(n), 0) FROM rows"); gaps != "t" {
			t.Fatalf("the standby's rows have gaps")
		}
		return n
	}
	appRuns := func() bool {
		r := sb.compose(context.Background(), "ps", "--status", "running", "--services")
		return strings.Contains(r.Stdout, "app")
	}

	// 1. Follow: each new archive is applied; the app stays down.
	var last string
	for round := range 3 {
		name, before, after := create()
		follows(name, before, after)
		if appRuns() {
			t.Fatalf("round %d: the app runs on the standby", round)
		}
		last = name
	}
	if s := status(); s.Mode != "standby" || s.Lag != 0 || s.Newest == nil || s.Newest.Name != last {
		t.Fatalf("status after three rounds: %+v", s)
	}
	// The lag metric says it is caught up.
	metricsURL := func() string {
		t.Helper()
		addr := regexp.MustCompile(`metrics served" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(proc.log())
		if addr == nil {
			t.Fatalf("no metrics address in the log:\n%s", proc.log())
		}
		return "http://" + addr[1] + "/metrics"
	}
	metrics := get(t, metricsURL())
	for _, want := range []string{
		`docker_backup_standby_lag_seconds{project="` + primary.Name + `"} 0`,
		`docker_backup_standby_promoted{project="` + primary.Name + `"} 0`,
		`docker_backup_standby_applied_archive_age_seconds{project="` + primary.Name + `"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// 2. Killed mid-restore: started again, it recovers and catches up.
	if r := sb.exec("db", "", "touch", "/tmp/stall"); r.Err != nil {
		t.Fatalf("touch /tmp/stall: %s", r)
	}
	stalled, before, after := create()
	waitFor(t, 3*time.Minute, "the restore to stall in its hook", func() bool { return strings.Contains(proc.log(), "db | stalling-restore") })
	proc.cmd.Process.Signal(syscall.SIGKILL)
	proc.wait()
	if r := sb.exec("db", "", "rm", "-f", "/tmp/stall"); r.Err != nil {
		t.Fatalf("rm /tmp/stall: %s", r)
	}
	if s := status(); s.Applying == nil || s.Applying.Name != stalled || s.Applied == nil || s.Applied.Name != last {
		t.Fatalf("status after the kill: %+v; want %s applying over %s", s, stalled, last)
	}
	proc = start()
	follows(stalled, before, after)
	// Nothing of the killed run is left in the work folder.
	if runs, _ := filepath.Glob(filepath.Join(sb.Dir, "backups", ".docker-backup-standby", "*")); len(runs) != 0 {
		t.Errorf("left in the work folder: %v", runs)
	}

	// 3. An older archive that appears late is never applied: a copy of
	// the first round's archive under a new name, with its index.
	held := count(sb)
	store, err := storage.NewS3(gw.Config(), "standby", "site")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := storage.Catalog(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	oldest := entries[len(entries)-1]
	lateName := "late-" + oldest.Name
	copyObject(t, store, oldest.Name, lateName)
	ix := *oldest.Index
	ix.Archive = lateName
	if err := storage.WriteIndex(context.Background(), store, ix); err != nil {
		t.Fatal(err)
	}
	uploaded := time.Now()
	waitPolls(t, statusFile, primary.Name, uploaded, 2)
	if s := status(); s.Applied == nil || s.Applied.Name != stalled {
		t.Fatalf("after a late older archive, the standby holds %+v; want %s", s.Applied, stalled)
	}
	if n := count(sb); n != held {
		t.Fatalf("the standby's rows changed from %d to %d after a late older archive", held, n)
	}

	// 4. Promote: caught up with the newest archive, the app runs, and
	// the standby left running never touches the project again.
	newest, before, after := create()
	r := backupOn(t, contextB, sb.Dir, env, "promote", "-p", primary.Name)
	if r.Err != nil || !strings.Contains(r.Stderr, "promoted") {
		t.Fatalf("promote: %s", r)
	}
	s := status()
	if s.Mode != "promoted" || s.Applied == nil || s.Applied.Name != newest {
		t.Fatalf("status after promote: %+v; want promoted with %s", s, newest)
	}
	n := count(sb)
	if n < before || n > after {
		t.Fatalf("the promoted project holds %d rows; the newest archive was taken at %d to %d", n, before, after)
	}
	if !appRuns() {
		t.Fatal("the app does not run after promote")
	}
	psql(t, sb, "appdb", "INSERT INTO rows VALUES (-1)") // the new primary's own write
	create()
	waitPolls(t, statusFile, primary.Name, time.Now(), 2)
	if got := psql(t, sb, "appdb", "SELECT count(*) FROM rows WHERE n = -1"); got != "1" {
		t.Fatalf("the standby restored over the promoted project: its own row is gone\n%s", tail(proc.log(), 30))
	}
	if s := status(); s.Mode != "promoted" || s.Applied.Name != newest {
		t.Fatalf("status after the standby's polls: %+v", s)
	}
	if !strings.Contains(get(t, metricsURL()), `docker_backup_standby_promoted{project="`+primary.Name+`"} 1`) {
		t.Errorf("the metrics do not say promoted")
	}
	// A second promote says so, and changes nothing.
	if r := backupOn(t, contextB, sb.Dir, env, "promote", "-p", primary.Name); r.Err != nil || !strings.Contains(r.Stderr, "promoted already") {
		t.Errorf("second promote: %s", r)
	}

	// SIGTERM ends the standby cleanly.
	proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := proc.wait(); err != nil {
		t.Errorf("standby after SIGTERM: %v\n%s", err, tail(proc.log(), 20))
	}
	if strings.Contains(proc.log(), gw.Secret) || strings.Contains(proc.log(), pgPassword) {
		t.Error("a secret is in the standby's log")
	}
	proc = nil
}

// waitPolls waits until the standby daemon has ended n polls that began
// after since (its status file says when its last run began).
func waitPolls(t *testing.T, statusFile, project string, since time.Time, n int) {
	t.Helper()
	seen := 0
	var last time.Time
	waitFor(t, 2*time.Minute, "the standby's polls", func() bool {
		b, err := os.ReadFile(statusFile)
		if err != nil {
			return false
		}
		var st struct {
			Projects map[string]struct {
				LastRun *struct{ Start, End time.Time }
			}
		}
		if json.Unmarshal(b, &st) != nil {
			return false
		}
		r := st.Projects[project].LastRun
		if r == nil || !r.Start.After(since) || r.Start.Equal(last) {
			return false
		}
		last = r.Start
		seen++
		return seen >= n
	})
}

func copyObject(t *testing.T, b storage.Backend, from, to string) {
	t.Helper()
	ctx := context.Background()
	r, err := b.Open(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	up, err := b.Create(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(up, r); err != nil {
		t.Fatal(err)
	}
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// backupOn runs `docker --context NAME backup ARGS...` in dir.
func backupOn(t *testing.T, name, dir string, env []string, args ...string) result {
	t.Helper()
	requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return run(ctx, dir, env, "docker", append([]string{"--context", name, "backup"}, args...)...)
}
