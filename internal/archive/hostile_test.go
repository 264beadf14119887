package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
		{"device in a hot archive", false, []tar.Header{root, {Name: "./sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o660}}, "device or fifo sda"},
		{"fifo in a hot archive", false, []tar.Header{root, {Name: "./p", Typeflag: tar.TypeFifo, Mode: 0o600}}, "device or fifo p"},
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
	// A cold archive may hold a database's fifo.
	cold := []tar.Header{root, {Name: "./p", Typeflag: tar.TypeFifo, Mode: 0o600}}
	if _, err := Verify(context.Background(), bytes.NewReader(hostile(t, true, cold))); err != nil {
		t.Errorf("a fifo in a cold archive was refused: %v", err)
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
	b, _ := json.Marshal(m)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(b)
	tw.Close()
	return out.Bytes()
}
