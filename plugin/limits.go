package plugin

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/docker-backup/docker-backup/internal/archive"
)

// limitsFlags bound what a command accepts of an archive it reads
// (archive.Limits): the defaults take any archive this tool writes of
// up to 10 million files.
func limitsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "max-entries", Value: archive.DefaultMaxEntries, Usage: "Refuse archives of more than `N` entries; each costs about 64 bytes of memory while it is verified"},
		&cli.IntFlag{Name: "max-depth", Value: archive.DefaultMaxDepth, Usage: "Refuse archives with paths of more than `N` folders"},
	}
}

// limits reads limitsFlags.
func limits(c *cli.Context) (archive.Limits, error) {
	l := archive.Limits{MaxEntries: int64(c.Int("max-entries")), MaxDepth: c.Int("max-depth")}
	if err := l.Check(); err != nil {
		return archive.Limits{}, fmt.Errorf("--max-entries, --max-depth: %w", err)
	}
	return l, nil
}
