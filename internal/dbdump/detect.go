package dbdump

import (
	"context"
	"strings"
)

// imageHints maps words in image names to engines. Matched against the
// repository's last path elements, so registry/org prefixes do not matter.
var imageHints = []struct {
	word, engine string
}{
	{"postgis", Postgres},
	{"timescaledb", Postgres},
	{"postgresql", Postgres},
	{"postgres", Postgres},
	{"pgvector", Postgres},
	{"supabase/postgres", Postgres},
	{"mariadb", MySQL},
	{"mysql", MySQL},
	{"percona", MySQL},
}

// companions are words of images that come with a database but run none
// (metrics exporters, REST front ends, backup sidecars, routers).
var companions = []string{"exporter", "postgrest", "backup", "router"}

// notRecords are images of services that hold no system of record by
// default (caches, brokers): skipped with a note unless x-backup includes them.
var notRecords = []string{"redis", "valkey", "memcached", "keydb", "dragonfly", "rabbitmq"}

func repository(image string) string {
	img := strings.ToLower(image)
	if i := strings.IndexAny(img, "@"); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		img = img[:i]
	}
	return img
}

// DetectByImage guesses the engine from the image name ("" when unknown).
func DetectByImage(image string) string {
	repo := repository(image)
	parts := strings.Split(repo, "/")
	last := parts[len(parts)-1]
	for _, c := range companions {
		if strings.Contains(last, c) {
			return ""
		}
	}
	for _, h := range imageHints {
		if strings.Contains(h.word, "/") {
			if strings.HasSuffix(repo, h.word) {
				return h.engine
			}
			continue
		}
		if strings.Contains(last, h.word) {
			return h.engine
		}
	}
	return ""
}

// NotARecord reports images that by default hold no system of record.
func NotARecord(image string) bool {
	parts := strings.Split(repository(image), "/")
	last := parts[len(parts)-1]
	for _, n := range notRecords {
		if strings.Contains(last, n) {
			return true
		}
	}
	return false
}

// DetectByProbe looks for a database server running inside a container,
// for images whose names say nothing.
func DetectByProbe(ctx context.Context, x execer, containerID string) string {
	// A server process must run: app images often ship the client tools,
	// and some even the server binaries.
	out, err := capture(ctx, x, containerID, []string{"sh", "-c",
		"for f in /proc/[0-9]*/comm; do cat \"$f\" 2>/dev/null; done | sort -u"}, nil)
	if err != nil {
		return ""
	}
	for _, proc := range lines(out) {
		switch proc {
		case "postgres", "postmaster":
			return Postgres
		case "mariadbd", "mysqld":
			return MySQL
		}
	}
	return ""
}
