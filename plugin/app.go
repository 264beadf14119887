// Package plugin is the command-line glue: docker CLI plugin wiring, the
// urfave/cli command tree, and flags turned into the options structs of the
// services in internal/. Nothing below this package knows about urfave or cobra.
package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/cli/cli/context/store"
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
	// Contexts is the docker CLI's context store, for --context lists;
	// nil where there is none.
	Contexts func() (store.Reader, error)
	// DockerArgs are the docker global options that reach the same engine,
	// for the docker commands we run (docker compose up --no-start).
	DockerArgs func() []string
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
			restoreCommand(env),
			inspectCommand(env),
			verifyCommand(env),
			exportCommand(env),
			importCommand(env),
			lsCommand(env),
			pruneCommand(env),
			decryptCommand(env),
			daemonCommand(env),
			standbyCommand(env),
			promoteCommand(env),
			healthcheckCommand(env),
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
	app := NewApp(env)
	return app.RunContext(ctx, append([]string{env.HelpName}, flagsFirst(app, args)...))
}

// flagsFirst moves a command's flags before its arguments, so that
// `restore ARCHIVE -y` works as in docker, whose commands take flags
// anywhere; urfave/cli stops at the first argument. "--" ends the flags.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	cmd := app.Command(args[0])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	out := append([]string{args[0]}, flags...)
	return append(out, rest...)
}
