package restore

import (
	"context"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/dbdump"
)

// VerifyOptions are what a verification needs besides the archive.
type VerifyOptions struct {
	// Identities open an encrypted archive (age): Fetch and Receive
	// decrypt with them; Verify reads a plain stream.
	Identities []age.Identity
	// Limits bound the archive's entries and their depth
	// (archive.OpenWith); zero for the defaults.
	Limits archive.Limits
}

// Verify checks an archive as a restore does before it changes anything:
// every entry against the manifest (archive.Verify), and every dump that
// goes to a database client (psql, mysql) for anything the client would
// run besides SQL. `docker backup verify` runs the same checks. r is the
// plain (decrypted) stream.
func Verify(ctx context.Context, r io.Reader, vo VerifyOptions) (*archive.Manifest, error) {
	return archive.VerifyWith(ctx, r, archive.VerifyOptions{Check: checkDump, Limits: vo.Limits})
}

// checkDump checks each file under databases/: which client it goes to
// is only known from the manifest, at the end, so a file is read as both
// clients read it (a check stops at its first finding), unless it is a
// pg_dump custom-format file, which goes to pg_restore.
func checkDump(path string) archive.ContentCheck {
	if !strings.HasPrefix(path, archive.DatabasesDir) {
		return nil
	}
	return &dumpCheck{
		path: path,
		pg:   dbdump.NewChecker(dbdump.PSQL, path),
		my:   dbdump.NewChecker(dbdump.MySQLClient, path),
	}
}

// pgCustomMagic starts every pg_dump custom-format file.
const pgCustomMagic = "PGDMP"

type dumpCheck struct {
	path   string
	pg, my *dbdump.Checker
	head   []byte
	custom bool
}

func (c *dumpCheck) Write(p []byte) (int, error) {
	if len(c.head) < len(pgCustomMagic) {
		n := min(len(pgCustomMagic)-len(c.head), len(p))
		c.head = append(c.head, p[:n]...)
		if string(c.head) == pgCustomMagic {
			c.custom = true
		}
	}
	if !c.custom {
		c.pg.Write(p)
		c.my.Write(p)
	}
	return len(p), nil
}

// Result judges the file for the client the manifest sends it to.
func (c *dumpCheck) Result(m *archive.Manifest) error {
	for _, d := range m.Databases {
		for _, dump := range d.Dumps {
			if dump.Path != c.path {
				continue
			}
			dialect, ok := clientOf(d.Engine, dump)
			if !ok {
				return nil // pg_restore reads it: SQL only reaches the server
			}
			chk := c.pg
			if dialect == dbdump.MySQLClient {
				chk = c.my
			}
			if c.custom {
				return fmt.Errorf("%w: %s is a pg_dump custom-format file, but the manifest gives it to the %s client as SQL", archive.ErrInvalid, c.path, d.Flavor)
			}
			if err := chk.Close(); err != nil {
				return fmt.Errorf("%w: %w", archive.ErrInvalid, err)
			}
			return nil
		}
	}
	return nil
}
