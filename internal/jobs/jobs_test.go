package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/event"
)

func TestJobLifecycle(t *testing.T) {
	var r Registry
	release := make(chan struct{})
	j := r.New(context.Background(), Backup, "shop", "api", func(ctx context.Context, j *Job) (any, error) {
		j.Sink().Messagef("working")
		<-release
		return "done", nil
	})
	if !r.Running() || r.Last(Backup) != j || r.Last(Restore) != nil {
		t.Fatal("the job is not listed as running")
	}
	// A follower sees the events as they come, then the end.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, ended, err := j.Next(ctx, 0)
	if err != nil || ended || evs[0].Type != event.Started || evs[0].Seq != 1 {
		t.Fatalf("first events %+v %v %v", evs, ended, err)
	}
	last := evs[len(evs)-1].Seq
	close(release)
	var all []event.Event
	for {
		evs, ended, err := j.Next(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if len(evs) > 0 {
			last = evs[len(evs)-1].Seq
		}
		if ended {
			break
		}
	}
	if all[len(all)-1].Type != event.Finished || all[len(all)-1].Result != "done" {
		t.Fatalf("last event %+v", all[len(all)-1])
	}
	v := j.View(true)
	if v.State != Succeeded || v.EndDate == nil || v.Result != "done" || len(v.Events) < 3 || r.Running() {
		t.Fatalf("view %+v", v)
	}
	if got, ok := r.Get(j.ID); !ok || got != j {
		t.Fatal("Get")
	}
}

func TestConfirmation(t *testing.T) {
	var r Registry
	run := func(timeout time.Duration) *Job {
		return r.New(context.Background(), Restore, "shop", "api", func(ctx context.Context, j *Job) (any, error) {
			if err := j.AwaitConfirmation(ctx, timeout); err != nil {
				return nil, err
			}
			return "applied", nil
		})
	}
	waitState := func(j *Job, s State) {
		t.Helper()
		for range 1000 {
			if j.View(false).State == s {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("state %s, want %s", j.View(false).State, s)
	}

	j := run(time.Hour)
	waitState(j, Waiting)
	if err := j.Confirm(); err != nil {
		t.Fatal(err)
	}
	<-j.Done()
	if v := j.View(false); v.State != Succeeded {
		t.Fatalf("confirmed: %+v", v)
	}
	if err := j.Confirm(); !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("second confirm: %v", err)
	}

	j = run(time.Hour)
	waitState(j, Waiting)
	j.Cancel()
	<-j.Done()
	if v := j.View(false); v.State != Cancelled {
		t.Fatalf("cancelled: %+v", v)
	}

	j = run(10 * time.Millisecond)
	<-j.Done()
	if v := j.View(false); v.State != Cancelled || v.Error == "" {
		t.Fatalf("timed out: %+v", v)
	}
}

// A restore whose plan changed while it waited waits again, for a
// confirmation of the new plan.
func TestConfirmationAgain(t *testing.T) {
	var r Registry
	waits := make(chan int, 2)
	j := r.New(context.Background(), Restore, "shop", "api", func(ctx context.Context, j *Job) (any, error) {
		for i := range 2 {
			waits <- i
			if err := j.AwaitConfirmation(ctx, time.Hour); err != nil {
				return nil, err
			}
		}
		return "applied", nil
	})
	for i := range 2 {
		<-waits
		for n := 0; j.View(false).State != Waiting; n++ {
			if n == 5000 {
				t.Fatalf("wait %d: the job is %s, not waiting for a confirmation", i, j.View(false).State)
			}
			time.Sleep(time.Millisecond)
		}
		if err := j.Confirm(); err != nil {
			t.Fatal(err)
		}
	}
	<-j.Done()
	if v := j.View(false); v.State != Succeeded {
		t.Fatalf("%+v", v)
	}
}

// A failure quoting a huge input is cut in the job's view and events.
func TestHugeErrorsAreCut(t *testing.T) {
	var r Registry
	huge := strings.Repeat("x", 10<<20)
	_, err := r.Run(context.Background(), Backup, "shop", "schedule", func(_ context.Context, j *Job) (any, error) {
		j.Sink().Messagef("reading %s", huge)
		return nil, errors.New(huge)
	})
	if err == nil {
		t.Fatal("no error")
	}
	v := r.List()[0]
	j, _ := r.Get(v.ID)
	full := j.View(true)
	b, _ := json.Marshal(full)
	if len(b) > 16<<10 || !strings.Contains(full.Error, "bytes in all") {
		t.Fatalf("the job's JSON is %d bytes", len(b))
	}
}

func TestFailureAndTrim(t *testing.T) {
	r := Registry{Keep: 2}
	for range 4 {
		_, err := r.Run(context.Background(), Backup, "shop", "schedule", func(context.Context, *Job) (any, error) {
			return nil, errors.New("disk full")
		})
		if err == nil || err.Error() != "disk full" {
			t.Fatal(err)
		}
	}
	list := r.List()
	if len(list) != 2 || list[0].State != Failed || list[0].Error != "disk full" {
		t.Fatalf("list %+v", list)
	}
}

func TestProgressBounded(t *testing.T) {
	var r Registry
	j := r.New(context.Background(), Backup, "shop", "api", func(ctx context.Context, j *Job) (any, error) {
		for range maxEvents + 10 {
			j.Emit(event.Event{Type: event.Progress, Bytes: 1})
		}
		j.Sink().Messagef("kept")
		return nil, nil
	})
	<-j.Done()
	v := j.View(true)
	if len(v.Events) > maxEvents+3 || v.Events[len(v.Events)-2].Message != "kept" {
		t.Fatalf("%d events, last %+v", len(v.Events), v.Events[len(v.Events)-2])
	}
}

// A job seen in an end state is over everywhere: Done is closed and the
// registry does not count it as running (the API's /status after a
// client saw the job succeed).
func TestEndIsSeenAtOnce(t *testing.T) {
	var r Registry
	for range 200 {
		start := make(chan struct{})
		j := r.New(context.Background(), Backup, "shop", "api", func(context.Context, *Job) (any, error) {
			<-start
			return nil, nil
		})
		seen := make(chan error, 1)
		go func() {
			for {
				if st := j.View(false).State; st != Running {
					select {
					case <-j.Done():
						if r.Running() {
							seen <- errors.New("a succeeded job still counts as running")
							return
						}
						seen <- nil
					default:
						seen <- errors.New("a succeeded job is not done")
					}
					return
				}
			}
		}()
		close(start)
		if err := <-seen; err != nil {
			t.Fatal(err)
		}
		<-j.Done()
	}
}

// Run returns with the registry already trimmed: the daemon's and the
// API's lists never hold more than Keep ended jobs.
func TestTrimBeforeRunReturns(t *testing.T) {
	r := Registry{Keep: 1}
	for i := range 20000 {
		r.Run(context.Background(), Backup, "shop", "schedule", func(context.Context, *Job) (any, error) { return nil, nil })
		if n := len(r.List()); n > 1 {
			t.Fatalf("run %d: %d jobs listed after Run returned, Keep is 1", i, n)
		}
	}
}
