package plugin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // --tz in an image FROM scratch, which has no zoneinfo

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// location opens a command's optional LOCATION argument: a folder or a
// bucket and prefix; ./backups without one.
func location(c *cli.Context, env *Env, verb string) (storage.Backend, error) {
	if c.NArg() > 1 {
		return nil, fmt.Errorf("%s takes at most one LOCATION: see '%s %s --help'", verb, env.HelpName, verb)
	}
	wd, err := workDir(c)
	if err != nil {
		return nil, err
	}
	arg := c.Args().First()
	if arg == "" {
		arg = filepath.Join(wd, backup.DefaultDir)
	}
	loc, err := storage.Parse(arg, wd, storage.Folder)
	if err != nil {
		return nil, err
	}
	cfg, err := storageConfig(c)
	if err != nil {
		return nil, err
	}
	return storage.For(loc, cfg)
}

func lsCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Aliases:   []string{"list"},
		Usage:     "List the archives in a folder or a bucket, newest first",
		ArgsUsage: "[LOCATION]",
		Description: `LOCATION is a folder (default ./backups), file:///path or s3://BUCKET/PREFIX.
Only the archives' indexes are read, never the archives. An archive without
an index (not written by this tool, or replaced since) is listed as foreign:
prune never deletes it.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "project", Usage: "Only the archives of project `NAME`"},
			&cli.BoolFlag{Name: "json", Usage: "Print the list as JSON on stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print only the names"},
			contextsFlag("only the archives of those engines' hosts"),
		}, storageFlags()...),
		Action: func(c *cli.Context) error {
			store, err := location(c, env, "ls")
			if err != nil {
				return err
			}
			out, err := storage.Listing(c.Context, store, c.String("project"))
			if err != nil {
				return err
			}
			if names := contextNames(c); len(names) > 0 {
				if out, err = onHosts(c.Context, env, names, out); err != nil {
					return err
				}
			}
			if c.Bool("json") {
				return printJSON(env.Stdout, out)
			}
			if c.Bool("quiet") {
				for _, l := range out {
					fmt.Fprintln(env.Stdout, l.Name)
				}
				return nil
			}
			if len(out) == 0 {
				fmt.Fprintf(env.Stderr, "no archives in %s\n", store.Location())
			}
			return printList(env.Stdout, out, time.Now())
		},
	}
}

func printList(w io.Writer, out []storage.Listed, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	// The host column shows when several hosts back up into one place.
	hosts := map[string]bool{}
	for _, l := range out {
		if !l.Foreign {
			hosts[l.Host] = true
		}
	}
	withHost := len(hosts) > 1
	if withHost {
		fmt.Fprint(tw, "HOST\t")
	}
	fmt.Fprintln(tw, "NAME\tPROJECT\tCREATED\tSIZE\tENCRYPTED\tNOTE")
	for _, l := range out {
		if withHost {
			h := l.Host
			if h == "" {
				h = "-"
			}
			fmt.Fprint(tw, h+"\t")
		}
		proj, note := l.Project, ""
		switch {
		case l.Foreign:
			proj, note = "-", "foreign ("+l.Why+"): never pruned"
		case l.SafetyBackup:
			note = "safety backup taken by a restore"
		}
		created := l.CreatedAt.Format("2006-01-02 15:04:05 UTC") + " (" + units.HumanDuration(now.Sub(l.CreatedAt)) + " ago)"
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Name, proj, created, backup.HumanBytes(l.Size), yesNo(l.Encrypted), note)
	}
	return tw.Flush()
}

func pruneCommand(env *Env) *cli.Command {
	flags := projectFlags()
	for _, f := range flags {
		if s, ok := f.(*cli.StringFlag); ok && s.Name == "project-name" {
			s.Aliases = append(s.Aliases, "project")
		}
	}
	return &cli.Command{
		Name:      "prune",
		Usage:     "Delete a project's old archives from a folder or a bucket, keeping the newest of each hour, day, week, month, year",
		ArgsUsage: "[LOCATION]",
		Description: `LOCATION is a folder (default ./backups), file:///path or s3://BUCKET/PREFIX.
