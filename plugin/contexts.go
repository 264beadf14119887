package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/docker/docker/client"
	"github.com/urfave/cli/v2"
)

// maxEngines bounds how many engines one command works on at once.
const maxEngines = 4

// contextsFlag names the engines a command works on, as docker contexts.
func contextsFlag(verb string) cli.Flag {
	return &cli.StringSliceFlag{Name: "context", Usage: "Work on the engines of docker contexts `NAME,...` (see docker context ls): " + verb}
}

// contextNames are the --context names, each once, in order.
func contextNames(c *cli.Context) []string {
	var out []string
	for _, n := range c.StringSlice("context") {
		for _, s := range strings.Split(n, ",") {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// standaloneContexts is the docker CLI's context store, read as docker
// reads it (DOCKER_CONFIG, ~/.docker), for the standalone binary.
func standaloneContexts() (store.Reader, error) {
	cli, err := command.NewDockerCli()
	if err != nil {
		return nil, err
	}
	if err := cli.Initialize(cliflags.NewClientOptions()); err != nil {
		return nil, err
	}
	return cli.ContextStore(), nil
}

// contextClient connects to the engine of docker context name.
func contextClient(s store.Reader, name string) (client.APIClient, error) {
	meta, err := s.GetMetadata(name)
	if err != nil {
		return nil, fmt.Errorf("docker context %s: %w (see docker context ls)", name, err)
	}
	epMeta, err := docker.EndpointFromContext(meta)
	if err != nil {
		return nil, fmt.Errorf("docker context %s: %w", name, err)
	}
	ep, err := docker.WithTLSData(s, name, epMeta)
	if err != nil {
		return nil, fmt.Errorf("docker context %s: %w", name, err)
	}
	opts, err := ep.ClientOpts()
	if err != nil {
		return nil, fmt.Errorf("docker context %s: %w", name, err)
	}
	return client.NewClientWithOpts(opts...)
}

// remote is one engine reached through a docker context.
type remote struct {
	Context string
	API     client.APIClient
}

// remotes opens the engines of the named contexts; an unknown context is
// an error before anything runs.
func remotes(env *Env, names []string) ([]remote, error) {
	if env.Contexts == nil {
		return nil, fmt.Errorf("--context: docker contexts cannot be read here")
	}
	s, err := env.Contexts()
	if err != nil {
		return nil, fmt.Errorf("--context: %w", err)
	}
	var out []remote
	for _, n := range names {
		api, err := contextClient(s, n)
		if err != nil {
			return nil, err
		}
		out = append(out, remote{Context: n, API: api})
	}
	return out, nil
}

// engineIDs claims each engine once: two contexts that reach the same
// engine would back up the same project twice, each locking the other
// out.
type engineIDs struct {
	mu   sync.Mutex
	seen map[string]string
}

func (e *engineIDs) claim(id, context string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]string{}
	}
	if other, ok := e.seen[id]; ok {
		return fmt.Errorf("context %s reaches the same engine as context %s: name each engine once", context, other)
	}
	e.seen[id] = context
	return nil
}

// engineName asks the engine its name (the host's), bounded: an engine
// that does not answer fails its own part only.
func engineName(ctx context.Context, r remote, ids *engineIDs) (string, error) {
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := r.API.Info(ictx)
	if err != nil {
		return "", fmt.Errorf("cannot reach the engine of context %s: %w", r.Context, err)
	}
	if ids != nil {
		// The ID alone is not enough: hosts cloned from one image share
		// it (dockerd 20.10 derives it from /etc/docker/key.json).
		if err := ids.claim(info.ID+"/"+info.Name, r.Context); err != nil {
			return "", err
		}
	}
	return info.Name, nil
}
