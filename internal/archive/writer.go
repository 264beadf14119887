package archive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/docker-backup/docker-backup/internal/ctxio"
)

// Writer writes an archive: one tar stream, compressed, with manifest.json
// as its last entry. Use WriteFile, WriteStream and WriteTree in the order
// of the layout (compose/, databases/, volumes/), then Close with the
// manifest. WriteStream and WriteTree may run concurrently for different
// names: entries are written whole under a lock, so parts of a dump and the
// entries of a volume interleave in the tar, and readers key everything by
// name.
//
// The first error poisons the Writer: every later call returns it, and the
// archive must be thrown away (call Abort, then delete the file).
type Writer struct {
	// DropSpecial leaves device and fifo nodes out of volume trees: a
	// hot backup has no use for them (a cold one copies a stopped
	// database's files as they are). Set it before writing.
	DropSpecial bool
	// mu guards the tar stream and everything below it.
	mu      sync.Mutex
	c       Compression
	count   *countWriter
	comp    io.WriteCloser // nil for None
	tw      *tar.Writer
	files   []File
	paths   map[string]bool // logical File paths
	entries map[string]bool // tar entry names of files and parts
	trees   map[string]TreeSummary
	order   []string // tree names, in write order
	err     error
	done    bool
	// manifest is manifest.json as written, once Close succeeded.
	manifest []byte
}

type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// fastWindow is the zstd window of the default and fastest levels.
const fastWindow = 2 << 20

// maxGzipBlocks bounds the gzip compressor's parallel blocks.
const maxGzipBlocks = 4

// NewWriter starts an archive on w with compression c ("" means Zstd).
// Zstd uses an encoder with runtime.NumCPU() concurrency, gzip a parallel
// (pgzip) compressor with up to maxGzipBlocks blocks of 1 MiB.
func NewWriter(w io.Writer, c Compression) (*Writer, error) {
	return NewWriterLevel(w, c, 0)
}

// NewWriterLevel is NewWriter at a compression level (ParseCompression);
// 0 for the compressor's default. zstd's levels are mapped onto the
// encoder's four speeds, as zstd.EncoderLevelFromZstd does.
func NewWriterLevel(w io.Writer, c Compression, level int) (*Writer, error) {
	if c == "" {
		c = Zstd
	}
	aw := &Writer{
		c:       c,
		count:   &countWriter{w: w},
		paths:   map[string]bool{},
		entries: map[string]bool{},
		trees:   map[string]TreeSummary{},
	}
	switch c {
	case Zstd:
		speed := zstd.SpeedDefault
		if level > 0 {
			speed = zstd.EncoderLevelFromZstd(level)
		}
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(runtime.NumCPU()), zstd.WithEncoderLevel(speed)}
		if speed <= zstd.SpeedDefault {
			// zstd's own levels 1 to 5 use windows of 2 MiB at most; the
			// library's 8 MiB costs 12 MB more and gained nothing on dumps
			// and volumes (docs/BENCHMARKS.md, "Memory").
			opts = append(opts, zstd.WithWindowSize(fastWindow))
		}
		enc, err := zstd.NewWriter(aw.count, opts...)
		if err != nil {
			return nil, fmt.Errorf("start zstd compressor: %w", err)
		}
		aw.comp = enc
	case Gzip:
		gzLevel := pgzip.DefaultCompression
		if level > 0 {
			gzLevel = level
		}
		gz, err := pgzip.NewWriterLevel(aw.count, gzLevel)
		if err != nil {
			return nil, fmt.Errorf("start gzip compressor: %w", err)
		}
		// Each block holds 1 MiB twice: bounded, whatever the core count.
		if err := gz.SetConcurrency(1<<20, min(max(runtime.NumCPU(), 1), maxGzipBlocks)); err != nil {
			return nil, fmt.Errorf("start gzip compressor: %w", err)
		}
		aw.comp = gz
	case None:
	default:
		return nil, fmt.Errorf("unknown compression %q (want zstd, gzip or none)", c)
	}
	if aw.comp != nil {
		aw.tw = tar.NewWriter(aw.comp)
	} else {
		aw.tw = tar.NewWriter(aw.count)
	}
	return aw, nil
}

