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
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	mtime      = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	composeYML = []byte("services:\n  db:\n    image: postgres:16\n")
	volumeData = []byte("hello volume data, owned by 1000:1000\n")
	longDir    = strings.Repeat("d", 70)
	longName   = longDir + "/" + strings.Repeat("f", 70) + ".txt" // over 100 chars
	utfName    = "naïve-日本語.txt"
)

// randomData returns n pseudo-random bytes, the same for the same seed.
func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// treeEntryT is one entry of the test volume tree.
type treeEntryT struct {
	hdr  tar.Header
	data []byte
}

// volumeTree is a volume's tar stream as Docker's CopyFromContainer gives
// it for "/mountpoint/.".
func volumeTree() []treeEntryT {
	return []treeEntryT{
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./dir/", Mode: 0o1777, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./dir/data.bin", Mode: 0o640, Uid: 1000, Gid: 1000,
			Uname: "appuser", Gname: "appgroup", ModTime: mtime}, data: volumeData},
		{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "./link", Linkname: "dir/data.bin", Mode: 0o777, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "./hard", Linkname: "./dir/data.bin", Mode: 0o640, Uid: 1000, Gid: 1000, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./empty", Mode: 0o600, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./" + utfName, Mode: 0o4755, ModTime: mtime}, data: []byte("utf-8\n")},
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./" + longDir + "/", Mode: 0o700, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./" + longName, Mode: 0o644, Uid: 2000000, Gid: 3000000, ModTime: mtime},
			data: []byte("long\n")},
		{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "./pipe", Mode: 0o600, ModTime: mtime}},
	}
}

func tarOf(t testing.TB, entries []treeEntryT) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.data))
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type built struct {
	archive []byte
	dump    []byte
	tree    TreeSummary
	files   []File
	// manifest is Writer.ManifestBytes.
	manifest []byte
}

// build writes the test archive: a compose file, a dump of dumpSize bytes
// (multi-part above ChunkSize), an empty dump and a volume tree.
func build(t testing.TB, c Compression, dumpSize int) built {
	t.Helper()
	ctx := context.Background()
	var out bytes.Buffer
	w, err := NewWriter(&out, c)
	if err != nil {
		t.Fatal(err)
	}
	b := built{dump: randomData(dumpSize, 1)}
	if err := w.WriteFile("compose/compose.yaml", 0o644, mtime, composeYML); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteStream(ctx, "databases/db/globals.sql", bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteStream(ctx, "databases/db/appdb.pgdump", bytes.NewReader(b.dump)); err != nil {
		t.Fatal(err)
	}
	b.tree, err = w.WriteTree(ctx, "volumes/appdata/", tar.NewReader(bytes.NewReader(tarOf(t, volumeTree()))))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{
		ToolVersion: "test",
		CreatedAt:   mtime,
		// Cold: the tree holds a fifo.
		Cold:     true,
		Project:  Project{Name: "proj"},
		Services: []Service{{Name: "db", Image: "postgres:16", Containers: 1, Running: true}},
		Databases: []Database{{Service: "db", Engine: "postgres", Flavor: "PostgreSQL", Version: "16.3",
			Dumps: []Dump{
				{Path: "databases/db/globals.sql", Kind: "globals", Format: "sql", Tool: "pg_dumpall 16.3"},
				{Path: "databases/db/appdb.pgdump", Database: "appdb", Kind: "database", Format: "pg_dump-custom", Tool: "pg_dump 16.3"},
			}}},
		Volumes: []Volume{{Name: "appdata", EngineName: "proj_appdata", Services: []string{"app"}}},
	}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	if got := w.Written(); got != int64(out.Len()) {
		t.Errorf("Written() = %d, archive is %d bytes", got, out.Len())
	}
	b.files = w.Files()
	b.archive = out.Bytes()
	b.manifest = w.ManifestBytes()
	return b
}

var (
	bigOnce sync.Map // Compression -> *built
)

// big is the round-trip archive with a dump of two and a half parts, built once per
// compression.
func big(t *testing.T, c Compression) built {
	t.Helper()
	if v, ok := bigOnce.Load(c); ok {
		return *v.(*built)
	}
	b := build(t, c, 2*ChunkSize+ChunkSize/2)
	bigOnce.Store(c, &b)
	return b
}

func verifyBytes(t testing.TB, data []byte) (*Manifest, error) {
	t.Helper()
	return Verify(context.Background(), bytes.NewReader(data))
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			b := big(t, c)
			m, err := verifyBytes(t, b.archive)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if m.FormatVersion != FormatVersion || m.Compression != c || m.Project.Name != "proj" {
				t.Errorf("manifest header: version %d compression %q project %q", m.FormatVersion, m.Compression, m.Project.Name)
			}
			want := []File{
				{Path: "compose/compose.yaml", Size: int64(len(composeYML)), SHA256: hexSum(composeYML)},
				{Path: "databases/db/globals.sql", Size: 0, SHA256: hexSum(nil), Parts: 1},
				{Path: "databases/db/appdb.pgdump", Size: 2*ChunkSize + ChunkSize/2, SHA256: hexSum(b.dump), Parts: 3},
			}
			if fmt.Sprint(m.Files) != fmt.Sprint(want) {
				t.Errorf("files:\n got %v\nwant %v", m.Files, want)
			}
			if fmt.Sprint(b.files) != fmt.Sprint(want) {
				t.Errorf("Writer.Files() = %v", b.files)
			}
			v := m.Volumes[0]
			wantBytes := int64(len(volumeData) + len("utf-8\n") + len("long\n"))
			if v.Entries != 10 || v.Bytes != wantBytes || v.TreeSHA256 != b.tree.Digest || len(v.TreeSHA256) != 64 {
				t.Errorf("volume: %+v, tree written %+v", v, b.tree)
			}
			if b.tree.Entries != 10 || b.tree.Bytes != wantBytes {
				t.Errorf("tree summary %+v", b.tree)
			}
			checkEntries(t, b, c)
		})
	}
}

