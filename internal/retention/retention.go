// Package retention decides which backup archives a prune keeps, by counts
// of archives per calendar bucket (as restic's forget --keep-* does), not by
// age: a bucket with no archive never uses up a count, so missed backups
// cannot make a prune delete the good ones that remain.
package retention

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Policy: how many of each to keep. Zero means the rule is not used.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	// Location is the time zone in which hours, days, weeks, months and years are cut; nil means time.Local.
	Location *time.Location
}

// ErrNoPolicy is returned by Apply for a policy with no rule: without one,
// a prune would delete every archive but the newest, which is never what
// someone who forgot the flags meant.
var ErrNoPolicy = errors.New("no retention rule given: refusing to delete every archive; give at least one --keep-* rule (e.g. --keep-daily 7)")

// Item is one archive that may be deleted: only archives this tool wrote, for one project, complete.
type Item struct {
	Name string
	Time time.Time // when the backup was taken
}

// Decision is what happens to one Item, with why.
type Decision struct {
	Item
	Keep bool
	// Reasons says which rules keep it, e.g. ["last", "daily 2026-03-04", "weekly 2026-W09"];
	// "newest" for the newest archive, which is always kept. Empty when deleted.
	Reasons []string
}

// rule is one calendar rule: key cuts time into buckets, label names a
// bucket for people. They differ only for hours, where the key carries the
// UTC offset so that the hour repeated when clocks go back is two buckets.
type rule struct {
	name  string
	count func(Policy) int
	key   func(time.Time) string
	label func(time.Time) string
}

// rules is in the order reasons are listed, finest first.
var rules = []rule{
	{
		name:  "hourly",
		count: func(p Policy) int { return p.Hourly },
		key:   func(t time.Time) string { return t.Format("2006-01-02 15 -0700") },
		label: func(t time.Time) string { return t.Format("2006-01-02 15:00 -0700") },
	},
	{
		name:  "daily",
		count: func(p Policy) int { return p.Daily },
		key:   func(t time.Time) string { return t.Format("2006-01-02") },
	},
	{
		name:  "weekly",
		count: func(p Policy) int { return p.Weekly },
		key: func(t time.Time) string {
			// ISO year, not calendar year: 2025-12-29 is in 2026-W01.
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		},
	},
	{
		name:  "monthly",
		count: func(p Policy) int { return p.Monthly },
		key:   func(t time.Time) string { return t.Format("2006-01") },
	},
	{
		name:  "yearly",
		count: func(p Policy) int { return p.Yearly },
		key:   func(t time.Time) string { return t.Format("2006") },
	},
}

// ruleCount is one rule's name, as in --keep-NAME, with its count.
type ruleCount struct {
	name string
	n    int
}

// counts lists every rule with its count, in the order String and the
// validation in Apply report them.
func (p Policy) counts() []ruleCount {
	out := []ruleCount{{"last", p.Last}}
	for _, r := range rules {
		out = append(out, ruleCount{r.name, r.count(p)})
	}
	return out
}

// Empty reports whether no rule is given.
func (p Policy) Empty() bool {
	for _, c := range p.counts() {
		if c.n != 0 {
			return false
		}
	}
	return true
}

// String describes the policy for people, e.g. "last 3, daily 7, weekly 4" (only rules in use).
func (p Policy) String() string {
	var parts []string
	for _, c := range p.counts() {
		// Negative counts are shown too, so that a message about a
		// rejected policy shows what was asked.
		if c.n != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	if len(parts) == 0 {
		return "no rules"
	}
	return strings.Join(parts, ", ")
}

// Apply returns one Decision per item, newest first (ties broken by Name, descending, so the result is deterministic).
// Errors: an empty policy (ErrNoPolicy: refuses to delete everything, says to give at least one --keep-* rule),
// a negative count (error naming the rule). With no items it returns no decisions and no error.
func Apply(items []Item, p Policy) ([]Decision, error) {
	for _, c := range p.counts() {
		if c.n < 0 {
			return nil, fmt.Errorf("--keep-%s is %d: a count must not be negative", c.name, c.n)
		}
	}
	if p.Empty() {
		return nil, ErrNoPolicy
	}
	if len(items) == 0 {
		return nil, nil
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}

	ds := make([]Decision, len(items))
	for i, it := range items {
		ds[i] = Decision{Item: it}
	}
	// Stable, so that even items equal in time and name keep the caller's
	// order and the result depends on nothing else.
	slices.SortStableFunc(ds, func(a, b Decision) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.Name, a.Name)
	})

	keep := func(d *Decision, reason string) {
		d.Keep = true
		d.Reasons = append(d.Reasons, reason)
	}
	// The newest is kept whatever the policy, so a prune can never leave
	// the project without its latest good backup.
	keep(&ds[0], "newest")
	for i := range min(p.Last, len(ds)) {
		keep(&ds[i], "last")
	}
	for _, r := range rules {
		n := r.count(p)
		if n == 0 {
			continue
		}
		label := r.label
		if label == nil {
			label = r.key
		}
		// Items are newest first, so the first one met in each bucket is
		// that bucket's newest, and only buckets that have an item use up
		// the count.
		used, prev := 0, ""
		for i := range ds {
			if used == n {
				break
			}
			t := ds[i].Time.In(loc)
			k := r.key(t)
			if used > 0 && k == prev {
				continue
			}
			keep(&ds[i], r.name+" "+label(t))
			prev = k
			used++
		}
	}
	return ds, nil
}
