package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/mholt/archives"
)

// maxManifestSize bounds manifest.json, which a reader holds in memory.
const maxManifestSize = 64 << 20

// tarBlock is the tar block size; the end-of-archive marker is two zero
// blocks.
const tarBlock = 512

// Reader reads an archive's tar entries, whatever its compression, and tells
// apart truncation, corruption and input that is no archive at all: its
// errors wrap ErrTruncated, ErrChecksum or ErrNotArchive. Unlike
// archive/tar's reader it reports a tar stream that lacks its end-of-archive
// marker as truncated, and it reads a compressed stream to its end, so that
// the compressor's own checksum and trailer are checked.
type Reader struct {
	c    Compression
	src  *sourceReader
	dec  io.ReadCloser // nil for None
	tap  *tapReader
	tr   *tar.Reader
	name string // current entry
	n    int64  // entries so far
	lim  Limits
	// end is the offset in the tar stream where the current entry's data
	// and padding end; after it only the end-of-archive marker may come.
	end    int64
	eof    bool
	peeked *tar.Header // read by Parts, returned by the next Next
}

// sourceReader marks errors of the underlying reader, so that an I/O error
// is not taken for corrupt data.
type sourceReader struct{ r io.Reader }

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

// tapReader counts the tar stream's bytes and marks decompressor errors.
type tapReader struct {
	r          io.Reader
	n          int64
	compressed bool
}

type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

func (t *tapReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF && t.compressed {
		var se *sourceError
		if !errors.As(err, &se) && !errors.Is(err, io.ErrUnexpectedEOF) {
			err = &decodeError{err}
		}
	}
	return n, err
}

// maxZstdWindow bounds the window a zstd stream may ask for, which the
// decoder allocates: zstd's own highest level (--ultra -22) uses 128 MiB,
// this package's Writer 8 MiB at most. A stream made with a larger
// window (zstd --long=28 or more) is refused, not decoded.
const maxZstdWindow = 128 << 20

// Open starts reading an archive with the default Limits. It detects the
// compression from the magic bytes (zstd 28 b5 2f fd, gzip 1f 8b,
// anything else is taken for a plain tar stream) with mholt/archives'
// matchers.
func Open(r io.Reader) (*Reader, error) {
	return OpenWith(r, Limits{})
}

// OpenWith is Open with limits l: Next refuses, with an error wrapping
// ErrInvalid, the entry past l.MaxEntries, an entry deeper than
// l.MaxDepth, and one whose name or link target is longer than MaxNameLen
// or whose PAX records are more than MaxPAXBytes.
func OpenWith(r io.Reader, l Limits) (*Reader, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	magic, err := br.Peek(4)
	if len(magic) == 0 {
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("%w: the input is empty", ErrNotArchive)
		}
		return nil, fmt.Errorf("read archive: %w", errors.Unwrap(err))
	}
	ar := &Reader{c: detect(magic), src: src, lim: l}
	var stream io.Reader = br
	switch ar.c {
	case Zstd:
		// The decoder's own goroutines would report a corrupt block near
		// the end as truncation: one goroutine, running ahead of the
		// reader, keeps errors exact and still overlaps the decompression
		// with the hashing.
		dec, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("start zstd decompressor: %w", err)
		}
		ar.dec = newReadAhead(dec.IOReadCloser())
		stream = ar.dec
	case Gzip:
		dec, err := pgzip.NewReader(br)
		if err != nil {
			var se *sourceError
			switch {
			case errors.As(err, &se):
				return nil, fmt.Errorf("read archive: %w", se.err)
			case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
				return nil, fmt.Errorf("%w: the gzip header is incomplete", ErrTruncated)
			default:
				return nil, fmt.Errorf("%w: bad gzip header: %v", ErrNotArchive, err)
			}
		}
		ar.dec = dec
		stream = dec
	}
	ar.tap = &tapReader{r: stream, compressed: ar.c != None}
	ar.tr = tar.NewReader(ar.tap)
	return ar, nil
}

