//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

// webhook receives notifications, as a generic webhook service would.
type webhook struct {
	mu   sync.Mutex
	msgs []map[string]string
	URL  string // as a shoutrrr URL
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("notification %q: %v", b, err)
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w.URL = "generic+" + srv.URL + "/hooks/backups?template=json"
	return w
}

func (w *webhook) received() []map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]string(nil), w.msgs...)
}

// freePort is a port nothing listens on, on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// withDaemon adds the backup service, from the image, to the postgres
// fixture: on the host's network, to reach the S3 server and the webhook
// on loopback; the socket mounted; the S3 secret as a compose secret.
func withDaemon(gw *storagetest.VersityGW, env map[string]string) map[string]string {
	var b strings.Builder
	b.WriteString("  backup:\n    image: " + backupImage + "\n    network_mode: host\n    stop_grace_period: 2m\n")
	b.WriteString("    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n")
	b.WriteString("    secrets: [s3_secret]\n")
	b.WriteString("    healthcheck:\n      interval: 1s\n      timeout: 10s\n      retries: 1\n      start_period: 0s\n")
	b.WriteString("    environment:\n")
	env["AWS_ENDPOINT_URL"] = gw.Endpoint
	env["AWS_REGION"] = "us-east-1"
	env["AWS_ACCESS_KEY_ID"] = gw.Access
	env["AWS_SECRET_ACCESS_KEY_FILE"] = "/run/secrets/s3_secret"
	for k, v := range env {
		fmt.Fprintf(&b, "      %s: %q\n", k, v)
	}
	compose := strings.Replace(postgresCompose, "\nvolumes:\n", "\n"+b.String()+"volumes:\n", 1)
	compose += "  s3_secret:\n    file: ./s3_secret.txt\n"
	files := postgresProject(nil)
	files["compose.yaml"] = compose
	files["s3_secret.txt"] = gw.Secret + "\n"
	return files
}

// metric reads one sample from the daemon's /metrics; -1 when absent.
func metric(t *testing.T, port int, name string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			return v
		}
	}
	return -1
}

// eventually polls cond for up to d; the message says what did not happen.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("within %s: %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func health(t *testing.T, container string) string {
	t.Helper()
	out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", container).Output()
	return strings.TrimSpace(string(out))
}

func daemonLogs(p *project) string {
	r := p.compose(context.Background(), "logs", "--no-color", "backup")
	return r.Stdout + r.Stderr
}

// TestDaemonSchedule: the image beside a stack, on a schedule of seconds:
// archives of the project (never of the daemon) appear in the bucket and
// are pruned; a failure notifies, and shows in the metrics and the
// container's health; the next good run makes it healthy again.
func TestDaemonSchedule(t *testing.T) {
	requireEngine(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "backups")
	hook := newWebhook(t)
	port := freePort(t)
	p := newProject(t, withDaemon(gw, map[string]string{
		"BACKUP_CRON":         "*/4 * * * * *",
		"BACKUP_TO":           "s3://backups/nightly/",
		"BACKUP_KEEP_LAST":    "2",
		"BACKUP_NOTIFY_URLS":  hook.URL,
		"BACKUP_METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", port),
		"BACKUP_LOG_FORMAT":   "json",
	}))
	// The database first: a tick during its first start (initdb's
	// temporary server) fails, as it would for a user, and turns the
	// daemon unhealthy until the next good one.
	p.up("db", "app")
	seedPostgres(t, p)
	p.up("backup")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	success := fmt.Sprintf(`docker_backup_runs_total{outcome="success",project=%q}`, p.Name)
	failure := fmt.Sprintf(`docker_backup_runs_total{outcome="failure",project=%q}`, p.Name)
	defer func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", daemonLogs(p))
		}
	}()

	eventually(t, 90*time.Second, "three scheduled backups", func() bool { return metric(t, port, success) >= 3 })
	env := s3Env(t, gw, gw.Secret)
	// Prune runs after each backup: after the third, two are left.
	eventually(t, 30*time.Second, "keep-last 2 in the bucket", func() bool {
		return len(ls(t, p.Dir, env, "s3://backups/nightly")) == 2
	})
	list := ls(t, p.Dir, env, "s3://backups/nightly")
	for _, e := range list {
		if e.Project != p.Name || e.Foreign || e.Size == 0 {
			t.Errorf("archive in the bucket: %+v", e)
		}
	}
	r := backup(t, p.Dir, env, "inspect", "--json", "s3://backups/nightly/"+list[0].Name)
	if r.Err != nil {
		t.Fatalf("inspect: %s", r)
	}
	if !strings.Contains(r.Stdout, "service backup skipped: it runs this backup") {
		t.Errorf("the archive does not say the daemon left itself out:\n%s", r.Stdout)
	}
	if h := health(t, p.Name+"-backup-1"); h != "healthy" {
		t.Errorf("health after good backups: %q", h)
	}
	if v := metric(t, port, fmt.Sprintf(`docker_backup_uploaded_bytes_total{project=%q}`, p.Name)); v <= 0 {
		t.Errorf("uploaded bytes: %v", v)
	}
	if len(hook.received()) != 0 {
		t.Errorf("notified without a failure: %v", hook.received())
	}
	// Logs are JSON lines, one per step, with no secret.
	logs := daemonLogs(p)
	if !strings.Contains(logs, `"msg":"backup done"`) || strings.Contains(logs, gw.Secret) || strings.Contains(logs, pgPassword) {
		t.Errorf("logs are not JSON lines free of secrets:\n%s", logs)
	}

	// The database stops: the next run fails.
	if r := p.compose(ctx, "stop", "db"); r.Err != nil {
		t.Fatal(r)
	}
	// A tick that began while the database was shutting down fails with
	// the server's own words: the next one says it is not running.
	var m map[string]string
	eventually(t, 60*time.Second, "a notification that the database is not running", func() bool {
		for _, r := range hook.received() {
			if strings.Contains(r["message"], "database service db is not running") {
				m = r
				return true
			}
		}
		return false
	})
	if !strings.Contains(m["title"], "FAILED") || !strings.Contains(m["title"], p.Name) {
		t.Errorf("notification %v", m)
	}
	if v := metric(t, port, failure); v < 1 {
		t.Errorf("failures in the metrics: %v", v)
	}
	if v := metric(t, port, fmt.Sprintf(`docker_backup_last_failure_timestamp_seconds{project=%q}`, p.Name)); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last failure time: %v", v)
	}
	eventually(t, 30*time.Second, "docker inspect to show the daemon unhealthy", func() bool { return health(t, p.Name+"-backup-1") == "unhealthy" })
	if ups := gw.Uploads(t, "backups"); len(ups) != 0 {
		t.Errorf("uploads left behind: %v", ups)
	}

	// The database is back: healthy again.
	if r := p.compose(ctx, "start", "db"); r.Err != nil {
		t.Fatal(r)
	}
	before := metric(t, port, success)
	eventually(t, 60*time.Second, "a good backup after the database came back", func() bool { return metric(t, port, success) > before })
	eventually(t, 30*time.Second, "the daemon healthy again", func() bool { return health(t, p.Name+"-backup-1") == "healthy" })
}

