package plugin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/daemon"
)

// clearBackupEnv unsets the BACKUP_ variables of the process running the
// tests, for the length of the test.
func clearBackupEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// setupOf runs the daemon's flags over args and the environment, and
// returns what setupDaemon made of them.
func setupOf(t *testing.T, args ...string) (*daemonSetup, error) {
	t.Helper()
	var s *daemonSetup
	var serr error
	flags := daemonFlags()
	app := &cli.App{Name: "t", Commands: []*cli.Command{{
		Name: "daemon", Flags: flags,
		Action: func(c *cli.Context) error {
			if err := checkEnv(flags, os.Environ(), "t daemon", "BACKUP_NOTIFY_URLS_FILE"); err != nil {
				serr = err
				return nil
			}
			s, serr = setupDaemon(c)
			return nil
		},
	}}}
	if err := app.Run(append([]string{"t", "daemon"}, args...)); err != nil {
		return nil, err
	}
	return s, serr
}

func TestDaemonSettingsFromTheEnvironment(t *testing.T) {
	clearBackupEnv(t)
	dir := t.TempDir()
	t.Setenv("BACKUP_CRON", "30 2 * * *")
	t.Setenv("BACKUP_TZ", "Europe/Berlin")
	t.Setenv("BACKUP_JITTER", "5m")
	t.Setenv("BACKUP_TO", dir)
	t.Setenv("BACKUP_KEEP_DAILY", "7")
	t.Setenv("BACKUP_KEEP_LAST", "2")
	t.Setenv("BACKUP_COMPRESSION", "gzip")
	t.Setenv("BACKUP_EXCLUDE_TABLE", "shop.sessions,shop.cache")
	t.Setenv("BACKUP_ENCRYPT_TO", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	s, err := setupOf(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.sched.Cron != "30 2 * * *" || s.sched.Location.String() != "Europe/Berlin" || s.sched.Jitter != 5*time.Minute {
		t.Errorf("schedule %+v", s.sched)
	}
	if s.policy.Daily != 7 || s.policy.Last != 2 || s.policy.Location.String() != "Europe/Berlin" {
		t.Errorf("policy %+v", s.policy)
	}
	if s.base.Compression != "gzip" || len(s.base.ExcludeTable) != 2 || len(s.base.Recipients) != 1 || s.base.Output != dir+"/" {
		t.Errorf("backup options %+v", s.base)
	}
	// A flag wins over its variable.
	if s, err := setupOf(t, "--cron", "@hourly", "--keep-daily", "3"); err != nil || s.sched.Cron != "@hourly" || s.policy.Daily != 3 {
		t.Errorf("flags over variables: %+v %v", s, err)
	}
	// The bounds on archives the API restores.
	t.Setenv("BACKUP_MAX_ENTRIES", "2000000")
	t.Setenv("BACKUP_MAX_DEPTH", "64")
	if s, err := setupOf(t); err != nil || s.limits != (archive.Limits{MaxEntries: 2_000_000, MaxDepth: 64}) {
		t.Errorf("limits from the environment: %+v %v", s, err)
	}
	if _, err := setupOf(t, "--max-depth", "-1"); err == nil || !strings.Contains(err.Error(), "--max-depth") {
		t.Errorf("a negative depth: %v", err)
	}
}

func TestDaemonSettingsFailAtStart(t *testing.T) {
	dir := t.TempDir()
	urls := filepath.Join(dir, "urls")
	os.WriteFile(urls, []byte("# where failures go\ngeneric+http://127.0.0.1:1/hook?template=json\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no target", nil, nil, "set --to (BACKUP_TO)"},
		{"bad cron", map[string]string{"BACKUP_TO": dir, "BACKUP_CRON": "0 3 * *"}, nil, `--cron "0 3 * *" is not a cron schedule`},
		{"unknown variable", map[string]string{"BACKUP_TO": dir, "BACKUP_KEEP_DAYLY": "7"}, nil, "unknown setting BACKUP_KEEP_DAYLY (did you mean BACKUP_KEEP_DAILY?)"},
		{"bad zone", map[string]string{"BACKUP_TO": dir, "BACKUP_TZ": "Mars/Olympus"}, nil, "--tz (BACKUP_TZ)"},
		{"an archive as target", map[string]string{"BACKUP_TO": "s3://bucket/x/shop.tar.zst"}, nil, "names an archive"},
		{"stdout", map[string]string{"BACKUP_TO": "-"}, nil, "not to stdout"},
		{"unknown scheme", map[string]string{"BACKUP_TO": "gs://bucket/x"}, nil, "unknown storage scheme"},
		{"bad compression", map[string]string{"BACKUP_TO": dir, "BACKUP_COMPRESSION": "xz"}, nil, "--compression (BACKUP_COMPRESSION)"},
		{"bad recipient", map[string]string{"BACKUP_TO": dir, "BACKUP_ENCRYPT_TO": "not-a-key"}, nil, "not-a-key"},
		{"negative keep", map[string]string{"BACKUP_TO": dir}, []string{"--keep-daily", "-1"}, "cannot be negative"},
		{"bad notification URL", map[string]string{"BACKUP_TO": dir, "BACKUP_NOTIFY_URLS": "nosuchservice://token@host/x"}, nil, "notification URL 1"},
		{"URL and its file", map[string]string{"BACKUP_TO": dir, "BACKUP_NOTIFY_URLS": "generic+http://127.0.0.1:1/x", "BACKUP_NOTIFY_URLS_FILE": urls}, nil, "both BACKUP_NOTIFY_URLS and BACKUP_NOTIFY_URLS_FILE"},
		{"success without URL", map[string]string{"BACKUP_TO": dir, "BACKUP_NOTIFY_SUCCESS": "true"}, nil, "without --notify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearBackupEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := setupOf(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "token@") {
				t.Errorf("the error shows a notification URL's secret: %v", err)
			}
		})
	}
	// The URLs from a file (a compose secret).
	clearBackupEnv(t)
	t.Setenv("BACKUP_TO", dir)
	t.Setenv("BACKUP_NOTIFY_URLS_FILE", urls)
	s, err := setupOf(t)
	if err != nil || s.notifier.Len() != 1 {
		t.Fatalf("URLs from BACKUP_NOTIFY_URLS_FILE: %v", err)
	}
}

