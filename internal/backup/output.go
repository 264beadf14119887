package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/crypt"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// DefaultDir is where archives go without -o, relative to the working dir.
const DefaultDir = "backups"

// destination is where an archive is being written: an upload to a
// storage, visible only once committed, or stdout. w counts (and, for a
// storage, hashes) what goes through, for the result and the index.
type destination struct {
	w      io.Writer
	digest *storage.Digest
	up     storage.Upload
	store  storage.Backend
	name   string
	final  string
	stdout bool
	// sig is the signature's upload, beside the archive, committed
	// right after it; nil for an unsigned archive.
	sig     storage.Upload
	sigData []byte
}

// written is the archive file's size so far.
func (d *destination) written() int64 { return d.digest.Size() }

// ArchiveName is <project>-<UTC time><ext>, the name archives get by default.
func ArchiveName(project string, t time.Time, ext string) string {
	return project + "-" + t.UTC().Format("20060102T150405Z") + ext
}

// HostPrefix is how a host's name starts an archive's name: letters,
// digits, dots and dashes kept, anything else a dash, then "_".
func HostPrefix(host string) string {
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return strings.TrimLeft(string(b), ".") + "_"
}

// ext is the archive file's extension: the compression's, then .age when
// encrypted.
func ext(c archive.Compression, encrypted bool) string {
	if encrypted {
		return c.Ext() + crypt.Ext
	}
	return c.Ext()
}

// openDestination resolves -o: "" (./backups/), "-" (stdout), a folder
// (an existing one, a name ending in "/", or a URL whose last element is
// not an archive name), or an archive's name; a path, file:// or s3://.
func openDestination(ctx context.Context, output, workDir, project string, now time.Time, ext string, stdout io.Writer, cfg storage.Config) (*destination, error) {
	if output == "-" {
		digest := storage.NewDigest(false)
		return &destination{w: io.MultiWriter(stdout, digest), digest: digest, stdout: true, final: "-"}, nil
	}
	if output == "" {
		output = filepath.Join(workDir, DefaultDir) + string(filepath.Separator)
	}
	loc, err := storage.Parse(output, workDir, storage.FolderOrObject)
	if err != nil {
		return nil, err
	}
	if loc.Name == "" {
		loc.Name = ArchiveName(project, now, ext)
	}
	store, err := storage.For(loc, cfg)
	if err != nil {
		return nil, err
	}
	up, err := store.Create(ctx, loc.Name)
	if err != nil {
		return nil, err
	}
	digest := storage.NewDigest(true)
	return &destination{w: io.MultiWriter(up, digest), digest: digest, up: up, store: store, name: loc.Name, final: loc.String()}, nil
}

// signWith writes the archive's signature beside it, under a temporary
// name until commit: the archive is whole by then (its manifest is
// written), not yet visible.
func (d *destination) signWith(ctx context.Context, sig []byte) error {
	if d.stdout {
		return errors.New("a signed archive cannot go to stdout")
	}
	name := d.name + storage.SignatureSuffix
	// Not cancelled with the backup: committed after the archive, it
	// must not be cut off by a cancel that came in between. A failure
	// aborts it explicitly.
	uctx := context.WithoutCancel(ctx)
	// A stale signature of a deleted archive of the same name goes first.
	if err := d.store.Delete(ctx, name); err != nil {
		return fmt.Errorf("writing the signature %s: %w", name, err)
	}
	up, err := d.store.Create(uctx, name)
	if err != nil {
		return fmt.Errorf("writing the signature %s: %w", name, err)
	}
	d.sig, d.sigData = up, sig
	if _, err := up.Write(sig); err != nil {
		return fmt.Errorf("writing the signature %s: %w", name, err)
	}
	return nil
}

// commit makes the archive visible under its final name, then its
// signature. A signature that cannot be committed fails the backup and
// takes the archive with it: an archive meant to be signed that comes
// without its signature would be refused where it is needed.
func (d *destination) commit(ctx context.Context) error {
	if d.stdout {
		return nil
	}
	if err := d.up.Commit(ctx); err != nil {
		return err
	}
	if d.sig == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := d.sig.Commit(sctx); err != nil {
		err = fmt.Errorf("the archive was written, but not its signature %s%s: %w", d.name, storage.SignatureSuffix, err)
		if derr := d.store.Delete(sctx, d.name); derr != nil {
			return errors.Join(err, fmt.Errorf("and the unsigned archive %s could not be removed: %w: delete it by hand", d.final, derr))
		}
		return fmt.Errorf("%w: the archive was removed, nothing was written", err)
	}
	return nil
}

// fail removes what was written and returns err; it runs after a cancel
// too.
func (d *destination) fail(ctx context.Context, err error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if d.sig != nil {
		if aerr := d.sig.Abort(actx); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	if d.up != nil {
		if aerr := d.up.Abort(actx); aerr != nil {
			return errors.Join(err, aerr)
		}
	}
	return err
}

// index writes the archive's index beside it, for ls and prune. The
// archive is committed by then: a cancel (SIGTERM to the daemon, Ctrl-C)
// must not leave it without its index, listed as foreign and never pruned.
func (d *destination) index(ctx context.Context, m *archive.Manifest, res *Result, safety bool) error {
	if d.stdout {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	ix := storage.Index{
		Archive: d.name, Project: m.Project.Name, Host: res.Host, CreatedAt: m.CreatedAt, Size: d.digest.Size(),
		SHA256: d.digest.SHA256(), Encrypted: res.Encrypted,
		Compression: string(m.Compression), Cold: m.Cold, ToolVersion: m.ToolVersion, Safety: safety,
		Signature: string(d.sigData),
	}
	for _, e := range res.Entries {
		ix.Entries = append(ix.Entries, storage.IndexEntry{Kind: e.Kind, Name: e.Path, Size: e.Size})
	}
	return storage.WriteIndex(ctx, d.store, ix)
}
