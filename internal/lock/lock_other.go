//go:build !(unix && !aix && !solaris)

package lock

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// Without flock(2) there is no lock that the kernel frees when its holder
// dies; rather than a lock that can go stale, say so, and let the caller
// decide whether to go on unlocked.
var errUnsupported = fmt.Errorf("project locks are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func ensureDir(string) error                { return errUnsupported }
func openLockFile(string) (*os.File, error) { return nil, errUnsupported }
func tryLock(*os.File) (bool, error)        { return false, errUnsupported }
func unlock(*os.File) error                 { return errUnsupported }
