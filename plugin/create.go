package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/storage"
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
			&cli.StringFlag{Name: "compression", Value: string(archive.Zstd), Usage: "Archive compression: zstd, gzip or none; zstd:LEVEL (1-22) or gzip:LEVEL (1-9) for smaller or faster archives"},
			&cli.StringSliceFlag{Name: "exclude-table", Usage: "Leave out tables matching `PATTERN` (db.table for MySQL, db.schema.table for PostgreSQL; globs)"},
			&cli.StringSliceFlag{Name: "exclude-table-data", Usage: "Keep the structure but leave out the rows of tables matching `PATTERN`"},
			&cli.BoolFlag{Name: "stop", Usage: "Cold backup: stop the services, copy every volume raw (databases included), start them again"},
			&cli.BoolFlag{Name: "include-bind-mounts", Usage: "Also archive the services' bind mounts"},
			&cli.BoolFlag{Name: "include-env", Usage: "Also archive the project's .env file (it usually holds secrets)"},
			&cli.StringFlag{Name: "export", Usage: "Also put each database into the archive as an SQLite file under exports/ (`FORMAT`: sqlite)"},
			&cli.StringSliceFlag{Name: "encrypt-to", Aliases: []string{"r"}, Usage: "Encrypt the archive with age to `RECIPIENT` (an age1... key or an SSH public key; repeatable)"},
			&cli.StringFlag{Name: "recipients-file", Usage: "Encrypt to the recipients listed in `FILE`, one per line"},
			&cli.StringFlag{Name: "passphrase-file", Usage: "Encrypt with the passphrase in `FILE` (scrypt)"},
			signFlag(),
			&cli.BoolFlag{Name: "no-wait", Usage: "Fail at once if another backup or restore of the project runs"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but errors"},
			&cli.BoolFlag{Name: "json", Usage: "Print a summary as JSON on stdout"},
			contextsFlag("back up the project on each, 4 at most at once, each archive named HOST_PROJECT-TIME; one engine's failure does not stop the others"),
		), storageFlags()...),
		Action: func(c *cli.Context) error {
			cfg, err := storageConfig(c)
			if err != nil {
				return err
			}
			comp, level, err := archive.ParseCompression(c.String("compression"))
			if err != nil {
				return err
			}
			opts := backup.Options{
				CompressionLevel:  level,
				Storage:           cfg,
				Project:           projectOptions(c),
				Services:          c.Args().Slice(),
				Output:            c.String("output"),
				Compression:       comp,
				ExcludeTable:      c.StringSlice("exclude-table"),
				ExcludeTableData:  c.StringSlice("exclude-table-data"),
				Stop:              c.Bool("stop"),
				IncludeBindMounts: c.Bool("include-bind-mounts"),
				IncludeEnv:        c.Bool("include-env"),
				Export:            c.String("export"),
				Stdout:            env.Stdout,
			}
			rs, err := crypt.Recipients(c.StringSlice("encrypt-to"), c.String("recipients-file"), c.String("passphrase-file"))
			if err != nil {
				return err
			}
			opts.Recipients = rs
			if opts.Sign, err = signingKey(c, "--sign"); err != nil {
				return err
			}
			if opts.Sign != nil && opts.Output == "-" {
				return fmt.Errorf("--sign with -o -: the signature goes beside the archive (NAME.sig), and stdout has nowhere beside it: write to a file, a folder or s3://BUCKET/PREFIX/")
			}
			if names := contextNames(c); len(names) > 0 {
				return runCreateMany(c, env, opts, names, c.Bool("no-wait"), c.Bool("quiet"), c.Bool("json"))
			}
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
	// The index records the engine's name, so that ls and prune tell
	// the hosts that back up into one place apart.
	if info, err := api.Info(c.Context); err == nil {
		opts.Host = info.Name
	}
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
		if res.Signature != "" {
			fmt.Fprintf(env.Stderr, "signed by %s: %s\n", res.SignedBy, res.Signature)
		}
	}
	return nil
}

// EngineResult is one engine's part of create --context.
type EngineResult struct {
	Context string         `json:"context"`
	Host    string         `json:"host,omitempty"`
	Result  *backup.Result `json:"result,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// runCreateMany backs up the project on the engines of several docker
// contexts, in parallel within a bound, into one place. Each engine's
// archive is named with its host; one engine's failure is reported
// without stopping the others, and fails the command.
func runCreateMany(c *cli.Context, env *Env, opts backup.Options, names []string, noWait, quiet, asJSON bool) error {
	if opts.Output == "-" {
		return fmt.Errorf("--context with -o -: each engine writes an archive of its own; give a folder or s3://BUCKET/PREFIX/")
	}
	if storage.IsArchiveName(strings.TrimSuffix(opts.Output, "/")) && !strings.HasSuffix(opts.Output, "/") {
		return fmt.Errorf("--context with -o %s: each engine writes an archive of its own, named after its host; give a folder or s3://BUCKET/PREFIX/", opts.Output)
	}
	rs, err := remotes(env, names)
	if err != nil {
		return err
	}
	log := newLogger(env.Stderr)
	if quiet {
		log = newLogger(nil)
	}
	out := make([]EngineResult, len(rs))
	ids := &engineIDs{}
	g, ctx := errgroup.WithContext(c.Context)
	g.SetLimit(maxEngines)
	for i, r := range rs {
		g.Go(func() error {
			out[i] = createOn(ctx, r, opts, ids, noWait, log.With("context", r.Context))
			return nil
		})
	}
	_ = g.Wait()
	var failed []string
	for _, o := range out {
		if o.Error != "" {
			failed = append(failed, o.Context)
		}
	}
	if asJSON {
		if err := printJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, o := range out {
			switch {
			case o.Error != "":
				fmt.Fprintf(env.Stderr, "context %s: backup FAILED: %s\n", o.Context, o.Error)
			case !quiet:
				fmt.Fprintf(env.Stderr, "context %s (host %s): backup of project %s written to %s (%s)\n", o.Context, o.Host, o.Result.Project, o.Result.Path, backup.HumanBytes(o.Result.Size))
			}
		}
	}
	if c.Context.Err() != nil {
		return c.Context.Err()
	}
	if len(failed) > 0 {
		return fmt.Errorf("the backup failed on %d of %d engines (context %s)", len(failed), len(out), strings.Join(failed, ", "))
	}
	return nil
}

// createOn is create on one engine of a --context list.
func createOn(ctx context.Context, r remote, opts backup.Options, ids *engineIDs, noWait bool, log *slog.Logger) EngineResult {
	res := EngineResult{Context: r.Context}
	host, err := engineName(ctx, r, ids)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Host = host
	opts.Host, opts.NameWithHost = host, true
	opts.Logger, opts.Progress = log, backup.Logged{Log: log}
	opts.Lock = lockWith(r.API, "create", noWait, func(holder, project string) {
		log.Info("waiting for the project's lock", "holder", holder, "project", project)
	})
	opts.JobGone = jobGone(r.API)
	if res.Result, err = backup.Create(ctx, r.API, engine.New(r.API), opts); err != nil {
		res.Error = err.Error()
	}
	return res
}
