// Package jobs keeps the backups and restores the daemon runs, scheduled
// or asked for over the API: their state and their events, for clients
// that poll or follow them. Jobs live in memory; the newest are kept.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker-backup/docker-backup/internal/event"
)

// Kinds of jobs.
const (
	Backup  = "backup"
	Restore = "restore"
)

// State is where a job is.
type State string

const (
	Running State = "running"
	// Waiting: a restore's plan is ready and waits for a confirmation.
	Waiting   State = "waiting-confirmation"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	// Cancelled: stopped by a client or by the daemon's stop.
	Cancelled State = "cancelled"
)

var (
	// ErrNotWaiting: a confirmation for a job that does not wait for one.
	ErrNotWaiting = errors.New("the job does not wait for a confirmation")
	// ErrNotConfirmed: nobody confirmed in time, or the job was cancelled
	// while it waited.
	ErrNotConfirmed = errors.New("not confirmed")
	// ErrCancelled is the cause of a job a client cancelled.
	ErrCancelled = errors.New("cancelled by a client")
)

// maxEvents bounds a job's events; past it, progress events are dropped
// (steps' starts and ends, messages and warnings are kept).
const maxEvents = 5000

// Job is one backup or restore.
type Job struct {
	ID      string
	Kind    string
	Project string
	// Trigger says who started it: "api" or "schedule".
	Trigger string

	cancel  context.CancelCauseFunc
	done    chan struct{}
	confirm chan struct{}

	mu      sync.Mutex
	state   State
	started time.Time
	ended   time.Time
	err     string
	result  any
	events  []event.Event
	seq     int
	// changed is closed, and replaced, at every event: a broadcast.
	changed chan struct{}
}

// View is a job as the API shows it.
type View struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Project   string        `json:"project"`
	Trigger   string        `json:"trigger"`
	State     State         `json:"state"`
	StartDate time.Time     `json:"startDate"`
	EndDate   *time.Time    `json:"endDate,omitempty"`
	Error     string        `json:"error,omitempty"`
	Result    any           `json:"result,omitempty"`
	Events    []event.Event `json:"events,omitempty"`
}

// Emit records an event and wakes whoever follows the job.
func (j *Job) Emit(e event.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.emitLocked(e)
}

func (j *Job) emitLocked(e event.Event) {
	if e.Type == event.Progress && len(j.events) >= maxEvents {
		return
	}
	// An error that quotes a huge input stays a line: the job's JSON and
	// its event stream carry every event.
	e.Message, e.Error = event.Clip(e.Message), event.Clip(e.Error)
	j.seq++
	e.Seq = j.seq
	j.events = append(j.events, e)
	close(j.changed)
	j.changed = make(chan struct{})
}

// Sink is the job's event sink.
func (j *Job) Sink() event.Sink { return j.Emit }

// View is the job now; with its events when events is set.
func (j *Job) View(events bool) View {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := View{ID: j.ID, Kind: j.Kind, Project: j.Project, Trigger: j.Trigger, State: j.state, StartDate: j.started, Error: j.err, Result: j.result}
	if !j.ended.IsZero() {
		end := j.ended
		v.EndDate = &end
	}
	if events {
		v.Events = append([]event.Event{}, j.events...)
	}
	return v
}

// Next returns the events after seq after, waiting until there are some
// or the job ends; ended tells that no more will come.
func (j *Job) Next(ctx context.Context, after int) (evs []event.Event, ended bool, err error) {
	for {
		j.mu.Lock()
		for _, e := range j.events {
			if e.Seq > after {
				evs = append(evs, e)
			}
		}
		changed, over := j.changed, !j.ended.IsZero()
		j.mu.Unlock()
		if len(evs) > 0 || over {
			return evs, over, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Done is closed when the job has ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Cancel stops the job: a backup is cancelled cleanly, a restore that
// waits for its confirmation ends with nothing changed, one that runs
// rolls back.
func (j *Job) Cancel() { j.cancel(ErrCancelled) }

// Confirm lets a restore that waits for it go on.
func (j *Job) Confirm() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Waiting {
		return fmt.Errorf("%w: it is %s", ErrNotWaiting, j.state)
	}
	j.state = Running
	close(j.confirm)
	return nil
}

// AwaitConfirmation marks the job as waiting and blocks until a client
// confirms, the job is cancelled or timeout passes. A job may wait again
// after a confirmation (for a new plan).
func (j *Job) AwaitConfirmation(ctx context.Context, timeout time.Duration) error {
	j.mu.Lock()
	j.state = Waiting
	confirm := make(chan struct{})
	j.confirm = confirm
	j.mu.Unlock()
	j.Emit(event.Event{Type: event.Message, Message: fmt.Sprintf("waiting for a confirmation (POST /api/v1/jobs/%s/confirm) for %s", j.ID, timeout)})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-confirm:
		j.Emit(event.Event{Type: event.Message, Message: "confirmed"})
		return nil
	case <-ctx.Done():
	case <-t.C:
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state == Running { // confirmed just as it timed out
		return nil
	}
	j.state = Running
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrNotConfirmed, context.Cause(ctx))
	}
	return fmt.Errorf("%w within %s: nothing was changed", ErrNotConfirmed, timeout)
}

