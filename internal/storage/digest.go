package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// Digest counts and hashes (SHA-256) what is written to it: the size and
// checksum an index records of an archive, taken as the archive streams
// by (written, or downloaded).
type Digest struct {
	n int64
	h hash.Hash
}

// NewDigest is a Digest; unhashed, it only counts (an archive on stdout
// gets no index).
func NewDigest(hashed bool) *Digest {
	d := &Digest{}
	if hashed {
		d.h = sha256.New()
	}
	return d
}

func (d *Digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	if d.h != nil {
		d.h.Write(p)
	}
	return len(p), nil
}

// Size is the number of bytes written.
func (d *Digest) Size() int64 { return d.n }

// SHA256 is the hex SHA-256 of what was written; "" when unhashed.
func (d *Digest) SHA256() string {
	if d.h == nil {
		return ""
	}
	return hex.EncodeToString(d.h.Sum(nil))
}