// Compression is the archive's compression.
func (w *Writer) Compression() Compression { return w.c }

// Written is the number of bytes written to the underlying writer so far:
// the archive's compressed size. Compressors buffer, so it is exact only
// after Close.
func (w *Writer) Written() int64 { return w.count.n.Load() }

// Files returns the files recorded so far, in write order.
func (w *Writer) Files() []File {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]File(nil), w.files...)
}

// usable returns the sticky error, or an error after Close or Abort.
func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("archive writer is closed")
	}
	return nil
}

// fail makes err sticky and returns it.
func (w *Writer) fail(err error) error {
	w.err = err
	return err
}

// checkFileName checks the logical name of a file or stream: clean,
// relative, under compose/ or databases/, and not used yet.
func (w *Writer) checkFileName(name string) error {
	if name == "" || path.Clean(name) != name || strings.HasPrefix(name, "/") ||
		name == ".." || strings.HasPrefix(name, "../") || strings.ContainsRune(name, 0) {
		return fmt.Errorf("invalid archive path %q: it must be clean and relative", name)
	}
	if !validFilePath(name) {
		return fmt.Errorf("invalid archive path %q: files go under %s, %s or %s", name, ComposeDir, DatabasesDir, ExportsDir)
	}
	if _, _, ok := SplitPart(name); ok {
		return fmt.Errorf("invalid archive path %q: it ends like a part (.%0*d)", name, PartSuffixDigits, 0)
	}
	if w.paths[name] || w.entries[name] {
		return fmt.Errorf("duplicate archive path %q", name)
	}
	return nil
}

func fileHeader(name string, mode int64, mtime time.Time, size int64) *tar.Header {
	if mtime.IsZero() {
		mtime = time.Now()
	}
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  mtime.Truncate(time.Second),
		Format:   tar.FormatPAX,
	}
}

// WriteFile writes a small file (a compose file) as one entry and records
// File{Path, Size, SHA256}. name must be under compose/ or databases/.
func (w *Writer) WriteFile(name string, mode int64, mtime time.Time, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.checkFileName(name); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(fileHeader(name, mode, mtime, int64(len(data)))); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", name, err))
	}
	if _, err := w.tw.Write(data); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", name, err))
	}
	sum := sha256.Sum256(data)
	w.paths[name] = true
	w.entries[name] = true
	w.files = append(w.files, File{Path: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	return nil
}

// PartName is the entry name of part i of the stream name: NAME.000000...
func PartName(name string, i int) string {
	return fmt.Sprintf("%s.%0*d", name, PartSuffixDigits, i)
}

// maxParts is how many parts the suffix width allows.
const maxParts = 1_000_000

// WriteStream writes a stream of unknown length (a database dump) as parts
// NAME.000000, NAME.000001... of ChunkSize bytes each (the last may be
// shorter; an empty stream gives one empty part), mode 0600, and records
// File{Path: name, Size, SHA256 of the whole stream, Parts}. Memory stays at
// one ChunkSize buffer. An error reading r is returned wrapped, and poisons
// the Writer: the archive is incomplete.
func (w *Writer) WriteStream(ctx context.Context, name string, r io.Reader) (File, error) {
	w.mu.Lock()
	err := w.usable()
	if err == nil {
		err = w.checkFileName(name)
	}
	if err == nil {
		// Reserved now, so a concurrent stream cannot take the name.
		w.paths[name] = true
	}
	w.mu.Unlock()
	if err != nil {
		return File{}, err
	}
	// One buffer per stream: the next chunk is read while other streams
	// write theirs.
	buf := make([]byte, ChunkSize)
	src := ctxio.Reader(ctx, r)
	h := sha256.New()
	var total int64
	parts := 0
	for {
		n, rerr := io.ReadFull(src, buf)
		last := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !last {
			return File{}, w.failLocked(fmt.Errorf("read %s: %w", name, rerr))
		}
		if n > 0 || parts == 0 {
			if parts >= maxParts {
				return File{}, w.failLocked(fmt.Errorf("write %s: more than %d parts", name, maxParts))
			}
			if err := w.writePart(PartName(name, parts), buf[:n]); err != nil {
				return File{}, err
			}
			h.Write(buf[:n])
			total += int64(n)
			parts++
		}
		if last {
			break
		}
	}
	f := File{Path: name, Size: total, SHA256: hex.EncodeToString(h.Sum(nil)), Parts: parts}
	w.mu.Lock()
	w.files = append(w.files, f)
	w.mu.Unlock()
	return f, nil
}

// writePart writes one part entry whole, under the lock.
func (w *Writer) writePart(part string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if w.entries[part] {
		return w.fail(fmt.Errorf("duplicate archive path %q", part))
	}
	if err := w.tw.WriteHeader(fileHeader(part, 0o600, time.Now(), int64(len(data)))); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", part, err))
	}
	if _, err := w.tw.Write(data); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", part, err))
	}
	w.entries[part] = true
	return nil
}

