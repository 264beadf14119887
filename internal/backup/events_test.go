package backup

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/docker-backup/docker-backup/internal/event"
)

func TestEventsProgress(t *testing.T) {
	var mu sync.Mutex
	var got []event.Event
	sink := event.Sink(func(e event.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
	})
	p := Events{Sink: sink, Every: 1} // every read reports
	c := p.Start("volume data")
	n, err := io.Copy(io.Discard, c.Reader(io.NopCloser(strings.NewReader(strings.Repeat("x", 100000)))))
	if err != nil || n != 100000 {
		t.Fatal(n, err)
	}
	c.Done(nil)
	f := p.Start("database db")
	f.Done(errors.New("boom"))

	if got[0].Type != event.StepStarted || got[0].Step != "volume data" {
		t.Fatalf("first event %+v", got[0])
	}
	progress := 0
	for _, e := range got {
		if e.Type == event.Progress {
			progress++
			if e.Bytes <= 0 || e.Bytes > 100000 {
				t.Errorf("progress bytes %d", e.Bytes)
			}
		}
	}
	if progress == 0 {
		t.Error("no progress event")
	}
	done := got[len(got)-3]
	if done.Type != event.StepFinished || done.Bytes != 100000 || done.Error != "" {
		t.Errorf("finished %+v", done)
	}
	last := got[len(got)-1]
	if last.Type != event.StepFinished || last.Step != "database db" || last.Error != "boom" {
		t.Errorf("failed step %+v", last)
	}
}
