package plugin

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/daemon"
)

func healthcheckCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "healthcheck",
		Usage:     "Tell whether the daemon is healthy: exit 0, or 1 when the last backup failed or none succeeded within two intervals",
		ArgsUsage: " ",
		Description: `What the image's HEALTHCHECK runs, beside the daemon, in the same container
(docker inspect and docker ps show the result). It reads the status file the
daemon writes and needs no engine.`,
		Flags: withEnv([]cli.Flag{
			&cli.StringFlag{Name: "status-file", Value: defaultStatusFile(), Usage: "The daemon's status `FILE`"},
		}, nil),
		Action: func(c *cli.Context) error {
			s, err := daemon.ReadStatus(c.String("status-file"))
			if err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			now := time.Now()
			if err := daemon.Health(s, now); err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			for _, n := range slices.Sorted(maps.Keys(s.Projects)) {
				p := s.Projects[n]
				if p.LastSuccess != nil {
					fmt.Fprintf(env.Stdout, "healthy: project %s backed up at %s to %s\n", n, p.LastSuccess.End.Format(time.RFC3339), p.LastSuccess.Archive)
				} else {
					fmt.Fprintf(env.Stdout, "healthy: project %s not backed up yet (daemon started at %s)\n", n, s.StartedAt.Format(time.RFC3339))
				}
			}
			if !s.NextRun.IsZero() {
				fmt.Fprintf(env.Stdout, "next run at %s\n", s.NextRun.Format(time.RFC3339))
			}
			return nil
		},
	}
}
