// Package memlimit keeps the Go runtime's soft memory limit: a base for
// what streams through fixed buffers, raised while large buffers that
// scale with a setting live (an S3 upload's parts). Without the raise, a
// live heap above the limit would keep the collector running.
package memlimit

import (
	"os"
	"runtime/debug"
	"sync"
)

var (
	mu      sync.Mutex
	managed bool
	base    int64
	extra   int64
)

// Init sets the base limit, unless the user chose one with GOMEMLIMIT:
// then nothing here changes it.
func Init(limit int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	managed, base = true, limit
	debug.SetMemoryLimit(base + extra)
}

// Reserve raises the limit by n bytes until release is called (more than
// once is harmless).
func Reserve(n int64) (release func()) {
	mu.Lock()
	defer mu.Unlock()
	extra += n
	if managed {
		debug.SetMemoryLimit(base + extra)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			extra -= n
			if managed {
				debug.SetMemoryLimit(base + extra)
			}
		})
	}
}
