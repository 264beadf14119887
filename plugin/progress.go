package plugin

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/restore"
)

// bars shows one live progress bar per database and volume on a terminal:
// bytes so far and the average rate. Sizes are not known in advance (dumps
// stream), so the bars count up rather than fill.
type bars struct {
	p *mpb.Progress
}

func newBars(w io.Writer) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(1), mpb.WithRefreshRate(200*time.Millisecond))}
}

func (b *bars) Start(label string) backup.Counter {
	bar := b.p.New(0, mpb.NopStyle(),
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.Current(decor.SizeB1000(0), "% .1f", decor.WCSyncSpace),
			decor.OnComplete(decor.AverageSpeed(decor.SizeB1000(0), "% .1f", decor.WCSyncSpace), ""),
			decor.OnComplete(decor.Name(""), " done"),
		),
	)
	return &barCounter{bar: bar}
}

// Wait lets the bars draw their final state.
func (b *bars) Wait() { b.p.Wait() }

type barCounter struct {
	bar *mpb.Bar
}

func (c *barCounter) Reader(r io.ReadCloser) io.Reader {
	pr, err := c.bar.ProxyReader(r)
	if err != nil {
		return r // counting is a nicety: never fail the backup over it
	}
	return pr
}

func (c *barCounter) Done(err error) {
	if err != nil {
		c.bar.Abort(false)
		return
	}
	c.bar.SetTotal(-1, true)
}

// textEvents renders a service's events for people, on stderr: the plan
// and the messages. Progress has its own renderer (bars or lines) and
// warnings reach the log.
func textEvents(w io.Writer) event.Sink {
	var mu sync.Mutex
	return func(e event.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case event.PlanReady:
			restore.RenderPlan(w, e.Plan)
		case event.Message:
			fmt.Fprintln(w, e.Message)
		}
	}
}
