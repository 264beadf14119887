//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

// TestCreateOnSeveralEngines: one `create --context a,b` backs up the
// project on both engines into one bucket, each archive named with its
// host; with engine b down, a's archive is still written and b's failure
// is reported with a non-zero exit.
func TestCreateOnSeveralEngines(t *testing.T) {
	engineB(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "fleet")
	env := s3Env(t, gw, gw.Secret)
	const to = "s3://fleet/hosts/"

	a := newProject(t, postgresProject(t))
	a.up()
	psql(t, a, "appdb", "CREATE TABLE host (name text); INSERT INTO host VALUES ('a')")
	b := onEngineB(t, a.Name, postgresProject(t))
	b.up()
	psql(t, b, "appdb", "CREATE TABLE host (name text); INSERT INTO host VALUES ('b')")
	hostA := strings.TrimSpace(run(t.Context(), "", nil, "docker", "info", "--format", "{{.Name}}").Stdout)

	r := backup(t, a.Dir, env, "create", "-p", a.Name, "--context", contextA+","+contextB, "--to", to, "--json")
	if r.Err != nil {
		t.Fatalf("create --context: %s", r)
	}
	var res []struct {
		Context, Host, Error string
		Result               struct{ Path, Project string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("create --context --json: %v: %s", err, r.Stdout)
	}
	if len(res) != 2 || res[0].Context != contextA || res[1].Context != contextB {
		t.Fatalf("results: %+v", res)
	}
	for i, host := range []string{hostA, engineBName} {
		want := to + host + "_" + a.Name + "-"
		if res[i].Error != "" || res[i].Host != host || !strings.HasPrefix(res[i].Result.Path, want) {
			t.Errorf("engine %s: %+v; want an archive %s...", res[i].Context, res[i], want)
		}
	}

	// ls shows each archive's host; --context keeps one engine's.
	all := lsHosts(t, a.Dir, env, to)
	if len(all) != 2 {
		t.Fatalf("ls: %+v", all)
	}
	only := lsHosts(t, a.Dir, env, to, "--context", contextB)
	if len(only) != 1 || only[0].Host != engineBName {
		t.Fatalf("ls --context %s: %+v", contextB, only)
	}
	// Each archive holds its own engine's data: b's restored on a copy
	// of the project on engine a says so.
	staging := newProject(t, postgresProject(t))
	staging.up()
	if r := backup(t, staging.Dir, env, "restore", "-p", staging.Name, "-y", to+only[0].Name); r.Err != nil {
		t.Fatalf("restore of b's archive: %s", r)
	}
	if got := psql(t, staging, "appdb", "SELECT name FROM host"); got != "b" {
		t.Fatalf("b's archive holds host %q", got)
	}

	// The daemon backs up the project on both engines, each archive
	// named with its host, and reports each engine's run apart.
	statusFile := filepath.Join(t.TempDir(), "status.json")
	d, derr := startBackupEnv(t, a, env, "daemon", "--context", contextA+","+contextB, "--project", a.Name,
		"--to", "s3://fleet/daemon/", "--run-now", "--cron", "@hourly", "--status-file", statusFile)
	waitFor(t, 3*time.Minute, "the daemon's backups on both engines", func() bool {
		return len(lsHosts(t, a.Dir, env, "s3://fleet/daemon/")) == 2
	})
	d.Process.Signal(syscall.SIGTERM)
	if err := d.Wait(); err != nil {
		t.Fatalf("daemon --context: %v\n%s", err, derr)
	}
	hosts := map[string]bool{}
	for _, l := range lsHosts(t, a.Dir, env, "s3://fleet/daemon/") {
		if !strings.HasPrefix(l.Name, l.Host+"_"+a.Name+"-") {
			t.Errorf("the daemon's archive %s of host %s", l.Name, l.Host)
		}
		hosts[l.Host] = true
	}
	if !hosts[hostA] || !hosts[engineBName] {
		t.Errorf("the daemon backed up hosts %v", hosts)
	}
	var st struct {
		Projects map[string]struct{ LastSuccess *struct{ Archive string } }
	}
	data, _ := os.ReadFile(statusFile)
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{hostA + "/" + a.Name, engineBName + "/" + a.Name} {
		if st.Projects[key].LastSuccess == nil {
			t.Errorf("the daemon's status has no success for %s: %s", key, data)
		}
	}

	// Engine b goes down: a's backup is still written, b's failure is
	// reported, and the command fails.
	stopEngineB(t)
	time.Sleep(time.Second) // archive names are to the second
	r = backup(t, a.Dir, env, "create", "-p", a.Name, "--context", contextA+","+contextB, "--to", to)
	if r.Err == nil {
		t.Fatalf("create --context with engine b down succeeded: %s", r)
	}
	if !strings.Contains(r.Stderr, "context "+contextB+": backup FAILED") || !strings.Contains(r.Stderr, "written to "+to+hostA+"_") {
		t.Errorf("create --context with engine b down said:\n%s", r.Stderr)
	}
	after := lsHosts(t, a.Dir, env, to)
	n := 0
	for _, l := range after {
		if l.Host == hostA {
			n++
		}
	}
	if len(after) != 3 || n != 2 {
		t.Fatalf("after the second create: %+v; want a second archive of %s", after, hostA)
	}
	if strings.Contains(r.Stderr, gw.Secret) || strings.Contains(r.Stderr, pgPassword) {
		t.Error("a secret is in create's output")
	}
	engineB(t) // up again, for the cleanup and the tests after
}

type hostEntry struct {
	Name, Project, Host string
}

func lsHosts(t *testing.T, dir string, env []string, args ...string) []hostEntry {
	t.Helper()
	r := backup(t, dir, env, append([]string{"ls", "--json"}, args...)...)
	if r.Err != nil {
		t.Fatalf("ls: %s", r)
	}
	var out []hostEntry
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("ls --json: %v: %s", err, r.Stdout)
	}
	return out
}