// checkEntries reads the archive back entry by entry.
func checkEntries(t *testing.T, b built, c Compression) {
	r, err := Open(bytes.NewReader(b.archive))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Compression() != c {
		t.Errorf("detected %q, want %q", r.Compression(), c)
	}
	var names []string
	hdrs := map[string]*tar.Header{}
	dump := sha256.New()
	var dumpParts []int64
	var data = map[string][]byte{}
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		hdrs[hdr.Name] = hdr
		if strings.HasPrefix(hdr.Name, "databases/db/appdb.pgdump.") {
			n, err := io.Copy(dump, r)
			if err != nil {
				t.Fatal(err)
			}
			dumpParts = append(dumpParts, n)
			continue
		}
		d, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		data[hdr.Name] = d
	}
	p := "volumes/appdata/"
	wantNames := []string{
		"compose/compose.yaml",
		"databases/db/globals.sql.000000",
		"databases/db/appdb.pgdump.000000", "databases/db/appdb.pgdump.000001", "databases/db/appdb.pgdump.000002",
		p, p + "dir/", p + "dir/data.bin", p + "link", p + "hard", p + "empty", p + utfName,
		p + longDir + "/", p + longName, p + "pipe",
		ManifestName,
	}
	if strings.Join(names, "\n") != strings.Join(wantNames, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
	if hex.EncodeToString(dump.Sum(nil)) != hexSum(b.dump) || fmt.Sprint(dumpParts) != fmt.Sprint([]int64{ChunkSize, ChunkSize, ChunkSize / 2}) {
		t.Errorf("dump parts %v do not join into the dump", dumpParts)
	}
	if h := hdrs["databases/db/appdb.pgdump.000000"]; h == nil || h.Mode != 0o600 || h.Typeflag != tar.TypeReg {
		t.Errorf("dump part header %+v", h)
	}
	if h := hdrs["compose/compose.yaml"]; h == nil || h.Mode != 0o644 || !h.ModTime.Equal(mtime) || !bytes.Equal(data[h.Name], composeYML) {
		t.Errorf("compose header %+v", h)
	}
	if h := hdrs[p+"dir/data.bin"]; h == nil || h.Uid != 1000 || h.Gid != 1000 || h.Mode != 0o640 ||
		h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(mtime) || !bytes.Equal(data[h.Name], volumeData) {
		t.Errorf("volume file header %+v", h)
	}
	if h := hdrs[p+"link"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "dir/data.bin" {
		t.Errorf("symlink header %+v", h)
	}
	if h := hdrs[p+"hard"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != p+"dir/data.bin" {
		t.Errorf("hardlink header %+v", h)
	}
	if h := hdrs[p+"dir/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("dir header %+v", h)
	}
	if h := hdrs[p+utfName]; h == nil || h.Mode != 0o4755 || string(data[h.Name]) != "utf-8\n" {
		t.Errorf("non-ASCII entry %+v", h)
	}
	if h := hdrs[p+longName]; h == nil || h.Uid != 2000000 || h.Gid != 3000000 || string(data[h.Name]) != "long\n" {
		t.Errorf("long entry %+v", h)
	}
	if h := hdrs[p+"pipe"]; h == nil || h.Typeflag != tar.TypeFifo {
		t.Errorf("fifo header %+v", h)
	}
	var m Manifest
	if err := json.Unmarshal(data[ManifestName], &m); err != nil || m.FormatVersion != FormatVersion {
		t.Errorf("manifest.json: %v %+v", err, m)
	}
	if !bytes.Contains(data[ManifestName], []byte("\n  \"formatVersion\": 1,")) {
		t.Errorf("manifest.json is not indented JSON:\n%s", data[ManifestName])
	}
}

// TestSystemTar checks that the tar stream is one the system's tools read,
// and that the manual restore of docs/FORMAT.md (cat the parts) works.
func TestSystemTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar on this machine")
	}
	b := big(t, None)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.tar")
	if err := os.WriteFile(file, b.archive, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "-tf", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tf: %v\n%s", err, out)
	}
	list := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(list) != 16 || list[len(list)-1] != ManifestName || !strings.Contains(string(out), "volumes/appdata/"+longName) ||
		!strings.Contains(string(out), "volumes/appdata/"+utfName) {
		t.Errorf("tar -tf lists:\n%s", out)
	}
	if os.Geteuid() != 0 {
		return // extraction below keeps numeric owners, which needs root
	}
	x := filepath.Join(dir, "x")
	if err := os.Mkdir(x, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "--numeric-owner", "-xpf", file, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	cmd := exec.Command("sh", "-c", "cat databases/db/appdb.pgdump.* | sha256sum")
	cmd.Dir = x
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("cat parts: %v", err)
	}
	if got := strings.Fields(string(out))[0]; got != hexSum(b.dump) {
		t.Errorf("cat parts gives sha256 %s, want %s", got, hexSum(b.dump))
	}
	fi, err := os.Stat(filepath.Join(x, "volumes/appdata/dir/data.bin"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1000 || st.Gid != 1000 || fi.Mode().Perm() != 0o640 {
		t.Errorf("extracted data.bin: uid %d gid %d mode %v", st.Uid, st.Gid, fi.Mode())
	}
	hard, err := os.Stat(filepath.Join(x, "volumes/appdata/hard"))
	if err != nil || !os.SameFile(fi, hard) {
		t.Errorf("hardlink not extracted as a link to data.bin: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(x, "volumes/appdata/link")); err != nil || l != "dir/data.bin" {
		t.Errorf("symlink: %q %v", l, err)
	}

	// docs/FORMAT.md's volume restore: one tree straight into a directory
	// (the volume's mountpoint), its root entry giving the root's mode.
	vol := filepath.Join(dir, "vol")
	if err := os.Mkdir(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("tar", "--numeric-owner", "-xpf", file, "-C", vol, "--transform", "s,^volumes/appdata,.,S", "volumes/appdata")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x of one volume: %v\n%s", err, out)
	}
	if fi, err := os.Stat(vol); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("volume root after restore: %v %v", fi.Mode(), err)
	}
	a, errA := os.Stat(filepath.Join(vol, "dir/data.bin"))
	h, errH := os.Stat(filepath.Join(vol, "hard"))
	if errA != nil || errH != nil || !os.SameFile(a, h) || a.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("volume restore: data.bin %v, hard %v", errA, errH)
	}
	if _, err := os.Stat(filepath.Join(vol, "volumes")); err == nil {
		t.Errorf("volume restore left a volumes/ folder")
	}
}

// TestSystemDecompress checks the zstd and gzip tools read the compressed
// variants.
func TestSystemDecompress(t *testing.T) {
	for _, tc := range []struct {
		c    Compression
		tool string
	}{{Zstd, "zstd"}, {Gzip, "gzip"}} {
		t.Run(tc.tool, func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				t.Skipf("no %s on this machine", tc.tool)
			}
			b := build(t, tc.c, 1000)
			cmd := exec.Command(tc.tool, "-dc")
			cmd.Stdin = bytes.NewReader(b.archive)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s -dc: %v", tc.tool, err)
			}
			if _, err := verifyBytes(t, out); err != nil {
				t.Errorf("decompressed by %s: %v", tc.tool, err)
			}
		})
	}
}

