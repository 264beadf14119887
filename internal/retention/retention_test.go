package retention

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	// The tests need real zones (DST in Europe/Berlin); embedding the
	// database keeps them from depending on the machine's tzdata.
	_ "time/tzdata"
)

const nameLayout = "2006-01-02T15:04-0700"

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("cannot load time zone %s: %v", name, err)
	}
	return loc
}

// syntheticYear returns irregular backups from 2024-12-27 to 2025-12-30 in
// Europe/Berlin, named by their local time. It is built from a fixed start
// advanced day by day, so that the expected results below can be worked out
// by hand from these rules:
//   - ISO weeks 2025-W07, W08, W21, W33 and W34 are missed entirely;
//   - the 1st and 15th of a month are busy: one every 4 hours from 01:00;
//   - the DST days (2025-03-30 and 2025-10-26) have one every hour from
//     00:30 for 6 hours, across the change;
//   - other Sundays are missed; other days have one at 03:00, Wednesdays
//     another at 22:45;
//   - December 2025 is listed by hand, with ISO week 2025-W51 missed.
func syntheticYear(t testing.TB) []Item {
	berlin := mustLoad(t, "Europe/Berlin")
	var items []Item
	add := func(at time.Time) {
		items = append(items, Item{Name: at.In(berlin).Format(nameLayout), Time: at})
	}
	missed := map[int]bool{7: true, 8: true, 21: true, 33: true, 34: true}
	end := time.Date(2025, 12, 1, 0, 0, 0, 0, berlin)
	for day := time.Date(2024, 12, 27, 0, 0, 0, 0, berlin); day.Before(end); day = day.AddDate(0, 0, 1) {
		y, m, d := day.Date()
		at := func(h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
		if wy, w := day.ISOWeek(); wy == 2025 && missed[w] {
			continue
		}
		switch {
		case (m == time.March && d == 30) || (m == time.October && d == 26):
			// Elapsed hours, not wall-clock ones, so the run crosses the
			// change as a real scheduler would.
			for i, tm := 0, at(0, 30); i < 6; i, tm = i+1, tm.Add(time.Hour) {
				add(tm)
			}
		case d == 1 || d == 15:
			for h := 1; h < 24; h += 4 {
				add(at(h, 0))
			}
		case day.Weekday() == time.Sunday:
		default:
			add(at(3, 0))
			if day.Weekday() == time.Wednesday {
				add(at(22, 45))
			}
		}
	}
	december := []struct {
		day   int
		times []string
	}{
		{1, []string{"03:00"}},
		{3, []string{"03:00", "22:45"}},
		{9, []string{"03:00"}},
		{11, []string{"03:00", "09:00", "15:00"}},
		{23, []string{"03:00", "04:00"}},
		{24, []string{"03:00"}},
		{29, []string{"03:00"}},
		{30, []string{"03:00", "12:00", "18:00"}},
	}
	for _, dd := range december {
		for _, hm := range dd.times {
			var h, min int
			if _, err := fmt.Sscanf(hm, "%d:%d", &h, &min); err != nil {
				t.Fatal(err)
			}
			add(time.Date(2025, time.December, dd.day, h, min, 0, 0, berlin))
		}
	}
	// Apply must not rely on the caller's order.
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items
}

func kept(ds []Decision) []string {
	var names []string
	for _, d := range ds {
		if d.Keep {
			names = append(names, d.Name)
		}
	}
	return names
}

func TestSyntheticYear(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	all := syntheticYear(t)
	before := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, berlin) }

	tests := []struct {
		name string
		upTo time.Time // only items before it; zero means all
		p    Policy
		want []string
	}{
		{
			name: "last 3",
			p:    Policy{Last: 3},
			want: []string{"2025-12-30T18:00+0100", "2025-12-30T12:00+0100", "2025-12-30T03:00+0100"},
		},
		{
			// Seven days with backups reach back over four ISO weeks and a
			// missed one.
			name: "daily 7 spans weeks",
			p:    Policy{Daily: 7},
			want: []string{
				"2025-12-30T18:00+0100", "2025-12-29T03:00+0100", "2025-12-24T03:00+0100",
				"2025-12-23T04:00+0100", "2025-12-11T15:00+0100", "2025-12-09T03:00+0100",
				"2025-12-03T22:45+0100",
			},
		},
		{
			name: "daily 3 across missed weeks",
			upTo: before(2025, time.February, 25),
			p:    Policy{Daily: 3},
			want: []string{"2025-02-24T03:00+0100", "2025-02-08T03:00+0100", "2025-02-07T03:00+0100"},
		},
		{
			// 2025-12-29 is in 2026-W01; W51 has no backup and uses no count.
			name: "weekly 4",
			p:    Policy{Weekly: 4},
			want: []string{
				"2025-12-30T18:00+0100", "2025-12-24T03:00+0100",
				"2025-12-11T15:00+0100", "2025-12-03T22:45+0100",
			},
		},
		{
			name: "weekly 4 across missed weeks",
			upTo: before(2025, time.September, 1),
			p:    Policy{Weekly: 4},
			want: []string{
				"2025-08-30T03:00+0200", "2025-08-09T03:00+0200",
				"2025-08-02T03:00+0200", "2025-07-26T03:00+0200",
			},
		},
		{
			name: "monthly 12",
			p:    Policy{Monthly: 12},
			want: []string{
				"2025-12-30T18:00+0100", "2025-11-29T03:00+0100", "2025-10-31T03:00+0100",
				"2025-09-30T03:00+0200", "2025-08-30T03:00+0200", "2025-07-31T03:00+0200",
				"2025-06-30T03:00+0200", "2025-05-31T03:00+0200", "2025-04-30T22:45+0200",
				"2025-03-31T03:00+0200", "2025-02-28T03:00+0100", "2025-01-31T03:00+0100",
			},
		},
		{
			// Only 13 months have backups: asking for more keeps no more.
			name: "monthly 24",
			p:    Policy{Monthly: 24},
			want: []string{
				"2025-12-30T18:00+0100", "2025-11-29T03:00+0100", "2025-10-31T03:00+0100",
				"2025-09-30T03:00+0200", "2025-08-30T03:00+0200", "2025-07-31T03:00+0200",
				"2025-06-30T03:00+0200", "2025-05-31T03:00+0200", "2025-04-30T22:45+0200",
				"2025-03-31T03:00+0200", "2025-02-28T03:00+0100", "2025-01-31T03:00+0100",
				"2024-12-31T03:00+0100",
			},
		},
		{
			name: "yearly 5",
			p:    Policy{Yearly: 5},
			want: []string{"2025-12-30T18:00+0100", "2024-12-31T03:00+0100"},
		},
		{
			name: "hourly 5",
			p:    Policy{Hourly: 5},
			want: []string{
				"2025-12-30T18:00+0100", "2025-12-30T12:00+0100", "2025-12-30T03:00+0100",
				"2025-12-29T03:00+0100", "2025-12-24T03:00+0100",
			},
		},
		{
			name: "hourly across spring change",
			upTo: before(2025, time.March, 31),
			p:    Policy{Hourly: 7},
			want: []string{
				"2025-03-30T06:30+0200", "2025-03-30T05:30+0200", "2025-03-30T04:30+0200",
				"2025-03-30T03:30+0200", "2025-03-30T01:30+0100", "2025-03-30T00:30+0100",
				"2025-03-29T03:00+0100",
			},
		},
		{
			name: "hourly across autumn change",
			upTo: before(2025, time.October, 27),
			p:    Policy{Hourly: 7},
			want: []string{
				"2025-10-26T04:30+0100", "2025-10-26T03:30+0100", "2025-10-26T02:30+0100",
				"2025-10-26T02:30+0200", "2025-10-26T01:30+0200", "2025-10-26T00:30+0200",
				"2025-10-25T03:00+0200",
			},
		},
		{
			name: "daily 2 on the autumn change",
			upTo: before(2025, time.October, 27),
			p:    Policy{Daily: 2},
			want: []string{"2025-10-26T04:30+0100", "2025-10-25T03:00+0200"},
		},
		{
			name: "combination",
			p:    Policy{Last: 2, Daily: 3, Weekly: 3, Monthly: 2, Yearly: 2},
			want: []string{
				"2025-12-30T18:00+0100", "2025-12-30T12:00+0100", "2025-12-29T03:00+0100",
				"2025-12-24T03:00+0100", "2025-12-11T15:00+0100", "2025-11-29T03:00+0100",
				"2024-12-31T03:00+0100",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := all
			if !tt.upTo.IsZero() {
				items = nil
				for _, it := range all {
					if it.Time.Before(tt.upTo) {
						items = append(items, it)
					}
				}
			}
			p := tt.p
			p.Location = berlin
			ds, err := Apply(items, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != len(items) {
				t.Fatalf("got %d decisions for %d items", len(ds), len(items))
			}
			if got := kept(ds); !slices.Equal(got, tt.want) {
				t.Errorf("kept\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestCombinationReasons(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	ds, err := Apply(syntheticYear(t), Policy{Last: 2, Daily: 3, Weekly: 3, Monthly: 2, Yearly: 2, Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range ds {
		if d.Keep {
			got[d.Name] = d.Reasons
		}
	}
	want := map[string][]string{
		"2025-12-30T18:00+0100": {"newest", "last", "daily 2025-12-30", "weekly 2026-W01", "monthly 2025-12", "yearly 2025"},
		"2025-12-30T12:00+0100": {"last"},
		"2025-12-29T03:00+0100": {"daily 2025-12-29"},
		"2025-12-24T03:00+0100": {"daily 2025-12-24", "weekly 2025-W52"},
		"2025-12-11T15:00+0100": {"weekly 2025-W50"},
		"2025-11-29T03:00+0100": {"monthly 2025-11"},
		"2024-12-31T03:00+0100": {"yearly 2024"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reasons\n %q\nwant\n %q", got, want)
	}
}

func TestLocationMatters(t *testing.T) {
	at := func(d, h, min int) Item {
		tm := time.Date(2025, time.June, d, h, min, 0, 0, time.UTC)
		return Item{Name: tm.Format("01-02T15:04Z"), Time: tm}
	}
	items := []Item{at(10, 12, 0), at(10, 23, 30), at(11, 2, 0), at(11, 10, 0)}
	tests := []struct {
		loc  string
		want []string
	}{
		{"UTC", []string{"06-11T10:00Z", "06-10T23:30Z"}},
		// 23:30Z is already the 11th in Tokyo.
		{"Asia/Tokyo", []string{"06-11T10:00Z", "06-10T12:00Z"}},
		// 02:00Z is still the 10th in New York.
		{"America/New_York", []string{"06-11T10:00Z", "06-11T02:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.loc, func(t *testing.T) {
			ds, err := Apply(items, Policy{Daily: 2, Location: mustLoad(t, tt.loc)})
			if err != nil {
				t.Fatal(err)
			}
			if got := kept(ds); !slices.Equal(got, tt.want) {
				t.Errorf("kept %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNilLocationIsLocal(t *testing.T) {
	items := syntheticYear(t)
	p := Policy{Hourly: 3, Daily: 4, Weekly: 3}
	got, err := Apply(items, p)
	if err != nil {
		t.Fatal(err)
	}
	p.Location = time.Local
	want, err := Apply(items, p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("a nil Location does not cut buckets as time.Local does")
	}
}

func TestRepeatedAutumnHour(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	// Built from UTC: time.Date does not say which of the two 02:30 it picks.
	cest := time.Date(2025, time.October, 26, 0, 30, 0, 0, time.UTC).In(berlin)
	cet := time.Date(2025, time.October, 26, 1, 30, 0, 0, time.UTC).In(berlin)
	for _, tm := range []time.Time{cest, cet} {
		if got := tm.Format("15:04"); got != "02:30" {
			t.Fatalf("%v is %s in Berlin, want 02:30", tm, got)
		}
	}
	items := []Item{{Name: "cest", Time: cest}, {Name: "cet", Time: cet}}

	ds, err := Apply(items, Policy{Hourly: 2, Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	want := []Decision{
		{Item: items[1], Keep: true, Reasons: []string{"newest", "hourly 2025-10-26 02:00 +0100"}},
		{Item: items[0], Keep: true, Reasons: []string{"hourly 2025-10-26 02:00 +0200"}},
	}
	if !reflect.DeepEqual(ds, want) {
		t.Errorf("got %+v\nwant %+v", ds, want)
	}

	ds, err = Apply(items, Policy{Hourly: 1, Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	if got := kept(ds); !slices.Equal(got, []string{"cet"}) {
		t.Errorf("keep-hourly 1 kept %q, want only the later 02:30", got)
	}
}

func TestNewestAlwaysKept(t *testing.T) {
	day := func(d, h int) Item {
		tm := time.Date(2025, time.May, d, h, 0, 0, 0, time.UTC)
		return Item{Name: tm.Format("02T15"), Time: tm}
	}
	items := []Item{day(1, 3), day(2, 3), day(3, 1), day(3, 9), day(3, 17)}
	tests := []struct {
		p       Policy
		want    []string
		reasons []string // of the newest
	}{
		{Policy{Last: 1}, []string{"03T17"}, []string{"newest", "last"}},
		{Policy{Daily: 1}, []string{"03T17"}, []string{"newest", "daily 2025-05-03"}},
		{Policy{Yearly: 1}, []string{"03T17"}, []string{"newest", "yearly 2025"}},
		{Policy{Daily: 2}, []string{"03T17", "02T03"}, []string{"newest", "daily 2025-05-03"}},
	}
	for _, tt := range tests {
		t.Run(tt.p.String(), func(t *testing.T) {
			tt.p.Location = time.UTC
			ds, err := Apply(items, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := kept(ds); !slices.Equal(got, tt.want) {
				t.Errorf("kept %q, want %q", got, tt.want)
			}
			if !slices.Equal(ds[0].Reasons, tt.reasons) {
				t.Errorf("newest kept for %q, want %q", ds[0].Reasons, tt.reasons)
			}
		})
	}
}

func TestSingleItemKept(t *testing.T) {
	it := Item{Name: "only", Time: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	ds, err := Apply([]Item{it}, Policy{Monthly: 3, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	want := []Decision{{Item: it, Keep: true, Reasons: []string{"newest", "monthly 2020-01"}}}
	if !reflect.DeepEqual(ds, want) {
		t.Errorf("got %+v, want %+v", ds, want)
	}
}

func TestErrors(t *testing.T) {
	items := []Item{{Name: "a", Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
	tests := []struct {
		name   string
		p      Policy
		noRule bool
		rule   string // that the error names
	}{
		{name: "zero", p: Policy{}, noRule: true},
		{name: "all zero with location", p: Policy{Last: 0, Hourly: 0, Daily: 0, Weekly: 0, Monthly: 0, Yearly: 0, Location: time.UTC}, noRule: true},
		{name: "last", p: Policy{Last: -1}, rule: "keep-last"},
		{name: "hourly", p: Policy{Daily: 7, Hourly: -2}, rule: "keep-hourly"},
		{name: "daily", p: Policy{Daily: -1}, rule: "keep-daily"},
		{name: "weekly", p: Policy{Weekly: -1, Monthly: 3}, rule: "keep-weekly"},
		{name: "monthly", p: Policy{Monthly: -12}, rule: "keep-monthly"},
		{name: "yearly", p: Policy{Yearly: -1}, rule: "keep-yearly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Refused with or without items: a bad policy is a mistake
			// even when there is nothing to prune yet.
			for _, its := range [][]Item{items, nil} {
				ds, err := Apply(its, tt.p)
				if err == nil {
					t.Fatalf("no error for %v with %d items", tt.p, len(its))
				}
				if ds != nil {
					t.Errorf("decisions returned with the error %v", err)
				}
				if errors.Is(err, ErrNoPolicy) != tt.noRule {
					t.Errorf("errors.Is(%v, ErrNoPolicy) = %t", err, !tt.noRule)
				}
				if tt.rule != "" && !strings.Contains(err.Error(), tt.rule) {
					t.Errorf("error %q does not name %s", err, tt.rule)
				}
			}
		})
	}
	if !strings.Contains(ErrNoPolicy.Error(), "--keep-") {
		t.Errorf("ErrNoPolicy %q does not say to give a --keep-* rule", ErrNoPolicy)
	}
}

func TestNoItems(t *testing.T) {
	ds, err := Apply(nil, Policy{Daily: 7})
	if err != nil || len(ds) != 0 {
		t.Errorf("Apply(nil) = %v, %v; want no decisions and no error", ds, err)
	}
}

func TestEmptyAndString(t *testing.T) {
	tests := []struct {
		p     Policy
		empty bool
		s     string
	}{
		{Policy{}, true, "no rules"},
		{Policy{Location: time.UTC}, true, "no rules"},
		{Policy{Last: 3, Daily: 7, Weekly: 4}, false, "last 3, daily 7, weekly 4"},
		{Policy{Yearly: 1, Hourly: 24}, false, "hourly 24, yearly 1"},
		{Policy{Last: 1, Hourly: 2, Daily: 3, Weekly: 4, Monthly: 5, Yearly: 6}, false, "last 1, hourly 2, daily 3, weekly 4, monthly 5, yearly 6"},
		{Policy{Monthly: -1}, false, "monthly -1"},
	}
	for _, tt := range tests {
		if got := tt.p.Empty(); got != tt.empty {
			t.Errorf("%#v.Empty() = %t, want %t", tt.p, got, tt.empty)
		}
		if got := tt.p.String(); got != tt.s {
			t.Errorf("String() = %q, want %q", got, tt.s)
		}
	}
}

func TestIdenticalTimes(t *testing.T) {
	tm := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	items := []Item{{Name: "b", Time: tm}, {Name: "c", Time: tm}, {Name: "a", Time: tm}}
	ds, err := Apply(items, Policy{Last: 2, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"c", "b", "a"}) {
		t.Errorf("order %q, want by name descending", names)
	}
	if got := kept(ds); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("keep-last 2 kept %q, want c and b", got)
	}
	ds, err = Apply(items, Policy{Daily: 1, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if got := kept(ds); !slices.Equal(got, []string{"c"}) {
		t.Errorf("keep-daily 1 kept %q, want c", got)
	}
}

func TestDeterministic(t *testing.T) {
	items := syntheticYear(t)
	orig := slices.Clone(items)
	p := Policy{Last: 4, Daily: 10, Weekly: 6, Monthly: 6, Location: mustLoad(t, "Europe/Berlin")}
	first, err := Apply(items, p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(items, orig) {
		t.Fatal("Apply changed its argument")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		again, err := Apply(items, p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatal("decisions depend on the order of the items")
		}
	}
}

// bucketKeys are written apart from Apply's, so the property test checks
// Apply against a second reading of the rules.
var bucketKeys = map[string]func(time.Time) string{
	"hourly": func(t time.Time) string {
		_, off := t.Zone()
		return fmt.Sprintf("%d-%d-%d %d %d", t.Year(), t.Month(), t.Day(), t.Hour(), off)
	},
	"daily":   func(t time.Time) string { return fmt.Sprintf("%d-%d-%d", t.Year(), t.Month(), t.Day()) },
	"weekly":  func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d/%d", y, w) },
	"monthly": func(t time.Time) string { return fmt.Sprintf("%d-%d", t.Year(), t.Month()) },
	"yearly":  func(t time.Time) string { return fmt.Sprint(t.Year()) },
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 3))
	locs := []*time.Location{time.UTC, mustLoad(t, "Europe/Berlin"), mustLoad(t, "America/New_York"), mustLoad(t, "Asia/Tokyo")}
	base := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	count := func() int {
		if r.IntN(2) == 0 {
			return 0
		}
		return 1 + r.IntN(6)
	}
	for iter := range 2000 {
		n := r.IntN(50)
		items := make([]Item, n)
		for i := range items {
			// The span is chosen so that buckets of every size are both
			// shared and missed; some instants are repeated.
			tm := base.Add(time.Duration(r.Int64N(int64(400 * 24 * time.Hour))))
			if i > 0 && r.IntN(6) == 0 {
				tm = items[r.IntN(i)].Time
			}
			items[i] = Item{Name: fmt.Sprintf("i%03d", i), Time: tm}
		}
		p := Policy{Last: count(), Hourly: count(), Daily: count(), Weekly: count(), Monthly: count(), Yearly: count(), Location: locs[r.IntN(len(locs))]}
		if p.Empty() {
			p.Daily = 1
		}
		ds, err := Apply(items, p)
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("iteration %d, policy %v in %v: %s", iter, p, p.Location, fmt.Sprintf(format, args...))
		}
		if len(ds) != n {
			fail("%d decisions for %d items", len(ds), n)
		}
		if n == 0 {
			continue
		}
		seen := map[string]bool{}
		for i, d := range ds {
			if seen[d.Name] {
				fail("%s decided twice", d.Name)
			}
			seen[d.Name] = true
			if i > 0 {
				prev := ds[i-1]
				if d.Time.After(prev.Time) || (d.Time.Equal(prev.Time) && d.Name > prev.Name) {
					fail("%s after %s: not newest first", d.Name, prev.Name)
				}
			}
			if d.Keep != (len(d.Reasons) > 0) {
				fail("%s: Keep %t with reasons %q", d.Name, d.Keep, d.Reasons)
			}
		}
		if !ds[0].Keep || ds[0].Reasons[0] != "newest" {
			fail("newest %s not kept as newest: %q", ds[0].Name, ds[0].Reasons)
		}

		for i, d := range ds {
			if got, want := slices.Contains(d.Reasons, "last"), i < p.Last; got != want {
				fail("%s (number %d): kept for last is %t, keep-last %d", d.Name, i, got, p.Last)
			}
		}
		rules := map[string]int{"hourly": p.Hourly, "daily": p.Daily, "weekly": p.Weekly, "monthly": p.Monthly, "yearly": p.Yearly}
		for rule, limit := range rules {
			key := bucketKeys[rule]
			// The newest of each bucket, and the buckets newest first.
			newest := map[string]Decision{}
			var buckets []string
			for _, d := range ds {
				k := key(d.Time.In(p.Location))
				if cur, ok := newest[k]; !ok || d.Time.After(cur.Time) || (d.Time.Equal(cur.Time) && d.Name > cur.Name) {
					if !ok {
						buckets = append(buckets, k)
					}
					newest[k] = d
				}
			}
			want := map[string]bool{}
			for _, k := range buckets[:min(limit, len(buckets))] {
				want[newest[k].Name] = true
			}
			keptFor := 0
			for _, d := range ds {
				has := slices.ContainsFunc(d.Reasons, func(s string) bool { return strings.HasPrefix(s, rule+" ") })
				if has {
					keptFor++
					if k := key(d.Time.In(p.Location)); newest[k].Name != d.Name {
						fail("%s kept %s but is not the newest of its bucket (%s is)", d.Name, rule, newest[k].Name)
					}
				}
				if has != want[d.Name] {
					fail("%s: kept %s is %t, want %t", d.Name, rule, has, want[d.Name])
				}
			}
			if keptFor > limit {
				fail("%d kept %s, limit %d", keptFor, rule, limit)
			}
		}
	}
}
