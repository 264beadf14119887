package archive

import (
	"archive/tar"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
)

// pathKey stands for an entry's name: 16 bytes whatever the name's
// length, so that what verify keeps per entry is of one size.
type pathKey [2]uint64

// pathKeys computes the keys of a name and of each of its ancestors in one
// pass over its bytes: the key of a path is a keyed hash of its parent's
// key and its last segment. The seeds are random for each verification,
// so that no archive can be made to collide. Two different paths with one
// key only ever make a check refuse (an entry taken for a duplicate, a
// folder for a symlink), never let one through: every check asks whether
// a key is present.
type pathKeys struct {
	s1, s2 maphash.Seed
	buf    []byte
}

func newPathKeys() *pathKeys {
	return &pathKeys{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), buf: make([]byte, 0, 16+256)}
}

func (p *pathKeys) next(parent pathKey, seg string) pathKey {
	b := binary.LittleEndian.AppendUint64(p.buf[:0], parent[0])
	b = binary.LittleEndian.AppendUint64(b, parent[1])
	b = append(b, seg...)
	p.buf = b[:0]
	return pathKey{maphash.Bytes(p.s1, b), maphash.Bytes(p.s2, b)}
}

// walk calls fn with the key of each ancestor of name (a clean path
// without a trailing slash), from the top, and returns name's own key
// and -1; when fn returns false it stops and returns the length of the
// ancestor it was given. Time is linear in the name's length.
func (p *pathKeys) walk(name string, fn func(k pathKey) bool) (pathKey, int) {
	var k pathKey
	start := 0
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		k = p.next(k, name[start:i])
		start = i + 1
		if fn != nil && !fn(k) {
			return k, i
		}
	}
	return p.next(k, name[start:]), -1
}

// fileKey stands for a logical file's path outside volumes/: a salted
// SHA-256, so that a manifest's path matches an entry only when it is
// that entry's name (a collision would take 2^64 tries against a key
// that no one but this verification knows).
type fileKey [16]byte

type fileKeys struct{ salt [32]byte }

func newFileKeys() *fileKeys {
	var k fileKeys
	_, _ = rand.Read(k.salt[:])
	return &k
}

func (f *fileKeys) key(name string) fileKey {
	h := sha256.New()
	h.Write(f.salt[:])
	h.Write([]byte(name))
	var k fileKey
	copy(k[:], h.Sum(nil))
	return k
}

// treeShape checks what a restore of the volume trees would write, so
// that a hostile archive cannot escape a volume or overwrite one entry
// with another: no entry twice, no entry below a symlink (writing it would
// follow the link out of the volume), no hardlink to an entry below one.
// It holds one key per entry and per symlink, of all volumes together
// (names are full entry names, volumes/NAME/...); checking a name takes
// time linear in its length.
type treeShape struct {
	keys     *pathKeys
	names    map[pathKey]struct{}
	symlinks map[pathKey]struct{}
}

func newTreeShape() *treeShape {
	return &treeShape{keys: newPathKeys(), names: map[pathKey]struct{}{}, symlinks: map[pathKey]struct{}{}}
}

// add checks the entry name (a full name without a trailing slash, its
// volume prefix of length prefix first) and records it; link is a
// hardlink's target in the same form. Errors name entries relative to
// the volume.
func (s *treeShape) add(name, link string, prefix int, typ byte) error {
	rel := func(n string) string { return Short(n[min(prefix, len(n)):]) }
	k, at := s.belowSymlink(name)
	if at >= 0 {
		return fmt.Errorf("entry %s is below symlink %s: writing it would leave the volume", rel(name), rel(name[:at]))
	}
	if _, dup := s.names[k]; dup {
		return fmt.Errorf("entry %s appears twice", rel(name))
	}
	s.names[k] = struct{}{}
	switch typ {
	case tar.TypeSymlink:
		s.symlinks[k] = struct{}{}
	case tar.TypeLink:
		lk, at := s.belowSymlink(link)
		if _, sym := s.symlinks[lk]; at >= 0 || sym {
			return fmt.Errorf("hardlink %s points through symlink %s", rel(name), rel(link))
		}
	}
	return nil
}

// belowSymlink returns name's key and -1, or the length of the parent
// folder of name that is a symlink.
func (s *treeShape) belowSymlink(name string) (pathKey, int) {
	if len(s.symlinks) == 0 {
		return s.keys.walk(name, nil)
	}
	return s.keys.walk(name, func(k pathKey) bool {
		_, sym := s.symlinks[k]
		return !sym
	})
}
