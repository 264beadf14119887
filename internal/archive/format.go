package archive

import (
	"fmt"
	"strconv"
	"strings"
)

// Format constants: the names and layout every writer and reader of
// docker-backup archives agrees on. docs/FORMAT.md describes them for people.
const (
	// FormatVersion is the version of the layout and manifest written here.
	// Readers refuse versions they do not know.
	FormatVersion = 1

	// ManifestName is the manifest's path in the archive. It is the last
	// entry: it holds the sizes and checksums of everything before it.
	ManifestName = "manifest.json"

	ComposeDir   = "compose/"
	DatabasesDir = "databases/"
	VolumesDir   = "volumes/"
	// ExportsDir holds create --export's SQLite files: a copy of each
	// database that any SQLite tool opens; restore does not read them.
	ExportsDir = "exports/"

	// ChunkSize bounds the memory a stream of unknown length (a database
	// dump) needs: tar headers carry sizes, so such a stream is written as
	// numbered parts of ChunkSize bytes: NAME.000000, NAME.000001...
	// `cat NAME.* ` gives the stream back. Each concurrent stream holds one
	// part in memory; 2 MiB keeps a create within its memory budget and
	// still allows streams of 2 TiB (maxParts).
	ChunkSize = 2 << 20
	// MaxChunkSize is the largest part a reader accepts: archives written
	// before ChunkSize shrank have 8 MiB parts.
	MaxChunkSize = 8 << 20

	// PartSuffixDigits is the width of the part number.
	PartSuffixDigits = 6
)

// Compression names the archive's outer compression.
type Compression string

const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// ParseCompression reads a compression setting: zstd, gzip or none, and
// for zstd and gzip an optional level after a colon (zstd:1 to zstd:22,
// gzip:1 to gzip:9); level 0 is the compressor's default.
func ParseCompression(s string) (Compression, int, error) {
	name, lvl, hasLevel := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	c := Compression(name)
	if name == "" {
		c = Zstd
	}
	maxLevel := 0
	switch c {
	case Zstd:
		maxLevel = 22
	case Gzip:
		maxLevel = 9
	case None:
	default:
		return "", 0, fmt.Errorf("unknown compression %q: use zstd, gzip or none, with a level for zstd (zstd:1 to zstd:22) and gzip (gzip:1 to gzip:9)", s)
	}
	if !hasLevel {
		return c, 0, nil
	}
	level, err := strconv.Atoi(lvl)
	if err != nil || level < 1 || level > maxLevel {
		if maxLevel == 0 {
			return "", 0, fmt.Errorf("compression %q: none takes no level", s)
		}
		return "", 0, fmt.Errorf("compression %q: the level of %s goes from 1 to %d", s, c, maxLevel)
	}
	return c, level, nil
}

// Ext is the file name extension for archives of this compression.
func (c Compression) Ext() string {
	switch c {
	case Gzip:
		return ".tar.gz"
	case None:
		return ".tar"
	default:
		return ".tar.zst"
	}
}
