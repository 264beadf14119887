package plugin

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
)

func verifyCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "Check every entry of an archive against its manifest's sizes and SHA-256",
		ArgsUsage: "ARCHIVE",
		Description: `Reads the whole archive, streaming, and checks that nothing is missing,
truncated, corrupt or unlisted. Exits non-zero on any problem.`,
		Flags: append(identityFlags(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Print nothing but errors"},
		),
		Action: func(c *cli.Context) error {
			path, plain, _, encrypted, closeFile, err := openArchive(c, env, "verify")
			if err != nil {
				return err
			}
			defer closeFile()
			m, err := archive.Verify(c.Context, plain)
			if err != nil {
				return fmt.Errorf("%s failed verification: %w", path, err)
			}
			if !c.Bool("quiet") {
				var bytes int64
				for _, file := range m.Files {
					bytes += file.Size
				}
				for _, v := range m.Volumes {
					bytes += v.Bytes
				}
				dumps := 0
				for _, d := range m.Databases {
					dumps += len(d.Dumps)
				}
				how := ""
				if encrypted {
					how = ", decrypted with age"
				}
				fmt.Fprintf(env.Stderr, "%s: OK (project %s, %d dump(s), %d volume(s), %s checked%s)\n", path, m.Project.Name, dumps, len(m.Volumes), backup.HumanBytes(bytes), how)
			}
			return nil
		},
	}
}
