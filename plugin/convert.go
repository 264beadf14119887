package plugin

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/convert"
	"github.com/docker-backup/docker-backup/internal/engine"
)

func exportCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "Export a database of a running PostgreSQL or MySQL/MariaDB service into one SQLite file",
		ArgsUsage: "SERVICE",
		Description: `Run in the project's folder, like docker compose. The database is read
through the server's own client inside its container, in one snapshot, and
written into an SQLite file that keeps the tables, their types (the original
ones are recorded in _docker_backup_export_columns), primary keys, unique
constraints, foreign keys and indexes. What SQLite cannot hold (views,
triggers, functions, check constraints, sequences' values) is listed in
_docker_backup_export_unmapped. The file can be opened by any SQLite tool,
and imported back into PostgreSQL or MySQL/MariaDB with docker backup import.`,
		Flags: append(projectFlags(),
			&cli.StringFlag{Name: "database", Aliases: []string{"d"}, Usage: "Export database `NAME` (default: the service's only database, or the one its image creates)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "Write to `FILE` (- for stdout; default DATABASE.sqlite)"},
			&cli.BoolFlag{Name: "json", Usage: "Print a summary as JSON on stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but errors"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("export needs one SERVICE: docker backup export SERVICE [-o FILE.sqlite]")
			}
			out := c.String("output")
			if out == "-" && c.Bool("json") {
				return fmt.Errorf("--json and -o - both write to stdout: choose one")
			}
			if out == "-" && terminal(env.Stdout) != nil {
				return fmt.Errorf("refusing to write an SQLite file to a terminal: redirect stdout or use -o FILE")
			}
			api, err := env.Client(c.Context)
			if err != nil {
				return err
			}
			opts := convert.ExportOptions{
				Service: convert.Service{Project: projectOptions(c), Name: c.Args().First(), Database: c.String("database")},
				Output:  out,
				Stdout:  env.Stdout,
			}
			res, err := convert.Export(c.Context, api, engine.New(api), opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(env.Stdout, res)
			}
			if c.Bool("quiet") {
				return nil
			}
			for _, n := range res.Notes {
				fmt.Fprintf(env.Stderr, "note: %s\n", n)
			}
			for _, u := range res.Unmapped {
				fmt.Fprintf(env.Stderr, "not exported: %s %s (%s)\n", u.Kind, u.Name, u.Reason)
			}
			fmt.Fprintf(env.Stderr, "exported database %s of service %s (%s %s): %d table(s), %d row(s), %s in %.1fs to %s\n",
				res.Database, res.Service, res.Flavor, res.Version, len(res.Tables), res.Rows, backup.HumanBytes(res.Size), res.Seconds, res.File)
			return nil
		},
	}
}

func importCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "Import an SQLite file into a database of a running PostgreSQL or MySQL/MariaDB service",
		ArgsUsage: "FILE.sqlite SERVICE",
		Description: `Run in the project's folder, like docker compose. The file (an export of
docker backup export, or any SQLite database) is checked first (SQLite's
integrity and foreign key checks); then the database is created, its tables
made from the original types recorded in the file (or from SQLite's types),
the rows loaded in bulk through the server's own client, and the keys,
indexes and counters set after the data. The row counts are compared with
the file's. A failed import leaves nothing behind. A database that exists and
holds rows is only replaced with --replace, after a safety backup of it.`,
		Flags: append(projectFlags(),
			&cli.StringFlag{Name: "database", Aliases: []string{"d"}, Usage: "Import into database `NAME` (default: the name recorded in the file)"},
			&cli.BoolFlag{Name: "replace", Usage: "Replace the database if it holds rows, after a safety backup"},
			&cli.StringFlag{Name: "safety-dir", Usage: "Write the safety backup into `DIR` (default ./backups)"},
			&cli.BoolFlag{Name: "no-wait", Usage: "Fail at once if another backup or restore of the project runs"},
			&cli.BoolFlag{Name: "json", Usage: "Print a summary as JSON on stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but errors"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("import needs a FILE and a SERVICE: docker backup import FILE.sqlite SERVICE")
			}
			api, err := env.Client(c.Context)
			if err != nil {
				return err
			}
			opts := convert.ImportOptions{
				Service:   convert.Service{Project: projectOptions(c), Name: c.Args().Get(1), Database: c.String("database")},
				File:      c.Args().First(),
				Replace:   c.Bool("replace"),
				SafetyDir: c.String("safety-dir"),
				Lock:      convert.Locker(projectLock(env, api, "import", c.Bool("no-wait"))),
			}
			res, err := convert.Import(c.Context, api, engine.New(api), opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(env.Stdout, res)
			}
			if c.Bool("quiet") {
				return nil
			}
			for _, n := range res.Notes {
				fmt.Fprintf(env.Stderr, "note: %s\n", n)
			}
			how := "into the existing empty database"
			switch {
			case res.Replaced:
				how = "replacing it (safety backup: " + res.SafetyBackup + ")"
			case res.Created:
				how = "a new database"
			}
			fmt.Fprintf(env.Stderr, "imported %s into database %s of service %s (%s %s), %s: %d table(s), %d row(s), counts checked, in %.1fs\n",
				opts.File, res.Database, res.Service, res.Flavor, res.Version, how, len(res.Tables), res.Rows, res.Seconds)
			return nil
		},
	}
}
