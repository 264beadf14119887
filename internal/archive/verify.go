package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/docker-backup/docker-backup/internal/ctxio"
)

// maxProblems bounds how many problems Verify lists.
const maxProblems = 20

// Verify reads a whole archive once, streaming, and checks it against its
// manifest.json: every file's size and SHA-256 (parts joined in order,
// numbered from 000000, all but the last of one size of at most
// MaxChunkSize), every volume
// tree's entries, bytes and digest, that every entry is listed and nothing
// listed is missing, and that manifest.json is the last entry with a format
// version this code reads. Memory stays bounded: it keeps one hash per
// file, part sequence and tree, never content.
//
// It returns the manifest when everything matches. Otherwise the error wraps
// ErrNotArchive, ErrTruncated, ErrChecksum, ErrFormatVersion or ErrInvalid
// (several problems are joined with errors.Join) and the manifest is nil.
func Verify(ctx context.Context, r io.Reader) (*Manifest, error) {
	return VerifyWith(ctx, r, VerifyOptions{})
}

// ContentCheck looks at the content of one logical file (a plain entry,
// or a stream's parts joined) as Verify reads it. Result, called once the
// manifest is read and everything else matched it, says whether the
// content is acceptable for what the manifest says the file is.
type ContentCheck interface {
	io.Writer
	Result(m *Manifest) error
}

// VerifyOptions are the checks a verification makes besides Verify's.
type VerifyOptions struct {
	// Check is asked, for each logical file outside volumes/, for a
	// ContentCheck (nil for none), which then sees the file's bytes. A
	// check's refusal fails the verification like a checksum mismatch.
	Check func(path string) ContentCheck
	// Manifest sees manifest.json's bytes as the archive stores them,
	// before they are parsed (a signature is made over exactly these
	// bytes); its error refuses the archive.
	Manifest func(raw []byte) error
}

// VerifyWith is Verify, with the checks of o besides.
func VerifyWith(ctx context.Context, r io.Reader, o VerifyOptions) (*Manifest, error) {
	check := o.Check
	ar, err := Open(r)
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	v := &verifier{
		ctx:    ctx,
		ar:     ar,
		plain:  map[string]*seenFile{},
		parts:  map[string]*seenParts{},
		trees:  map[string]*TreeDigest{},
		shapes: map[string]*treeShape{},
		buf:    make([]byte, 1<<20),
		check:  check,
		checks: map[string]ContentCheck{},
	}
	var manifest []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if manifest != nil {
			return nil, fmt.Errorf("%w: entry %s comes after %s, which must be the last entry", ErrInvalid, hdr.Name, ManifestName)
		}
		switch {
		case hdr.Name == ManifestName:
			if manifest, err = v.readManifest(hdr); err != nil {
				return nil, err
			}
		case strings.HasPrefix(hdr.Name, VolumesDir):
			err = v.treeEntry(hdr)
		case strings.HasPrefix(hdr.Name, ComposeDir), strings.HasPrefix(hdr.Name, DatabasesDir), strings.HasPrefix(hdr.Name, ExportsDir):
			err = v.fileEntry(hdr)
		default:
			v.problem(fmt.Errorf("%w: entry %s is outside %s, %s, %s and %s", ErrInvalid, hdr.Name, ComposeDir, DatabasesDir, ExportsDir, VolumesDir))
		}
		if err != nil {
			return nil, err
		}
	}
	if manifest == nil {
		return nil, fmt.Errorf("%w: no %s", ErrNotArchive, ManifestName)
	}
	if o.Manifest != nil {
		if err := o.Manifest(manifest); err != nil {
			return nil, err
		}
	}
	m, err := parseManifest(manifest)
	if err != nil {
		return nil, err
	}
	v.compare(m)
	if err := v.result(); err != nil {
		return nil, err
	}
	for _, path := range v.checkList {
		if err := v.checks[path].Result(m); err != nil {
			v.problem(err)
		}
	}
	if err := v.result(); err != nil {
		return nil, err
	}
	return m, nil
}

// contentCheck is the check of logical file path, asked for once.
func (v *verifier) contentCheck(path string) io.Writer {
	if v.check == nil {
		return nil
	}
	c, ok := v.checks[path]
	if !ok {
		c = v.check(path)
		v.checks[path] = c
		if c != nil {
			v.checkList = append(v.checkList, path)
		}
	}
	if c == nil {
		return nil
	}
	return c
}