func TestEveryDaemonFlagHasItsVariable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range daemonFlags() {
		v := flagEnv([]cli.Flag{f}, f.Names()[0])
		if !strings.HasPrefix(v, envPrefix) {
			t.Errorf("--%s has no BACKUP_ variable (%q)", f.Names()[0], v)
		}
		if seen[v] {
			t.Errorf("%s is the variable of two flags", v)
		}
		seen[v] = true
	}
	for _, want := range []string{"BACKUP_CRON", "BACKUP_TO", "BACKUP_KEEP_LAST", "BACKUP_KEEP_DAILY", "BACKUP_ENCRYPT_TO", "BACKUP_NOTIFY_URLS", "BACKUP_METRICS_ADDR"} {
		if !seen[want] {
			t.Errorf("no flag reads %s", want)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	clearBackupEnv(t)
	status := filepath.Join(t.TempDir(), "status.json")
	run := func() (string, error) {
		var out bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &out, HelpName: "docker-backup",
			Client: func(context.Context) (client.APIClient, error) { return nil, errors.New("no engine needed") }}
		err := Run(context.Background(), env, []string{"healthcheck", "--status-file", status})
		return out.String(), err
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "unhealthy: no status file") {
		t.Errorf("without a status file: %v", err)
	}
	now := time.Now().UTC()
	s := &daemon.Status{StartedAt: now.Add(-time.Hour), Schedule: "@daily", Interval: 24 * time.Hour, Projects: map[string]*daemon.ProjectStatus{
		"shop": {LastRun: &daemon.RunStatus{Start: now.Add(-time.Minute), End: now, Error: "service db is not running"}},
	}}
	daemon.WriteStatus(status, s)
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "service db is not running") {
		t.Errorf("after a failure: %v", err)
	}
	good := &daemon.RunStatus{Start: now.Add(-time.Minute), End: now, Succeeded: true, Archive: "s3://b/shop.tar.zst"}
	s.Projects["shop"] = &daemon.ProjectStatus{LastRun: good, LastSuccess: good}
	daemon.WriteStatus(status, s)
	if out, err := run(); err != nil || !strings.Contains(out, "healthy: project shop backed up") {
		t.Errorf("after a success: %v %s", err, out)
	}
	// BACKUP_STATUS_FILE is read too: the image's HEALTHCHECK has no flags.
	t.Setenv("BACKUP_STATUS_FILE", status)
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, HelpName: "docker-backup"}
	if err := Run(context.Background(), env, []string{"healthcheck"}); err != nil {
		t.Errorf("with BACKUP_STATUS_FILE: %v", err)
	}
}

func TestVersionWithoutAnEngineShowsTheClient(t *testing.T) {
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, HelpName: "docker-backup",
		Client: func(context.Context) (client.APIClient, error) {
			return nil, errors.New("cannot reach the Docker engine")
		}}
	err := Run(context.Background(), env, []string{"version"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(out.String(), "Client: docker-backup") || !strings.Contains(out.String(), "Go version:") {
		t.Errorf("the client's part is missing:\n%s", out.String())
	}
}
