package event

import (
	"io"
	"log/slog"
	"strings"
	"testing"
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