// TestDaemonStopMidBackup: docker stop while a cold backup uploads ends it
// cleanly: the daemon exits 0, the services it stopped run again, nothing
// is left in the bucket; while it ran, a create on the host could not take
// the project.
func TestDaemonStopMidBackup(t *testing.T) {
	requireEngine(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "backups")
	p := newProject(t, withDaemon(gw, map[string]string{
		"BACKUP_CRON":    "@daily",
		"BACKUP_RUN_NOW": "true",
		"BACKUP_STOP":    "true",
		"BACKUP_TO":      "s3://backups/cold/",
	}))
	p.up("db", "app")
	seedPostgres(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Enough incompressible data that the upload takes a while.
	if r := p.exec("app", "", "sh", "-c", "head -c 200M /dev/urandom > /srv/data/big"); r.Err != nil {
		t.Fatal(r)
	}
	defer func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", daemonLogs(p))
		}
	}()
	if r := p.compose(ctx, "up", "-d", "backup"); r.Err != nil {
		t.Fatal(r)
	}
	eventually(t, 60*time.Second, "the cold backup to start its upload", func() bool { return len(gw.Uploads(t, "backups")) > 0 })
	// The storage stalls: the run is held at its first part, after it
	// stopped the services for the cold copy.
	gw.Pause()
	resumed := false
	defer func() {
		if !resumed {
			gw.Resume()
		}
	}()
	eventually(t, 60*time.Second, "the cold backup to stop db", func() bool { return containerState(t, p.Name+"-db-1") == "exited" })
	r := backup(t, p.Dir, nil, "create", "--no-wait", "-p", p.Name)
	if r.Err == nil || !strings.Contains(r.Stderr, "locked") {
		t.Errorf("a create on the host while the daemon backs up: %s", r)
	}

	stopped := make(chan result, 1)
	go func() { stopped <- p.compose(ctx, "stop", "backup") }()
	time.Sleep(time.Second) // SIGTERM sent; then the storage answers again
	gw.Resume()
	resumed = true
	if r := <-stopped; r.Err != nil {
		t.Fatalf("compose stop: %s", r)
	}
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}}", p.Name+"-backup-1").Output()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("the daemon's exit code: %s %v", out, err)
	}
	for _, svc := range []string{"db", "app"} {
		if st := containerState(t, p.Name+"-"+svc+"-1"); st != "running" {
			t.Errorf("%s after the daemon stopped: %s", svc, st)
		}
	}
	if ups := gw.Uploads(t, "backups"); len(ups) != 0 {
		t.Errorf("uploads left in the bucket: %v", ups)
	}
	if got := ls(t, p.Dir, s3Env(t, gw, gw.Secret), "s3://backups/cold"); len(got) != 0 {
		t.Errorf("archives in the bucket after a cancelled run: %+v", got)
	}
	lock, _ := exec.Command("docker", "ps", "-aq", "--filter", "name=docker-backup-lock-"+p.Name).Output()
	if len(strings.TrimSpace(string(lock))) != 0 {
		t.Errorf("the project's lock is still held")
	}
	if logs := daemonLogs(p); !regexp.MustCompile(`backup cancelled: the daemon is stopping`).MatchString(logs) || !strings.Contains(logs, "daemon stopped") {
		t.Errorf("logs of the stop:\n%s", logs)
	}
}

func containerState(t *testing.T, name string) string {
	t.Helper()
	out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", name).Output()
	return strings.TrimSpace(string(out))
}
