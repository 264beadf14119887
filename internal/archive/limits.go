package archive

import (
	"archive/tar"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The bounds on an archive's metadata that every reader enforces: what an
// entry costs then never depends on what a hostile archive puts in its
// headers. docs/SECURITY.md gives the memory they imply.
const (
	// MaxNameLen bounds an entry's name and link target, in bytes:
	// PATH_MAX, the longest path a Linux system call takes.
	MaxNameLen = 4096
	// MaxPAXBytes bounds the PAX records of one entry (keys and values
	// together): names, times, ownership and extended attributes.
	MaxPAXBytes = 64 << 10

	// DefaultMaxEntries is Limits.MaxEntries when it is zero.
	DefaultMaxEntries = 10_000_000
	// DefaultMaxDepth is Limits.MaxDepth when it is zero.
	DefaultMaxDepth = 1024

	// maxFiles bounds the logical files outside volumes/ (compose
	// files, dumps, exports), and maxTrees the volume trees, of one
	// archive: while it is read, each file costs about 1 KB (its
	// checksum's state, a dump's content checks), each tree a few
	// hundred bytes, whatever their names. A project has one dump per
	// database and one tree per volume or bind mount: 100,000 leaves
	// room for a server of 99,000 databases. (A manifest of at most
	// 64 MiB could list no more than 671,088 of either, each taking
	// more than 100 bytes of it.)
	maxFiles = 100_000
	maxTrees = 100_000
)

// Limits are the bounds on the size of an archive that a reader accepts,
// besides the fixed MaxNameLen and MaxPAXBytes. Zero means the default.
type Limits struct {
	// MaxEntries bounds the tar entries of one archive (default
	// DefaultMaxEntries).
	MaxEntries int64
	// MaxDepth bounds the path segments of an entry's name, e.g. 3 for
	// volumes/data/file (default DefaultMaxDepth).
	MaxDepth int
}

// Check refuses negative limits.
func (l Limits) Check() error {
	if l.MaxEntries < 0 {
		return fmt.Errorf("the maximum number of entries must be positive (0 for the default, %d), not %d", DefaultMaxEntries, l.MaxEntries)
	}
	if l.MaxDepth < 0 {
		return fmt.Errorf("the maximum depth must be positive (0 for the default, %d), not %d", DefaultMaxDepth, l.MaxDepth)
	}
	return nil
}

func (l Limits) entries() int64 {
	if l.MaxEntries <= 0 {
		return DefaultMaxEntries
	}
	return l.MaxEntries
}

func (l Limits) depth() int {
	if l.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return l.MaxDepth
}

// shortBytes is how much of a string Short quotes.
const shortBytes = 120

// Short is s for an error or a log line: as it is when it is short and
// plain (printable, without spaces or quotes), otherwise quoted as %q
// does, and cut after its first bytes, with its length, when it is long.
// What a hostile archive names (entries, link targets, manifest values)
// then never makes a message large.
func Short(s string) string {
	if len(s) <= shortBytes {
		if q := strconv.Quote(s); s != "" && len(q) == len(s)+2 && !strings.ContainsAny(s, " '`") {
			return s
		} else {
			return q
		}
	}
	cut := shortBytes
	for cut > shortBytes-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// quote is s quoted as %q does, cut as Short cuts it.
func quote(s string) string {
	if len(s) <= shortBytes {
		return strconv.Quote(s)
	}
	return Short(s)
}

// maxMessage bounds the joined message of Verify's problems: each quotes
// its names with Short, and there are at most maxProblems of them, but
// a message of the manifest's own or a content check's is cut too.
const maxMessage = 1024

// bounded cuts err's message to maxMessage bytes, keeping what it wraps.
func bounded(err error) error {
	if err == nil || len(err.Error()) <= maxMessage {
		return err
	}
	return &cutError{err: err}
}

type cutError struct{ err error }

func (e *cutError) Error() string {
	s := e.err.Error()
	cut := maxMessage
	for cut > maxMessage-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}

func (e *cutError) Unwrap() error { return e.err }

// paxBytes is the size of an entry's PAX records.
func paxBytes(hdr *tar.Header) int {
	n := 0
	for k, v := range hdr.PAXRecords {
		n += len(k) + len(v)
	}
	return n
}

// depth is the number of path segments of an entry's name.
func depth(name string) int {
	return strings.Count(strings.TrimSuffix(name, "/"), "/") + 1
}

// checkBounds refuses an entry whose metadata is over the bounds.
func (l Limits) checkBounds(hdr *tar.Header) error {
	switch {
	case len(hdr.Name) > MaxNameLen:
		return fmt.Errorf("%w: an entry's name is %d bytes, more than the %d allowed: %s", ErrInvalid, len(hdr.Name), MaxNameLen, Short(hdr.Name))
	case len(hdr.Linkname) > MaxNameLen:
		return fmt.Errorf("%w: entry %s: its link target is %d bytes, more than the %d allowed", ErrInvalid, Short(hdr.Name), len(hdr.Linkname), MaxNameLen)
	}
	if n := paxBytes(hdr); n > MaxPAXBytes {
		return fmt.Errorf("%w: entry %s has %d bytes of PAX records, more than the %d KiB allowed", ErrInvalid, Short(hdr.Name), n, MaxPAXBytes>>10)
	}
	if d := depth(hdr.Name); d > l.depth() {
		return fmt.Errorf("%w: entry %s is %d folders deep, more than the %d allowed (--max-depth)", ErrInvalid, Short(hdr.Name), d, l.depth())
	}
	return nil
}
