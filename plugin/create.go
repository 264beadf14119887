package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/engine"
)

func createCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "Back up a compose project: databases, named volumes and compose config, into one archive",
		ArgsUsage: "[SERVICE...]",
		Description: `Run in the project's folder, like docker compose. Databases are dumped inside
their own containers with the server's own tools; named volumes are archived
with their ownership and modes. The archive is written to ./backups/ unless -o
says otherwise, under a temporary name until it is complete.`,
		Flags: append(append(projectFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o", "to"}, Usage: "Write the archive to `FILE`, into a folder, to s3://BUCKET/PREFIX/ (or a name there), or to stdout with -"},
			&cli.StringFlag{Name: "compression", Value: string(archive.Zstd), Usage: "Archive compression: zstd, gzip or none"},
			&cli.StringSliceFlag{Name: "exclude-table", Usage: "Leave out tables matching `PATTERN` (db.table for MySQL, db.schema.table for PostgreSQL; globs)"},
			&cli.StringSliceFlag{Name: "exclude-table-data", Usage: "Keep the structure but leave out the rows of tables matching `PATTERN`"},
			&cli.BoolFlag{Name: "stop", Usage: "Cold backup: stop the services, copy every volume raw (databases included), start them again"},
			&cli.BoolFlag{Name: "include-bind-mounts", Usage: "Also archive the services' bind mounts"},
			&cli.BoolFlag{Name: "include-env", Usage: "Also archive the project's .env file (it usually holds secrets)"},
			&cli.StringSliceFlag{Name: "encrypt-to", Aliases: []string{"r"}, Usage: "Encrypt the archive with age to `RECIPIENT` (an age1... key or an SSH public key; repeatable)"},
			&cli.StringFlag{Name: "recipients-file", Usage: "Encrypt to the recipients listed in `FILE`, one per line"},
			&cli.StringFlag{Name: "passphrase-file", Usage: "Encrypt with the passphrase in `FILE` (scrypt)"},
			&cli.BoolFlag{Name: "no-wait", Usage: "Fail at once if another backup or restore of the project runs"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but errors"},
			&cli.BoolFlag{Name: "json", Usage: "Print a summary as JSON on stdout"},
		), storageFlags()...),
		Action: func(c *cli.Context) error {
			cfg, err := storageConfig(c)
			if err != nil {
				return err
			}
			opts := backup.Options{
				Storage:           cfg,
				Project:           projectOptions(c),
				Services:          c.Args().Slice(),
				Output:            c.String("output"),
				Compression:       archive.Compression(c.String("compression")),
				ExcludeTable:      c.StringSlice("exclude-table"),
				ExcludeTableData:  c.StringSlice("exclude-table-data"),
				Stop:              c.Bool("stop"),
				IncludeBindMounts: c.Bool("include-bind-mounts"),
				IncludeEnv:        c.Bool("include-env"),
				Stdout:            env.Stdout,
			}
			rs, err := crypt.Recipients(c.StringSlice("encrypt-to"), c.String("recipients-file"), c.String("passphrase-file"))
			if err != nil {
				return err
			}
			opts.Recipients = rs
			return runCreate(c, env, opts, c.Bool("no-wait"), c.Bool("quiet"), c.Bool("json"))
		},
	}
}

// reporting is progress and logging on stderr: bars on a terminal, plain
// lines otherwise, nothing with -q. wait lets the bars draw their end.
func reporting(env *Env, quiet bool) (backup.Progress, *slog.Logger, func()) {
	var w io.Writer = env.Stderr
	if quiet {
		w = nil
	}
	if w != nil && env.Terminal != nil {
		b := newBars(env.Terminal)
		return b, newLogger(w), b.Wait
	}
	return backup.Lines{W: w}, newLogger(w), func() {}
}

// printJSON prints v indented, the way --json output looks everywhere.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runCreate(c *cli.Context, env *Env, opts backup.Options, noWait, quiet, asJSON bool) error {
	if opts.Output == "-" && asJSON {
		return fmt.Errorf("--json and -o - both write to stdout: choose one")
	}
	var wait func()
	opts.Progress, opts.Logger, wait = reporting(env, quiet)
	defer wait()
	api, err := env.Client(c.Context)
	if err != nil {
		return err
	}
	opts.Lock = projectLock(env, api, "create", noWait)
	opts.JobGone = jobGone(api)
	res, err := backup.Create(c.Context, api, engine.New(api), opts)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(env.Stdout, res)
	}
	if !quiet {
		if res.Path != "-" {
			fmt.Fprintf(env.Stderr, "backup of project %s written to %s (%s)\n", res.Project, res.Path, backup.HumanBytes(res.Size))
		}
	}
	return nil
}