func TestTreeEntryLine(t *testing.T) {
	e := TreeEntry{Name: "dir/data.bin", Typeflag: tar.TypeReg, Mode: 0o100640, UID: 1000, GID: 1000,
		ModUnix: 1700000000, Size: 3, SHA256: "abc"}
	want := "dir/data.bin\x0048\x00640\x001000\x001000\x001700000000\x00\x003\x00abc\n"
	if got := e.Line(); got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	root := TreeEntry{Name: ".", Typeflag: tar.TypeDir, Mode: 0o1777}
	if got := root.Line(); got != ".\x0053\x001777\x000\x000\x000\x00\x000\x00\n" {
		t.Errorf("root Line() = %q", got)
	}
	d := NewTreeDigest()
	d.Add(e)
	d.Add(root)
	sum := sha256.Sum256([]byte(e.Line() + root.Line()))
	if s := d.Summary(); s.Digest != hex.EncodeToString(sum[:]) || s.Entries != 2 || s.Bytes != 3 {
		t.Errorf("summary %+v", s)
	}
}

func wantErr(t *testing.T, err, sentinel error, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %q", err, sentinel)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not say %q", err, contains)
	}
}

func TestTruncated(t *testing.T) {
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			a := build(t, c, 100000).archive
			offsets := []int{5, 600, len(a) / 4, len(a) / 2, len(a) - 2000, len(a) - 100, len(a) - 1}
			if c == None {
				// Cuts at block boundaries, which archive/tar alone takes
				// for a clean end: before manifest.json's header, in the
				// end-of-archive marker, and right after the padding of the
				// last data.
				mh := bytes.LastIndex(a, []byte(ManifestName+"\x00")) // the manifest's header block
				mh -= mh % tarBlock
				offsets = []int{600, mh, mh - 1024, len(a) / 2, len(a) - 1024, len(a) - 512, len(a) - 1}
			}
			for _, off := range offsets {
				_, err := verifyBytes(t, a[:off])
				if err == nil || !errors.Is(err, ErrTruncated) {
					t.Errorf("cut at %d of %d: %v, want %v", off, len(a), err, ErrTruncated)
				}
			}
			_, err := verifyBytes(t, nil)
			wantErr(t, err, ErrNotArchive, "empty")
		})
	}
}

