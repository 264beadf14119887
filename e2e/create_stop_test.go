//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
)

// state is the compose state of a service's container: running, exited...
func (p *project) state(t *testing.T, service string) string {
	t.Helper()
	r := p.compose(context.Background(), "ps", "-a", "--format", "{{.State}}", service)
	if r.Err != nil {
		t.Fatalf("compose ps: %s", r)
	}
	return strings.TrimSpace(r.Stdout)
}

func TestCreateStopColdBackup(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	psql(t, p, "appdb", "CREATE TABLE cold (id int); INSERT INTO cold VALUES (42);")
	if r := p.exec("app", "echo cold > /srv/data/file", "bash"); r.Err != nil {
		t.Fatal(r)
	}
	// Stopped before the backup: must stay stopped.
	if r := p.compose(context.Background(), "stop", "app"); r.Err != nil {
		t.Fatal(r)
	}
	out := filepath.Join(t.TempDir(), "cold.tar.zst")
	r := backup(t, p.Dir, nil, "create", "--stop", "-p", p.Name, "-o", out)
	if r.Err != nil {
		t.Fatalf("create --stop: %s", r)
	}
	if s := p.state(t, "db"); s != "running" {
		t.Errorf("db is %q after a cold backup, want running", s)
	}
	if s := p.state(t, "app"); s != "exited" {
		t.Errorf("app was stopped before the backup and is %q now", s)
	}
	dir := extract(t, out)
	m := readManifest(t, dir)
	if !m.Cold || len(m.Databases) != 0 {
		t.Errorf("manifest of a cold backup: cold=%v databases=%v", m.Cold, m.Databases)
	}
	raw := map[string]bool{}
	for _, v := range m.Volumes {
		raw[v.Name] = v.Raw
	}
	if r, ok := raw["dbdata"]; !ok || !r {
		t.Errorf("the database volume should be copied raw: %+v", m.Volumes)
	}
	if _, ok := raw["appdata"]; !ok {
		t.Errorf("appdata missing: %+v", m.Volumes)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "volumes", "dbdata", "PG_VERSION")); err != nil || strings.TrimSpace(string(b)) != "15" {
		t.Errorf("raw data directory incomplete: PG_VERSION %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "volumes", "appdata", "file")); err != nil || string(b) != "cold\n" {
		t.Errorf("appdata/file: %q %v", b, err)
	}
	// The server came back healthy with its data.
	if n := psql(t, p, "appdb", "SELECT id FROM cold"); n != "42" {
		t.Errorf("after restart: %q", n)
	}
}

func TestCreateToStdout(t *testing.T) {
	p := newProject(t, mariadbProject(t))
	p.up()
	out := filepath.Join(t.TempDir(), "stream.tar.gz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "backup", "create", "-p", p.Name, "-o", "-", "--compression", "gzip", "-q")
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("create -o -: %v: %s", err, stderr.String())
	}
	f.Close()
	if stderr.Len() != 0 {
		t.Errorf("-q printed: %s", stderr.String())
	}
	list, err := exec.Command("tar", "-tzf", out).CombinedOutput()
	if err != nil {
		t.Fatalf("the stream is not a gzip tar: %v: %s", err, list)
	}
	if !strings.Contains(string(list), archive.ManifestName) || !strings.Contains(string(list), "databases/db/shop.sql.000000") {
		t.Errorf("stream lacks entries:\n%s", list)
	}
}

func TestCreateFailsWhenTheDatabaseDiesMidDump(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	// Enough rows that the dump takes a while.
	bigTable(t, p, 1500000)
	out := t.TempDir()
	cmd, stderr := startBackup(t, p, "create", "-p", p.Name, "-o", out+"/")
	// Kill the server once the dump of appdb is under way: its first part
	// (8 MiB of dump) has reached the partial archive.
	waitForPartial(t, out, 1<<20)
	if r := p.compose(context.Background(), "kill", "db"); r.Err != nil {
		t.Fatal(r)
	}
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("create succeeded although the database died mid-dump: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "appdb") {
		t.Errorf("the error should say which dump failed: %s", stderr.String())
	}
	noArchives(t, out)
}
