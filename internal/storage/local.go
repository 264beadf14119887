package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Local keeps archives in a folder: a path or file://. Archives are
// written under a hidden temporary name beside the final one, synced, then
// linked to their name, mode 0600.
type Local struct {
	dir string
}

// NewLocal is the folder dir; it is created (0700) on the first write.
func NewLocal(dir string) *Local { return &Local{dir: dir} }

func (l *Local) Location() string { return l.dir }

func isExistingDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func (l *Local) path(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, name), nil
}

// partialSuffix ends the temporary files: never mistaken for an archive.
const partialSuffix = ".partial"

func (l *Local) Create(ctx context.Context, name string) (Upload, error) {
	final, err := l.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the destination folder %s: %w", l.dir, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return nil, errorOf(ErrExist, "%s already exists: choose another name with -o", final)
	}
	f, err := os.CreateTemp(l.dir, "."+name+".*"+partialSuffix)
	if err != nil {
		return nil, fmt.Errorf("cannot write to %s: %w", l.dir, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &localUpload{f: f, final: final}, nil
}

type localUpload struct {
	mu     sync.Mutex
	f      *os.File
	final  string
	closed bool
}

func (u *localUpload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", u.final, err)
	}
	return n, err
}

func (u *localUpload) Commit(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return errors.New("the upload is already finished")
	}
	u.closed = true
	fail := func(err error) error {
		u.f.Close()
		os.Remove(u.f.Name())
		return err
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := u.f.Sync(); err != nil {
		return fail(fmt.Errorf("writing %s: %w", u.final, err))
	}
	if err := u.f.Close(); err != nil {
		return fail(fmt.Errorf("writing %s: %w", u.final, err))
	}
	// Link, not rename: never replaces a file that appeared meanwhile.
	// Filesystems without hard links get a rename.
	if err := os.Link(u.f.Name(), u.final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(errorOf(ErrExist, "%s appeared while the backup ran: choose another name with -o", u.final))
		}
		if err := os.Rename(u.f.Name(), u.final); err != nil {
			return fail(fmt.Errorf("cannot create %s: %w", u.final, err))
		}
	} else {
		os.Remove(u.f.Name())
	}
	if dir, err := os.Open(filepath.Dir(u.final)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

func (u *localUpload) Abort(context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	u.f.Close()
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the partial file %s: %w", u.f.Name(), err)
	}
	return nil
}

func (l *Local) open(name string) (*os.File, error) {
	p, err := l.path(name)
	if err != nil {
		return nil, err
	}
	f, err := openRegular(p)
	if err != nil {
		if errors.Is(err, errNotRegular) {
			return nil, notRegular(p)
		}
		return nil, fmt.Errorf("cannot open the archive: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	// The file opened, not the name: what a name pointed at when it was
	// looked at may have changed since.
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(p)
	}
	return f, nil
}

// errNotRegular: the name is a symlink (openRegular does not follow it).
var errNotRegular = errors.New("not a regular file")

// notRegular is the error of a name in the folder that is not a regular
// file: a symlink (to /etc/passwd, say), a folder, a FIFO or a device is
// no archive, whoever put it there, and is never read through. It is
// ErrNotExist: to a client there is no archive of that name.
func notRegular(p string) error {
	return errorOf(ErrNotExist, "%s is not a regular file (a symlink, a folder or a device): not an archive, never read", p)
}

func (l *Local) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return l.open(name)
}

func (l *Local) OpenRange(_ context.Context, name string, off, length int64) (io.ReadCloser, error) {
	f, err := l.open(name)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		f.Close()
		return nil, fmt.Errorf("a negative offset %d", off)
	}
	if length < 0 {
		length = 1<<63 - 1 - off
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, length), f}, nil
}

// File opens name as a file, for readers that need one (a restore reads
// the archive twice).
func (l *Local) File(name string) (*os.File, error) { return l.open(name) }

func (l *Local) Stat(_ context.Context, name string) (Info, error) {
	p, err := l.path(name)
	if err != nil {
		return Info{}, err
	}
	// Lstat: a symlink is not followed, as open does not.
	fi, err := os.Lstat(p)
	if err != nil {
		return Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return Info{}, notRegular(p)
	}
	return Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (l *Local) List(context.Context) ([]Info, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Like an empty prefix of a bucket: nothing was written yet.
			return nil, nil
		}
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		// The entry's own type (lstat): symlinks are not listed, as open
		// does not read through them.
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, Info{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	return out, nil
}

func (l *Local) Delete(_ context.Context, name string) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
