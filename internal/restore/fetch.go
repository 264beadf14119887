package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// Fetched is a stored archive downloaded and verified.
type Fetched struct {
	Path     string
	Manifest *archive.Manifest
	// Reused: a local copy of the same bytes was there already.
	Reused bool
}

// Fetch downloads the archive name from store into dir, verifying it as
// it arrives (every entry's checksum, and no client command in a dump);
// the local copy appears under its name only once verified, with its
// index, so that docker backup ls lists it.
func Fetch(ctx context.Context, store storage.Backend, name, dir string, ids []age.Identity) (*Fetched, error) {
	where := store.Location() + "/" + name
	info, err := store.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cannot restore from %s: %w", where, err)
	}
	ix, err := storage.ReadIndex(ctx, store, name)
	if err != nil {
		ix = nil // a foreign archive: verified all the same
	}
	local := storage.NewLocal(dir)
	path := filepath.Join(dir, name)
	if _, err := os.Lstat(path); err == nil {
		return reuse(ctx, path, info, ix, ids)
	}
	up, err := local.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Fetched, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return nil, errors.Join(err, up.Abort(actx))
	}
	body, err := store.Open(ctx, name)
	if err != nil {
		return fail(fmt.Errorf("cannot restore from %s: %w", where, err))
	}
	defer body.Close()
	sum := sha256.New()
	counted := &countWriter{}
	tee := io.TeeReader(body, io.MultiWriter(up, sum, counted))
	m, err := verifyStream(ctx, tee, ids, where)
	if err != nil {
		return fail(err)
	}
	// What follows the archive's end (age's last chunk, padding) is part of the file.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fail(fmt.Errorf("downloading %s: %w", where, err))
	}
	if counted.n != info.Size {
		return fail(fmt.Errorf("downloading %s: %d bytes arrived, the storage lists %d: it changed meanwhile, try again", where, counted.n, info.Size))
	}
	if ix != nil && ix.SHA256 != "" && hex.EncodeToString(sum.Sum(nil)) != ix.SHA256 {
		return fail(fmt.Errorf("archive %s refused, nothing was changed: its SHA-256 is not the one its index records", where))
	}
	if err := up.Commit(ctx); err != nil {
		return nil, err
	}
	if ix != nil {
		_ = storage.WriteIndex(ctx, local, *ix)
	}
	return &Fetched{Path: path, Manifest: m}, nil
}

// reuse takes an earlier download of the archive, if it is the same bytes.
func reuse(ctx context.Context, path string, info storage.Info, ix *storage.Index, ids []age.Identity) (*Fetched, error) {
	differs := fmt.Errorf("%s exists and may not be the stored archive: remove it, or download elsewhere with --download-to", path)
	if ix == nil || ix.SHA256 == "" {
		return nil, differs
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil {
		return nil, err
	}
	if n != info.Size || hex.EncodeToString(sum.Sum(nil)) != ix.SHA256 {
		return nil, differs
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	m, err := verifyStream(ctx, f, ids, path)
	if err != nil {
		return nil, err
	}
	return &Fetched{Path: path, Manifest: m, Reused: true}, nil
}

func verifyStream(ctx context.Context, r io.Reader, ids []age.Identity, where string) (*archive.Manifest, error) {
	plain, err := decrypted(r, ids)
	if err != nil {
		return nil, fmt.Errorf("archive %s refused, nothing was changed: %w", where, err)
	}
	m, err := Verify(ctx, plain)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("download of %s interrupted, nothing was changed: %w", where, err)
		}
		return nil, fmt.Errorf("archive %s refused, nothing was changed: %w", where, err)
	}
	return m, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
