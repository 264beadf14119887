package plugin

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/version"
)

// VersionOptions are the flags of `docker backup version`.
type VersionOptions struct {
	JSON bool
}

func versionCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "Show the docker-backup version, the engine's version and the negotiated API version",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "Print the versions as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("%q accepts no arguments", env.HelpName+" version")
			}
			return runVersion(c, env, VersionOptions{JSON: c.Bool("json")})
		},
	}
}

func runVersion(c *cli.Context, env *Env, opts VersionOptions) error {
	info := version.Info{Client: version.ClientInfo()}
	api, err := env.Client(c.Context)
	if err == nil {
		info, err = version.Collect(c.Context, api)
	}
	// As docker version does: the client's part is printed even when the
	// engine cannot be reached (an image run without the socket), and the
	// error follows.
	if opts.JSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(info); jerr != nil {
			return jerr
		}
		return err
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintf(w, "Client: docker-backup\n")
	fmt.Fprintf(w, " Version:\t%s\n", info.Client.Version)
	if err == nil {
		fmt.Fprintf(w, " API version:\t%s (negotiated)\n", info.NegotiatedAPIVersion)
	}
	fmt.Fprintf(w, " Go version:\t%s\n", info.Client.GoVersion)
	fmt.Fprintf(w, " OS/Arch:\t%s/%s\n", info.Client.OS, info.Client.Arch)
	if err != nil {
		if ferr := w.Flush(); ferr != nil {
			return ferr
		}
		return err
	}
	fmt.Fprintf(w, "\nServer: Docker Engine\n")
	fmt.Fprintf(w, " Version:\t%s\n", info.Server.Version)
	fmt.Fprintf(w, " API version:\t%s (minimum version %s)\n", info.Server.APIVersion, info.Server.MinAPIVersion)
	fmt.Fprintf(w, " OS/Arch:\t%s/%s\n", info.Server.OS, info.Server.Arch)
	return w.Flush()
}
