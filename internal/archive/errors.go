package archive

import "errors"

// Sentinel errors. Every error Verify and the Reader return for a bad archive
// wraps one of these (test with errors.Is); the message around it says what
// is wrong and where.
var (
	// ErrNotArchive: the input is not a docker-backup archive at all: not a
	// tar stream (after decompression), or a complete tar without
	// manifest.json.
	ErrNotArchive = errors.New("not a docker-backup archive")

	// ErrTruncated: the archive ends early (a partial copy or an
	// interrupted write).
	ErrTruncated = errors.New("archive is truncated")

	// ErrChecksum: content differs from what the manifest records (size,
	// SHA-256, tree digest), or the archive is corrupt (bad compressed data,
	// bad tar header checksum).
	ErrChecksum = errors.New("checksum mismatch")

	// ErrFormatVersion: manifest.json has a format version this code does
	// not know.
	ErrFormatVersion = errors.New("unsupported archive format version")

	// ErrInvalid: the archive is readable but its structure is wrong: an
	// entry not listed in the manifest, a duplicate entry, an entry missing,
	// an unsafe name, misnumbered parts, an entry after manifest.json, or a
	// manifest.json that cannot be parsed.
	ErrInvalid = errors.New("invalid archive")
)
