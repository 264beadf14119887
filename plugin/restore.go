package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/moby/term"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/storage"
)

func restoreCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "Restore a compose project's volumes and databases from an archive, with rollback",
		ArgsUsage: "ARCHIVE|URL",
		Description: `Run in the project's folder, like docker compose. The archive is verified
first; then the plan is shown and confirmed, the services are stopped (all
but the databases to load), the current state is backed up (the safety
backup), volumes are replaced and databases reloaded, and everything that
ran is started again. If anything fails, or on Ctrl-C, each volume's old
content, kept aside until then, is put back and the databases are reloaded
from the safety backup. On a host where the
project does not exist yet, it is created with docker compose up --no-start.
An archive in a bucket (s3://BUCKET/PREFIX/NAME) is verified as it is
downloaded into ./backups/ (--download-to), and restored from there.`,
		Flags: append(append(append(projectFlags(), identityFlags()...),
			&cli.StringSliceFlag{Name: "service", Usage: "Restore only the volumes and databases of `SERVICE`"},
			&cli.StringSliceFlag{Name: "database", Usage: "Restore only database `NAME` (no volumes)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "Do not ask for confirmation"},
			&cli.BoolFlag{Name: "dry-run", Usage: "Print the plan and stop"},
			&cli.BoolFlag{Name: "force", Usage: "Load MySQL dumps into MariaDB or the reverse, or restore an archive of another project"},
			&cli.BoolFlag{Name: "no-safety-backup", Usage: "Do not back up the current state first (no rollback possible)"},
			&cli.BoolFlag{Name: "include-bind-mounts", Usage: "Also restore the bind mounts outside the project folder (those in it always are)"},
			preserveSpecialFlag(),
			&cli.StringFlag{Name: "safety-dir", Usage: "Write the safety backup into `DIR` (default ./backups)"},
			&cli.BoolFlag{Name: "no-wait", Usage: "Fail at once if another backup or restore of the project runs"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but the plan and errors"},
			&cli.BoolFlag{Name: "json", Usage: "Print a summary as JSON on stdout"},
			&cli.StringFlag{Name: "download-to", Usage: "Download a stored archive into `DIR` (default ./backups)"},
			&cli.BoolFlag{Name: "no-local-copy", Usage: "Remove the downloaded archive once the restore ends"},
			trustFlag("Its signature is ARCHIVE.sig (in a bucket, NAME.sig or the index's copy); an archive without one, or signed by another key, is refused before anything is read."),
		), append(limitsFlags(), storageFlags()...)...),
		Action: func(c *cli.Context) error {
			path, err := oneArchive(c, env, "restore")
			if err != nil {
				return err
			}
			ids, err := identities(c)
			if err != nil {
				return err
			}
			lim, err := limits(c)
			if err != nil {
				return err
			}
			trust, err := trustList(c)
			if err != nil {
				return err
			}
			var fetched *restore.Fetched
			if storage.IsURL(path) {
				if fetched, err = download(c, env, path, ids, lim, trust); err != nil {
					return err
				}
				if c.Bool("no-local-copy") {
					defer fetched.Discard()
				}
				path = fetched.Path
			}
			po := projectOptions(c)
			opts := restore.Options{
				Project:           po,
				NameGiven:         po.Name != "" || os.Getenv("COMPOSE_PROJECT_NAME") != "",
				Archive:           path,
				Fetched:           fetched,
				Services:          c.StringSlice("service"),
				Databases:         c.StringSlice("database"),
				Yes:               c.Bool("yes"),
				DryRun:            c.Bool("dry-run"),
				Force:             c.Bool("force"),
				NoSafetyBackup:    c.Bool("no-safety-backup"),
				SafetyDir:         c.String("safety-dir"),
				IncludeBindMounts: c.Bool("include-bind-mounts"),
				PreserveSpecial:   c.Bool("preserve-special"),
				Events:            textEvents(env.Stderr),
				Compose:           composeRunner(env, po),
			}
			opts.Identities = ids
			opts.Limits = lim
			opts.Trust = trust
			return runRestore(c, env, opts, c.Bool("no-wait"), c.Bool("quiet"), c.Bool("json"))
		},
	}
}

