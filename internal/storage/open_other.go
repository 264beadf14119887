//go:build !unix

package storage

import "os"

// openRegular opens p to read it, refusing a symlink; without O_NOFOLLOW
// the check comes before the open, and the caller checks what it opened is
// a regular file.
func openRegular(p string) (*os.File, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, errNotRegular
	}
	return os.Open(p)
}
