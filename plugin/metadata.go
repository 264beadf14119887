package plugin

import (
	"github.com/docker/cli/cli-plugins/metadata"

	"github.com/docker-backup/docker-backup/internal/version"
)

// Name is the plugin's name: `docker backup` runs the binary docker-backup.
const Name = "backup"

// Metadata is what `docker-backup docker-cli-plugin-metadata` prints. The CLI
// runs that for every plugin on `docker help` and `docker info`, so producing
// it must never contact the engine.
func Metadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "docker-backup",
		Version:          version.Version,
		ShortDescription: "Back up and restore docker compose projects",
		URL:              "https://github.com/docker-backup/docker-backup",
	}
}
