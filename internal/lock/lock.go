// Package lock keeps two docker-backup runs from working on the same compose
// project of the same Docker engine at once: a backup taken while a restore
// rewrites the volumes, or two restores interleaving, would leave data that
// neither run intended. The second run waits for the first, or fails at once
// when the user asked not to wait.
//
// Why flock(2) on a file: the kernel drops the lock when the holding process
// exits, however it exits (crash, kill -9, a closed terminal), so there is
// never a stale lock for the user to clean up, and no PID-file guesswork about
// whether a recorded process is still ours. The file also carries a small
// JSON record of the holder (pid, command, start time) only so that the
// waiting side can say whom it waits for; the lock itself is the flock, never
// the file's existence or content. The file is never deleted: a waiter may
// already have it open, and deleting it would let a third process lock a new
// file of the same name while the waiter locks the old one.
//
// Why this directory: $XDG_RUNTIME_DIR is the per-user runtime directory the
// XDG specification sets aside for this kind of file (private to the user,
// usually a tmpfs emptied at logout or reboot). Without it (root, cron, some
// containers) a per-uid directory under os.TempDir takes its place. Because
// that one lives in a shared directory, an existing directory is used only
// if it is really ours and nobody else can write to it; otherwise another
// user could pre-create it and swap the lock file for a symbolic link or a
// file of their own.
//
// Scope: the lock serialises runs on one host and for one user. Two clients
// on different machines driving the same remote engine, or two users of the
// same host, do not see each other's locks.
package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
)

// pollInterval: flock has no timeout and a blocked flock(2) cannot be
// interrupted by a context, so a waiter retries a non-blocking lock instead.
// 200ms is short next to any backup, and cheap.
const pollInterval = 200 * time.Millisecond

// maxRecord bounds how much of a lock file the waiting side reads: a
// legitimate record is well under 200 bytes.
const maxRecord = 4096

// Lock is a held project lock.
type Lock struct {
	mu sync.Mutex
	f  *os.File // nil once released
}

// record is what the holder writes into the lock file for waiters to read.
type record struct {
	PID   int    `json:"pid"`
	Verb  string `json:"verb"`
	Since string `json:"since"` // RFC 3339, UTC
}

// Acquire takes the lock of project on the engine at endpoint (the engine's
// address, e.g. "unix:///var/run/docker.sock"; locks of different engines are
// independent, so pass the resolved address, not a context name that could
// change meaning).
//
// When another process holds it: with noWait, Acquire returns an error
// wrapping ErrLocked that says who holds it and how to wait instead;
// otherwise it calls waiting (if not nil) once with a one-line description of
// the holder, and retries until the lock is free or ctx ends.
func Acquire(ctx context.Context, endpoint, project, verb string, noWait bool, waiting func(holder string)) (*Lock, error) {
	path, err := lockPath(endpoint, project)
	if err != nil {
		return nil, err
	}
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	if !ok {
		holder := describe(readRecord(f), time.Now())
		if noWait {
			f.Close()
			return nil, fmt.Errorf("%w: %s is in use by %s; run it again without --no-wait to wait for it to finish", ErrLocked, project, holder)
		}
		if waiting != nil {
			waiting(holder)
		}
		if err := wait(ctx, f); err != nil {
			f.Close()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("waiting for the lock of project %s: %w", project, err)
			}
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
	}
	if err := writeRecord(f, verb); err != nil {
		// Not fatal to the lock itself, but a holder that cannot write its
		// record is on a broken file system; better to stop before a backup
		// than to discover it halfway.
		unlock(f)
		f.Close()
		return nil, fmt.Errorf("cannot write the lock file %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// wait retries the lock until it is ours or ctx ends.
func wait(ctx context.Context, f *os.File) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		ok, err := tryLock(f)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
}

// Release frees the lock. Safe to call twice, and on a nil Lock.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Emptying the record first means a waiter that reads the file between
	// our unlock and the next holder's write says "another docker-backup
	// process" rather than naming a process that has finished.
	errTrunc := f.Truncate(0)
	errUnlock := unlock(f)
	errClose := f.Close()
	for _, err := range []error{errUnlock, errClose, errTrunc} {
		if err != nil {
			return fmt.Errorf("cannot release the lock %s: %w", f.Name(), err)
		}
	}
	return nil
}

// Dir is the directory holding the lock files; see the package comment for
// why there. It does not create or check it.
func Dir() string {
	// The XDG specification says a relative XDG_RUNTIME_DIR is invalid and
	// must be ignored.
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "docker-backup")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("docker-backup-%d", os.Getuid()))
}

// lockPath checks the project name, makes sure the directory is safe and
// returns the lock file's path.
func lockPath(endpoint, project string) (string, error) {
	name, err := fileName(endpoint, project)
	if err != nil {
		return "", err
	}
	dir := Dir()
	if err := ensureDir(dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// fileName is project-HASH.lock. The endpoint goes in hashed: addresses hold
// "/" and ":" and can be long, and the file only needs to differ per engine.
// The project stays readable so that a user looking at the directory can tell
// which lock is which.
func fileName(endpoint, project string) (string, error) {
	switch {
	case project == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidProject)
	case strings.HasPrefix(project, "."):
		return "", fmt.Errorf("%w %q: starts with a dot", ErrInvalidProject, project)
	case strings.ContainsAny(project, "/\\\x00"):
		return "", fmt.Errorf("%w %q: contains a path separator or NUL", ErrInvalidProject, project)
	case len(project) > 200:
		// File names are at most 255 bytes; keep room for the suffix.
		return "", fmt.Errorf("%w: longer than 200 bytes", ErrInvalidProject)
	}
	sum := sha256.Sum256([]byte(endpoint))
	return project + "-" + hex.EncodeToString(sum[:])[:12] + ".lock", nil
}

func writeRecord(f *os.File, verb string) error {
	b, err := json.Marshal(record{
		PID:   os.Getpid(),
		Verb:  verb,
		Since: time.Now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	// A previous holder's longer record must not leave a tail behind.
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt(append(b, '\n'), 0)
	return err
}

// readRecord returns the holder's record, or nil when there is none to trust:
// the holder may not have written it yet, may be rewriting it, or may be
// releasing.
func readRecord(f *os.File) *record {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxRecord))
	if err != nil || len(b) == 0 {
		return nil
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.PID <= 0 {
		return nil
	}
	return &r
}

// describe is the one-line description of a holder used in messages, e.g.
// "docker backup restore (pid 4242, since 2025-06-01T10:00:00Z, 3m12s ago)".
func describe(r *record, now time.Time) string {
	if r == nil {
		return "another docker-backup process"
	}
	cmd := "docker backup"
	if v := sanitize(r.Verb); v != "" {
		cmd += " " + v
	}
	s := fmt.Sprintf("%s (pid %d", cmd, r.PID)
	if t, err := time.Parse(time.RFC3339, r.Since); err == nil {
		s += ", since " + t.UTC().Format(time.RFC3339)
		if d := now.Sub(t).Round(time.Second); d > 0 {
			s += ", " + d.String() + " ago"
		}
	}
	return s + ")"
}

// sanitize keeps a verb read from a file to a short single line: the file is
// only as trustworthy as anything else the user can write to.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return s
}