func TestTruncatedBig(t *testing.T) {
	b := big(t, Zstd)
	for _, off := range []int{len(b.archive) / 3, len(b.archive) - 10} {
		_, err := verifyBytes(t, b.archive[:off])
		wantErr(t, err, ErrTruncated, "archive is truncated")
	}
}

// flip returns a copy of a with the byte at i changed.
func flip(a []byte, i int) []byte {
	b := bytes.Clone(a)
	b[i] ^= 0x20
	return b
}

func TestFlippedByte(t *testing.T) {
	b := build(t, None, 100000)
	a := b.archive

	i := bytes.Index(a, b.dump[5000:5032])
	_, err := verifyBytes(t, flip(a, i+7))
	wantErr(t, err, ErrChecksum, "databases/db/appdb.pgdump: checksum mismatch")

	i = bytes.Index(a, volumeData)
	_, err = verifyBytes(t, flip(a, i+3))
	wantErr(t, err, ErrChecksum, "volumes/appdata/: checksum mismatch")

	// A manifest byte: one hex digit of the compose file's checksum.
	sum := hexSum(composeYML)
	i = bytes.LastIndex(a, []byte(sum))
	c := bytes.Clone(a)
	if c[i] == '0' {
		c[i] = '1'
	} else {
		c[i] = '0'
	}
	_, err = verifyBytes(t, c)
	wantErr(t, err, ErrChecksum, "compose/compose.yaml: checksum mismatch")

	// A structural manifest byte.
	i = bytes.LastIndex(a, []byte(`"formatVersion"`))
	_, err = verifyBytes(t, flip(a, i))
	wantErr(t, err, ErrInvalid, "manifest.json is not valid JSON")

	// A tar header byte: the header checksum catches it.
	i = bytes.Index(a, []byte("volumes/appdata/dir/data.bin\x00"))
	_, err = verifyBytes(t, flip(a, i+2))
	wantErr(t, err, ErrChecksum, "corrupt tar header")

	// Compressed archives: the decompressor or the checksums catch it.
	for _, comp := range []Compression{Zstd, Gzip} {
		z := build(t, comp, 100000).archive
		for _, at := range []int{len(z) / 3, len(z) / 2, len(z) - 30} {
			_, err = verifyBytes(t, flip(z, at))
			if !errors.Is(err, ErrChecksum) {
				t.Errorf("%s flipped at %d of %d: %v, want %v", comp, at, len(z), err, ErrChecksum)
			}
		}
	}
}