// failLocked is fail for callers that do not hold the lock.
func (w *Writer) failLocked(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return w.fail(err)
}

// volumeName returns the volume name of a tree prefix "volumes/NAME/".
func volumeName(prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(prefix, VolumesDir)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/")
	if !ok || name == "" || name == "." || name == ".." ||
		strings.ContainsAny(name, "/\x00") {
		return "", false
	}
	return name, true
}

// WriteTree copies a volume's tar stream, as Docker's CopyFromContainer
// gives it for "/mountpoint/." (names "./", "./a/b"...), into the archive
// under prefix "volumes/NAME/"; the root "./" becomes the prefix directory.
// It keeps numeric uid/gid, mode, mtime, type, link names, device numbers
// and PAX records, drops user and group names, and re-roots hardlink
// targets. Names that are absolute or climb out with ".." are errors. It
// returns the tree's summary, which goes into the manifest's Volume.
func (w *Writer) WriteTree(ctx context.Context, prefix string, tr TreeReader) (TreeSummary, error) {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	vol, ok := volumeName(prefix)
	if !ok {
		return TreeSummary{}, fmt.Errorf("invalid volume prefix %q: want %sNAME/", prefix, VolumesDir)
	}
	w.mu.Lock()
	err := w.usable()
	if _, dup := w.trees[vol]; err == nil && dup {
		err = fmt.Errorf("volume tree %s written twice", prefix)
	}
	if err == nil {
		w.trees[vol] = TreeSummary{} // reserved until done
	}
	w.mu.Unlock()
	if err != nil {
		return TreeSummary{}, err
	}
	d := NewTreeDigest()
	var special Special
	buf := make([]byte, treeCopyBuffer)
	dropped := 0
	for {
		if err := ctx.Err(); err != nil {
			return TreeSummary{}, w.failLocked(fmt.Errorf("copy %s: %w", prefix, err))
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return TreeSummary{}, w.failLocked(fmt.Errorf("read volume tree for %s: %w", prefix, err))
		}
		switch hdr.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if w.DropSpecial {
				dropped++
				continue
			}
		}
		if err := w.copyTreeEntry(ctx, prefix, d, &special, hdr, tr, buf); err != nil {
			return TreeSummary{}, w.failLocked(err)
		}
	}
	s := d.Summary()
	s.Dropped = dropped
	s.Special = special.orNil()
	w.mu.Lock()
	w.trees[vol] = s
	w.order = append(w.order, vol)
	w.mu.Unlock()
	return s, nil
}

// TreeReader is a tar stream read entry by entry: a *tar.Reader, or one
// that looks at the headers on their way.
type TreeReader interface {
	Next() (*tar.Header, error)
	io.Reader
}

// treeCopyBuffer is the copy buffer of one volume's file contents.
const treeCopyBuffer = 256 << 10

