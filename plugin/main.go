package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker/cli/cli-plugins/metadata"
	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/context/store"
	"github.com/docker/docker/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/docker-backup/docker-backup/internal/engine"
)

// runner runs the command tree; tests replace it to see what reaches it.
type runner func(ctx context.Context, env *Env, args []string) error

// Main runs docker-backup as a docker CLI plugin (`docker backup ...`) or, when
// the docker CLI did not start it, standalone (`docker-backup ...`, the
// container image's entrypoint). It returns the process's exit code.
func Main() int {
	if cliplugin.RunningStandalone() {
		return runStandalone(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	// plugin.Run parses docker's global options (--context, -H, --tls*,
	// --config, ...) and resolves the engine exactly as docker does; it exits
	// by itself on error.
	cliplugin.Run(func(dockerCli command.Cli) *cobra.Command {
		return newPluginCommand(dockerCli, Run)
	}, Metadata())
	return 0
}

// newPluginCommand is the thin cobra command docker/cli needs. It parses no
// flags of its own: everything after `backup` goes to the urfave/cli tree
// unchanged.
func newPluginCommand(dockerCli command.Cli, run runner) *cobra.Command {
	return &cobra.Command{
		Use:                Name,
		Short:              Metadata().ShortDescription,
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			env := &Env{
				Stdin:    dockerCli.In(),
				Stdout:   dockerCli.Out(),
				Stderr:   dockerCli.Err(),
				Terminal: terminal(os.Stderr),
				HelpName: metadata.NamePrefix[:len(metadata.NamePrefix)-1] + " " + Name,
				Client: func(context.Context) (client.APIClient, error) {
					// The CLI's client: the engine of --context, -H,
					// DOCKER_HOST or DOCKER_CONTEXT, ssh included, with
					// API version negotiation.
					return dockerCli.Client(), nil
				},
				Contexts: func() (store.Reader, error) { return dockerCli.ContextStore(), nil },
				DockerArgs: func() []string {
					if name := dockerCli.CurrentContext(); name != "" && name != "default" {
						return []string{"--context", name}
					}
					return []string{"--host", dockerCli.DockerEndpoint().Host}
				},
			}
			return run(ctx, env, args)
		},
	}
}

func runStandalone(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(context.Background())
	defer stop()
	env := &Env{
		Stdin:    stdin,
		Stdout:   stdout,
		Stderr:   stderr,
		HelpName: metadata.NamePrefix + Name,
		Terminal: terminal(stderr),
		Client: func(context.Context) (client.APIClient, error) {
			return engine.NewFromEnv()
		},
		Contexts: standaloneContexts,
	}
	if err := Run(ctx, env, args); err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(err)
	}
	return 0
}

// signalContext is cancelled by SIGINT or SIGTERM. Under the docker CLI with
// a non-terminal stdout the first signal arrives instead as EOF on the plugin
// socket, which cancels the parent context.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// exitCode is 130 after an interrupt, as shells report it, and 1 otherwise.
func exitCode(err error) int {
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

// terminal returns w's file when w is a terminal, else nil.
func terminal(w io.Writer) *os.File {
	if f, ok := w.(*os.File); ok && term.IsTerminal(f.Fd()) {
		return f
	}
	return nil
}