func TestFlippedMultiPart(t *testing.T) {
	b := big(t, None)
	i := bytes.Index(b.archive, b.dump[ChunkSize+12345:ChunkSize+12345+32])
	_, err := verifyBytes(t, flip(b.archive, i))
	wantErr(t, err, ErrChecksum, "databases/db/appdb.pgdump: checksum mismatch")
}

// entry is one tar entry of an archive held in memory (small test
// archives only).
type entry struct {
	hdr  *tar.Header
	data []byte
}

func readAll(t *testing.T, a []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(a))
	var es []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, entry{h, d})
	}
}

func writeAll(t *testing.T, es []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := *e.hdr
		h.Size = int64(len(e.data))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func reg(name, data string) entry {
	return entry{&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, ModTime: mtime}, []byte(data)}
}

func TestStructure(t *testing.T) {
	es := readAll(t, build(t, None, 1000).archive)
	last := len(es) - 1
	if es[last].hdr.Name != ManifestName {
		t.Fatalf("last entry is %s", es[last].hdr.Name)
	}
	without := func(i int) []entry { return append(append([]entry{}, es[:i]...), es[i+1:]...) }
	insert := func(e entry) []entry { return append(append(append([]entry{}, es[:last]...), e), es[last]) }
	index := func(name string) int {
		for i, e := range es {
			if e.hdr.Name == name {
				return i
			}
		}
		t.Fatalf("no entry %s", name)
		return -1
	}
	withManifest := func(edit func(m map[string]any)) []entry {
		var m map[string]any
		if err := json.Unmarshal(es[last].data, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		d, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out := append([]entry{}, es[:last]...)
		return append(out, entry{es[last].hdr, d})
	}

	if _, err := verifyBytes(t, writeAll(t, es)); err != nil {
		t.Fatalf("rewritten archive: %v", err)
	}

	cases := []struct {
		name     string
		entries  []entry
		sentinel error
		says     string
	}{
		{"extra entry", insert(reg("compose/extra.yaml", "x")), ErrInvalid, "entry compose/extra.yaml is not listed in the manifest"},
		{"extra part", insert(reg("databases/db/other.sql.000000", "x")), ErrInvalid, "entry databases/db/other.sql.000000 is not listed in the manifest"},
		{"entry outside the layout", insert(reg("secrets.txt", "x")), ErrInvalid, "entry secrets.txt is outside"},
		{"duplicate entry", insert(reg("compose/compose.yaml", string(composeYML))), ErrInvalid, "duplicate entry compose/compose.yaml"},
		{"duplicate part", insert(reg("databases/db/appdb.pgdump.000000", "x")), ErrInvalid, "duplicate entry databases/db/appdb.pgdump.000000"},
		{"missing manifest", es[:last], ErrNotArchive, "not a docker-backup archive: no manifest.json"},
		{"entry after manifest", append(append([]entry{}, es...), reg("compose/late.yaml", "x")), ErrInvalid, "comes after manifest.json"},
		{"missing file", without(index("compose/compose.yaml")), ErrInvalid, "compose/compose.yaml is missing"},
		{"missing part", without(index("databases/db/globals.sql.000000")), ErrInvalid, "databases/db/globals.sql is missing"},
		{"misnumbered part", func() []entry {
			out := append([]entry{}, es...)
			i := index("databases/db/appdb.pgdump.000000")
			h := *out[i].hdr
			h.Name = "databases/db/appdb.pgdump.000001"
			out[i] = entry{&h, out[i].data}
			return out
		}(), ErrInvalid, "part databases/db/appdb.pgdump.000000 is missing"},
		{"short part before the last", func() []entry {
			out := append([]entry{}, es[:last]...)
			return append(out, reg("databases/db/appdb.pgdump.000001", "more"), reg("databases/db/appdb.pgdump.000002", "end"), es[last])
		}(), ErrInvalid, "every part but the last must be"},
		{"first part over 8 MiB", func() []entry {
			out := append([]entry{}, es[:last]...)
			i := index("databases/db/appdb.pgdump.000000")
			h := *out[i].hdr
			h.Size = MaxChunkSize + 1
			out[i] = entry{&h, make([]byte, MaxChunkSize+1)}
			return append(out, reg("databases/db/appdb.pgdump.000001", "more"), es[last])
		}(), ErrInvalid, "every part but the last must be 1 to 8388608 bytes"},
		{"tree name with ..", insert(reg("volumes/appdata/../../etc/passwd", "x")), ErrInvalid, `path segment ".."`},
		{"tree entry added", insert(reg("volumes/appdata/new", "x")), ErrChecksum, "volumes/appdata/: checksum mismatch"},
		{"tree entry mode", func() []entry {
			out := append([]entry{}, es...)
			i := index("volumes/appdata/dir/data.bin")
			h := *out[i].hdr
			h.Mode = 0o644
			out[i] = entry{&h, out[i].data}
			return out
		}(), ErrChecksum, "tree digest"},
		{"hardlink outside its volume", insert(entry{&tar.Header{Typeflag: tar.TypeLink, Name: "volumes/appdata/h2",
			Linkname: "/etc/shadow", ModTime: mtime}, nil}), ErrInvalid, `hardlink target "/etc/shadow"`},
		{"hardlink to another volume", insert(entry{&tar.Header{Typeflag: tar.TypeLink, Name: "volumes/appdata/h2",
			Linkname: "volumes/other/x", ModTime: mtime}, nil}), ErrInvalid, "points outside its volume"},
		{"undeclared volume", insert(entry{&tar.Header{Typeflag: tar.TypeDir, Name: "volumes/other/", Mode: 0o755, ModTime: mtime}, nil}),
			ErrInvalid, "volume tree volumes/other/ is not listed in the manifest"},
		{"format version 99", withManifest(func(m map[string]any) { m["formatVersion"] = 99 }), ErrFormatVersion, "version 99"},
		{"format of a newer tool", withManifest(func(m map[string]any) { m["formatVersion"] = 2; m["toolVersion"] = "3.1.0" }),
			ErrFormatVersion, "docker-backup 3.1.0 wrote it: upgrade to 3.1.0 or newer"},
		{"no format version", withManifest(func(m map[string]any) { delete(m, "formatVersion") }), ErrNotArchive, "no formatVersion"},
		{"manifest size mismatch", withManifest(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["size"] = 1
		}), ErrChecksum, "compose/compose.yaml: checksum mismatch"},
		{"missing volume", withManifest(func(m map[string]any) {
			m["volumes"] = append(m["volumes"].([]any), map[string]any{"name": "gone", "entries": 3})
		}), ErrInvalid, "volume tree volumes/gone/ is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyBytes(t, writeAll(t, tc.entries))
			wantErr(t, err, tc.sentinel, tc.says)
		})
	}
}