Retention counts archives, not ages: --keep-daily 7 keeps the newest archive
of each of the 7 most recent days that have one, however long ago they are,
so missed backups never make a prune delete the good ones that remain. An
archive is kept when any rule keeps it. Only the archives this tool wrote
for the project (those with its index) are candidates; the newest is never
deleted; safety backups taken by restores are a series of their own.
Asks before deleting, on a terminal; --force (-y) does not ask.`,
		Flags: append(append(flags,
			&cli.IntFlag{Name: "keep-last", Usage: "Keep the `N` newest archives"},
			&cli.IntFlag{Name: "keep-hourly", Usage: "Keep the newest archive of each of the last `N` hours that have one"},
			&cli.IntFlag{Name: "keep-daily", Usage: "Keep the newest archive of each of the last `N` days that have one"},
			&cli.IntFlag{Name: "keep-weekly", Usage: "Keep the newest archive of each of the last `N` weeks (ISO, Monday first) that have one"},
			&cli.IntFlag{Name: "keep-monthly", Usage: "Keep the newest archive of each of the last `N` months that have one"},
			&cli.IntFlag{Name: "keep-yearly", Usage: "Keep the newest archive of each of the last `N` years that have one"},
			&cli.StringFlag{Name: "tz", Usage: "Cut days, weeks, months in time `ZONE` (e.g. Europe/Berlin; default: the local one, TZ)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "Print what would be kept and deleted, delete nothing"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"yes", "y"}, Usage: "Do not ask for confirmation"},
			&cli.BoolFlag{Name: "json", Usage: "Print the decisions as JSON on stdout"},
		), storageFlags()...),
		Action: func(c *cli.Context) error {
			loc := time.Local
			if tz := c.String("tz"); tz != "" {
				var err error
				if loc, err = time.LoadLocation(tz); err != nil {
					return fmt.Errorf("--tz %q: %w", tz, err)
				}
			}
			policy := retention.Policy{
				Last: c.Int("keep-last"), Hourly: c.Int("keep-hourly"), Daily: c.Int("keep-daily"),
				Weekly: c.Int("keep-weekly"), Monthly: c.Int("keep-monthly"), Yearly: c.Int("keep-yearly"),
				Location: loc,
			}
			po := projectOptions(c)
			name, err := project.Name(c.Context, po)
			if err != nil {
				return err
			}
			store, err := location(c, env, "prune")
			if err != nil {
				return err
			}
			plan, err := retention.Plan(c.Context, store, retention.PruneOptions{Project: name, Policy: policy})
			if err != nil {
				return err
			}
			return runPrune(c, env, store, plan)
		},
	}
}

// pruneResult is what prune --json prints.
type pruneResult struct {
	*retention.PrunePlan
	DryRun  bool                `json:"dryRun,omitempty"`
	Deleted []retention.Deleted `json:"deleted"`
}

func runPrune(c *cli.Context, env *Env, store storage.Backend, plan *retention.PrunePlan) error {
	asJSON := c.Bool("json")
	dels := plan.Deletions()
	if !asJSON {
		printPrunePlan(env.Stderr, plan)
	}
	res := &pruneResult{PrunePlan: plan, DryRun: c.Bool("dry-run"), Deleted: []retention.Deleted{}}
	if c.Bool("dry-run") || len(dels) == 0 {
		if asJSON {
			return printJSON(env.Stdout, res)
		}
		if len(dels) == 0 {
			fmt.Fprintln(env.Stderr, "nothing to delete")
		}
		return nil
	}
	if !c.Bool("force") {
		f, ok := askable(env)
		if !ok {
			return fmt.Errorf("prune deletes %d archive(s): confirm with --force (-y) when not on a terminal, or look first with --dry-run", len(dels))
		}
		yes, err := confirm(c.Context, env.Stderr, f, fmt.Sprintf("Delete %d archive(s) of project %s from %s?", len(dels), plan.Project, plan.Location))
		if err != nil {
			return err
		}
		if !yes {
			return fmt.Errorf("prune not confirmed: nothing was deleted")
		}
	}
	deleted, err := retention.Execute(c.Context, store, plan)
	res.Deleted = deleted
	if asJSON {
		if jerr := printJSON(env.Stdout, res); jerr != nil {
			return jerr
		}
	} else {
		n := 0
		for _, d := range deleted {
			if d.Error == "" {
				n++
			}
		}
		fmt.Fprintf(env.Stderr, "%d archive(s) deleted from %s\n", n, plan.Location)
	}
	return err
}

func printPrunePlan(w io.Writer, plan *retention.PrunePlan) {
	fmt.Fprintf(w, "prune of project %s in %s (%s):\n", plan.Project, plan.Location, plan.Policy)
	series := func(title string, ds []retention.Decision) {
		if len(ds) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, d := range ds {
			if d.Keep {
				fmt.Fprintf(tw, "  keep\t%s\t%s\n", d.Name, strings.Join(d.Reasons, ", "))
			} else {
				fmt.Fprintf(tw, "  delete\t%s\t\n", d.Name)
			}
		}
		tw.Flush()
	}
	series("backups", plan.Backups)
	series("safety backups taken by restores", plan.SafetyBackups)
	if len(plan.Backups)+len(plan.SafetyBackups) == 0 {
		fmt.Fprintf(w, "  no archive of project %s\n", plan.Project)
	}
	for _, f := range plan.Foreign {
		fmt.Fprintf(w, "  leave\t%s (no index of this tool: never pruned)\n", f)
	}
}

// onHosts keeps the archives written on the engines of the contexts.
func onHosts(ctx context.Context, env *Env, contexts []string, in []storage.Listed) ([]storage.Listed, error) {
	rs, err := remotes(env, contexts)
	if err != nil {
		return nil, err
	}
	hosts := map[string]bool{}
	for _, r := range rs {
		h, err := engineName(ctx, r, nil)
		if err != nil {
			return nil, err
		}
		hosts[h] = true
	}
	out := []storage.Listed{}
	for _, l := range in {
		if hosts[l.Host] {
			out = append(out, l)
		}
	}
	return out, nil
}
