package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli-plugins/metadata"
	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/streams"
)

// fakeEngine answers /_ping and /version on a unix socket with a version of
// its own, so a test can tell which engine a command reached.
func fakeEngine(t *testing.T, engineVersion, apiVersion string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fe") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("API-Version", apiVersion)
		fmt.Fprint(w, "OK")
	})
	mux.HandleFunc("/v"+apiVersion+"/version", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"Version": engineVersion, "ApiVersion": apiVersion, "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64",
		})
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

// runAsPlugin runs the plugin in-process as the docker CLI would start it,
// with argv = docker-backup ARGS..., and returns stdout, stderr and the error.
func runAsPlugin(t *testing.T, run runner, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	dockerCli, err := command.NewDockerCli(
		command.WithInputStream(streams.NewIn(os.Stdin)),
		command.WithOutputStream(&stdout),
		command.WithErrorStream(&stderr),
	)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Args
	os.Args = append([]string{"docker-backup"}, args...)
	defer func() { os.Args = saved }()
	err = cliplugin.RunPlugin(dockerCli, newPluginCommand(dockerCli, run), Metadata())
	return stdout.String(), stderr.String(), err
}

// captureStdout returns what f wrote to os.Stdout: docker/cli's metadata
// subcommand writes there directly.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	f()
	os.Stdout = saved
	w.Close()
	return string(<-done)
}

func TestMetadata(t *testing.T) {
	var err error
	out := captureStdout(t, func() {
		_, _, err = runAsPlugin(t, func(context.Context, *Env, []string) error {
			t.Fatal("the metadata subcommand ran the command tree")
			return nil
		}, metadata.MetadataSubcommandName)
	})
	if err != nil {
		t.Fatal(err)
	}
	var m metadata.Metadata
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("metadata is not JSON: %v: %s", err, out)
	}
	if m.SchemaVersion != "0.1.0" || m.Vendor == "" || m.ShortDescription == "" || m.URL == "" || m.Version == "" {
		t.Errorf("incomplete metadata: %+v", m)
	}
}

func TestMetadataDoesNotContactTheEngine(t *testing.T) {
	// An engine that does not exist: the metadata must come all the same.
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	var err error
	out := captureStdout(t, func() { _, _, err = runAsPlugin(t, nil, metadata.MetadataSubcommandName) })
	if err != nil || !strings.Contains(out, `"SchemaVersion": "0.1.0"`) {
		t.Fatalf("metadata: %v: %s", err, out)
	}
}

func TestArgumentsPassThroughUnchanged(t *testing.T) {
	tests := [][]string{
		{"version"},
		{"version", "--json"},
		{"create", "-f", "a.yml", "--file=b.yml", "-p", "x", "--", "-odd", "--help"},
		{"--help"},
		{"-h"},
		{"help", "create"},
		{"restore", "-y", "--dry-run", "archive.tar.zst"},
		{},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var got []string
			called := false
			// docker's global options come before the plugin's name and are
			// consumed by the CLI wiring, not passed on.
			argv := append([]string{"--log-level", "error", Name}, args...)
			_, _, err := runAsPlugin(t, func(_ context.Context, _ *Env, a []string) error {
				called, got = true, a
				return nil
			}, argv...)
			if err != nil {
				t.Fatal(err)
			}
			if !called {
				t.Fatal("the command tree was not run")
			}
			if len(args) == 0 && len(got) == 0 {
				return
			}
			if !reflect.DeepEqual(got, args) {
				t.Errorf("command tree got %q, want %q", got, args)
			}
		})
	}
}

func TestPluginErrorIsReturned(t *testing.T) {
	_, _, err := runAsPlugin(t, func(context.Context, *Env, []string) error {
		return fmt.Errorf("boom")
	}, Name, "version")
	if err == nil || err.Error() != "boom" {
		t.Fatalf("err = %v, want boom", err)
	}
}