func TestNotAnArchive(t *testing.T) {
	for name, data := range map[string][]byte{
		"text":         []byte("hello, this is not a tar stream at all, just some text that goes on and on" + strings.Repeat(".", 1000)),
		"short":        []byte("hi"),
		"zeros":        make([]byte, 10240),                                   // an empty tar
		"bad gzip":     append([]byte{0x1f, 0x8b, 0x09}, make([]byte, 30)...), // unknown method
		"zstd of text": zstdOf(t, []byte(strings.Repeat("not a tar ", 200))),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := verifyBytes(t, data)
			wantErr(t, err, ErrNotArchive, "not a docker-backup archive")
		})
	}
	// A plain tar of something else.
	_, err := verifyBytes(t, tarOf(t, volumeTree()))
	wantErr(t, err, ErrNotArchive, "not a docker-backup archive")
	// Trailing garbage after the end of the tar stream.
	a := build(t, None, 10).archive
	_, err = verifyBytes(t, append(bytes.Clone(a), []byte("garbage")...))
	wantErr(t, err, ErrInvalid, "data after the end of the tar data")
	// Zero padding after it (as tar's records add) is fine.
	if _, err = verifyBytes(t, append(bytes.Clone(a), make([]byte, 10240)...)); err != nil {
		t.Errorf("padded archive: %v", err)
	}
}

