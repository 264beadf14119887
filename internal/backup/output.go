package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/crypt"
)

// DefaultDir is where archives go without -o, relative to the working dir.
const DefaultDir = "backups"

// destination is where an archive is being written: a temporary file beside
// the final name, renamed only once everything succeeded, or stdout.
type destination struct {
	w      *byteCounter
	file   *os.File
	final  string
	stdout bool
}

// byteCounter counts what goes to the destination.
type byteCounter struct {
	w io.Writer
	n int64
}

func (b *byteCounter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
}

// written is the archive file's size so far.
func (d *destination) written() int64 { return d.w.n }

// ArchiveName is <project>-<UTC time><ext>, the name archives get by default.
func ArchiveName(project string, t time.Time, ext string) string {
	return project + "-" + t.UTC().Format("20060102T150405Z") + ext
}

// ext is the archive file's extension: the compression's, then .age when
// encrypted.
func ext(c archive.Compression, encrypted bool) string {
	if encrypted {
		return c.Ext() + crypt.Ext
	}
	return c.Ext()
}

// openDestination resolves -o: "" (./backups/), "-" (stdout), an existing
// folder or a name ending in "/" (a folder), or a file name.
func openDestination(output, workDir, project string, now time.Time, ext string, stdout io.Writer) (*destination, error) {
	if output == "-" {
		return &destination{w: &byteCounter{w: stdout}, stdout: true, final: "-"}, nil
	}
	name := ArchiveName(project, now, ext)
	var final string
	switch {
	case output == "":
		final = filepath.Join(workDir, DefaultDir, name)
	default:
		// Before Join, which drops the trailing separator.
		isDir := strings.HasSuffix(output, string(filepath.Separator))
		if !filepath.IsAbs(output) {
			output = filepath.Join(workDir, output)
		}
		if fi, err := os.Stat(output); (err == nil && fi.IsDir()) || isDir {
			final = filepath.Join(output, name)
		} else {
			final = output
		}
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the destination folder %s: %w", dir, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%s already exists: choose another name with -o", final)
	}
	// A dot-name that does not end like an archive: never mistaken for one.
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("cannot write to %s: %w", dir, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &destination{w: &byteCounter{w: f}, file: f, final: final}, nil
}

// commit makes the archive visible under its final name: fsync, rename,
// fsync the folder.
func (d *destination) commit() error {
	if d.stdout {
		return nil
	}
	if err := d.file.Sync(); err != nil {
		return d.fail(fmt.Errorf("writing %s: %w", d.final, err))
	}
	if err := d.file.Close(); err != nil {
		return d.fail(fmt.Errorf("writing %s: %w", d.final, err))
	}
	// Link, not rename: never replaces a file that appeared meanwhile.
	// Filesystems without hard links get a rename.
	if err := os.Link(d.file.Name(), d.final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return d.fail(fmt.Errorf("%s appeared while the backup ran: choose another name with -o", d.final))
		}
		if err := os.Rename(d.file.Name(), d.final); err != nil {
			return d.fail(fmt.Errorf("cannot create %s: %w", d.final, err))
		}
	} else {
		os.Remove(d.file.Name())
	}
	if dir, err := os.Open(filepath.Dir(d.final)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// fail removes the partial file and returns err.
func (d *destination) fail(err error) error {
	if d.file != nil {
		d.file.Close()
		os.Remove(d.file.Name())
	}
	return err
}
