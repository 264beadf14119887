// Command docker-backup is the `docker backup` CLI plugin and, run directly,
// the standalone tool and container entrypoint.
package main

import (
	"os"
	"runtime"

	// An image FROM scratch has no CA certificates; these compiled-in roots
	// are used only when the system has none, so TLS to S3 still verifies.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/docker-backup/docker-backup/internal/memlimit"
	"github.com/docker-backup/docker-backup/plugin"
)

// memoryLimit is a soft limit for the Go heap. Archives stream through
// fixed-size buffers, so the live heap is small and constant (about 15 MB in
// a restore, 20 MB in a create); without a limit the collector lets the
// heap grow to twice the live data between cycles, and the binary's own
// pages come on top (about 26 MB resident). docs/BENCHMARKS.md, "Memory".
const memoryLimit = 32 << 20

func init() {
	// No memory profile is ever written: sampling allocations for one
	// costs the daemon over a megabyte of resident bucket tables.
	runtime.MemProfileRate = 0
}

func main() {
	memlimit.Init(memoryLimit)
	os.Exit(plugin.Main())
}
