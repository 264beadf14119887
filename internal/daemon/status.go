package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Status is what the daemon knows of its runs, written to a file after
// each change so that `docker backup healthcheck`, another process, can
// judge it. It holds no secret: errors are the ones the logs show.
type Status struct {
	PID       int           `json:"pid"`
	StartedAt time.Time     `json:"startedAt"`
	Schedule  string        `json:"schedule"`
	TimeZone  string        `json:"timeZone"`
	Interval  time.Duration `json:"intervalNs"`
	Jitter    time.Duration `json:"jitterNs"`
	NextRun   time.Time     `json:"nextRun,omitzero"`
	Running   bool          `json:"running"`
	// Projects by name.
	Projects map[string]*ProjectStatus `json:"projects"`
}

// ProjectStatus is one project's last run and last success.
type ProjectStatus struct {
	LastRun     *RunStatus `json:"lastRun,omitempty"`
	LastSuccess *RunStatus `json:"lastSuccess,omitempty"`
}

// RunStatus is one run of one project.
type RunStatus struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Succeeded bool      `json:"succeeded"`
	Error     string    `json:"error,omitempty"`
	Archive   string    `json:"archive,omitempty"`
	Size      int64     `json:"size,omitempty"`
}

// WriteStatus replaces the file at path with s, atomically: a reader sees
// the old status or the new one, never half of one.
func WriteStatus(path string, s *Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("status file: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("status file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	return nil
}

// ReadStatus reads the status file the daemon writes.
func ReadStatus(path string) (*Status, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no status file at %s: the daemon is not running, or writes its status elsewhere (--status-file, BACKUP_STATUS_FILE)", path)
	}
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("status file %s: %w", path, err)
	}
	return &s, nil
}

// Health judges a status at now: an error says why it is unhealthy.
// Unhealthy when the last run of a project failed, or when no run of a
// project succeeded within two intervals (plus the jitter) of the last
// success, or of the daemon's start when there was none: a scheduler
// that stopped ticking, or runs that hang, show as well as failures.
func Health(s *Status, now time.Time) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.Projects)) {
		p := s.Projects[name]
		if p.LastRun != nil && !p.LastRun.Succeeded {
			errs = append(errs, fmt.Errorf("the last backup of project %s failed at %s: %s", name, p.LastRun.End.UTC().Format(time.RFC3339), p.LastRun.Error))
			continue
		}
		if s.Interval <= 0 {
			continue
		}
		since, what := s.StartedAt, "the daemon started"
		if p.LastSuccess != nil {
			since, what = p.LastSuccess.End, "its last good backup"
		}
		if limit := 2*s.Interval + s.Jitter; now.Sub(since) > limit {
			errs = append(errs, fmt.Errorf("no backup of project %s succeeded in the %s since %s (%s; two intervals of the schedule %q)", name, now.Sub(since).Round(time.Second), what, since.UTC().Format(time.RFC3339), s.Schedule))
		}
	}
	return errors.Join(errs...)
}