func zstdOf(t *testing.T, data []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("zstd"); err != nil {
		// Fall back to the zstd magic on nonsense: still not an archive.
		return append([]byte{0x28, 0xb5, 0x2f, 0xfd}, data...)
	}
	cmd := exec.Command("zstd", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func TestWriterErrors(t *testing.T) {
	ctx := context.Background()
	w, err := NewWriter(io.Discard, Zstd)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/etc/passwd", "compose/../x", "other/file", "compose/", "compose/x.000001", ""} {
		if err := w.WriteFile(name, 0o644, mtime, nil); err == nil {
			t.Errorf("WriteFile(%q) accepted", name)
		}
	}
	if err := w.WriteFile("compose/a.yaml", 0o644, mtime, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("compose/a.yaml", 0o644, mtime, nil); err == nil {
		t.Error("duplicate WriteFile accepted")
	}
	for _, p := range []string{"volumes/", "volumes/a/b/", "compose/x/", "volumes/../"} {
		if _, err := w.WriteTree(ctx, p, tar.NewReader(bytes.NewReader(tarOf(t, volumeTree())))); err == nil {
			t.Errorf("WriteTree(%q) accepted", p)
		}
	}

	boom := errors.New("docker exec died")
	_, err = w.WriteStream(ctx, "databases/db/x.sql", &failingReader{n: 100, err: boom})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "databases/db/x.sql") {
		t.Errorf("WriteStream error %v does not wrap the reader's", err)
	}
	if err := w.WriteFile("compose/b.yaml", 0o644, mtime, nil); err == nil {
		t.Error("writer still usable after a failed stream")
	}
	if err := w.Close(&Manifest{}); err == nil {
		t.Error("Close succeeded after a failed stream")
	}
	w.Abort()
	w.Abort()

	for _, tc := range []struct {
		name string
		tree []treeEntryT
		says string
	}{
		{"dotdot", []treeEntryT{{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}},
			{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./a/../../escape", Mode: 0o644}}}, "leaves its directory"},
		{"absolute", []treeEntryT{{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "/etc/passwd", Mode: 0o644}}}, "absolute name"},
		{"hardlink out", []treeEntryT{{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "./h", Linkname: "../../etc/shadow"}}}, "leaves its directory"},
		{"root not a dir", []treeEntryT{{hdr: tar.Header{Typeflag: tar.TypeReg, Name: ".", Mode: 0o644}}}, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, None)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			_, err = w.WriteTree(ctx, "volumes/v/", tar.NewReader(bytes.NewReader(tarOf(t, tc.tree))))
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("WriteTree: %v, want an error saying %q", err, tc.says)
			}
		})
	}
}

func TestWriterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w, err := NewWriter(io.Discard, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.WriteStream(ctx, "databases/db/x.sql", bytes.NewReader([]byte("data"))); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteStream with a cancelled context: %v", err)
	}
}

func TestCloseChecksManifest(t *testing.T) {
	ctx := context.Background()
	newW := func() *Writer {
		w, err := NewWriter(io.Discard, None)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteTree(ctx, "volumes/v", tar.NewReader(bytes.NewReader(tarOf(t, volumeTree())))); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := newW()
	if err := w.Close(&Manifest{}); err == nil || !strings.Contains(err.Error(), "does not list it") {
		t.Errorf("Close without the volume: %v", err)
	}
	w.Abort()
	w = newW()
	err := w.Close(&Manifest{Volumes: []Volume{{Name: "v"}, {Name: "w"}}})
	if err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("Close with an unwritten volume: %v", err)
	}
	w.Abort()
	w = newW()
	err = w.Close(&Manifest{Databases: []Database{{Service: "db", Dumps: []Dump{{Path: "databases/db/x.sql"}}}}, Volumes: []Volume{{Name: "v"}}})
	if err == nil || !strings.Contains(err.Error(), "databases/db/x.sql") {
		t.Errorf("Close with an unwritten dump: %v", err)
	}
	w.Abort()
}

// TestStreamExactChunk: a stream of exactly ChunkSize bytes is one full
// part, with no empty part after it.
func TestStreamExactChunk(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out, None)
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(ChunkSize, 2)
	f, err := w.WriteStream(context.Background(), "databases/db/x.sql", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.Parts != 1 || f.Size != ChunkSize || f.SHA256 != hexSum(data) {
		t.Errorf("file %+v", f)
	}
	m := &Manifest{Databases: []Database{{Service: "db", Dumps: []Dump{{Path: "databases/db/x.sql"}}}}}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	got, err := verifyBytes(t, out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 1 || got.Files[0] != f {
		t.Errorf("manifest files %+v", got.Files)
	}
}

// TestDeviceAndPAX: device numbers and PAX records (xattrs) survive, user
// and group names do not.
func TestDeviceAndPAX(t *testing.T) {
	tree := []treeEntryT{
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "./null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./cap", Mode: 0o755, ModTime: mtime, Uname: "root",
			PAXRecords: map[string]string{"SCHILY.xattr.user.note": "kept"}}, data: []byte("x")},
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, None)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTree(context.Background(), "volumes/dev/", tar.NewReader(bytes.NewReader(tarOf(t, tree)))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&Manifest{Cold: true, Volumes: []Volume{{Name: "dev"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyBytes(t, out.Bytes()); err != nil {
		t.Fatal(err)
	}
	es := readAll(t, out.Bytes())
	if h := es[1].hdr; h.Name != "volumes/dev/null" || h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
		t.Errorf("device %+v", h)
	}
	if h := es[2].hdr; h.PAXRecords["SCHILY.xattr.user.note"] != "kept" || h.Uname != "" {
		t.Errorf("pax %+v", h)
	}
}

func TestParts(t *testing.T) {
	b := big(t, Zstd)
	r, err := Open(bytes.NewReader(b.archive))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hdr.Name)
		if hdr.Name == "compose/compose.yaml" {
			if _, _, err := r.Parts(); err == nil {
				t.Error("Parts accepted a plain file")
			}
			continue
		}
		if _, i, ok := SplitPart(hdr.Name); !ok || i != 0 {
			continue
		}
		name, pr, err := r.Parts()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, pr)
		if err != nil {
			t.Fatal(err)
		}
		want := b.dump
		if name == "databases/db/globals.sql" {
			want = nil
		}
		if n != int64(len(want)) || hex.EncodeToString(h.Sum(nil)) != hexSum(want) {
			t.Errorf("%s: %d bytes joined, want %d", name, n, len(want))
		}
	}
	want := "compose/compose.yaml databases/db/globals.sql.000000 databases/db/appdb.pgdump.000000 volumes/appdata/"
	if !strings.HasPrefix(strings.Join(got, " "), want) || got[len(got)-1] != ManifestName {
		t.Errorf("entries seen with Parts: %v", got)
	}
}