// Func is a job's work: it reports on j's sink and returns its result.
type Func func(ctx context.Context, j *Job) (any, error)

// Registry holds the jobs.
type Registry struct {
	// Keep is how many ended jobs are kept; 0 for 50.
	Keep int

	mu    sync.Mutex
	jobs  map[string]*Job
	order []*Job
}

// New starts a job running fn under ctx, in the background.
func (r *Registry) New(ctx context.Context, kind, project, trigger string, fn Func) *Job {
	jctx, cancel := context.WithCancelCause(ctx)
	j := &Job{ID: newID(), Kind: kind, Project: project, Trigger: trigger, cancel: cancel, done: make(chan struct{}),
		state: Running, started: time.Now().UTC(), changed: make(chan struct{})}
	r.add(j)
	j.Emit(event.Event{Type: event.Started, Message: fmt.Sprintf("%s of project %s started (%s)", kind, project, trigger)})
	go func() {
		defer cancel(nil)
		res, err := fn(jctx, j)
		r.finish(j, jctx, res, err)
	}()
	return j
}

// Run runs fn as a job and waits for it (the scheduled runs).
func (r *Registry) Run(ctx context.Context, kind, project, trigger string, fn Func) (any, error) {
	var res any
	var err error
	j := r.New(ctx, kind, project, trigger, func(ctx context.Context, j *Job) (any, error) {
		res, err = fn(ctx, j)
		return res, err
	})
	<-j.done
	return res, err
}

func (r *Registry) finish(j *Job, ctx context.Context, res any, err error) {
	// Trimmed before done closes: whoever waited for the job (Run) lists
	// no more than Keep ended jobs.
	r.trim(j)
	ev := event.Event{Type: event.Finished, Time: time.Now()}
	// The state, the last event, the end and done change at once: whoever
	// sees one of them sees the others.
	j.mu.Lock()
	switch {
	case err == nil:
		j.state, j.result = Succeeded, res
		ev.Result = res
		ev.Message = j.Kind + " succeeded"
	case errors.Is(context.Cause(ctx), ErrCancelled) || errors.Is(err, ErrNotConfirmed):
		j.state, j.err = Cancelled, event.Clip(err.Error())
		ev.Error = j.err
	default:
		j.state, j.err = Failed, event.Clip(err.Error())
		ev.Error = j.err
	}
	j.emitLocked(ev)
	j.ended = time.Now().UTC()
	close(j.done)
	j.mu.Unlock()
}

func (r *Registry) add(j *Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil {
		r.jobs = map[string]*Job{}
	}
	r.jobs[j.ID] = j
	r.order = append(r.order, j)
}

// trim forgets the oldest ended jobs past Keep, counting ending, whose
// done is about to close, as ended.
func (r *Registry) trim(ending *Job) {
	keep := r.Keep
	if keep == 0 {
		keep = 50
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ended := 0
	for i := len(r.order) - 1; i >= 0; i-- {
		j := r.order[i]
		if j != ending && !isClosed(j.done) {
			continue
		}
		ended++
		if ended > keep {
			delete(r.jobs, j.ID)
			r.order = append(r.order[:i], r.order[i+1:]...)
		}
	}
}

// Get finds a job by its ID.
func (r *Registry) Get(id string) (*Job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	return j, ok
}

// Last is the newest job of kind, nil for none.
func (r *Registry) Last(kind string) *Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.order) - 1; i >= 0; i-- {
		if r.order[i].Kind == kind {
			return r.order[i]
		}
	}
	return nil
}

// Running tells whether a job has not ended.
func (r *Registry) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.order {
		select {
		case <-j.done:
		default:
			return true
		}
	}
	return false
}

// List is the jobs, newest first.
func (r *Registry) List() []View {
	r.mu.Lock()
	jobs := append([]*Job(nil), r.order...)
	r.mu.Unlock()
	out := []View{}
	for i := len(jobs) - 1; i >= 0; i-- {
		out = append(out, jobs[i].View(false))
	}
	return out
}

// Wait waits for every job to end (the daemon's stop).
func (r *Registry) Wait() {
	r.mu.Lock()
	jobs := append([]*Job(nil), r.order...)
	r.mu.Unlock()
	for _, j := range jobs {
		<-j.done
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
