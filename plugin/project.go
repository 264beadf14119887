package plugin

import (
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/project"
)

// projectFlags are docker compose's own project flags, with its names and
// environment variables.
func projectFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "file", Aliases: []string{"f"}, Usage: "Compose configuration `FILE`s (default: compose.yaml, or COMPOSE_FILE)"},
		&cli.StringFlag{Name: "project-name", Aliases: []string{"p"}, Usage: "Project `NAME` (default: name: in the file, COMPOSE_PROJECT_NAME, or the folder's name)"},
		&cli.StringFlag{Name: "project-directory", Usage: "Alternate working `DIR` (default: the first compose file's folder)"},
		&cli.StringSliceFlag{Name: "env-file", Usage: "Alternate environment `FILE`s"},
		&cli.StringSliceFlag{Name: "profile", Usage: "Enable the services of `PROFILE` (or COMPOSE_PROFILES)"},
	}
}

func projectOptions(c *cli.Context) project.Options {
	return project.Options{
		Files:      c.StringSlice("file"),
		Name:       c.String("project-name"),
		ProjectDir: c.String("project-directory"),
		EnvFiles:   c.StringSlice("env-file"),
		Profiles:   c.StringSlice("profile"),
	}
}
