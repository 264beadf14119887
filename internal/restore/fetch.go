package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// Fetched is a stored archive downloaded and verified.
type Fetched struct {
	Path     string
	Manifest *archive.Manifest
	// Signature is how the archive was signed, as verified: Trusted
	// when by a key of the trust list.
	Signature sign.Status
	// Reused: a local copy of the same bytes was there already.
	Reused bool
	// sig is the signature checked (the armored .sig); nil for none.
	sig []byte
	// size and modTime are the local copy's when it was verified: a
	// restore of it checks them instead of reading it all again.
	size    int64
	modTime time.Time
	// limits are those it was verified with: a restore applies it
	// with them.
	limits archive.Limits
}

// stat records the local copy's size and time as verified.
func (f *Fetched) stat() error {
	fi, err := os.Stat(f.Path)
	if err != nil {
		return err
	}
	f.size, f.modTime = fi.Size(), fi.ModTime()
	return nil
}

// unchanged tells whether fi is still the copy Fetch verified.
func (f *Fetched) unchanged(path string, fi os.FileInfo) bool {
	return f != nil && f.Path == path && f.size == fi.Size() && f.modTime.Equal(fi.ModTime())
}

// Discard removes the copy Fetch downloaded, with its index; a copy that
// was there before (Reused) is the user's and stays.
func (f *Fetched) Discard() error {
	if f.Reused {
		return nil
	}
	return errors.Join(os.Remove(f.Path), ignoreMissing(os.Remove(f.Path+storage.SignatureSuffix)), ignoreMissing(os.Remove(f.Path+storage.IndexSuffix)))
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Fetch downloads the archive name from store into dir, verifying it as
// it arrives (every entry's checksum, and no client command in a dump);
// the local copy appears under its name only once verified, with its
// signature and index, so that docker backup ls lists it. Its signature
// is NAME.sig in the storage, else the one its index holds (unless
// vo.Signature gives one); with a trust list, an archive the signature
// does not admit is refused before a byte of it is read.
func Fetch(ctx context.Context, store storage.Backend, name, dir string, vo VerifyOptions) (*Fetched, error) {
	where := store.Location() + "/" + name
	info, err := store.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cannot restore from %s: %w", where, err)
	}
	ix, err := storage.ReadIndex(ctx, store, name)
	if err != nil {
		ix = nil // a foreign archive: verified all the same
	}
	if vo.Signature == nil {
		if vo.Signature, err = storedSignature(ctx, store, name, ix); err != nil {
			return nil, fmt.Errorf("cannot restore from %s: %w", where, err)
		}
	}
	if _, err := vo.Admit(); err != nil {
		return nil, refused(where, err)
	}
	local := storage.NewLocal(dir)
	path := filepath.Join(dir, name)
	if _, err := os.Lstat(path); err == nil {
		f, err := reuse(ctx, path, info, ix, vo)
		if err == nil && vo.Signature != nil {
			if _, serr := os.Lstat(path + storage.SignatureSuffix); errors.Is(serr, os.ErrNotExist) {
				_ = storage.WriteSignature(ctx, local, name, vo.Signature)
			}
		}
		return f, err
	}
	up, err := local.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Fetched, error) { return nil, abort(ctx, up, err) }
	body, err := store.Open(ctx, name)
	if err != nil {
		return fail(fmt.Errorf("cannot restore from %s: %w", where, err))
	}
	defer body.Close()
	digest := storage.NewDigest(true)
	tee := io.TeeReader(body, io.MultiWriter(up, digest))
	m, signed, err := verifyStream(ctx, tee, vo, where)
	if err != nil {
		return fail(err)
	}
	// What follows the archive's end (age's last chunk, padding) is part of the file.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fail(fmt.Errorf("downloading %s: %w", where, err))
	}
	if digest.Size() != info.Size {
		return fail(fmt.Errorf("downloading %s: %d bytes arrived, the storage lists %d: it changed meanwhile, try again", where, digest.Size(), info.Size))
	}
	if ix != nil && ix.SHA256 != "" && digest.SHA256() != ix.SHA256 {
		return fail(fmt.Errorf("archive %s refused, nothing was changed: its SHA-256 is not the one its index records", where))
	}
	if err := up.Commit(ctx); err != nil {
		return nil, err
	}
	// The signature beside the copy lets a restore of it with --trust
	// check it again.
	if vo.Signature != nil {
		_ = storage.WriteSignature(ctx, local, name, vo.Signature)
	}
	if ix != nil {
		_ = storage.WriteIndex(ctx, local, *ix)
	}
	fetched := &Fetched{Path: path, Manifest: m, Signature: signed, sig: vo.Signature, limits: vo.Limits}
	return fetched, fetched.stat()
}

