// Command docker-backup is the `docker backup` CLI plugin and, run directly,
// the standalone tool and container entrypoint.
package main

import (
	"os"
	"runtime/debug"

	"github.com/docker-backup/docker-backup/plugin"
)

// memoryLimit is a soft limit for the Go heap. Archives stream through
// fixed-size buffers, so the live heap is small and constant; without a limit
// the collector lets the heap grow to twice the live data between cycles.
const memoryLimit = 64 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	os.Exit(plugin.Main())
}
