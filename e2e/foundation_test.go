//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/versions"
)

// engineVersion asks the real docker CLI which engine version runs.
func engineVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
	if err != nil {
		t.Fatalf("docker version: %v", err)
	}
	return strings.TrimSpace(string(out))
}

type versionJSON struct {
	Client struct {
		Version string `json:"version"`
	} `json:"client"`
	NegotiatedAPIVersion string `json:"negotiatedApiVersion"`
	Server               struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
	} `json:"server"`
}

func checkVersionOutput(t *testing.T, r result) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("docker backup version: %s", r)
	}
	var v versionJSON
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, r)
	}
	if want := engineVersion(t); v.Server.Version != want {
		t.Errorf("engine version = %q, docker version says %q", v.Server.Version, want)
	}
	if v.Client.Version != "e2e" {
		t.Errorf("plugin version = %q, want the one built in (e2e)", v.Client.Version)
	}
	// The client speaks up to API 1.51; against an older engine it must
	// have come down to the engine's version.
	if v.NegotiatedAPIVersion == "" || versions.GreaterThan(v.NegotiatedAPIVersion, v.Server.APIVersion) {
		t.Errorf("negotiated API version %q is not one the engine (API %s) speaks", v.NegotiatedAPIVersion, v.Server.APIVersion)
	}
}

func TestPostgresFixtureAndVersion(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	// The password from the secret file works over TCP, where the server asks for it.
	r := p.exec("db", "", "env", "PGPASSWORD="+pgPassword, "psql", "-h", "127.0.0.1", "-U", "app", "-d", "appdb", "-tAc", "SELECT current_user || '@' || current_database()")
	if r.Err != nil || strings.TrimSpace(r.Stdout) != "app@appdb" {
		t.Fatalf("psql with the secret's password: %s", r)
	}
	r = p.exec("db", "", "env", "PGPASSWORD=wrong", "psql", "-h", "127.0.0.1", "-U", "app", "-d", "appdb", "-c", "SELECT 1")
	if r.Err == nil {
		t.Fatalf("psql with a wrong password succeeded: the fixture does not check passwords")
	}
	checkVersionOutput(t, backup(t, p.Dir, nil, "version", "--json"))
}

func TestMariaDBFixtureAndVersion(t *testing.T) {
	p := newProject(t, mariadbProject(t))
	p.up()
	r := p.exec("db", "", "env", "MYSQL_PWD="+mariaRootPassword, "mariadb", "-uroot", "-N", "-e", "SELECT CURRENT_USER()")
	if r.Err != nil || strings.TrimSpace(r.Stdout) != "root@localhost" {
		t.Fatalf("mariadb as root with the secret's password: %s", r)
	}
	// Root needs its password, as in the official images.
	if r := p.exec("db", "", "mariadb", "-uroot", "-e", "SELECT 1"); r.Err == nil {
		t.Fatalf("root logged in without a password: %s", r)
	}
	r = p.exec("db", "", "env", "MYSQL_PWD="+mariaPassword, "mariadb", "-ushop", "shop", "-N", "-e", "SELECT DATABASE()")
	if r.Err != nil || strings.TrimSpace(r.Stdout) != "shop" {
		t.Fatalf("mariadb as the app user: %s", r)
	}
	checkVersionOutput(t, backup(t, p.Dir, nil, "version", "--json"))
}

func TestVersionPlainOutput(t *testing.T) {
	r := backup(t, t.TempDir(), nil, "version")
	if r.Err != nil {
		t.Fatalf("docker backup version: %s", r)
	}
	for _, want := range []string{"docker-backup", "e2e", "(negotiated)", engineVersion(t)} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// TestEngineSelection proves that docker's own ways of choosing an engine
// reach the plugin: --context, -H, DOCKER_HOST and DOCKER_CONTEXT.
func TestEngineSelection(t *testing.T) {
	requireEngine(t)
	cfg := t.TempDir()
	if err := os.Symlink(filepath.Join(dockerConfig, "cli-plugins"), filepath.Join(cfg, "cli-plugins")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-engine.sock")
	env := []string{"DOCKER_CONFIG=" + cfg}
	ctx := context.Background()
	docker := func(env []string, args ...string) result {
		return run(ctx, t.TempDir(), env, "docker", args...)
	}
	for _, c := range [][]string{
		{"context", "create", "good", "--docker", "host=unix:///var/run/docker.sock"},
		{"context", "create", "bad", "--docker", "host=unix://" + missing},
	} {
		if r := docker(env, c...); r.Err != nil {
			t.Fatalf("docker %v: %s", c, r)
		}
	}
	tests := []struct {
		name  string
		env   []string
		args  []string
		reach bool
	}{
		{"context good", nil, []string{"--context", "good"}, true},
		{"context bad", nil, []string{"--context", "bad"}, false},
		{"short -c bad", nil, []string{"-c", "bad"}, false},
		{"-H missing", nil, []string{"-H", "unix://" + missing}, false},
		{"DOCKER_HOST missing", []string{"DOCKER_HOST=unix://" + missing}, nil, false},
		{"DOCKER_HOST good", []string{"DOCKER_HOST=unix:///var/run/docker.sock"}, nil, true},
		{"DOCKER_CONTEXT bad", []string{"DOCKER_CONTEXT=bad"}, nil, false},
		{"--context beats DOCKER_HOST", []string{"DOCKER_HOST=unix://" + missing}, []string{"--context", "good"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, tc.args...), "backup", "version", "--json")
			r := docker(append(append([]string{}, env...), tc.env...), args...)
			if tc.reach {
				checkVersionOutput(t, r)
				return
			}
			if r.Err == nil {
				t.Fatalf("reached an engine although the chosen one does not exist: %s", r)
			}
			if !strings.Contains(r.Stderr, missing) {
				t.Errorf("error does not name the chosen engine %s: %s", missing, r)
			}
		})
	}
}

// TestArgumentsPassThrough checks that flags after `backup` reach the
// command tree unchanged through the real docker CLI.
func TestArgumentsPassThrough(t *testing.T) {
	r := backup(t, t.TempDir(), nil, "version", "--help")
	if r.Err != nil || !strings.Contains(r.Stdout, "docker backup version") || !strings.Contains(r.Stdout, "--json") {
		t.Fatalf("docker backup version --help: %s", r)
	}
	r = backup(t, t.TempDir(), nil, "--help")
	if r.Err != nil || !strings.Contains(r.Stdout, "version") {
		t.Fatalf("docker backup --help: %s", r)
	}
	r = backup(t, t.TempDir(), nil, "no-such-verb")
	if r.Err == nil || !strings.Contains(r.Stderr, "no-such-verb") {
		t.Fatalf("an unknown verb should fail and name it: %s", r)
	}
}
