package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestHealthRules(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ok := func(end time.Time) *RunStatus {
		return &RunStatus{Start: end.Add(-time.Minute), End: end, Succeeded: true}
	}
	for _, tc := range []struct {
		name string
		p    ProjectStatus
		now  time.Time
		want string // "" healthy
	}{
		{"just started", ProjectStatus{}, start.Add(time.Hour), ""},
		{"never succeeded in two intervals", ProjectStatus{}, start.Add(2*day + time.Hour + time.Second), "since the daemon started"},
		{"succeeded yesterday", ProjectStatus{LastRun: ok(start.Add(day)), LastSuccess: ok(start.Add(day))}, start.Add(2 * day), ""},
		{"within two intervals and the jitter", ProjectStatus{LastRun: ok(start), LastSuccess: ok(start)}, start.Add(2*day + 30*time.Minute), ""},
		{"no success for more than two intervals", ProjectStatus{LastRun: ok(start), LastSuccess: ok(start)}, start.Add(2*day + 2*time.Hour), "since its last good backup"},
		{"last run failed", ProjectStatus{LastRun: &RunStatus{End: start.Add(day), Error: "disk full"}, LastSuccess: ok(start)}, start.Add(day + time.Minute), "failed at 2026-01-02T00:00:00Z: disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Status{StartedAt: start, Schedule: "@daily", Interval: day, Jitter: time.Hour, Projects: map[string]*ProjectStatus{"shop": &tc.p}}
			err := Health(s, tc.now)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unhealthy: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("health = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestStatusFileRoundTrip(t *testing.T) {
	path := t.TempDir() + "/sub/status.json"
	if _, err := ReadStatus(path); err == nil || !strings.Contains(err.Error(), "BACKUP_STATUS_FILE") {
		t.Errorf("missing file: %v", err)
	}
	in := &Status{PID: 7, Schedule: "@daily", Interval: time.Hour, Projects: map[string]*ProjectStatus{"a": {LastRun: &RunStatus{Succeeded: true, Size: 5}}}}
	if err := WriteStatus(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.PID != 7 || out.Interval != time.Hour || out.Projects["a"].LastRun.Size != 5 {
		t.Errorf("read back %+v", out)
	}
}
