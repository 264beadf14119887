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
// file, part sequence and tree, never content, and per entry a key of one
// size, never its name (Limits bound the number of entries).
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
	// Limits bound the archive's entries and their depth (OpenWith).
	Limits Limits
}

// VerifyWith is Verify, with the checks of o besides.
//
// The manifest it returns records, in each Volume's Special, what the
// tree was found to hold (setuid and setgid files, devices and fifos,
// files with capabilities), whatever manifest.json said: an archive that
// records something else is refused, one that records nothing (written
// before the field existed) gets what was found.
func VerifyWith(ctx context.Context, r io.Reader, o VerifyOptions) (*Manifest, error) {
	ar, err := OpenWith(r, o.Limits)
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	v := &verifier{
		ctx:    ctx,
		ar:     ar,
		keys:   newFileKeys(),
		plain:  map[fileKey]*seenFile{},
		parts:  map[fileKey]*seenParts{},
		trees:  map[fileKey]*seenTree{},
		shape:  newTreeShape(),
		buf:    make([]byte, 1<<20),
		check:  o.Check,
		checks: map[fileKey]ContentCheck{},
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
			return nil, fmt.Errorf("%w: entry %s comes after %s, which must be the last entry", ErrInvalid, Short(hdr.Name), ManifestName)
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
			v.problem(fmt.Errorf("%w: entry %s is outside %s, %s, %s and %s", ErrInvalid, Short(hdr.Name), ComposeDir, DatabasesDir, ExportsDir, VolumesDir))
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
			return nil, bounded(err)
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
	for _, c := range v.checkList {
		if err := c.Result(m); err != nil {
			v.problem(err)
		}
	}
	if err := v.result(); err != nil {
		return nil, err
	}
	return m, nil
}

// contentCheck is the check of logical file path, asked for once.
func (v *verifier) contentCheck(path string, k fileKey) io.Writer {
	if v.check == nil {
		return nil
	}
	c, ok := v.checks[k]
	if !ok {
		c = v.check(path)
		v.checks[k] = c
		if c != nil {
			v.checkList = append(v.checkList, c)
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
				hint = fmt.Sprintf("; docker-backup %s wrote it: upgrade to %s or newer to read it", Short(probe.ToolVersion), Short(probe.ToolVersion))
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
	sum  [sha256.Size]byte
	used bool
	name string // Short(name), while nameBudget lasts
}

type seenParts struct {
	first    string // Short of the first part's name, while nameBudget lasts
	count    int    // parts seen
	partSize int64  // the first part's size, which all but the last share
	lastSize int64
	size     int64
	h        hash.Hash
	broken   error
	used     bool
}

// seenTree is one volume tree as read.
type seenTree struct {
	name    string // Short(volume name)
	digest  *TreeDigest
	special Special
	used    bool
}

// nameBudget bounds the bytes of names verify keeps, of the files outside
// volumes/, to say which ones the manifest does not list: the names of
// one's own archives fit, a hostile archive's many are counted instead.
const nameBudget = 64 << 10

type verifier struct {
	ctx       context.Context
	ar        *Reader
	keys      *fileKeys
	plain     map[fileKey]*seenFile
	plainList []*seenFile // in order
	parts     map[fileKey]*seenParts
	partList  []*seenParts // in order
	trees     map[fileKey]*seenTree
	treeList  []*seenTree // in order
	shape     *treeShape
	names     int // bytes of names kept
	broken    int // broken part sequences with their own message
	problems  []error
	dropped   int
	buf       []byte
	check     func(string) ContentCheck
	checks    map[fileKey]ContentCheck
	checkList []ContentCheck // in order
}

// keepName is Short(name) while the budget of names kept lasts, "" after.
func (v *verifier) keepName(name string) string {
	s := Short(name)
	if v.names+len(s) > nameBudget {
		return ""
	}
	v.names += len(s)
	return s
}

// listed refuses one more logical file outside volumes/ (tree false)
// or volume tree past its bound.
func (v *verifier) listed(tree bool) error {
	switch {
	case !tree && len(v.plain)+len(v.parts) >= maxFiles:
		return fmt.Errorf("%w: it holds more than %d files outside %s", ErrInvalid, maxFiles, VolumesDir)
	case tree && len(v.trees) >= maxTrees:
		return fmt.Errorf("%w: it holds more than %d volume trees", ErrInvalid, maxTrees)
	}
	return nil
}

func (v *verifier) problem(err error) {
	if len(v.problems) >= maxProblems {
		v.dropped++
		return
	}
	v.problems = append(v.problems, bounded(err))
}

// maxJoined bounds the message of the problems joined: past it, they
// are counted.
const maxJoined = 4 << 10

func (v *verifier) result() error {
	if len(v.problems) == 0 {
		return nil
	}
	var errs []error
	size, dropped := 0, v.dropped
	for _, err := range v.problems {
		if size += len(err.Error()) + 1; size > maxJoined && len(errs) > 0 {
			dropped++
			continue
		}
		errs = append(errs, err)
	}
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", dropped))
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// hashEntry reads the current entry's data, returning its size and
// SHA-256.
func (v *verifier) hashEntry(extra io.Writer) (int64, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h := sha256.New()
	var w io.Writer = h
	if extra != nil {
		w = io.MultiWriter(h, extra)
	}
	n, err := io.CopyBuffer(w, ctxio.Reader(v.ctx, v.ar), v.buf)
	if err != nil {
		return n, sum, err
	}
	h.Sum(sum[:0])
	return n, sum, nil
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
		v.problem(fmt.Errorf("%w: entry %s is not a regular file", ErrInvalid, Short(name)))
		return nil
	}
	if !validFilePath(name) {
		v.problem(fmt.Errorf("%w: entry %s has an unsafe or unclean name", ErrInvalid, Short(name)))
		return nil
	}
	if base, i, ok := SplitPart(name); ok {
		k := v.keys.key(base)
		p := v.parts[k]
		if p == nil {
			if err := v.listed(false); err != nil {
				return err
			}
			p = &seenParts{first: v.keepName(name), h: sha256.New()}
			v.parts[k] = p
			v.partList = append(v.partList, p)
		}
		if p.broken == nil {
			p.broken = v.partProblem(p, base, i, name)
		}
		var extra io.Writer
		if p.broken == nil {
			extra = p.h
			if c := v.contentCheck(base, k); c != nil {
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
	k := v.keys.key(name)
	_, dup := v.plain[k]
	var c io.Writer
	if !dup {
		if err := v.listed(false); err != nil {
			return err
		}
		c = v.contentCheck(name, k)
	}
	n, sum, err := v.hashEntry(c)
	if err != nil {
		return err
	}
	if dup {
		v.problem(fmt.Errorf("%w: duplicate entry %s", ErrInvalid, Short(name)))
		return nil
	}
	f := &seenFile{size: n, sum: sum, name: v.keepName(name)}
	v.plain[k] = f
	v.plainList = append(v.plainList, f)
	return nil
}

// errPartsBroken stands for the message of a broken part sequence past
// the first maxProblems, which are never all reported.
var errPartsBroken = fmt.Errorf("%w: a file's parts are misnumbered or of the wrong sizes", ErrInvalid)

// partProblem is what is wrong with part i of base, named name, after
// the parts p saw; nil when it is the next one.
func (v *verifier) partProblem(p *seenParts, base string, i int, name string) error {
	ok := i == p.count &&
		!(p.count == 1 && (p.lastSize <= 0 || p.lastSize > MaxChunkSize)) &&
		!(p.count > 1 && p.lastSize != p.partSize)
	if ok {
		return nil
	}
	if v.broken >= maxProblems {
		return errPartsBroken
	}
	v.broken++
	switch {
	case i < p.count:
		return fmt.Errorf("%w: duplicate entry %s", ErrInvalid, Short(name))
	case i > p.count:
		return fmt.Errorf("%w: %s: part %s is missing (next entry is %s)", ErrInvalid, Short(base), Short(PartName(base, p.count)), Short(name))
	case p.count == 1:
		return fmt.Errorf("%w: %s: part %s is %d bytes; every part but the last must be 1 to %d bytes",
			ErrInvalid, Short(base), Short(PartName(base, 0)), p.lastSize, MaxChunkSize)
	default:
		return fmt.Errorf("%w: %s: part %s is %d bytes; every part but the last must be %d bytes, as the first",
			ErrInvalid, Short(base), Short(PartName(base, p.count-1)), p.lastSize, p.partSize)
	}
}

func (v *verifier) treeEntry(hdr *tar.Header) error {
	name := hdr.Name
	rest := strings.TrimPrefix(name, VolumesDir)
	vol, sub, _ := strings.Cut(rest, "/")
	if _, ok := volumeName(VolumesDir + vol + "/"); !ok {
		v.problem(fmt.Errorf("%w: entry %s is not inside a volume directory", ErrInvalid, Short(name)))
		return nil
	}
	prefix := VolumesDir + vol + "/"
	rel, err := cleanRel(sub)
	if err != nil {
		v.problem(fmt.Errorf("%w: entry %s: %v", ErrInvalid, Short(name), err))
		return nil
	}
	if !treeTypeSupported(hdr.Typeflag) || isSparse(hdr) {
		v.problem(fmt.Errorf("%w: entry %s has unsupported type %q", ErrInvalid, Short(name), hdr.Typeflag))
		return nil
	}
	if rel == "." && hdr.Typeflag != tar.TypeDir {
		v.problem(fmt.Errorf("%w: entry %s, the root of volume %s, is not a directory", ErrInvalid, Short(name), Short(vol)))
		return nil
	}
	linkRel := ""
	if hdr.Typeflag == tar.TypeLink {
		lsub, ok := strings.CutPrefix(hdr.Linkname, prefix)
		if ok {
			linkRel, err = cleanRel(lsub)
		}
		if !ok || err != nil || linkRel == "." {
			v.problem(fmt.Errorf("%w: hardlink %s points outside its volume (%s)", ErrInvalid, Short(name), Short(hdr.Linkname)))
			return nil
		}
	}
	// The Reader let only canonical names through: without its
	// trailing slash, a name is the volume's prefix and rel.
	if err := v.shape.add(strings.TrimSuffix(name, "/"), hdr.Linkname, len(prefix), hdr.Typeflag); err != nil {
		v.problem(fmt.Errorf("%w: volume %s: %v", ErrInvalid, Short(vol), err))
		return nil
	}
	sum := ""
	if hdr.Typeflag == tar.TypeReg {
		_, b, err := v.hashEntry(nil)
		if err != nil {
			return err
		}
		sum = hex.EncodeToString(b[:])
	}
	k := v.keys.key(vol)
	t := v.trees[k]
	if t == nil {
		if err := v.listed(true); err != nil {
			return err
		}
		t = &seenTree{name: Short(vol), digest: NewTreeDigest()}
		v.trees[k] = t
		v.treeList = append(v.treeList, t)
	}
	t.digest.Add(treeEntry(rel, linkRel, hdr, sum))
	t.special.observe(rel, hdr)
	return nil
}

// compare checks what was read against the manifest, and sets each
// volume's Special to what its tree holds.
func (v *verifier) compare(m *Manifest) {
	listed := map[string]bool{}
	for _, f := range m.Files {
		if !validFilePath(f.Path) {
			v.problem(fmt.Errorf("%w: %s lists %s, which is not a file path this format allows", ErrInvalid, ManifestName, Short(f.Path)))
			continue
		}
		if _, _, ok := SplitPart(f.Path); ok {
			v.problem(fmt.Errorf("%w: %s lists %s, whose name looks like a part", ErrInvalid, ManifestName, Short(f.Path)))
			continue
		}
		if listed[f.Path] {
			v.problem(fmt.Errorf("%w: %s lists %s twice", ErrInvalid, ManifestName, Short(f.Path)))
			continue
		}
		listed[f.Path] = true
		if f.Parts == 0 {
			v.comparePlain(f)
		} else {
			v.compareParts(f)
		}
	}
	named, unnamed := 0, 0
	for _, f := range v.plainList {
		if !f.used {
			v.notListed(f.name, &named, &unnamed)
		}
	}
	for _, p := range v.partList {
		if !p.used {
			v.notListed(p.first, &named, &unnamed)
		}
	}
	if unnamed > 0 {
		more := ""
		if named > 0 {
			more = " more"
		}
		v.problem(fmt.Errorf("%w: %d%s entries are not listed in the manifest", ErrInvalid, unnamed, more))
	}
	for _, db := range m.Databases {
		for _, d := range db.Dumps {
			if !listed[d.Path] {
				v.problem(fmt.Errorf("%w: database %s: dump %s is not in the manifest's files", ErrInvalid, Short(db.Service), Short(d.Path)))
			}
		}
		for _, e := range db.Exports {
			if !listed[e.Path] || !strings.HasPrefix(e.Path, ExportsDir) {
				v.problem(fmt.Errorf("%w: database %s: export %s is not in the manifest's files under %s", ErrInvalid, Short(db.Service), Short(e.Path), ExportsDir))
			}
		}
	}
	vols := map[string]bool{}
	for i := range m.Volumes {
		vol := &m.Volumes[i]
		if _, ok := volumeName(VolumesDir + vol.Name + "/"); !ok || vols[vol.Name] {
			v.problem(fmt.Errorf("%w: %s lists volume %s twice or with an invalid name", ErrInvalid, ManifestName, Short(vol.Name)))
			continue
		}
		vols[vol.Name] = true
		prefix := Short(VolumesDir + vol.Name + "/")
		t := v.trees[v.keys.key(vol.Name)]
		if t == nil {
			if vol.Entries != 0 {
				v.problem(fmt.Errorf("%w: volume tree %s is missing", ErrInvalid, prefix))
			}
			vol.Special = nil
			continue
		}
		t.used = true
		s := t.digest.Summary()
		switch {
		case s.Entries != vol.Entries:
			v.problem(fmt.Errorf("%s: %w: the manifest lists %d entries, the archive has %d", prefix, ErrChecksum, vol.Entries, s.Entries))
		case s.Bytes != vol.Bytes:
			v.problem(fmt.Errorf("%s: %w: the manifest lists %d bytes, the archive has %d", prefix, ErrChecksum, vol.Bytes, s.Bytes))
		case s.Digest != vol.TreeSHA256:
			v.problem(fmt.Errorf("%s: %w: tree digest is %s, the manifest lists %s", prefix, ErrChecksum, s.Digest, Short(vol.TreeSHA256)))
		}
		// A manifest written before Special existed records none: it
		// gets what the tree holds. One that records something else
		// than the tree is not what its writer wrote.
		if vol.Special != nil && !sameSpecial(vol.Special, &t.special) {
			v.problem(fmt.Errorf("%s: %w: the manifest records %s of setuid/setgid files, devices or fifos and files with capabilities, the tree holds %s",
				prefix, ErrChecksum, vol.Special, &t.special))
		}
		vol.Special = t.special.orNil()
	}
	for _, t := range v.treeList {
		if !t.used {
			v.problem(fmt.Errorf("%w: volume tree %s%s/ is not listed in the manifest", ErrInvalid, VolumesDir, t.name))
		}
	}
}

// notListed reports a file that the manifest does not list, by name
// while there is room among the problems; past that, or when its name
// was not kept, it is only counted.
func (v *verifier) notListed(name string, named, unnamed *int) {
	if name == "" || len(v.problems) >= maxProblems-1 {
		*unnamed++
		return
	}
	*named++
	v.problem(fmt.Errorf("%w: entry %s is not listed in the manifest", ErrInvalid, name))
}

func (v *verifier) comparePlain(f File) {
	s := v.plain[v.keys.key(f.Path)]
	if s == nil {
		v.problem(fmt.Errorf("%w: %s is missing", ErrInvalid, Short(f.Path)))
		return
	}
	if s.used {
		// Only a collision of keys gets here (the manifest's paths
		// are distinct): refuse.
		v.problem(fmt.Errorf("%w: %s is missing", ErrInvalid, Short(f.Path)))
		return
	}
	s.used = true
	checkContent(v, f, s.size, hex.EncodeToString(s.sum[:]))
}

func (v *verifier) compareParts(f File) {
	p := v.parts[v.keys.key(f.Path)]
	if p == nil || p.used {
		v.problem(fmt.Errorf("%w: %s is missing (no part %s)", ErrInvalid, Short(f.Path), Short(PartName(f.Path, 0))))
		return
	}
	p.used = true
	switch {
	case p.broken != nil:
		v.problem(p.broken)
	case p.count != f.Parts:
		v.problem(fmt.Errorf("%w: %s has %d parts, the manifest lists %d", ErrInvalid, Short(f.Path), p.count, f.Parts))
	default:
		checkContent(v, f, p.size, hex.EncodeToString(p.h.Sum(nil)))
	}
}

func checkContent(v *verifier, f File, size int64, sum string) {
	switch {
	case size != f.Size:
		v.problem(fmt.Errorf("%s: %w: %d bytes, the manifest lists %d", Short(f.Path), ErrChecksum, size, f.Size))
	case sum != f.SHA256:
		v.problem(fmt.Errorf("%s: %w: sha256 is %s, the manifest lists %s", Short(f.Path), ErrChecksum, sum, Short(f.SHA256)))
	}
}
