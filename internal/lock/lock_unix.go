//go:build unix && !aix && !solaris

package lock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ensureDir creates dir private to us, or checks that an existing one is.
func ensureDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cannot create the lock directory: %w", err)
	}
	// An existing directory may have been made by anyone, since the
	// fallback parent is shared; only these checks make it acceptable.
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("cannot check the lock directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link; remove it", ErrUnsafeDir, dir)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory; remove it", ErrUnsafeDir, dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot tell who owns %s", ErrUnsafeDir, dir)
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%w: %s is owned by uid %d, not by you (uid %d); remove it", ErrUnsafeDir, dir, st.Uid, uid)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by its group or by others (mode %04o); run chmod 700 on it", ErrUnsafeDir, dir, perm)
	}
	return nil
}

// openLockFile opens (creating it if needed) the lock file without following
// a symbolic link: the directory is ours, but a link planted before we
// checked it, or by a careless tool, must not make us lock or truncate some
// other file.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		// O_NOFOLLOW fails with ELOOP, EMLINK or EFTYPE depending on the
		// system; look rather than guess which.
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: the lock file %s is a symbolic link; remove it", ErrUnsafeDir, path)
		}
		return nil, fmt.Errorf("cannot open the lock file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot check the lock file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file; remove it", ErrUnsafeDir, path)
	}
	return f, nil
}

// tryLock takes an exclusive flock without blocking; false means someone else
// holds it. The lock belongs to the open file description, so a second
// open of the same file conflicts even inside one process.
func tryLock(f *os.File) (bool, error) {
	err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func unlock(f *os.File) error {
	return flock(f, syscall.LOCK_UN)
}

// flock goes through SyscallConn rather than f.Fd(), which would switch the
// file to blocking mode as a side effect.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
