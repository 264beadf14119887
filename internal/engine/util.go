package engine

import (
	"context"
	"time"
)

// sleepCtx waits a little longer each attempt, up to half a second.
func sleepCtx(ctx context.Context, attempt int) error {
	d := time.Duration(10*(attempt+1)) * time.Millisecond
	if d > 500*time.Millisecond {
		d = 500 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
