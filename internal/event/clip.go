package event

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// MaxText bounds a text quoted in an event, an API answer or a log line.
// An error may quote its input (a name, a header, a line of a dump), and
// an input can be megabytes long: cut, it still says what went wrong.
const MaxText = 2 << 10

// Clip is s cut to about MaxText bytes, on a character boundary, with a
// note of its full length.
func Clip(s string) string {
	// Invalid UTF-8 first, one replacement for each run of it: JSON
	// writes each invalid byte as a six-byte \ufffd, which made a clipped
	// error six times its bound.
	n := len(s)
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… [cut: %d bytes in all]", s[:cut], n)
}

// Clipped wraps a slog handler so that no record's message nor attribute
// is longer than Clip leaves it.
func Clipped(next slog.Handler) slog.Handler { return clipHandler{next} }

type clipHandler struct{ next slog.Handler }

func (h clipHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h clipHandler) Handle(ctx context.Context, r slog.Record) error {
	c := slog.NewRecord(r.Time, r.Level, Clip(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		c.AddAttrs(clipAttr(a))
		return true
	})
	return h.next.Handle(ctx, c)
}

func (h clipHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = clipAttr(a)
	}
	return clipHandler{h.next.WithAttrs(out)}
}

func (h clipHandler) WithGroup(name string) slog.Handler { return clipHandler{h.next.WithGroup(name)} }

func clipAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Clip(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = clipAttr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s := x.Error(); len(s) > MaxText {
				return slog.String(a.Key, Clip(s))
			}
		case fmt.Stringer:
			if s := x.String(); len(s) > MaxText {
				return slog.String(a.Key, Clip(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
