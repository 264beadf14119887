package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
)

// ReadManifest reads an archive up to its manifest, the last entry, and
// returns it without checking the entries against it (Verify does): it
// describes an archive quickly, even one that fails verification after the
// manifest was written.
func ReadManifest(ctx context.Context, r io.Reader) (*Manifest, error) {
	return ReadManifestWith(ctx, r, Limits{})
}

// ReadManifestWith is ReadManifest with limits l on the entries it reads
// through (OpenWith).
func ReadManifestWith(ctx context.Context, r io.Reader, l Limits) (*Manifest, error) {
	ar, err := OpenWith(r, l)
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := ar.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no %s", ErrNotArchive, ManifestName)
		}
		if err != nil {
			return nil, err
		}
		if hdr.Name != ManifestName {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifestSize {
			return nil, fmt.Errorf("%w: %s is not a regular file of at most %d MiB", ErrInvalid, ManifestName, maxManifestSize>>20)
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, io.LimitReader(ar, maxManifestSize+1)); err != nil {
			return nil, err
		}
		return parseManifest(b.Bytes())
	}
}