// detect names the compression whose magic bytes start the input.
func detect(magic []byte) Compression {
	ctx := context.Background()
	if mr, err := (archives.Zstd{}).Match(ctx, "", bytes.NewReader(magic)); err == nil && mr.ByStream {
		return Zstd
	}
	if mr, err := (archives.Gz{}).Match(ctx, "", bytes.NewReader(magic)); err == nil && mr.ByStream {
		return Gzip
	}
	return None
}

// Compression is the compression detected.
func (r *Reader) Compression() Compression { return r.c }

// Close releases the decompressor. It does not close the underlying reader.
func (r *Reader) Close() error {
	if r.dec != nil {
		return r.dec.Close()
	}
	return nil
}

func (r *Reader) where() string {
	if r.name == "" {
		return "before the first entry"
	}
	return "after entry " + Short(r.name)
}

// classify turns a read error into one that says what is wrong; where tells
// the position in the tar stream ("in entry x", "after entry x").
func (r *Reader) classify(err error, where string) error {
	var se *sourceError
	var de *decodeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("read archive: %w", se.err)
	case errors.As(err, &de) && (errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded)):
		return fmt.Errorf("%w: the zstd stream needs a window of more than the %d MiB this reader allows (was it compressed with zstd --long=28 or more?); decompress it with zstd -d --long=31 and verify the .tar", ErrInvalid, maxZstdWindow>>20)
	case errors.As(err, &de):
		return fmt.Errorf("%w: corrupt %s data (found %s): %v", ErrChecksum, r.c, where, de.err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		if r.n == 0 && r.c == None && r.tap.n < tarBlock {
			return fmt.Errorf("%w: too short for a tar stream", ErrNotArchive)
		}
		if r.c != None {
			return fmt.Errorf("%w: the %s stream ends early, %s", ErrTruncated, r.c, where)
		}
		return fmt.Errorf("%w: it ends %s", ErrTruncated, where)
	case errors.Is(err, tar.ErrFieldTooLong):
		return fmt.Errorf("%w: a header %s holds more than 1 MiB of names or PAX records", ErrInvalid, where)
	case errors.Is(err, tar.ErrHeader):
		if r.n == 0 {
			return fmt.Errorf("%w: not a tar stream", ErrNotArchive)
		}
		return fmt.Errorf("%w: corrupt tar header %s", ErrChecksum, where)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return fmt.Errorf("read archive %s: %w", where, err)
	}
}

// Next advances to the next entry. At the end of a complete archive it
// returns io.EOF; a tar stream that ends without its end-of-archive marker
// gives an error wrapping ErrTruncated.
func (r *Reader) Next() (*tar.Header, error) {
	if h := r.peeked; h != nil {
		r.peeked = nil
		return h, nil
	}
	if r.eof {
		return nil, io.EOF
	}
	hdr, err := r.tr.Next()
	if err == io.EOF {
		if err := r.finish(); err != nil {
			return nil, err
		}
		r.eof = true
		return nil, io.EOF
	}
	if err != nil {
		return nil, r.classify(err, r.where())
	}
	r.n++
	if r.n > r.lim.entries() {
		return nil, fmt.Errorf("%w: it has more than %d entries (--max-entries), after entry %s", ErrInvalid, r.lim.entries(), Short(r.name))
	}
	r.name = hdr.Name
	// Before anything keeps a name: verify, inspect and restore all read
	// entries here.
	if err := r.lim.checkBounds(hdr); err != nil {
		return nil, err
	}
	if err := canonical(hdr); err != nil {
		if r.n == 1 {
			// A tar of a folder ("./", "./a"): not one of ours.
			return nil, fmt.Errorf("%w: its first entry is %s", ErrNotArchive, Short(hdr.Name))
		}
		// verify, inspect and restore all read entries here: none of
		// them may see a name the others would read differently.
		return nil, fmt.Errorf("%w: entry %s: %v", ErrInvalid, Short(hdr.Name), err)
	}
	r.end = r.tap.n
	if !isSparse(hdr) {
		switch hdr.Typeflag {
		case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		default:
			r.end += (hdr.Size + tarBlock - 1) / tarBlock * tarBlock
		}
	}
	return hdr, nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if len(k) > 11 && k[:11] == "GNU.sparse." {
			return true
		}
	}
	return false
}

