package backup

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/docker-backup/docker-backup/internal/event"
)

// Progress reports the bytes read for each database and volume.
type Progress interface {
	Start(label string) Counter
}

// Counter counts one item's bytes.
type Counter interface {
	Reader(r io.ReadCloser) io.Reader
	Done(err error)
}

// Lines is progress as one line per item on a writer (stderr), for logs
// and terminals alike; nil writer means quiet.
type Lines struct {
	W io.Writer
}

func (l Lines) Start(label string) Counter {
	if l.W == nil {
		return nopCounter{}
	}
	return &counter{label: label, start: time.Now(), report: func(c *counter, d time.Duration, err error) {
		if err != nil {
			fmt.Fprintf(l.W, "%s: failed after %s\n", c.label, HumanBytes(c.n.Load()))
			return
		}
		rate := float64(c.n.Load()) / d.Seconds()
		fmt.Fprintf(l.W, "%s: %s in %s (%s/s)\n", c.label, HumanBytes(c.n.Load()), d.Round(time.Millisecond), HumanBytes(int64(rate)))
	}}
}

// counter counts one item's bytes; report says how it went.
type counter struct {
	label  string
	start  time.Time
	n      atomic.Int64
	report func(c *counter, took time.Duration, err error)
	// onRead, if set, sees the count after each read.
	onRead func(n int64)
}

func (c *counter) Reader(r io.ReadCloser) io.Reader {
	return &countingReader{r: r, n: &c.n, onRead: c.onRead}
}

func (c *counter) Done(err error) { c.report(c, time.Since(c.start), err) }

type countingReader struct {
	r      io.Reader
	n      *atomic.Int64
	onRead func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	total := c.n.Add(int64(n))
	if c.onRead != nil {
		c.onRead(total)
	}
	return n, err
}

type nopCounter struct{}

func (nopCounter) Reader(r io.ReadCloser) io.Reader { return r }
func (nopCounter) Done(error)                       {}

// HumanBytes formats a size the way docker does (decimal units).
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// Logged is progress as one structured record per item, for the logs of
// the daemon (text or JSON): no bars, no partial lines.
type Logged struct {
	Log *slog.Logger
}

func (l Logged) Start(label string) Counter {
	return &counter{label: label, start: time.Now(), report: l.report}
}

func (l Logged) report(c *counter, d time.Duration, err error) {
	if err != nil {
		l.Log.Warn("step failed", "step", c.label, "bytes", c.n.Load(), "seconds", d.Seconds())
		return
	}
	l.Log.Info("step done", "step", c.label, "bytes", c.n.Load(), "seconds", d.Seconds())
}

// Events is progress as events: each database or volume a step, started,
// with its bytes at most once a second while it runs, and finished.
type Events struct {
	Sink event.Sink
	// Log, if set, also gets each step's end, as Logged does.
	Log *slog.Logger
	// Every is the least time between two progress events of a step;
	// 0 for a second.
	Every time.Duration
}

func (e Events) Start(label string) Counter {
	every := e.Every
	if every == 0 {
		every = time.Second
	}
	e.Sink.Emit(event.Event{Type: event.StepStarted, Step: label})
	c := &counter{label: label, start: time.Now(), report: func(c *counter, d time.Duration, err error) {
		ev := event.Event{Type: event.StepFinished, Step: c.label, Bytes: c.n.Load(), Seconds: d.Seconds()}
		if err != nil {
			ev.Error = err.Error()
		}
		e.Sink.Emit(ev)
		if e.Log != nil {
			Logged{Log: e.Log}.report(c, d, err)
		}
	}}
	var last atomic.Int64
	last.Store(c.start.UnixNano())
	c.onRead = func(n int64) {
		now := time.Now().UnixNano()
		if prev := last.Load(); now-prev >= int64(every) && last.CompareAndSwap(prev, now) {
			e.Sink.Emit(event.Event{Type: event.Progress, Step: label, Bytes: n})
		}
	}
	return c
}