func (w *Writer) copyTreeEntry(ctx context.Context, prefix string, d *TreeDigest, special *Special, hdr *tar.Header, tr TreeReader, buf []byte) error {
	typ := hdr.Typeflag
	switch typ {
	case '\x00', tar.TypeGNUSparse:
		// Old tars mark regular files with NUL; archive/tar expands sparse
		// files, whose content reads as a whole.
		typ = tar.TypeReg
	}
	if !treeTypeSupported(typ) {
		return fmt.Errorf("volume tree %s: entry %s has unsupported type %q", prefix, quote(hdr.Name), typ)
	}
	rel, err := cleanRel(hdr.Name)
	if err != nil {
		return fmt.Errorf("volume tree %s: %w", prefix, err)
	}
	if rel == "." && typ != tar.TypeDir {
		return fmt.Errorf("volume tree %s: root entry %s is not a directory", prefix, quote(hdr.Name))
	}
	name := joinPrefix(prefix, rel)
	if typ == tar.TypeDir && rel != "." {
		name += "/"
	}
	out := &tar.Header{
		Typeflag:   typ,
		Name:       name,
		Linkname:   hdr.Linkname,
		Mode:       hdr.Mode,
		Uid:        hdr.Uid,
		Gid:        hdr.Gid,
		ModTime:    hdr.ModTime,
		AccessTime: hdr.AccessTime,
		ChangeTime: hdr.ChangeTime,
		Devmajor:   hdr.Devmajor,
		Devminor:   hdr.Devminor,
		Format:     tar.FormatPAX,
	}
	if len(hdr.PAXRecords) > 0 {
		out.PAXRecords = make(map[string]string, len(hdr.PAXRecords))
		for k, v := range hdr.PAXRecords {
			switch {
			case k == "uname" || k == "gname" || strings.HasPrefix(k, "GNU.sparse."):
			default:
				out.PAXRecords[k] = v
			}
		}
	}
	linkRel := ""
	switch typ {
	case tar.TypeReg:
		out.Size = hdr.Size
	case tar.TypeLink:
		linkRel, err = cleanRel(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("volume tree %s: hardlink %s: %w", prefix, quote(hdr.Name), err)
		}
		if linkRel == "." {
			return fmt.Errorf("volume tree %s: hardlink %s points at the root directory", prefix, quote(hdr.Name))
		}
		out.Linkname = joinPrefix(prefix, linkRel)
	case tar.TypeSymlink:
	default:
		out.Linkname = ""
	}
	if err := writable(out); err != nil {
		return fmt.Errorf("volume tree %s: %w", prefix, err)
	}
	// The entry is written whole under the lock; a large file holds it
	// while it streams, and concurrent dumps wait with their chunk read.
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(out); err != nil {
		return fmt.Errorf("write %s: %w", Short(name), err)
	}
	sum := ""
	if typ == tar.TypeReg {
		h := sha256.New()
		n, err := io.CopyBuffer(io.MultiWriter(w.tw, h), ctxio.Reader(ctx, tr), buf)
		if err != nil {
			return fmt.Errorf("copy %s: %w", Short(name), err)
		}
		if n != hdr.Size {
			return fmt.Errorf("copy %s: got %d bytes, header says %d", Short(name), n, hdr.Size)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	d.Add(treeEntry(rel, linkRel, out, sum))
	special.observe(rel, out)
	return nil
}

// writable refuses an entry that readers would refuse for its size
// (MaxNameLen, MaxPAXBytes): better no archive than one that cannot be
// restored. archive/tar stores a long name and link target as PAX
// records too.
func writable(hdr *tar.Header) error {
	switch {
	case len(hdr.Name) > MaxNameLen:
		return fmt.Errorf("entry %s: its name is %d bytes, more than the %d an archive may hold", Short(hdr.Name), len(hdr.Name), MaxNameLen)
	case len(hdr.Linkname) > MaxNameLen:
		return fmt.Errorf("entry %s: its link target is %d bytes, more than the %d an archive may hold", Short(hdr.Name), len(hdr.Linkname), MaxNameLen)
	case paxBytes(hdr)+len(hdr.Name)+len(hdr.Linkname)+paxSlack > MaxPAXBytes:
		return fmt.Errorf("entry %s: its extended attributes are %d bytes, more than the %d KiB an archive may hold", Short(hdr.Name), paxBytes(hdr), (MaxPAXBytes-paxSlack)>>10)
	}
	return nil
}

// paxSlack is room for the PAX records archive/tar adds (times, sizes).
const paxSlack = 1 << 10

// Abort gives up the archive: it stops the compressor without writing the
// manifest or the tar trailer. What was written is not a valid archive; the
// caller deletes it. Safe to call more than once and after Close.
func (w *Writer) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	if w.err == nil {
		w.err = errors.New("archive writer was aborted")
	}
	switch c := w.comp.(type) {
	case *zstd.Encoder:
		c.Reset(io.Discard)
		_ = c.Close()
	case *pgzip.Writer:
		c.Reset(io.Discard)
		_ = c.Close()
	}
}

// Close completes the archive: it checks m against what was written, sets
// m.Files, m.FormatVersion and m.Compression, fills in the Entries, Bytes and
// TreeSHA256 of each volume of m.Volumes whose TreeSHA256 is empty from its
// written tree, writes manifest.json as the last entry, and closes the tar
// stream and the compressor. It does not close the underlying writer.
func (w *Writer) Close(m *Manifest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if m == nil {
		return errors.New("close archive: no manifest")
	}
	if err := w.reconcile(m); err != nil {
		return fmt.Errorf("close archive: %w", err)
	}
	m.Files = append([]File(nil), w.files...)
	m.FormatVersion = FormatVersion
	m.Compression = w.c
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return w.fail(fmt.Errorf("encode %s: %w", ManifestName, err))
	}
	data = append(data, '\n')
	if len(data) > maxManifestSize {
		return w.fail(fmt.Errorf("%s is %d bytes, more than the %d readers accept", ManifestName, len(data), maxManifestSize))
	}
	if err := w.tw.WriteHeader(fileHeader(ManifestName, 0o600, time.Now(), int64(len(data)))); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", ManifestName, err))
	}
	if _, err := w.tw.Write(data); err != nil {
		return w.fail(fmt.Errorf("write %s: %w", ManifestName, err))
	}
	if err := w.tw.Close(); err != nil {
		return w.fail(fmt.Errorf("close tar stream: %w", err))
	}
	if w.comp != nil {
		if err := w.comp.Close(); err != nil {
			return w.fail(fmt.Errorf("close %s compressor: %w", w.c, err))
		}
	}
	w.done = true
	w.manifest = data
	return nil
}

