package daemon

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/docker-backup/docker-backup/internal/notify"
)

// waitFor polls cond until it holds or the test's time is up: it waits on
// goroutines of the scheduler, not on the clock, which the tests drive.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// block waits until n timers wait on the fake clock: the scheduler has
// planned its next tick.
func block(t *testing.T, clock *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers on the clock: %v", n, err)
	}
}

// advanceUntil moves the fake clock on a second at a time until cond
// holds: gocron plans its next tick on its own goroutines, so one jump
// may come before the tick it should fire is planned (a tick planned late
// is planned from the clock's time, and a later step fires it).
func advanceUntil(t *testing.T, clock *clockwork.FakeClock, what string, cond func() bool) {
	t.Helper()
	for range 120 {
		if cond() {
			return
		}
		clock.Advance(time.Second)
		for range 50 {
			if cond() {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	t.Fatalf("two fake minutes passed without %s", what)
}

type fakeNotifier struct {
	mu   sync.Mutex
	msgs []notify.Message
	err  error
}

func (f *fakeNotifier) Send(_ context.Context, m notify.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
	return f.err
}

func (f *fakeNotifier) sent() []notify.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notify.Message(nil), f.msgs...)
}

// start runs a daemon until the test ends; stop cancels it and returns
// what Run returned, once Run is over.
func start(t *testing.T, cfg Config) (d *Daemon, stop func() error) {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the scheduler to start", func() bool { _, err := d.NextRuns(1); return err == nil })
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { stop() })
	return d, stop
}

func TestOverlappingTickIsSkipped(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC))
	release := make(chan struct{})
	started := make(chan string, 10)
	var calls sync.Mutex
	n := 0
	m := NewMetrics()
	d, _ := start(t, Config{
		Schedule: Schedule{Cron: "*/10 * * * * *", Location: time.UTC},
		Projects: []string{"shop"},
		Clock:    clock,
		Metrics:  m,
		Backup: func(ctx context.Context, project string) (Outcome, error) {
			calls.Lock()
			n++
			first := n == 1
			calls.Unlock()
			started <- project
			if first {
				<-release
			}
			return Outcome{Archive: "s3://b/x", Size: 10}, nil
		},
	})
	block(t, clock, 1)
	clock.Advance(5 * time.Second) // 00:00:10: the first run starts and hangs
	<-started
	// 00:00:20: still going, skipped.
	advanceUntil(t, clock, "a skipped tick", func() bool { return testutil.ToFloat64(m.skipped) == 1 })
	close(release)
	waitFor(t, "the first run to end", func() bool {
		return testutil.ToFloat64(m.runs.WithLabelValues("shop", OutcomeSuccess)) == 1 && !d.Status().Running
	})
	skipped := testutil.ToFloat64(m.skipped)
	// The next tick runs again.
	advanceUntil(t, clock, "a second run", func() bool {
		return testutil.ToFloat64(m.runs.WithLabelValues("shop", OutcomeSuccess)) == 2
	})
	<-started
	if got := testutil.ToFloat64(m.skipped); got != skipped {
		t.Errorf("skipped runs went from %v to %v with nothing running", skipped, got)
	}
	calls.Lock()
	defer calls.Unlock()
	if n != 2 {
		t.Errorf("backups = %d, want 2", n)
	}
}

func TestNextRunsAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want []string
	}{
		{
			// 02:30 does not exist on 29 March 2026: the run is at 03:30
			// (02:30 on the clock before the change), not skipped to the
			// next day.
			name: "spring forward",
			now:  time.Date(2026, 3, 28, 12, 0, 0, 0, berlin),
			want: []string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"},
		},
		{
			// 02:30 happens twice on 25 October 2026: one run, not two.
			name: "fall back",
			now:  time.Date(2026, 10, 24, 12, 0, 0, 0, berlin),
			want: []string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := start(t, Config{
				Schedule: Schedule{Cron: "30 2 * * *", Location: berlin},
				Projects: []string{"shop"},
				Clock:    clockwork.NewFakeClockAt(tc.now),
				Backup:   func(context.Context, string) (Outcome, error) { return Outcome{}, nil },
			})
			runs, err := d.NextRuns(3)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range runs {
				got = append(got, r.In(berlin).Format(time.RFC3339))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("next runs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScheduleValidate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, ok := range []string{"0 3 * * *", "*/5 * * * * *", "@daily", "@every 6h", "@hourly", "0 3 * * MON-FRI"} {
		if err := (Schedule{Cron: ok}).Validate(now); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0 3 * *", "61 * * * *", "@sometimes", "every day", "TZ=UTC 0 3 * * *", "0 0 30 2 *"} {
		err := (Schedule{Cron: bad}).Validate(now)
		if err == nil {
			t.Errorf("%q: no error", bad)
			continue
		}
		if bad != "" && !strings.Contains(err.Error(), "--cron") && !strings.Contains(err.Error(), "--tz") {
			t.Errorf("%q: error %q does not name the setting", bad, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: the error takes more than one line: %q", bad, err)
		}
	}
	if err := (Schedule{Cron: "@daily", Jitter: -time.Second}).Validate(now); err == nil {
		t.Error("negative jitter accepted")
	}
	for expr, want := range map[string]time.Duration{"@every 6h": 6 * time.Hour, "0 3 * * *": 24 * time.Hour, "*/10 * * * * *": 10 * time.Second, "0 3 * * 1": 7 * 24 * time.Hour} {
		if got := (Schedule{Cron: expr, Location: time.UTC}).Interval(now); got != want {
			t.Errorf("interval of %q = %s, want %s", expr, got, want)
		}
	}
}

func TestStopCancelsTheRunAndWaitsForIt(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	inRun := make(chan struct{})
	cleaned := make(chan struct{})
	notifier := &fakeNotifier{}
	d, stop := start(t, Config{
		Schedule: Schedule{Cron: "@daily", Location: time.UTC},
		RunNow:   true,
		Projects: []string{"shop"},
		Clock:    clock,
		Notify:   notifier,
		Backup: func(ctx context.Context, project string) (Outcome, error) {
			close(inRun)
			<-ctx.Done()
			// The cleanup a real backup does after a cancel (restart
			// containers, abort the upload) must end before Run does.
			time.Sleep(50 * time.Millisecond)
			close(cleaned)
			return Outcome{}, ctx.Err()
		},
	})
	<-inRun
	if err := stop(); err != nil {
		t.Fatalf("Run after a stop: %v, want nil", err)
	}
	select {
	case <-cleaned:
	default:
		t.Fatal("Run returned before the cancelled backup had cleaned up")
	}
	if s := d.Status(); s.Projects["shop"].LastRun != nil {
		t.Errorf("a cancelled run was recorded as a result: %+v", s.Projects["shop"].LastRun)
	}
	if n := len(notifier.sent()); n != 0 {
		t.Errorf("a stop sent %d notification(s)", n)
	}
}

func TestFailureNotifiesAndShowsEverywhere(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	notifier := &fakeNotifier{err: errors.New("webhook down")}
	m := NewMetrics()
	status := t.TempDir() + "/status.json"
	fail := true
	var mu sync.Mutex
	d, _ := start(t, Config{
		Schedule:   Schedule{Cron: "@hourly", Location: time.UTC},
		RunNow:     true,
		Projects:   []string{"shop", "blog"},
		Clock:      clock,
		Notify:     notifier,
		Metrics:    m,
		StatusFile: status,
		Host:       "prod-1",
		Backup: func(ctx context.Context, project string) (Outcome, error) {
			mu.Lock()
			defer mu.Unlock()
			if project == "shop" && fail {
				return Outcome{}, errors.New("service db is not running")
			}
			return Outcome{Archive: "s3://bucket/" + project + ".tar.zst", Size: 1234}, nil
		},
	})
	waitFor(t, "both projects to run", func() bool {
		s := d.Status()
		return s.Projects["shop"].LastRun != nil && s.Projects["blog"].LastRun != nil && !s.Running
	})
	msgs := notifier.sent()
	if len(msgs) != 1 {
		t.Fatalf("notifications = %+v, want one, for the failure only", msgs)
	}
	if !strings.Contains(msgs[0].Title, "shop") || !strings.Contains(msgs[0].Title, "prod-1") || !strings.Contains(msgs[0].Body, "service db is not running") {
		t.Errorf("notification %+v lacks the project, host or error", msgs[0])
	}
	if got := testutil.ToFloat64(m.runs.WithLabelValues("shop", OutcomeFailure)); got != 1 {
		t.Errorf("failures of shop = %v", got)
	}
	if got := testutil.ToFloat64(m.size.WithLabelValues("blog")); got != 1234 {
		t.Errorf("archive size of blog = %v", got)
	}
	if testutil.ToFloat64(m.lastFailure.WithLabelValues("shop")) == 0 || testutil.ToFloat64(m.lastSuccess.WithLabelValues("blog")) == 0 {
		t.Error("last failure/success times not set")
	}
	if testutil.ToFloat64(m.nextRun.WithLabelValues("shop")) != float64(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC).Unix()) {
		t.Errorf("next run = %v", testutil.ToFloat64(m.nextRun.WithLabelValues("shop")))
	}
	s, err := ReadStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	herr := Health(s, clock.Now())
	if herr == nil || !strings.Contains(herr.Error(), "project shop failed") || strings.Contains(herr.Error(), "blog") {
		t.Errorf("health = %v, want the failure of shop only", herr)
	}
	// The next run succeeds: healthy again.
	mu.Lock()
	fail = false
	mu.Unlock()
	block(t, clock, 1)
	clock.Advance(time.Hour - time.Second)
	advanceUntil(t, clock, "the next run", func() bool {
		return testutil.ToFloat64(m.runs.WithLabelValues("shop", OutcomeSuccess)) == 1 && !d.Status().Running
	})
	s, err = ReadStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if err := Health(s, clock.Now()); err != nil {
		t.Errorf("health after a good run: %v", err)
	}
}

func TestSuccessNotifiesWhenAsked(t *testing.T) {
	notifier := &fakeNotifier{}
	d, _ := start(t, Config{
		Schedule:      Schedule{Cron: "@daily", Location: time.UTC},
		RunNow:        true,
		Projects:      []string{"shop"},
		Clock:         clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Notify:        notifier,
		NotifySuccess: true,
		Host:          "prod-1",
		Backup: func(context.Context, string) (Outcome, error) {
			return Outcome{Archive: "s3://bucket/shop.tar.zst", Size: 2 << 20, Pruned: 3}, nil
		},
	})
	waitFor(t, "the run", func() bool { return len(notifier.sent()) == 1 && !d.Status().Running })
	m := notifier.sent()[0]
	for _, want := range []string{"succeeded", "s3://bucket/shop.tar.zst", "2.1 MB", "Pruned: 3"} {
		if !strings.Contains(m.Title+m.Body, want) {
			t.Errorf("notification %+v lacks %q", m, want)
		}
	}
}

func TestJitterDelaysScheduledRuns(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ran := make(chan time.Time, 2)
	start(t, Config{
		Schedule: Schedule{Cron: "@hourly", Location: time.UTC, Jitter: 10 * time.Minute},
		Projects: []string{"shop"},
		Clock:    clock,
		Rand:     func(n int64) int64 { return int64(7 * time.Minute) },
		Backup: func(context.Context, string) (Outcome, error) {
			ran <- clock.Now()
			return Outcome{}, nil
		},
	})
	block(t, clock, 1)
	clock.Advance(time.Hour)
	block(t, clock, 2) // the next tick's timer and the jitter's
	select {
	case at := <-ran:
		t.Fatalf("ran at %s, before the jitter", at)
	default:
	}
	clock.Advance(7 * time.Minute)
	if at := <-ran; !at.Equal(time.Date(2026, 1, 1, 1, 7, 0, 0, time.UTC)) {
		t.Errorf("ran at %s, want 01:07", at)
	}
}

// Without a schedule nothing runs by itself; a backup asked for (the
// API's) is recorded, counted and notified as a scheduled one.
func TestNoScheduleBackupNow(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n := &fakeNotifier{}
	m := NewMetrics()
	scheduled := 0
	d, err := New(Config{
		Schedule: Schedule{Cron: NoSchedule, Location: time.UTC}, Projects: []string{"shop"}, Clock: clock, Notify: n, Metrics: m,
		Backup: func(context.Context, string) (Outcome, error) { scheduled++; return Outcome{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	clock.Advance(72 * time.Hour)
	out, err := d.BackupNow(ctx, "shop", "api", func(context.Context, string) (Outcome, error) {
		return Outcome{Archive: "s3://b/shop-1.tar.zst", Size: 42}, errors.New("disk full")
	})
	if err == nil || out.Size != 42 {
		t.Fatalf("BackupNow: %+v %v", out, err)
	}
	s := d.Status()
	if s.Projects["shop"].LastRun == nil || s.Projects["shop"].LastRun.Error != "disk full" || !s.NextRun.IsZero() || s.Interval != 0 {
		t.Fatalf("status %+v", s)
	}
	if len(n.sent()) != 1 || testutil.ToFloat64(m.runs.WithLabelValues("shop", "failure")) != 1 {
		t.Fatalf("not notified or counted: %+v", n.sent())
	}
	// Stale is no reason to be unhealthy without a schedule; a failure is.
	if err := Health(&s, clock.Now().Add(1000*time.Hour)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("health: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if scheduled != 0 {
		t.Fatalf("%d scheduled runs without a schedule", scheduled)
	}
	if _, err := d.BackupNow(context.Background(), "shop", "api", nil); !errors.Is(err, ErrStopping) {
		t.Fatalf("after the stop: %v", err)
	}
}

// With Parallel, a tick backs up several projects (on several engines) at
// once, within the bound; one's failure is its own.
func TestParallelProjects(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	release := make(chan struct{})
	d, _ := start(t, Config{
		Schedule: Schedule{Cron: "@daily", Location: time.UTC},
		RunNow:   true,
		Projects: []string{"a/shop", "b/shop", "c/shop"},
		Parallel: 2,
		Clock:    clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Backup: func(_ context.Context, p string) (Outcome, error) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			<-release
			mu.Lock()
			inFlight--
			mu.Unlock()
			if p == "a/shop" {
				return Outcome{}, errors.New("engine a is down")
			}
			return Outcome{Archive: p}, nil
		},
	})
	waitFor(t, "two runs at once", func() bool { mu.Lock(); defer mu.Unlock(); return inFlight == 2 })
	close(release)
	waitFor(t, "the tick's end", func() bool { return !d.Status().Running })
	if most != 2 {
		t.Errorf("%d runs at once, want the bound, 2", most)
	}
	st := d.Status()
	if st.Projects["a/shop"].LastRun == nil || st.Projects["a/shop"].LastRun.Succeeded {
		t.Errorf("a/shop: %+v", st.Projects["a/shop"].LastRun)
	}
	for _, p := range []string{"b/shop", "c/shop"} {
		if st.Projects[p].LastSuccess == nil {
			t.Errorf("%s did not succeed: %+v", p, st.Projects[p].LastRun)
		}
	}
}
