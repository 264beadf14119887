package archive

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"path"
)

// treeShape checks what a restore of a volume tree would write, so that a
// hostile archive cannot escape the volume or overwrite one entry with
// another: no entry twice, no entry below a symlink (writing it would
// follow the link out of the volume), no hardlink to an entry below one.
// Memory is bounded per entry: a 16-byte hash of each name, and the
// symlinks' names.
type treeShape struct {
	names    map[[16]byte]struct{}
	symlinks map[string]bool
	// special is the first device or fifo, which only cold archives may
	// hold.
	special string
}

func newTreeShape() *treeShape {
	return &treeShape{names: map[[16]byte]struct{}{}, symlinks: map[string]bool{}}
}

func nameKey(rel string) [16]byte {
	sum := sha256.Sum256([]byte(rel))
	var k [16]byte
	copy(k[:], sum[:16])
	return k
}

func (s *treeShape) add(rel, linkRel string, typ byte) error {
	k := nameKey(rel)
	if _, dup := s.names[k]; dup {
		return fmt.Errorf("entry %s appears twice", rel)
	}
	s.names[k] = struct{}{}
	if p := s.belowSymlink(rel); p != "" {
		return fmt.Errorf("entry %s is below symlink %s: writing it would leave the volume", rel, p)
	}
	switch typ {
	case tar.TypeSymlink:
		s.symlinks[rel] = true
	case tar.TypeLink:
		if p := s.belowSymlink(linkRel); p != "" || s.symlinks[linkRel] {
			return fmt.Errorf("hardlink %s points through symlink %s", rel, linkRel)
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if s.special == "" {
			s.special = rel
		}
	}
	return nil
}

// belowSymlink returns the symlink among rel's parent folders, if any.
func (s *treeShape) belowSymlink(rel string) string {
	if len(s.symlinks) == 0 {
		return ""
	}
	for dir := path.Dir(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if s.symlinks[dir] {
			return dir
		}
	}
	return ""
}
