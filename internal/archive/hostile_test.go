package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// hostile writes an archive by hand, bypassing the Writer's checks, with
// volume v's entries and a manifest whose digest matches them: only the
// shape checks can refuse it.
func hostile(t *testing.T, cold bool, entries []tar.Header) []byte {
	t.Helper()
	prefix := "volumes/v/"
	var named []tar.Header
	for _, h := range entries {
		h.Name = prefix + strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeLink {
			h.Linkname = prefix + strings.TrimPrefix(h.Linkname, "./")
		}
		named = append(named, h)
	}
	return rawArchive(t, cold, named)
}

func TestVerifyRefusesHostileTrees(t *testing.T) {
	root := tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}
	file := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644} }
	for _, tc := range []struct {
		name    string
		cold    bool
		entries []tar.Header
		want    string
	}{
		{"below a symlink", false, []tar.Header{root, {Name: "./etc", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, file("./etc/passwd")}, "below symlink etc"},
		{"deep below a symlink", false, []tar.Header{root, {Name: "./a", Typeflag: tar.TypeSymlink, Linkname: "../../.."}, {Name: "./a/b/", Typeflag: tar.TypeDir}, file("./a/b/c")}, "below symlink a"},
		{"twice", false, []tar.Header{root, file("./x"), file("./x")}, "appears twice"},
		{"twice, differently spelt", false, []tar.Header{root, file("./x"), file("x")}, "appears twice"},
		{"hardlink through a symlink", false, []tar.Header{root, {Name: "./l", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, {Name: "./h", Typeflag: tar.TypeLink, Linkname: "./l"}}, "through symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(context.Background(), bytes.NewReader(hostile(t, tc.cold, tc.entries)))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// What a real volume holds passes: a symlink out of the volume is a
	// symlink, written as such, never followed.
	ok := []tar.Header{root, {Name: "./abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/hostname"}, file("./a"), {Name: "./h", Typeflag: tar.TypeLink, Linkname: "./a"}, {Name: "./sub/", Typeflag: tar.TypeDir}, file("./sub/b")}
	if _, err := Verify(context.Background(), bytes.NewReader(hostile(t, false, ok))); err != nil {
		t.Errorf("a sound tree was refused: %v", err)
	}
}

// Devices, fifos, setuid and setgid files and file capabilities are no
// longer refused in hot archives, nor let through because the manifest
// says cold (which anyone can write): verify counts them and hands them
// back, whatever the manifest says, so that a restore can name them.
func TestVerifyReportsSpecialFiles(t *testing.T) {
	root := tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}
	tree := []tar.Header{root,
		{Name: "./sudo", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 0},
		{Name: "./p", Typeflag: tar.TypeFifo, Mode: 0o600},
		{Name: "./sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o660},
		{Name: "./ping", Typeflag: tar.TypeReg, Mode: 0o755, PAXRecords: map[string]string{CapabilityRecord: "\x01\x00\x00\x02"}},
		{Name: "./group", Typeflag: tar.TypeReg, Mode: 0o2755},
		{Name: "./shared/", Typeflag: tar.TypeDir, Mode: 0o2775}, // a setgid folder is not counted
		{Name: "./plain", Typeflag: tar.TypeReg, Mode: 0o755},
	}
	want := &Special{Setuid: 2, Devices: 2, Capabilities: 1, Examples: []string{"sudo", "p", "sda", "ping", "group"}}
	for _, cold := range []bool{false, true} {
		m, err := Verify(context.Background(), bytes.NewReader(hostile(t, cold, tree)))
		if err != nil {
			t.Fatalf("cold %v: %v", cold, err)
		}
		if got := m.Volumes[0].Special; !reflect.DeepEqual(got, want) {
			t.Errorf("cold %v: Special %+v, want %+v", cold, got, want)
		}
	}
	// Whatever the manifest records, it is what the tree holds once
	// verified: one that records none (written before the field) gets
	// it, one that records something else is refused.
	data := hostileWith(t, tree, func(m *Manifest) { m.Volumes[0].Special = nil })
	if m, err := verifyBytes(t, data); err != nil || !reflect.DeepEqual(m.Volumes[0].Special, want) {
		t.Errorf("no record: %+v, %v", m, err)
	}
	for _, lie := range []*Special{
		{},
		{Setuid: 1, Devices: 2, Capabilities: 1, Examples: want.Examples},
		{Setuid: 2, Devices: 2, Capabilities: 0, Examples: want.Examples},
		{Setuid: 2, Devices: 2, Capabilities: 1, Examples: []string{"elsewhere"}},
	} {
		data := hostileWith(t, tree, func(m *Manifest) { m.Volumes[0].Special = lie })
		if _, err := verifyBytes(t, data); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "setuid") {
			t.Errorf("manifest records %+v: got %v, want ErrChecksum", lie, err)
		}
	}
	data = hostileWith(t, tree, func(m *Manifest) { m.Volumes[0].Special = want })
	if _, err := verifyBytes(t, data); err != nil {
		t.Errorf("a true record was refused: %v", err)
	}
	// A tree without any records none, and a manifest that says it has
	// some is refused.
	data = hostileWith(t, []tar.Header{root}, func(m *Manifest) { m.Volumes[0].Special = want })
	if _, err := verifyBytes(t, data); !errors.Is(err, ErrChecksum) {
		t.Errorf("a record of what is not there: %v", err)
	}
	if m, err := verifyBytes(t, hostile(t, false, []tar.Header{root})); err != nil || m.Volumes[0].Special != nil {
		t.Errorf("a plain tree: %+v, %v", m, err)
	}
	// The names are bounded.
	many := []tar.Header{root}
	for i := range 12 {
		many = append(many, tar.Header{Name: fmt.Sprintf("./s%02d", i), Typeflag: tar.TypeReg, Mode: 0o4755})
	}
	m, err := verifyBytes(t, hostile(t, false, many))
	if err != nil || m.Volumes[0].Special.Setuid != 12 || len(m.Volumes[0].Special.Examples) != MaxSpecialExamples {
		t.Errorf("12 setuid files: %+v, %v", m.Volumes[0].Special, err)
	}
}

// hostileWith is hostile, with the manifest changed by edit.
func hostileWith(t *testing.T, entries []tar.Header, edit func(*Manifest)) []byte {
	t.Helper()
	var named []tar.Header
	for _, h := range entries {
		h.Name = "volumes/v/" + strings.TrimPrefix(h.Name, "./")
		named = append(named, h)
	}
	return rawArchiveWith(t, false, named, edit)
}

// A Writer records what it wrote in the manifest, and inspect shows it.
func TestWriterRecordsSpecialFiles(t *testing.T) {
	tree := []treeEntryT{
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./su", Mode: 0o4755, ModTime: mtime}, data: []byte("x")},
		{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "./null", Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./cap", Mode: 0o755, ModTime: mtime, PAXRecords: map[string]string{CapabilityRecord: "caps"}}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./f", Mode: 0o644, ModTime: mtime}},
	}
	var out bytes.Buffer
	w, _ := NewWriter(&out, Zstd)
	sum, err := w.WriteTree(context.Background(), "volumes/v/", tar.NewReader(bytes.NewReader(tarOf(t, tree))))
	if err != nil {
		t.Fatal(err)
	}
	want := &Special{Setuid: 1, Devices: 1, Capabilities: 1, Examples: []string{"su", "null", "cap"}}
	if !reflect.DeepEqual(sum.Special, want) {
		t.Errorf("summary %+v", sum.Special)
	}
	if err := w.Close(&Manifest{Volumes: []Volume{{Name: "v"}}}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(context.Background(), bytes.NewReader(out.Bytes()))
	if err != nil || !reflect.DeepEqual(m.Volumes[0].Special, want) {
		t.Errorf("manifest records %+v, %v", m.Volumes[0].Special, err)
	}
	if m, err := verifyBytes(t, out.Bytes()); err != nil || !reflect.DeepEqual(m.Volumes[0].Special, want) {
		t.Errorf("verified: %+v, %v", m, err)
	}
	if s := want.String(); s != "1 setuid/setgid file, 1 device or fifo, 1 file with capabilities (su, null, cap)" {
		t.Errorf("String: %s", s)
	}
	// A name readers would refuse is refused when writing.
	var o2 bytes.Buffer
	w, _ = NewWriter(&o2, None)
	long := []treeEntryT{{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./" + strings.Repeat("n", MaxNameLen), Mode: 0o644, ModTime: mtime}}}
	if _, err := w.WriteTree(context.Background(), "volumes/v/", tar.NewReader(bytes.NewReader(tarOf(t, long)))); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("a name over the bound: %v", err)
	}
}

func TestWriterDropsSpecialNodesWhenAsked(t *testing.T) {
	tree := []treeEntryT{
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "./p", Mode: 0o600, ModTime: mtime}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./f", Mode: 0o644, ModTime: mtime}, data: []byte("x")},
	}
	var out bytes.Buffer
	w, _ := NewWriter(&out, None)
	w.DropSpecial = true
	sum, err := w.WriteTree(context.Background(), "volumes/v/", tar.NewReader(bytes.NewReader(tarOf(t, tree))))
	if err != nil || sum.Dropped != 1 || sum.Entries != 2 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if err := w.Close(&Manifest{Volumes: []Volume{{Name: "v"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyBytes(t, out.Bytes()); err != nil {
		t.Errorf("a hot archive without its fifo does not verify: %v", err)
	}
}

// Names must be written exactly as the Writer writes them. verify used to
// clean names while restore wrote them as they were: volumes/v/a/../b
// passed verify as "b" and was then written through "a/..".
func TestReaderRefusesUncleanNames(t *testing.T) {
	root := tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755}
	dir := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
	file := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644} }
	for _, tc := range []struct {
		name  string
		entry tar.Header
	}{
		{"dot-dot", file("volumes/v/a/../b")},
		{"dot", file("volumes/v/./b")},
		{"trailing dot", dir("volumes/v/a/./")},
		{"empty segment", file("volumes/v//b")},
		{"directory without its slash", dir("volumes/v/d")},
		{"absolute", file("/volumes/v/b")},
		{"compose dot-dot", file("compose/../volumes/v/b")},
		{"database empty segment", file("databases//db/x.sql.000000")},
		{"hardlink target unclean", tar.Header{Name: "volumes/v/h", Typeflag: tar.TypeLink, Linkname: "volumes/v/x/../a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := rawArchive(t, false, []tar.Header{root, file("volumes/v/a"), tc.entry})
			_, err := Verify(context.Background(), bytes.NewReader(data))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.entry.Name) {
				t.Errorf("verify: got %v, want a refusal naming %q", err, tc.entry.Name)
			}
			// The reader refuses it, so restore, which reads entries
			// with it, cannot write it either.
			ar, err := Open(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			for {
				_, err = ar.Next()
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("reader: got %v, want ErrInvalid", err)
			}
		})
	}
	// The names the Writer writes pass.
	data := rawArchive(t, false, []tar.Header{root, file("volumes/v/a"), dir("volumes/v/d/"), file("volumes/v/d/.hidden"), file("volumes/v/d/..x"),
		{Name: "volumes/v/h", Typeflag: tar.TypeLink, Linkname: "volumes/v/a"}})
	ar, _ := Open(bytes.NewReader(data))
	for {
		_, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("a clean archive: %v", err)
		}
	}
}

// rawArchive writes entries as they are, bypassing the Writer's checks,
// then a manifest whose volume v matches what a lenient reader (one that
// cleans names) would see: only the reader's and the shape's checks can
// refuse it.
func rawArchive(t *testing.T, cold bool, entries []tar.Header) []byte {
	t.Helper()
	return rawArchiveWith(t, cold, entries, nil)
}

// rawArchiveWith is rawArchive with the manifest changed by edit.
func rawArchiveWith(t *testing.T, cold bool, entries []tar.Header, edit func(*Manifest)) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	d := NewTreeDigest()
	for _, h := range entries {
		h.Format = tar.FormatPAX
		h.ModTime = mtime
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		rel, _ := cleanRel(strings.TrimPrefix(strings.TrimPrefix(h.Name, "/"), "volumes/v/"))
		linkRel := ""
		if h.Typeflag == tar.TypeLink {
			linkRel, _ = cleanRel(strings.TrimPrefix(h.Linkname, "volumes/v/"))
		}
		sum := ""
		if h.Typeflag == tar.TypeReg {
			sum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		}
		d.Add(treeEntry(rel, linkRel, &h, sum))
	}
	s := d.Summary()
	m := Manifest{FormatVersion: FormatVersion, Cold: cold, Project: Project{Name: "p"}, Files: []File{},
		Volumes: []Volume{{Name: "v", EngineName: "p_v", Entries: s.Entries, Bytes: s.Bytes, TreeSHA256: s.Digest}}}
	if edit != nil {
		edit(&m)
	}
	b, _ := json.Marshal(m)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(b)
	tw.Close()
	return out.Bytes()
}
