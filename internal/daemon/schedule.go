package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// Schedule is when backups run: a cron line in a time zone, each run
// delayed by a random part of Jitter (so that many hosts on one schedule
// do not hit the storage in the same second).
type Schedule struct {
	// Cron has 5 fields, or 6 with seconds first, or a descriptor:
	// @daily, @hourly, @every 6h, ...
	// "none" for no schedule (backups only through the API).
	Cron     string
	Location *time.Location
	Jitter   time.Duration
}

// Validate parses the cron line, as the scheduler will, so that a bad
// one fails at start rather than at the first tick.
func (s Schedule) Validate(now time.Time) error {
	if s.None() {
		return nil
	}
	if strings.TrimSpace(s.Cron) == "" {
		return fmt.Errorf("no schedule: set --cron (BACKUP_CRON), e.g. \"0 3 * * *\" or @daily")
	}
	if strings.HasPrefix(s.Cron, "TZ=") || strings.HasPrefix(s.Cron, "CRON_TZ=") {
		return fmt.Errorf("--cron %q: give the time zone with --tz (BACKUP_TZ), not in the cron line", s.Cron)
	}
	if s.Jitter < 0 {
		return fmt.Errorf("--jitter %s: it cannot be negative", s.Jitter)
	}
	c := gocron.NewDefaultCron(true)
	if err := c.IsValid(s.Cron, s.location(), now); err != nil {
		// gocron joins its own words to the parser's: the parser's last
		// line says what is wrong.
		lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
		return fmt.Errorf("--cron %q is not a cron schedule (5 fields \"MIN HOUR DOM MON DOW\", 6 with seconds first, or @daily, @hourly, @every 6h): %s", s.Cron, lines[len(lines)-1])
	}
	return nil
}

// NoSchedule is the Cron of a daemon without a schedule.
const NoSchedule = "none"

// None tells that nothing runs on a schedule.
func (s Schedule) None() bool { return s.Cron == NoSchedule }

func (s Schedule) location() *time.Location {
	if s.Location == nil {
		return time.Local
	}
	return s.Location
}

// Interval is the time between the two runs that follow now: how long
// "two intervals without a good backup" is, for the health check.
func (s Schedule) Interval(now time.Time) time.Duration {
	c := gocron.NewDefaultCron(true)
	if s.None() || c.IsValid(s.Cron, s.location(), now) != nil {
		return 0
	}
	a := c.Next(now)
	return c.Next(a).Sub(a)
}

// definition is the job gocron runs. A run whose time falls in the hour a
// spring-forward change skips runs just after it, not a day later: a
// nightly backup at 02:30 is not lost once a year.
func (s Schedule) definition() (gocron.JobDefinition, gocron.JobOption) {
	return gocron.CronJob(s.Cron, true), gocron.WithDaylightSavingsTimePolicy(gocron.DaylightSavingsTimeRunAfterTransition)
}
