package event

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHandlerTurnsWarningsIntoEvents(t *testing.T) {
	var got []Event
	var logged strings.Builder
	log := slog.New(Handler(slog.NewTextHandler(&logged, nil), func(e Event) { got = append(got, e) }))
	log.With("project", "shop").Info("step done")
	log.With("project", "shop").Warn("volume kept aside", "volume", "data")
	if len(got) != 1 || got[0].Type != Warning || got[0].Message != "volume kept aside project=shop volume=data" {
		t.Fatalf("events %+v", got)
	}
	if !strings.Contains(logged.String(), "step done") || !strings.Contains(logged.String(), "volume kept aside") {
		t.Fatalf("the log lost records: %s", logged.String())
	}
	// Warnings reach the events even when the log shows errors only.
	got = nil
	quiet := slog.New(Handler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}), func(e Event) { got = append(got, e) }))
	quiet.Warn("w")
	if len(got) != 1 {
		t.Fatalf("events %+v", got)
	}
}

func TestNilSinkDrops(t *testing.T) {
	var s Sink
	s.Messagef("nobody hears %s", "this")
}

func TestClip(t *testing.T) {
	if Clip("short") != "short" {
		t.Fatal("a short text changed")
	}
	long := strings.Repeat("é", 3<<20) // 6 MiB, two bytes a character
	c := Clip(long)
	if len(c) > MaxText+64 || !strings.HasSuffix(c, "… [cut: 6291456 bytes in all]") || !utf8.ValidString(c) {
		t.Fatalf("clipped to %d bytes, valid %v: %q", len(c), utf8.ValidString(c), c[len(c)-40:])
	}
	// Bytes that are not UTF-8, each of which JSON writes as six.
	b, _ := json.Marshal(Clip("unknown parameter " + strings.Repeat("\xa2x", 10<<10)))
	if len(b) > MaxText+64 {
		t.Fatalf("a clipped text of invalid UTF-8 is %d bytes of JSON", len(b))
	}
}

func TestClippedLogLines(t *testing.T) {
	var out strings.Builder
	log := slog.New(Clipped(slog.NewJSONHandler(&out, nil)))
	huge := strings.Repeat("x", 10<<20)
	log.With("input", huge).Warn("upload refused: "+huge, "err", errors.New(huge), "group", slog.GroupValue(slog.String("name", huge)))
	if out.Len() > 4*(MaxText+64)+200 || strings.Count(out.String(), "bytes in all") != 4 {
		t.Fatalf("a line of %d bytes: %.300s", out.Len(), out.String())
	}
}
