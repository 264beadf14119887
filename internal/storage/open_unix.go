//go:build unix

package storage

import (
	"errors"
	"os"
	"syscall"
)

// openRegular opens p to read it without following a symlink in its last
// component (O_NOFOLLOW) and without blocking on a FIFO (O_NONBLOCK, which
// regular files ignore); the caller checks what it opened is a regular
// file.
func openRegular(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errNotRegular
	}
	return f, err
}
