package restore

import (
	"context"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/sign"
)

// VerifyOptions are what a verification needs besides the archive.
type VerifyOptions struct {
	// Identities open an encrypted archive (age): Fetch and Receive
	// decrypt with them; Verify reads a plain stream.
	Identities []age.Identity
	// Trust are the keys the archive must be signed by; nil for no
	// trust list (an archive that comes with a signature is still
	// checked against it).
	Trust *sign.Trust
	// Signature is the archive's (the armored NAME.sig); nil for none.
	// Fetch reads it from the storage when it is nil.
	Signature []byte
}

// Admit decides from the signature alone, before a byte of the archive
// is read, whether it may be: with a trust list it must be signed by one
// of its keys (sign.ErrUnsigned, sign.ErrUntrusted).
func (vo VerifyOptions) Admit() (*sign.Check, error) {
	return vo.Trust.Admit(vo.Signature)
}

// Verify checks an archive as a restore does before it changes anything:
// its signature (VerifyOptions.Trust), every entry against the manifest
// (archive.Verify), and every dump that goes to a database client (psql,
// mysql) for anything the client would run besides SQL. `docker backup
// verify` runs the same checks. r is the plain (decrypted) stream.
func Verify(ctx context.Context, r io.Reader, vo VerifyOptions) (*archive.Manifest, error) {
	m, _, err := VerifySigned(ctx, r, vo)
	return m, err
}

// VerifySigned is Verify, and says how the archive was signed. An
// archive the trust list refuses is refused before r is read; the
// signature is checked over manifest.json's bytes as verification
// reaches them (sign.ErrBadSignature).
func VerifySigned(ctx context.Context, r io.Reader, vo VerifyOptions) (*archive.Manifest, sign.Status, error) {
	check, err := vo.Admit()
	if err != nil {
		return nil, sign.Status{}, err
	}
	m, err := archive.VerifyWith(ctx, r, archive.VerifyOptions{Check: checkDump, Manifest: check.Manifest})
	if err != nil {
		return nil, sign.Status{}, err
	}
	st, err := check.Status()
	if err != nil {
		return nil, sign.Status{}, err
	}
	return m, st, nil
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
