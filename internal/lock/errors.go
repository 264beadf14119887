package lock

import "errors"

// Sentinel errors; test with errors.Is. The message around them says which
// project, who holds it, or which directory is wrong.
var (
	// ErrLocked: the lock is held by another process and the caller did not
	// want to wait.
	ErrLocked = errors.New("project is locked")

	// ErrUnsafeDir: the lock directory, or a lock file in it, is not safe
	// to use: a symbolic link, not a directory (or not a regular file),
	// owned by someone else, or writable by group or others. Another user
	// could then fake a lock or redirect our writes to a file of theirs.
	ErrUnsafeDir = errors.New("unsafe lock directory")

	// ErrInvalidProject: the project name cannot safely be part of a file
	// name. Compose never produces such names; this guards against a caller
	// passing something unnormalised.
	ErrInvalidProject = errors.New("invalid project name")
)
