// Package plugin is the command-line glue: docker CLI plugin wiring, the
// urfave/cli command tree, and flags turned into the options structs of the
// services in internal/. Nothing below this package knows about urfave or cobra.
package plugin

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/docker/docker/client"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/version"
)

// Env is what the commands get from the process around them.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal is stderr's file when it is a terminal, where progress bars
	// are drawn; nil otherwise, for plain lines.
	Terminal *os.File
	// HelpName is how users invoke us: "docker backup" or "docker-backup".
	HelpName string
	// Client connects to the engine the user chose. It is called only by
	// commands that need the engine, so that --help never dials.
	Client func(ctx context.Context) (client.APIClient, error)
}

// NewApp builds the command tree. args[0] of Run is ignored: urfave takes the
// program name from HelpName.
func NewApp(env *Env) *cli.App {
	app := &cli.App{
		Name:                 Name,
		HelpName:             env.HelpName,
		Usage:                Metadata().ShortDescription,
		Version:              version.Version,
		HideVersion:          true, // `version` is a command, as in docker.
		Reader:               env.Stdin,
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		EnableBashCompletion: true,
		Suggest:              true,
		Commands: []*cli.Command{
			createCommand(env),
			versionCommand(env),
		},
		// Without a verb, help; with an unknown one, an error that names it
		// (urfave would otherwise print "No help topic").
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return fmt.Errorf("%q is not a %s command: see '%s --help'", c.Args().First(), env.HelpName, env.HelpName)
		},
		// Errors are printed once, by the caller, on stderr.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
}

// Run runs the command tree on args (without the program name).
func Run(ctx context.Context, env *Env, args []string) error {
	return NewApp(env).RunContext(ctx, append([]string{env.HelpName}, args...))
}
