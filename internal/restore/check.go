package restore

import (
	"context"
	"crypto/sha256"
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
	// Limits bound the archive's entries and their depth
	// (archive.OpenWith); zero for the defaults.
	Limits archive.Limits
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
	dc := &dumpChecks{}
	m, err := archive.VerifyWith(ctx, r, archive.VerifyOptions{Check: dc.check, Manifest: check.Manifest, Limits: vo.Limits})
	if err != nil {
		return nil, sign.Status{}, err
	}
	st, err := check.Status()
	if err != nil {
		return nil, sign.Status{}, err
	}
	return m, st, nil
}

// dumpChecks makes the checks of one verification. They find what the
// manifest does with their file in one index, built once: a check per
// file looking through every dump would take time in the square of their
// number, which a hostile archive chooses.
type dumpChecks struct {
	m     *archive.Manifest
	index map[[sha256.Size]byte]dumpUse
}

// dumpUse is what the manifest does with a file under databases/.
type dumpUse struct {
	engine, flavor string
	dump           archive.Dump
}

// pathKey stands for a file's path: a check keeps 32 bytes, not the
// path, whatever its length.
func pathKey(path string) [sha256.Size]byte { return sha256.Sum256([]byte(path)) }

// use is what m does with the file of key k; false when it is no dump.
func (d *dumpChecks) use(m *archive.Manifest, k [sha256.Size]byte) (dumpUse, bool) {
	if d.m != m {
		d.m, d.index = m, map[[sha256.Size]byte]dumpUse{}
		for _, db := range m.Databases {
			for _, dump := range db.Dumps {
				if _, dup := d.index[pathKey(dump.Path)]; !dup {
					d.index[pathKey(dump.Path)] = dumpUse{engine: db.Engine, flavor: db.Flavor, dump: dump}
				}
			}
		}
	}
	u, ok := d.index[k]
	return u, ok
}

// check checks each file under databases/: which client it goes to
// is only known from the manifest, at the end, so a file is read as both
// clients read it (a check stops at its first finding), unless it is a
// pg_dump custom-format file, which goes to pg_restore.
func (d *dumpChecks) check(path string) archive.ContentCheck {
	if !strings.HasPrefix(path, archive.DatabasesDir) {
		return nil
	}
	// The checkers name the file in their errors: shortened, as every
	// name taken from an archive.
	name := archive.Short(path)
	return &dumpCheck{
		set:  d,
		key:  pathKey(path),
		name: name,
		pg:   dbdump.NewChecker(dbdump.PSQL, name),
		my:   dbdump.NewChecker(dbdump.MySQLClient, name),
	}
}

// pgCustomMagic starts every pg_dump custom-format file.
const pgCustomMagic = "PGDMP"

type dumpCheck struct {
	set    *dumpChecks
	key    [sha256.Size]byte
	name   string
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
	u, ok := c.set.use(m, c.key)
	if !ok {
		return nil
	}
	dialect, ok := clientOf(u.engine, u.dump)
	if !ok {
		return nil // pg_restore reads it: SQL only reaches the server
	}
	chk := c.pg
	if dialect == dbdump.MySQLClient {
		chk = c.my
	}
	if c.custom {
		return fmt.Errorf("%w: %s is a pg_dump custom-format file, but the manifest gives it to the %s client as SQL", archive.ErrInvalid, c.name, archive.Short(u.flavor))
	}
	if err := chk.Close(); err != nil {
		return fmt.Errorf("%w: %w", archive.ErrInvalid, err)
	}
	return nil
}
