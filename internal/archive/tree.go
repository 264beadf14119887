package archive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"path"
	"strconv"
	"strings"
)

// TreeSummary sums up one volume tree: its number of entries, the bytes of
// its regular files and its TreeDigest (hex SHA-256).
type TreeSummary struct {
	Entries int64
	Bytes   int64
	Digest  string
	// Dropped counts the device and fifo nodes WriteTree left out
	// (Writer.DropSpecial); they are not in the tree.
	Dropped int
	// Special is what WriteTree wrote of setuid and setgid files,
	// devices and fifos, and files with capabilities; nil for none.
	Special *Special
}

// TreeEntry is one entry of a volume tree as the tree digest sees it.
type TreeEntry struct {
	// Name is relative to the volume's prefix, cleaned, without a trailing
	// slash; the root is ".".
	Name     string
	Typeflag byte
	// Mode is masked with 0o7777 (permissions, setuid, setgid, sticky).
	Mode    int64
	UID     int
	GID     int
	ModUnix int64
	// Linkname is a symlink's target as stored, or a hardlink's target
	// relative to the prefix (same form as Name); empty otherwise.
	Linkname string
	// Size is a regular file's size, 0 for every other type.
	Size int64
	// SHA256 is the hex SHA-256 of a regular file's content, empty for every
	// other type.
	SHA256 string
}

// Line is the entry's canonical line, the unit the tree digest hashes:
//
//	name NUL typeflag(decimal) NUL mode(octal) NUL uid NUL gid NUL
//	mtime(unix seconds) NUL linkname NUL size NUL sha256(hex) "\n"
//
// Writer and reader both use it, so they cannot disagree.
func (e TreeEntry) Line() string {
	var b strings.Builder
	b.Grow(len(e.Name) + len(e.Linkname) + 128)
	b.WriteString(e.Name)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(int(e.Typeflag)))
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.Mode&0o7777, 8))
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(e.UID))
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(e.GID))
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.ModUnix, 10))
	b.WriteByte(0)
	b.WriteString(e.Linkname)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.Size, 10))
	b.WriteByte(0)
	b.WriteString(e.SHA256)
	b.WriteByte('\n')
	return b.String()
}

// TreeEntryOf is the digest's view of an entry read from an archive's
// volume tree: rel is its name below the tree's prefix ("." for the
// root), linkRel a hardlink's target below it, sum a regular file's hex
// SHA-256. A restore computes the digest of what it writes with it.
func TreeEntryOf(rel, linkRel string, hdr *tar.Header, sum string) TreeEntry {
	return treeEntry(rel, linkRel, hdr, sum)
}

// treeEntry builds the digest's view of an archived tree entry. rel and
// linkRel are relative to the prefix (linkRel only matters for hardlinks);
// sum is the hex SHA-256 of a regular file's content.
func treeEntry(rel, linkRel string, hdr *tar.Header, sum string) TreeEntry {
	e := TreeEntry{
		Name:     rel,
		Typeflag: hdr.Typeflag,
		Mode:     hdr.Mode & 0o7777,
		UID:      hdr.Uid,
		GID:      hdr.Gid,
		ModUnix:  hdr.ModTime.Unix(),
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		e.Size = hdr.Size
		e.SHA256 = sum
	case tar.TypeLink:
		e.Linkname = linkRel
	case tar.TypeSymlink:
		e.Linkname = hdr.Linkname
	}
	return e
}

// TreeDigest accumulates a volume tree's digest: SHA-256 over the canonical
// lines (TreeEntry.Line) of its entries, in archive order. The zero value is
// not usable: use NewTreeDigest.
type TreeDigest struct {
	h       hash.Hash
	entries int64
	bytes   int64
}

// NewTreeDigest returns an empty tree digest.
func NewTreeDigest() *TreeDigest { return &TreeDigest{h: sha256.New()} }

// Add hashes one entry's canonical line.
func (d *TreeDigest) Add(e TreeEntry) {
	d.h.Write([]byte(e.Line()))
	d.entries++
	if e.Typeflag == tar.TypeReg {
		d.bytes += e.Size
	}
}

// Summary returns the entries, bytes and hex digest so far.
func (d *TreeDigest) Summary() TreeSummary {
	return TreeSummary{Entries: d.entries, Bytes: d.bytes, Digest: hex.EncodeToString(d.h.Sum(nil))}
}

// treeTypeSupported tells the entry types a volume tree may hold.
func treeTypeSupported(t byte) bool {
	switch t {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return true
	}
	return false
}

// cleanRel cleans a name inside a tree ("./", "./a/b", "a/b/", "") into
// its relative form: "." for the root, "a/b" otherwise. Absolute names and
// names that climb out of the tree ("..") are errors.
func cleanRel(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute name %s", quote(name))
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("name %s contains a NUL byte", quote(name))
	}
	rel := path.Clean(name)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("name %s leaves its directory (\"..\")", quote(name))
	}
	return rel, nil
}

// joinPrefix puts a relative tree name under prefix ("volumes/x/").
func joinPrefix(prefix, rel string) string {
	if rel == "." {
		return prefix
	}
	return prefix + rel
}