// preserveSpecialFlag is restore's, standby's and promote's: a restore
// that trusts the archive with what could give the app's users more than
// the app has.
func preserveSpecialFlag() cli.Flag {
	return &cli.BoolFlag{Name: "preserve-special", Usage: "Restore setuid and setgid bits, file capabilities, devices and fifos as archived (by default bits and capabilities are dropped and devices refused, unless the archive is signed by a trusted key)"}
}

func runRestore(c *cli.Context, env *Env, opts restore.Options, noWait, quiet, asJSON bool) error {
	var wait func()
	opts.Progress, opts.Logger, wait = reporting(env, quiet)
	defer wait()
	if f, ok := askable(env); ok {
		opts.Confirm = func(q string) (bool, error) { return confirm(c.Context, env.Stderr, f, q) }
	}
	api, err := env.Client(c.Context)
	if err != nil {
		return err
	}
	opts.Lock = projectLock(env, api, "restore", noWait)
	opts.JobGone = jobGone(api)
	res, err := restore.Restore(c.Context, api, engine.New(api), opts)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(env.Stdout, res)
	}
	if !quiet && !res.DryRun {
		fmt.Fprintf(env.Stderr, "project %s restored from %s\n", res.Project, res.Archive)
		if res.SafetyBackup != "" {
			fmt.Fprintf(env.Stderr, "the state before the restore is kept in %s\n", res.SafetyBackup)
		}
	}
	return nil
}

// download fetches a stored archive into --download-to (./backups),
// verified on the way.
func download(c *cli.Context, env *Env, url string, ids []age.Identity, lim archive.Limits, trust *sign.Trust) (*restore.Fetched, error) {
	store, name, err := storedArchive(c, url)
	if err != nil {
		return nil, err
	}
	dir := c.String("download-to")
	if dir == "" {
		wd, err := workDir(c)
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(wd, backup.DefaultDir)
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(env.Stderr, "downloading %s/%s into %s, verifying it on the way\n", store.Location(), name, dir)
	}
	f, err := restore.Fetch(c.Context, store, name, dir, restore.VerifyOptions{Identities: ids, Limits: lim, Trust: trust})
	if err != nil {
		return nil, err
	}
	if f.Reused && !c.Bool("quiet") {
		fmt.Fprintf(env.Stderr, "%s holds the same archive already (same SHA-256): not downloaded again\n", f.Path)
	}
	return f, nil
}

// askable is stdin when someone can be asked a question there: stdin and
// stderr are terminals.
func askable(env *Env) (*os.File, bool) {
	f, ok := env.Stdin.(*os.File)
	return f, ok && env.Terminal != nil && term.IsTerminal(f.Fd())
}

// confirm asks a yes/no question on the terminal; no is the default. Ctrl-C
// ends the wait at once: the line is read in the background, since a read
// from a terminal cannot be interrupted, and the process exits soon after.
func confirm(ctx context.Context, w io.Writer, in io.Reader, question string) (bool, error) {
	fmt.Fprintf(w, "%s [y/N] ", question)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(in).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return false, fmt.Errorf("restore interrupted at the confirmation, nothing was changed: %w", ctx.Err())
	case line := <-answer:
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}
}

// composeRunner runs docker compose with the project's flags, against the
// engine this command talks to, its output on stderr.
func composeRunner(env *Env, po project.Options) func(ctx context.Context, args ...string) error {
	return func(ctx context.Context, args ...string) error {
		docker := os.Getenv("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
		if docker == "" {
			docker = "docker"
		}
		var a []string
		if env.DockerArgs != nil {
			a = append(a, env.DockerArgs()...)
		}
		a = append(a, "compose")
		for _, f := range po.Files {
			a = append(a, "--file", f)
		}
		if po.Name != "" {
			a = append(a, "--project-name", po.Name)
		}
		if po.ProjectDir != "" {
			a = append(a, "--project-directory", po.ProjectDir)
		}
		for _, f := range po.EnvFiles {
			a = append(a, "--env-file", f)
		}
		for _, p := range po.Profiles {
			a = append(a, "--profile", p)
		}
		a = append(a, args...)
		cmd := exec.CommandContext(ctx, docker, a...)
		cmd.Dir = po.WorkingDir
		cmd.Stdout = env.Stderr
		cmd.Stderr = env.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("docker compose %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
}
