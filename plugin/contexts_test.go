package plugin

import (
	"strings"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"github.com/urfave/cli/v2"
)

func TestContextNamesSplitAndDeduplicate(t *testing.T) {
	var got []string
	app := &cli.App{
		Flags:  []cli.Flag{contextsFlag("test")},
		Action: func(c *cli.Context) error { got = contextNames(c); return nil },
	}
	if err := app.Run([]string{"x", "--context", "a, b", "--context", "a", "--context", "c,,"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "a b c" {
		t.Fatalf("contexts %q, want a b c", got)
	}
}

func TestEngineClaimedOnce(t *testing.T) {
	var ids engineIDs
	if err := ids.claim("id1/host-a", "a"); err != nil {
		t.Fatal(err)
	}
	if err := ids.claim("id1/host-b", "b"); err != nil {
		t.Fatalf("a clone with another name is another engine: %v", err)
	}
	err := ids.claim("id1/host-a", "a2")
	if err == nil || !strings.Contains(err.Error(), "context a2 reaches the same engine as context a") {
		t.Fatalf("second context on one engine: %v", err)
	}
}

func TestContextClientReadsTheStore(t *testing.T) {
	cfg := store.NewConfig(func() any { return &command.DockerContext{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} }))
	s := store.New(t.TempDir(), cfg)
	err := s.CreateOrUpdate(store.Metadata{
		Name:      "b",
		Metadata:  command.DockerContext{Description: "engine b"},
		Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: "unix:///run/docker-b.sock"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := contextClient(s, "b")
	if err != nil {
		t.Fatal(err)
	}
	if h := api.DaemonHost(); h != "unix:///run/docker-b.sock" {
		t.Fatalf("context b reaches %s", h)
	}
	if _, err := contextClient(s, "nope"); err == nil || !strings.Contains(err.Error(), "docker context ls") {
		t.Fatalf("unknown context: %v", err)
	}
	env := &Env{Contexts: func() (store.Reader, error) { return s, nil }}
	if _, err := remotes(env, []string{"b", "nope"}); err == nil {
		t.Fatal("an unknown context among several is accepted")
	}
}

// The daemon backs up several engines side by side, but the projects of
// one engine one after the other.
func TestDaemonParallelismIsPerEngine(t *testing.T) {
	local := []target{{name: "shop", host: "h1"}, {name: "blog", host: "h1"}, {name: "wiki", host: "h1"}}
	if n := parallelism(local); n != 1 {
		t.Errorf("three projects on one engine: %d at once, want 1", n)
	}
	var remote []target
	for _, h := range []string{"a", "b", "c", "d", "e", "f"} {
		remote = append(remote, target{name: h + "/shop", host: h, multi: true})
	}
	if n := parallelism(remote[:2]); n != 2 {
		t.Errorf("two engines: %d at once, want 2", n)
	}
	if n := parallelism(remote); n != maxEngines {
		t.Errorf("six engines: %d at once, want %d", n, maxEngines)
	}
}