// finish checks the end of the stream: archive/tar returns io.EOF both after
// the end-of-archive marker and when the stream just stops at a block
// boundary, so check the marker's 1024 bytes were there; then read the
// rest, which must be zero padding, so that the decompressor reaches and
// checks its trailer.
func (r *Reader) finish() error {
	if r.tap.n-r.end < 2*tarBlock {
		if r.n == 0 && r.c == None && r.tap.n == 0 {
			return fmt.Errorf("%w: the input is empty", ErrNotArchive)
		}
		return fmt.Errorf("%w: it ends %s, without the end-of-archive marker", ErrTruncated, r.where())
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.tap.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("%w: data after the end of the tar data", ErrInvalid)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return r.classify(err, "after the end of the tar data")
		}
	}
}

// Read reads the current entry's data.
func (r *Reader) Read(p []byte) (int, error) {
	if r.eof {
		return 0, io.EOF
	}
	n, err := r.tr.Read(p)
	if err != nil && err != io.EOF {
		return n, r.classify(err, "in entry "+Short(r.name))
	}
	return n, err
}

// Parts streams a logical file stored in parts: the current entry must be
// its first part, NAME.000000. The reader returned gives that part's data
// and then that of NAME.000001, NAME.000002... as long as they follow in
// order; the first entry that is not the next part is what the following
// Next returns. It returns NAME. It checks no sizes or checksums: Verify
// does.
func (r *Reader) Parts() (string, io.Reader, error) {
	base, i, ok := SplitPart(r.name)
	if !ok || i != 0 || r.peeked != nil || r.eof {
		return "", nil, fmt.Errorf("entry %s is not the first part of a stream", Short(r.name))
	}
	return base, &partsReader{r: r, base: base, next: 1}, nil
}

type partsReader struct {
	r    *Reader
	base string
	next int
	done bool
}

func (p *partsReader) Read(b []byte) (int, error) {
	for !p.done {
		n, err := p.r.Read(b)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		hdr, err := p.r.Next()
		if err == io.EOF {
			p.done = true
			break
		}
		if err != nil {
			return 0, err
		}
		if hdr.Name != PartName(p.base, p.next) {
			p.r.peeked = hdr
			p.done = true
			break
		}
		p.next++
	}
	return 0, io.EOF
}

// canonical checks that an entry's name, and a hardlink's target, are
// written exactly as the Writer writes them: relative, with no ".", ".."
// or empty segment, and ending with "/" when, and only when, the entry is
// a directory. Nothing cleans a name after this: what verify checked is
// what restore writes.
func canonical(hdr *tar.Header) error {
	if err := canonicalName(hdr.Name, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		if err := canonicalName(hdr.Linkname, false); err != nil {
			return fmt.Errorf("hardlink target %s: %v", quote(hdr.Linkname), err)
		}
	}
	return nil
}

func canonicalName(name string, dir bool) error {
	body := name
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.ContainsRune(name, 0):
		return errors.New("the name holds a NUL byte")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute name")
	case dir:
		var ok bool
		if body, ok = strings.CutSuffix(name, "/"); !ok {
			return errors.New("a directory's name must end with /")
		}
	case strings.HasSuffix(name, "/"):
		return errors.New("only a directory's name may end with /")
	}
	for _, seg := range strings.Split(body, "/") {
		switch seg {
		case "":
			return errors.New("empty path segment")
		case ".", "..":
			return fmt.Errorf("path segment %s", quote(seg))
		}
	}
	return nil
}
