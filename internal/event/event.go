// Package event is what a create or a restore reports while it runs: a
// small stream of typed events that the CLI renders as text and the HTTP
// API serves as JSON, so that both show the same thing and nobody parses
// text.
package event

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Type is the kind of an event.
type Type string

const (
	// Started: the job began.
	Started Type = "started"
	// PlanReady: a restore's plan, before anything changes.
	PlanReady Type = "plan"
	// StepStarted and StepFinished frame one database or volume being
	// read or written; StepFinished carries its bytes and seconds, or
	// its error.
	StepStarted  Type = "step-started"
	StepFinished Type = "step-finished"
	// Progress: the bytes of a running step so far.
	Progress Type = "progress"
	// Message: a line for people (what happens next).
	Message Type = "message"
	// Warning: something went wrong that did not fail the job.
	Warning Type = "warning"
	// Finished: the job ended; Error is set when it failed, Result
	// holds what it produced when it succeeded.
	Finished Type = "finished"
)

// Event is one thing that happened.
type Event struct {
	// Seq numbers a job's events from 1; the job sets it.
	Seq     int       `json:"seq,omitempty"`
	Time    time.Time `json:"time"`
	Type    Type      `json:"type"`
	Step    string    `json:"step,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Seconds float64   `json:"seconds,omitempty"`
	Message string    `json:"message,omitempty"`
	Plan    *Plan     `json:"plan,omitempty"`
	Error   string    `json:"error,omitempty"`
	Result  any       `json:"result,omitempty"`
}

// Sink receives events; a nil Sink drops them. It may be called from
// several goroutines at once (steps run side by side).
type Sink func(Event)

// Emit sends e, stamped with the time if it has none.
func (s Sink) Emit(e Event) {
	if s == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s(e)
}

// Messagef sends a Message event.
func (s Sink) Messagef(format string, args ...any) {
	s.Emit(Event{Type: Message, Message: fmt.Sprintf(format, args...)})
}

// Handler wraps a slog handler so that every record at Warn or above is
// also a Warning event: the API's clients see the warnings the logs get.
func Handler(next slog.Handler, s Sink) slog.Handler {
	return &handler{next: next, sink: s}
}

type handler struct {
	next  slog.Handler
	sink  Sink
	attrs []slog.Attr
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.sink.Emit(Event{Type: Warning, Message: Text(r, h.attrs), Time: r.Time})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// Text is a log record as one line for people: its message, then
// key=value for the attributes of the handler (attrs), then the record's.
func Text(r slog.Record, attrs []slog.Attr) string {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range attrs {
		add(a)
	}
	r.Attrs(add)
	return b.String()
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(as), sink: h.sink, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), sink: h.sink, attrs: h.attrs}
}