// parseManifest decodes manifest.json, checking its format version first.
func parseManifest(data []byte) (*Manifest, error) {
	var probe struct {
		FormatVersion *int   `json:"formatVersion"`
		ToolVersion   string `json:"toolVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %s is not valid JSON: %v", ErrInvalid, ManifestName, err)
	}
	if probe.FormatVersion == nil {
		return nil, fmt.Errorf("%w: %s has no formatVersion", ErrNotArchive, ManifestName)
	}
	if v := *probe.FormatVersion; v != FormatVersion {
		hint := ""
		if v > FormatVersion {
			hint = "; a newer docker-backup wrote it, upgrade to read it"
			if probe.ToolVersion != "" {
				hint = fmt.Sprintf("; docker-backup %s wrote it: upgrade to %s or newer to read it", probe.ToolVersion, probe.ToolVersion)
			}
		}
		return nil, fmt.Errorf("%w %d: this docker-backup reads format version %d%s", ErrFormatVersion, v, FormatVersion, hint)
	}
	m := new(Manifest)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ManifestName, err)
	}
	return m, nil
}

type seenFile struct {
	size int64
	sum  string
	used bool
}

type seenParts struct {
	first    string // entry name of the first part seen
	count    int    // parts seen
	partSize int64  // the first part's size, which all but the last share
	lastSize int64
	size     int64
	h        hash.Hash
	broken   error
	used     bool
}

type verifier struct {
	ctx       context.Context
	ar        *Reader
	plain     map[string]*seenFile
	plainList []string // names, in order
	parts     map[string]*seenParts
	partList  []string // bases, in order
	trees     map[string]*TreeDigest
	treeList  []string // volume names, in order
	shapes    map[string]*treeShape
	problems  []error
	dropped   int
	buf       []byte
	check     func(string) ContentCheck
	checks    map[string]ContentCheck
	checkList []string // paths with a check, in order
}

func (v *verifier) problem(err error) {
	if len(v.problems) >= maxProblems {
		v.dropped++
		return
	}
	v.problems = append(v.problems, err)
}

func (v *verifier) result() error {
	if len(v.problems) == 0 {
		return nil
	}
	errs := v.problems
	if v.dropped > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", v.dropped))
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// hashEntry reads the current entry's data, returning its size and hex
// SHA-256.
func (v *verifier) hashEntry(extra io.Writer) (int64, string, error) {
	h := sha256.New()
	var w io.Writer = h
	if extra != nil {
		w = io.MultiWriter(h, extra)
	}
	n, err := io.CopyBuffer(w, ctxio.Reader(v.ctx, v.ar), v.buf)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func (v *verifier) readManifest(hdr *tar.Header) ([]byte, error) {
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, ManifestName)
	}
	if hdr.Size > maxManifestSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d MiB allowed", ErrInvalid, ManifestName, hdr.Size, maxManifestSize>>20)
	}
	var b bytes.Buffer
	b.Grow(int(hdr.Size))
	if _, err := io.Copy(&b, io.LimitReader(v.ar, maxManifestSize+1)); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrInvalid, ManifestName)
	}
	return b.Bytes(), nil
}

// SplitPart splits a part's entry name NAME.NNNNNN into NAME and the part
// number; ok is false for a name without the suffix.
func SplitPart(name string) (string, int, bool) {
	i := len(name) - PartSuffixDigits - 1
	if i < 1 || name[i] != '.' {
		return "", 0, false
	}
	digits := name[i+1:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return "", 0, false
	}
	return name[:i], n, true
}

// validFilePath tells whether a logical file path is one the format allows.
func validFilePath(p string) bool {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "../") {
		return false
	}
	return strings.HasPrefix(p, ComposeDir) || strings.HasPrefix(p, DatabasesDir) || strings.HasPrefix(p, ExportsDir)
}

func (v *verifier) fileEntry(hdr *tar.Header) error {
	name := hdr.Name
	if hdr.Typeflag != tar.TypeReg || isSparse(hdr) {
		v.problem(fmt.Errorf("%w: entry %s is not a regular file", ErrInvalid, name))
		return nil
	}
	if !validFilePath(name) {
		v.problem(fmt.Errorf("%w: entry %s has an unsafe or unclean name", ErrInvalid, name))
		return nil
	}
	if base, i, ok := SplitPart(name); ok {
		p := v.parts[base]
		if p == nil {
			p = &seenParts{first: name, h: sha256.New()}
			v.parts[base] = p
			v.partList = append(v.partList, base)
		}
		switch {
		case p.broken != nil:
		case i < p.count:
			p.broken = fmt.Errorf("%w: duplicate entry %s", ErrInvalid, name)
		case i > p.count:
			p.broken = fmt.Errorf("%w: %s: part %s is missing (next entry is %s)", ErrInvalid, base, PartName(base, p.count), name)
		case p.count == 1 && (p.lastSize <= 0 || p.lastSize > MaxChunkSize):
			p.broken = fmt.Errorf("%w: %s: part %s is %d bytes; every part but the last must be 1 to %d bytes",
				ErrInvalid, base, PartName(base, 0), p.lastSize, MaxChunkSize)
		case p.count > 1 && p.lastSize != p.partSize:
			p.broken = fmt.Errorf("%w: %s: part %s is %d bytes; every part but the last must be %d bytes, as the first",
				ErrInvalid, base, PartName(base, p.count-1), p.lastSize, p.partSize)
		}
		var extra io.Writer
		if p.broken == nil {
			extra = p.h
			if c := v.contentCheck(base); c != nil {
				extra = io.MultiWriter(p.h, c)
			}
		}
		n, _, err := v.hashEntry(extra)
		if err != nil {
			return err
		}
		if p.broken == nil {
			if p.count == 1 {
				p.partSize = p.lastSize
			}
			p.count++
			p.lastSize = n
			p.size += n
		}
		return nil
	}
	var c io.Writer
	if _, dup := v.plain[name]; !dup {
		c = v.contentCheck(name)
	}
	n, sum, err := v.hashEntry(c)
	if err != nil {
		return err
	}
	if _, dup := v.plain[name]; dup {
		v.problem(fmt.Errorf("%w: duplicate entry %s", ErrInvalid, name))
		return nil
	}
	v.plain[name] = &seenFile{size: n, sum: sum}
	v.plainList = append(v.plainList, name)
	return nil
}

func (v *verifier) treeEntry(hdr *tar.Header) error {
	name := hdr.Name
	rest := strings.TrimPrefix(name, VolumesDir)
	vol, sub, _ := strings.Cut(rest, "/")
	if _, ok := volumeName(VolumesDir + vol + "/"); !ok {
		v.problem(fmt.Errorf("%w: entry %s is not inside a volume directory", ErrInvalid, name))
		return nil
	}
	prefix := VolumesDir + vol + "/"
	rel, err := cleanRel(sub)
	if err != nil {
		v.problem(fmt.Errorf("%w: entry %s: %v", ErrInvalid, name, err))
		return nil
	}
	if !treeTypeSupported(hdr.Typeflag) || isSparse(hdr) {
		v.problem(fmt.Errorf("%w: entry %s has unsupported type %q", ErrInvalid, name, hdr.Typeflag))
		return nil
	}
	if rel == "." && hdr.Typeflag != tar.TypeDir {
		v.problem(fmt.Errorf("%w: entry %s, the root of volume %s, is not a directory", ErrInvalid, name, vol))
		return nil
	}
	linkRel := ""
	if hdr.Typeflag == tar.TypeLink {
		lsub, ok := strings.CutPrefix(hdr.Linkname, prefix)
		if ok {
			linkRel, err = cleanRel(lsub)
		}
		if !ok || err != nil || linkRel == "." {
			v.problem(fmt.Errorf("%w: hardlink %s points outside its volume (%s)", ErrInvalid, name, hdr.Linkname))
			return nil
		}
	}
	shape := v.shapes[vol]
	if shape == nil {
		shape = newTreeShape()
		v.shapes[vol] = shape
	}
	if err := shape.add(rel, linkRel, hdr.Typeflag); err != nil {
		v.problem(fmt.Errorf("%w: volume %s: %v", ErrInvalid, vol, err))
		return nil
	}
	sum := ""
	if hdr.Typeflag == tar.TypeReg {
		if _, sum, err = v.hashEntry(nil); err != nil {
			return err
		}
	}
	d := v.trees[vol]
	if d == nil {
		d = NewTreeDigest()
		v.trees[vol] = d
		v.treeList = append(v.treeList, vol)
	}
	d.Add(treeEntry(rel, linkRel, hdr, sum))
	return nil
}

// compare checks what was read against the manifest.
func (v *verifier) compare(m *Manifest) {
	listed := map[string]bool{}
	for _, f := range m.Files {
		if !validFilePath(f.Path) {
			v.problem(fmt.Errorf("%w: %s lists %q, which is not a file path this format allows", ErrInvalid, ManifestName, f.Path))
			continue
		}
		if _, _, ok := SplitPart(f.Path); ok {
			v.problem(fmt.Errorf("%w: %s lists %q, whose name looks like a part", ErrInvalid, ManifestName, f.Path))
			continue
		}
		if listed[f.Path] {
			v.problem(fmt.Errorf("%w: %s lists %s twice", ErrInvalid, ManifestName, f.Path))
			continue
		}
		listed[f.Path] = true
		if f.Parts == 0 {
			v.comparePlain(f)
		} else {
			v.compareParts(f)
		}
	}
	for _, name := range v.plainList {
		if !v.plain[name].used {
			v.problem(fmt.Errorf("%w: entry %s is not listed in the manifest", ErrInvalid, name))
		}
	}
	for _, base := range v.partList {
		if p := v.parts[base]; !p.used {
			v.problem(fmt.Errorf("%w: entry %s is not listed in the manifest", ErrInvalid, p.first))
		}
	}
	for _, db := range m.Databases {
		for _, d := range db.Dumps {
			if !listed[d.Path] {
				v.problem(fmt.Errorf("%w: database %s: dump %s is not in the manifest's files", ErrInvalid, db.Service, d.Path))
			}
		}
		for _, e := range db.Exports {
			if !listed[e.Path] || !strings.HasPrefix(e.Path, ExportsDir) {
				v.problem(fmt.Errorf("%w: database %s: export %s is not in the manifest's files under %s", ErrInvalid, db.Service, e.Path, ExportsDir))
			}
		}
	}
	vols := map[string]bool{}
	for _, vol := range m.Volumes {
		if _, ok := volumeName(VolumesDir + vol.Name + "/"); !ok || vols[vol.Name] {
			v.problem(fmt.Errorf("%w: %s lists volume %q twice or with an invalid name", ErrInvalid, ManifestName, vol.Name))
			continue
		}
		vols[vol.Name] = true
		prefix := VolumesDir + vol.Name + "/"
		d := v.trees[vol.Name]
		if d == nil {
			if vol.Entries != 0 {
				v.problem(fmt.Errorf("%w: volume tree %s is missing", ErrInvalid, prefix))
			}
			continue
		}
		s := d.Summary()
		switch {
		case s.Entries != vol.Entries:
			v.problem(fmt.Errorf("%s: %w: the manifest lists %d entries, the archive has %d", prefix, ErrChecksum, vol.Entries, s.Entries))
		case s.Bytes != vol.Bytes:
			v.problem(fmt.Errorf("%s: %w: the manifest lists %d bytes, the archive has %d", prefix, ErrChecksum, vol.Bytes, s.Bytes))
		case s.Digest != vol.TreeSHA256:
			v.problem(fmt.Errorf("%s: %w: tree digest is %s, the manifest lists %s", prefix, ErrChecksum, s.Digest, vol.TreeSHA256))
		}
	}
	for _, vol := range m.Volumes {
		if sh := v.shapes[vol.Name]; sh != nil && sh.special != "" && !m.Cold {
			v.problem(fmt.Errorf("%w: volume %s holds device or fifo %s, which only cold archives (create --stop) may", ErrInvalid, vol.Name, sh.special))
		}
	}
	for _, name := range v.treeList {
		if !vols[name] {
			v.problem(fmt.Errorf("%w: volume tree %s%s/ is not listed in the manifest", ErrInvalid, VolumesDir, name))
		}
	}
}

func (v *verifier) comparePlain(f File) {
	s := v.plain[f.Path]
	if s == nil {
		v.problem(fmt.Errorf("%w: %s is missing", ErrInvalid, f.Path))
		return
	}
	s.used = true
	checkContent(v, f, s.size, s.sum)
}

func (v *verifier) compareParts(f File) {
	p := v.parts[f.Path]
	if p == nil {
		v.problem(fmt.Errorf("%w: %s is missing (no part %s)", ErrInvalid, f.Path, PartName(f.Path, 0)))
		return
	}
	p.used = true
	switch {
	case p.broken != nil:
		v.problem(p.broken)
	case p.count != f.Parts:
		v.problem(fmt.Errorf("%w: %s has %d parts, the manifest lists %d", ErrInvalid, f.Path, p.count, f.Parts))
	default:
		checkContent(v, f, p.size, hex.EncodeToString(p.h.Sum(nil)))
	}
}

func checkContent(v *verifier, f File, size int64, sum string) {
	switch {
	case size != f.Size:
		v.problem(fmt.Errorf("%s: %w: %d bytes, the manifest lists %d", f.Path, ErrChecksum, size, f.Size))
	case sum != f.SHA256:
		v.problem(fmt.Errorf("%s: %w: sha256 is %s, the manifest lists %s", f.Path, ErrChecksum, sum, f.SHA256))
	}
}