// TestPartSizes: parts are ChunkSize; archives written with the 8 MiB
// parts of earlier versions still verify.
func TestPartSizes(t *testing.T) {
	b := build(t, None, 2*MaxChunkSize+1000)
	es := readAll(t, b.archive)
	const dump = "databases/db/appdb.pgdump"
	var kept []entry
	first := -1
	for _, e := range es {
		if base, _, ok := SplitPart(e.hdr.Name); ok && base == dump {
			if int64(len(e.data)) != ChunkSize && len(e.data) != len(b.dump)%ChunkSize {
				t.Fatalf("part %s is %d bytes, want %d", e.hdr.Name, len(e.data), ChunkSize)
			}
			if first < 0 {
				first = len(kept)
			}
			continue
		}
		kept = append(kept, e)
	}
	var old []entry
	for i := 0; i*MaxChunkSize < len(b.dump); i++ {
		end := min((i+1)*MaxChunkSize, len(b.dump))
		old = append(old, entry{&tar.Header{Typeflag: tar.TypeReg, Name: PartName(dump, i), Mode: 0o600, ModTime: mtime}, b.dump[i*MaxChunkSize : end]})
	}
	es = append(append(append([]entry{}, kept[:first]...), old...), kept[first:]...)
	last := len(es) - 1
	var m map[string]any
	if err := json.Unmarshal(es[last].data, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range m["files"].([]any) {
		if f := f.(map[string]any); f["path"] == dump {
			f["parts"] = len(old)
		}
	}
	d, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	es[last] = entry{es[last].hdr, d}
	if _, err := verifyBytes(t, writeAll(t, es)); err != nil {
		t.Fatalf("an archive with 8 MiB parts: %v", err)
	}
}

// The manifest hook sees the stored bytes of manifest.json, which are what
// a signature covers, and its refusal refuses the archive.
func TestVerifyManifestHook(t *testing.T) {
	b := build(t, Zstd, 100)
	var seen []byte
	m, err := VerifyWith(context.Background(), bytes.NewReader(b.archive), VerifyOptions{Manifest: func(raw []byte) error {
		seen = append([]byte(nil), raw...)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var parsed Manifest
	if err := json.Unmarshal(seen, &parsed); err != nil || parsed.Project.Name != m.Project.Name {
		t.Fatalf("the hook saw %q (%v)", seen, err)
	}
	ar, err := Open(bytes.NewReader(b.archive))
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	for {
		hdr, err := ar.Next()
		if err != nil {
			t.Fatalf("no %s: %v", ManifestName, err)
		}
		if hdr.Name == ManifestName {
			stored, err := io.ReadAll(ar)
			if err != nil || !bytes.Equal(stored, seen) {
				t.Fatalf("the hook's bytes differ from the stored %s (%v)", ManifestName, err)
			}
			// What the writer signs is what is stored.
			if !bytes.Equal(b.manifest, stored) {
				t.Fatalf("Writer.ManifestBytes differs from the stored %s", ManifestName)
			}
			break
		}
	}
	refuse := errors.New("not signed")
	if _, err := VerifyWith(context.Background(), bytes.NewReader(b.archive), VerifyOptions{Manifest: func([]byte) error { return refuse }}); !errors.Is(err, refuse) {
		t.Fatalf("the hook's refusal was not returned: %v", err)
	}
}
