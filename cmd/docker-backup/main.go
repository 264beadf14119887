// Command docker-backup is the `docker backup` CLI plugin and, run directly,
// the standalone tool and container entrypoint.
package main

import (
	"os"

	"github.com/docker-backup/docker-backup/plugin"
)

func main() {
	os.Exit(plugin.Main())
}