func versionServerField(t *testing.T, out string) string {
	t.Helper()
	var v struct {
		Server struct{ Version string } `json:"server"`
		API    string                   `json:"negotiatedApiVersion"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, out)
	}
	return v.Server.Version + " " + v.API
}

func TestHostFlagReachesTheEngineItNames(t *testing.T) {
	host := fakeEngine(t, "fake-host-1", "1.41")
	out, errOut, err := runAsPlugin(t, Run, "-H", host, Name, "version", "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	if got := versionServerField(t, out); got != "fake-host-1 1.41" {
		t.Errorf("reached %q, want the engine at %s speaking API 1.41", got, host)
	}
}

func TestDockerHostReachesTheEngineItNames(t *testing.T) {
	host := fakeEngine(t, "fake-env-2", "1.43")
	t.Setenv("DOCKER_HOST", host)
	out, errOut, err := runAsPlugin(t, Run, Name, "version", "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	if got := versionServerField(t, out); got != "fake-env-2 1.43" {
		t.Errorf("reached %q, want the engine of DOCKER_HOST", got)
	}
}

// writeContext stores a docker context the way `docker context create` does.
func writeContext(t *testing.T, configDir, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	dir := filepath.Join(configDir, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := fmt.Sprintf(`{"Name":%q,"Metadata":{},"Endpoints":{"docker":{"Host":%q,"SkipTLSVerify":false}}}`, name, host)
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestContextFlagReachesTheEngineItNames(t *testing.T) {
	cfg := t.TempDir()
	writeContext(t, cfg, "prod", fakeEngine(t, "fake-prod-3", "1.41"))
	writeContext(t, cfg, "staging", fakeEngine(t, "fake-staging-4", "1.41"))
	// DOCKER_HOST names yet another engine: --context must win over it.
	t.Setenv("DOCKER_HOST", fakeEngine(t, "fake-env-5", "1.41"))
	for _, tc := range []struct{ flag, ctx, want string }{
		{"--context", "prod", "fake-prod-3"},
		{"-c", "staging", "fake-staging-4"},
	} {
		out, errOut, err := runAsPlugin(t, Run, "--config", cfg, tc.flag, tc.ctx, Name, "version", "--json")
		if err != nil {
			t.Fatalf("%v: %s", err, errOut)
		}
		if got := versionServerField(t, out); got != tc.want+" 1.41" {
			t.Errorf("%s %s reached %q, want %s", tc.flag, tc.ctx, got, tc.want)
		}
	}
}

func TestStandaloneUsesDockerHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", fakeEngine(t, "fake-standalone-6", "1.42"))
	var stdout, stderr bytes.Buffer
	if code := runStandalone([]string{"version", "--json"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := versionServerField(t, stdout.String()); got != "fake-standalone-6 1.42" {
		t.Errorf("reached %q", got)
	}
}

func TestStandaloneHelpAndErrors(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	var stdout, stderr bytes.Buffer
	if code := runStandalone([]string{"--help"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("--help exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "docker-backup") || !strings.Contains(stdout.String(), "version") {
		t.Errorf("help does not name the program and its verbs:\n%s", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := runStandalone([]string{"version"}, nil, &stdout, &stderr); code != 1 {
		t.Errorf("version without an engine: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "/nonexistent/docker.sock") {
		t.Errorf("error does not name the engine it tried: %q", stderr.String())
	}
	stderr.Reset()
	if code := runStandalone([]string{"frobnicate"}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "frobnicate") {
		t.Errorf("unknown verb: exit %d, stderr %q", code, stderr.String())
	}
}

func TestRunningStandaloneDetection(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	t.Setenv(metadata.ReexecEnvvar, "")
	os.Args = []string{"docker-backup", "version"}
	if !cliplugin.RunningStandalone() {
		t.Error("docker-backup version should run standalone")
	}
	os.Args = []string{"docker-backup", metadata.MetadataSubcommandName}
	if cliplugin.RunningStandalone() {
		t.Error("the metadata subcommand means the docker CLI runs us")
	}
	t.Setenv(metadata.ReexecEnvvar, "docker")
	os.Args = []string{"docker-backup", "backup", "version"}
	if cliplugin.RunningStandalone() {
		t.Error("with DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND set the docker CLI runs us")
	}
}

// Ctrl-C at the confirmation prompt ends the wait without an Enter.
func TestConfirmReturnsOnInterrupt(t *testing.T) {
	pr, pw := io.Pipe() // a terminal nobody types into
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := confirm(ctx, io.Discard, pr, "Replace?")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("confirm still waits for Enter after the interrupt")
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{{"y\n", true}, {"YES\n", true}, {"\n", false}, {"no\n", false}, {"", false}} {
		got, err := confirm(context.Background(), io.Discard, strings.NewReader(tc.in), "Replace?")
		if err != nil || got != tc.want {
			t.Errorf("%q: %v, %v", tc.in, got, err)
		}
	}
}
