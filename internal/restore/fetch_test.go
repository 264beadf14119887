package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// stored puts data into a storage as create would: the archive, then its
// index (sha "" for the archive's true SHA-256; "-" for no index).
func stored(t *testing.T, data []byte, sha string) storage.Backend {
	t.Helper()
	ctx := context.Background()
	b := storage.NewLocal(filepath.Join(t.TempDir(), "bucket"))
	up, err := b.Create(ctx, "shop-1.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	up.Write(data)
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if sha == "-" {
		return b
	}
	if sha == "" {
		s := sha256.Sum256(data)
		sha = hex.EncodeToString(s[:])
	}
	if err := storage.WriteIndex(ctx, b, storage.Index{Archive: "shop-1.tar.zst", Project: "shop", Size: int64(len(data)), SHA256: sha}); err != nil {
		t.Fatal(err)
	}
	return b
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestFetchVerifiesAsItDownloads(t *testing.T) {
	data, m := testArchive(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backups")
	f, err := Fetch(ctx, stored(t, data, ""), "shop-1.tar.zst", dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Reused || f.Manifest.Project.Name != m.Project.Name || len(f.Manifest.Files) != len(m.Files) {
		t.Fatalf("fetched %+v", f)
	}
	got, _ := os.ReadFile(f.Path)
	if string(got) != string(data) {
		t.Fatal("the local copy is not the stored archive")
	}
	if names := dirNames(t, dir); strings.Join(names, " ") != "shop-1.tar.zst shop-1.tar.zst.index.json" {
		t.Errorf("download folder holds %v", names)
	}

	// Again: the same bytes are there, verified, not downloaded; they are
	// the user's now, and Discard leaves them.
	again, err := Fetch(ctx, stored(t, data, ""), "shop-1.tar.zst", dir, VerifyOptions{})
	if err != nil || !again.Reused {
		t.Fatalf("second fetch: %+v, %v", again, err)
	}
	if err := again.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Path); err != nil {
		t.Errorf("Discard removed a copy that was there before: %v", err)
	}
	// The first fetch's own copy goes with its index.
	if err := f.Discard(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("after Discard: %v", names)
	}
}

func TestFetchLeavesNothingOfABadArchive(t *testing.T) {
	data, _ := testArchive(t)
	bad := damaged(data)
	other := sha256.Sum256([]byte("another archive"))
	for _, c := range []struct {
		desc, want string
		data       []byte
		sha        string
	}{
		{"corrupted", "refused", bad, "-"},
		{"not the bytes its index records", "SHA-256", data, hex.EncodeToString(other[:])},
	} {
		t.Run(c.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "backups")
			_, err := Fetch(context.Background(), stored(t, c.data, c.sha), "shop-1.tar.zst", dir, VerifyOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("fetch: %v", err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
	// Missing, and a local file of that name that is another archive.
	dir := t.TempDir()
	if _, err := Fetch(context.Background(), stored(t, data, ""), "gone.tar.zst", dir, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "gone.tar.zst") {
		t.Errorf("missing archive: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "shop-1.tar.zst"), []byte("mine"), 0o600)
	if _, err := Fetch(context.Background(), stored(t, data, ""), "shop-1.tar.zst", dir, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("a different local file of that name: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "shop-1.tar.zst")); string(b) != "mine" {
		t.Error("the local file was replaced")
	}
}

// A restore of what Fetch verified does not read it all again, unless
// the file changed since.
func TestRestoreTrustsFetchOnlyForTheSameFile(t *testing.T) {
	data, _ := testArchive(t)
	dir := filepath.Join(t.TempDir(), "backups")
	f, err := Fetch(context.Background(), stored(t, data, ""), "shop-1.tar.zst", dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*os.File, os.FileInfo) {
		file, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { file.Close() })
		fi, _ := file.Stat()
		return file, fi
	}
	_, fi := open()
	var out strings.Builder
	texts := event.Sink(func(e event.Event) { out.WriteString(e.Message + "\n") })
	m, _, err := verifyArchive(context.Background(), unread{t}, fi, Options{Archive: f.Path, Fetched: f, Events: texts})
	if err != nil || m != f.Manifest || !strings.Contains(out.String(), "verified as it was downloaded") {
		t.Fatalf("same file: %v, %q", err, out.String())
	}
	// Changed in place, same size: verified again, and refused.
	bad := damaged(data)
	os.WriteFile(f.Path, bad, 0o600)
	os.Chtimes(f.Path, time.Now(), time.Now().Add(time.Minute))
	file, fi := open()
	if _, _, err := verifyArchive(context.Background(), file, fi, Options{Archive: f.Path, Fetched: f}); err == nil {
		t.Fatal("a changed copy was trusted")
	}
}

// unread is an archive that must not be read.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the verified archive was read again")
	return 0, io.ErrUnexpectedEOF
}

// Ctrl-C during the download leaves no partial file.
func TestFetchCancelledLeavesNothing(t *testing.T) {
	data, _ := testArchive(t)
	dir := filepath.Join(t.TempDir(), "backups")
	ctx, cancel := context.WithCancel(context.Background())
	b := cancelling{Backend: stored(t, data, ""), after: int64(len(data) / 3), cancel: cancel}
	if _, err := Fetch(ctx, b, "shop-1.tar.zst", dir, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("a fetch cancelled halfway: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
}

// cancelling cancels once after bytes of an archive were read, as Ctrl-C
// halfway through a download.
type cancelling struct {
	storage.Backend
	after  int64
	cancel func()
}

func (c cancelling) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	r, err := c.Backend.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(r, c.after), readFunc(func(p []byte) (int, error) {
		c.cancel()
		return r.Read(p)
	})), r}, nil
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func TestReceive(t *testing.T) {
	data, _ := testArchive(t)
	bad := damaged(data)
	for _, c := range []struct {
		desc  string
		data  []byte
		limit int64
		want  error
	}{
		{"whole", data, 0, nil},
		{"exactly the limit", data, int64(len(data)), nil},
		{"over the limit", data, int64(len(data)) - 1, ErrTooLarge},
		{"corrupted", bad, 0, nil},
		{"not an archive", []byte("hello"), 0, nil},
	} {
		t.Run(c.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "uploads")
			f, err := Receive(context.Background(), strings.NewReader(string(c.data)), "shop-1.tar.zst", dir, c.limit, VerifyOptions{})
			if c.desc == "not an archive" || c.desc == "corrupted" {
				if err == nil || !strings.Contains(err.Error(), "archive shop-1.tar.zst refused") {
					t.Fatalf("a bad archive was accepted: %v", err)
				}
			} else if !errors.Is(err, c.want) {
				t.Fatalf("receive: %v, want %v", err, c.want)
			}
			if err != nil {
				if names := dirNames(t, dir); len(names) != 0 {
					t.Errorf("left behind: %v", names)
				}
				return
			}
			got, _ := os.ReadFile(f.Path)
			if string(got) != string(data) || f.Manifest == nil {
				t.Fatal("the upload was not kept whole")
			}
			fi, _ := os.Stat(f.Path)
			if !f.unchanged(f.Path, fi) {
				t.Error("a restore would verify the upload again")
			}
		})
	}
	if _, err := Receive(context.Background(), strings.NewReader(string(data)), "../x.tar.zst", t.TempDir(), 0, VerifyOptions{}); err == nil {
		t.Error("a path was taken as a name")
	}
}

// damaged is data with 64 bytes in its middle inverted. One flipped bit is
// not enough: zstd streams have bits no decoder reads, and a flip there
// leaves the content and its checksum as they were.
func damaged(data []byte) []byte {
	bad := append([]byte(nil), data...)
	for i := len(bad)/2 - 32; i < len(bad)/2+32; i++ {
		bad[i] ^= 0xff
	}
	return bad
}