// ManifestBytes is manifest.json exactly as Close wrote it into the
// archive, which a signature covers; nil before a successful Close.
func (w *Writer) ManifestBytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.manifest
}

// reconcile checks that the manifest's volumes are the trees written and its
// dumps are files written, and fills in empty volume summaries.
func (w *Writer) reconcile(m *Manifest) error {
	seen := map[string]bool{}
	for i := range m.Volumes {
		v := &m.Volumes[i]
		if seen[v.Name] {
			return fmt.Errorf("volume %q is listed twice in the manifest", v.Name)
		}
		seen[v.Name] = true
		s, ok := w.trees[v.Name]
		if !ok {
			return fmt.Errorf("volume %q is in the manifest but no tree was written for it", v.Name)
		}
		if v.TreeSHA256 == "" {
			v.Entries, v.Bytes, v.TreeSHA256 = s.Entries, s.Bytes, s.Digest
		} else if v.Entries != s.Entries || v.Bytes != s.Bytes || v.TreeSHA256 != s.Digest {
			return fmt.Errorf("volume %q: the manifest's entries, bytes or digest differ from the tree written", v.Name)
		}
		// Always what was written: readers compare it with the tree.
		v.Special = s.Special.orNil()
	}
	for _, name := range w.order {
		if !seen[name] {
			return fmt.Errorf("volume tree %s%s/ was written but the manifest does not list it", VolumesDir, name)
		}
	}
	for _, db := range m.Databases {
		for _, d := range db.Dumps {
			if !w.paths[d.Path] {
				return fmt.Errorf("database %q: dump %s is in the manifest but was not written", db.Service, d.Path)
			}
		}
		for _, e := range db.Exports {
			if !w.paths[e.Path] || !strings.HasPrefix(e.Path, ExportsDir) {
				return fmt.Errorf("database %q: export %s is in the manifest but was not written", db.Service, e.Path)
			}
		}
	}
	return nil
}