// StoredSignature is the signature of the stored archive name: NAME.sig
// beside it, else the copy its index holds; nil for none.
func StoredSignature(ctx context.Context, store storage.Backend, name string) ([]byte, error) {
	ix, err := storage.ReadIndex(ctx, store, name)
	if err != nil {
		ix = nil
	}
	return storedSignature(ctx, store, name, ix)
}

func storedSignature(ctx context.Context, store storage.Backend, name string, ix *storage.Index) ([]byte, error) {
	sig, err := storage.ReadSignature(ctx, store, name)
	if err != nil || sig != nil {
		return sig, err
	}
	if ix != nil && ix.Signature != "" {
		return []byte(ix.Signature), nil
	}
	return nil, nil
}

// abort removes a half-written local copy, also after a cancel, and
// returns err with how that went.
func abort(ctx context.Context, up storage.Upload, err error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return errors.Join(err, up.Abort(actx))
}

// reuse takes an earlier download of the archive, if it is the same bytes.
func reuse(ctx context.Context, path string, info storage.Info, ix *storage.Index, vo VerifyOptions) (*Fetched, error) {
	differs := fmt.Errorf("%s exists and may not be the stored archive: remove it, or download elsewhere with --download-to", path)
	if ix == nil || ix.SHA256 == "" {
		return nil, differs
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	digest := storage.NewDigest(true)
	if _, err := io.Copy(digest, f); err != nil {
		return nil, err
	}
	if digest.Size() != info.Size || digest.SHA256() != ix.SHA256 {
		return nil, differs
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	fetched := &Fetched{Path: path, Reused: true, sig: vo.Signature, limits: vo.Limits}
	if err := fetched.stat(); err != nil {
		return nil, err
	}
	if fetched.Manifest, fetched.Signature, err = verifyStream(ctx, f, vo, path); err != nil {
		return nil, err
	}
	return fetched, nil
}

// verifyStream verifies an archive arriving on r: one the signature does
// not admit is refused before r is read.
func verifyStream(ctx context.Context, r io.Reader, vo VerifyOptions, where string) (*archive.Manifest, sign.Status, error) {
	if _, err := vo.Admit(); err != nil {
		return nil, sign.Status{}, refused(where, err)
	}
	plain, err := decrypted(r, vo.Identities)
	if err != nil {
		return nil, sign.Status{}, fmt.Errorf("archive %s refused, nothing was changed: %w", where, err)
	}
	m, signed, err := VerifySigned(ctx, plain, vo)
	if err != nil {
		if ctx.Err() != nil {
			return nil, sign.Status{}, fmt.Errorf("download of %s interrupted, nothing was changed: %w", where, err)
		}
		return nil, sign.Status{}, refused(where, err)
	}
	return m, signed, nil
}

// ErrTooLarge: an uploaded archive is over the size limit.
var ErrTooLarge = errors.New("the archive is larger than the upload limit")

// Receive writes an archive arriving on r (an upload) into dir under
// name, verifying it as it arrives, as Fetch does a stored one: it
// appears under its name only once whole and verified, and more than
// limit bytes (limit > 0) end it with ErrTooLarge. Its signature, if
// any, comes in vo.Signature: with a trust list, an upload it does not
// admit is refused before a byte of r is read.
func Receive(ctx context.Context, r io.Reader, name, dir string, limit int64, vo VerifyOptions) (*Fetched, error) {
	if !storage.IsArchiveName(name) || storage.ValidName(name) != nil {
		return nil, fmt.Errorf("%q is not an archive name (NAME.tar.zst, .tar.gz, .tar, optionally .age)", name)
	}
	if _, err := vo.Admit(); err != nil {
		return nil, refused(name, err)
	}
	up, err := storage.NewLocal(dir).Create(ctx, name)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Fetched, error) { return nil, abort(ctx, up, err) }
	lr := &limited{r: r, limit: limit}
	tee := io.TeeReader(lr, up)
	m, signed, err := verifyStream(ctx, tee, vo, name)
	if err == nil {
		_, err = io.Copy(io.Discard, tee)
	}
	if lr.over {
		return fail(fmt.Errorf("%w (%d bytes): nothing was changed", ErrTooLarge, limit))
	}
	if err != nil {
		return fail(err)
	}
	if err := up.Commit(ctx); err != nil {
		return nil, err
	}
	f := &Fetched{Path: filepath.Join(dir, name), Manifest: m, Signature: signed, sig: vo.Signature, limits: vo.Limits}
	return f, f.stat()
}

// limited reads r, failing once more than limit bytes came (limit <= 0:
// no limit).
type limited struct {
	r        io.Reader
	limit, n int64
	over     bool
}

func (l *limited) Read(p []byte) (int, error) {
	if l.over {
		return 0, ErrTooLarge
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.limit > 0 && l.n > l.limit {
		l.over = true
		return n, ErrTooLarge
	}
	return n, err
}
