package plugin

import (
	"fmt"
	"io"
	pathpkg "path"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/sign"
)

func inspectCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Show what an archive holds: project, time, services, databases, volumes",
		ArgsUsage: "ARCHIVE|URL",
		Description: `Reads the archive's manifest, at its start (of a stored archive, only that is downloaded). It does not check the content against it:
docker backup verify does.`,
		Flags: append(append(identityFlags(),
			&cli.BoolFlag{Name: "json", Usage: "Print the manifest as JSON on stdout"},
		), append(limitsFlags(), storageFlags()...)...),
		Action: func(c *cli.Context) error {
			lim, err := limits(c)
			if err != nil {
				return err
			}
			path, plain, size, encrypted, closeFile, err := openArchive(c, env, "inspect")
			if err != nil {
				return err
			}
			defer closeFile()
			m, err := archive.ReadManifestWith(c.Context, plain, lim)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", path, err)
			}
			if c.Bool("json") {
				return printJSON(env.Stdout, m)
			}
			return printManifest(env.Stdout, m, size, encrypted, signatureOf(c, path), time.Now())
		},
	}
}

// oneArchive is a command's single ARCHIVE argument.
func oneArchive(c *cli.Context, env *Env, verb string) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("%s needs exactly one ARCHIVE: see '%s %s --help'", verb, env.HelpName, verb)
	}
	return c.Args().First(), nil
}

// signatureOf describes the signature beside an archive for inspect,
// which does not check it.
func signatureOf(c *cli.Context, path string) string {
	sig, err := archiveSignature(c, path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	if sig == nil {
		return "none"
	}
	s, err := sign.ParseSignature(sig)
	if err != nil {
		return "not a valid one: " + err.Error()
	}
	return fmt.Sprintf("%s%s, by key %s (not checked here: docker backup verify --trust checks it)", pathpkg.Base(path), sign.Ext, s.Fingerprint())
}

// printManifest describes an archive for people, as docker's tables do;
// signature says what signature is beside it.
func printManifest(w io.Writer, m *archive.Manifest, size int64, encrypted bool, signature string, now time.Time) error {
	sizes := map[string]int64{}
	for _, f := range m.Files {
		sizes[f.Path] = f.Size
	}
	kind := "hot (databases dumped while running)"
	if m.Cold {
		kind = "cold (services stopped, volumes copied raw)"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Project:\t%s\n", m.Project.Name)
	fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", m.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), now.Sub(m.CreatedAt).Round(time.Second))
	fmt.Fprintf(tw, "Tool version:\t%s\n", m.ToolVersion)
	fmt.Fprintf(tw, "Format version:\t%d\n", m.FormatVersion)
	fmt.Fprintf(tw, "Kind:\t%s\n", kind)
	fmt.Fprintf(tw, "Compression:\t%s\n", m.Compression)
	encryption := "none"
	if encrypted {
		encryption = "age"
	}
	fmt.Fprintf(tw, "Encryption:\t%s\n", encryption)
	if signature != "" {
		fmt.Fprintf(tw, "Signature:\t%s\n", signature)
	}
	fmt.Fprintf(tw, "Size:\t%s\n", backup.HumanBytes(size))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tIMAGE\tRUNNING")
	for _, s := range m.Services {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Image, yesNo(s.Running))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(m.Databases) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "DATABASE\tSERVICE\tSERVER\tFORMAT\tSIZE")
		for _, d := range m.Databases {
			for _, dump := range d.Dumps {
				name := dump.Database
				if dump.Kind == "globals" {
					name = "(roles/users)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\n", name, d.Service, d.Flavor, d.Version, dump.Format, backup.HumanBytes(sizes[dump.Path]))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, d := range m.Databases {
			if len(d.ExcludeTables)+len(d.ExcludeTableData) > 0 {
				fmt.Fprintf(w, "Filters of %s: excluded tables %s; excluded rows %s\n", d.Service, list(d.ExcludeTables), list(d.ExcludeTableData))
			}
		}
	}

	if len(m.Volumes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "VOLUME\tTYPE\tENGINE NAME\tSERVICES\tENTRIES\tSIZE")
		vols := append([]archive.Volume(nil), m.Volumes...)
		sort.Slice(vols, func(i, j int) bool { return vols[i].Name < vols[j].Name })
		for _, v := range vols {
			name := v.Name
			if v.Raw {
				name += " (raw)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", name, v.Type(), v.EngineName, strings.Join(v.Services, ","), v.Entries, backup.HumanBytes(v.Bytes))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// As the manifest records it: verify checks it against the trees.
		for _, v := range vols {
			if v.Special != nil {
				fmt.Fprintf(w, "Volume %s holds %s\n", v.Name, v.Special)
			}
		}
	}
	if len(m.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range m.Notes {
			fmt.Fprintf(w, "Note: %s\n", n)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
