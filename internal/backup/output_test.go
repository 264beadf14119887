package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/storage"
)

var testTime = time.Date(2024, 3, 5, 23, 7, 8, 999, time.FixedZone("CET", 3600))

func TestArchiveName(t *testing.T) {
	tests := []struct {
		c    archive.Compression
		want string
	}{
		{archive.Zstd, "shop-20240305T220708Z.tar.zst"},
		{archive.Gzip, "shop-20240305T220708Z.tar.gz"},
		{archive.None, "shop-20240305T220708Z.tar"},
	}
	for _, tt := range tests {
		if got := ArchiveName("shop", testTime, tt.c.Ext()); got != tt.want {
			t.Errorf("ArchiveName(%s) = %q, want %q", tt.c, got, tt.want)
		}
	}
	format := regexp.MustCompile(`^my-app-\d{8}T\d{6}Z\.tar\.zst$`)
	if got := ArchiveName("my-app", time.Now(), archive.Zstd.Ext()); !format.MatchString(got) {
		t.Errorf("ArchiveName = %q", got)
	}
}

// A host's name starts an archive's name as a plain file name would
// have it: no separator, no leading dot, and the archive still ends like
// one.
func TestHostPrefix(t *testing.T) {
	for host, want := range map[string]string{
		"db-1.example.com": "db-1.example.com_",
		"a/b\\c d":         "a-b-c-d_",
		"..hidden":         "hidden_",
	} {
		got := HostPrefix(host)
		if got != want {
			t.Errorf("HostPrefix(%q) = %q, want %q", host, got, want)
		}
		name := ArchiveName(got+"shop", testTime, archive.Zstd.Ext())
		if err := storage.ValidName(name); err != nil || !storage.IsArchiveName(name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestOpenDestination(t *testing.T) {
	name := "shop-20240305T220708Z.tar.zst"
	tests := []struct {
		desc   string
		setup  func(t *testing.T, wd string)
		output func(wd string) string
		want   func(wd string) string
	}{
		{desc: "default folder", output: func(string) string { return "" },
			want: func(wd string) string { return filepath.Join(wd, "backups", name) }},
		{desc: "existing folder, relative", setup: mkdir("out"), output: func(string) string { return "out" },
			want: func(wd string) string { return filepath.Join(wd, "out", name) }},
		{desc: "existing folder, absolute", setup: mkdir("out"), output: func(wd string) string { return filepath.Join(wd, "out") },
			want: func(wd string) string { return filepath.Join(wd, "out", name) }},
		{desc: "new folder ending in /, relative", output: func(string) string { return "new/sub/" },
			want: func(wd string) string { return filepath.Join(wd, "new", "sub", name) }},
		{desc: "new folder ending in /, absolute", output: func(wd string) string { return filepath.Join(wd, "abs") + "/" },
			want: func(wd string) string { return filepath.Join(wd, "abs", name) }},
		{desc: "file, relative", output: func(string) string { return "mine.tar.zst" },
			want: func(wd string) string { return filepath.Join(wd, "mine.tar.zst") }},
		{desc: "file in a new folder", output: func(string) string { return "deep/er/mine.tar" },
			want: func(wd string) string { return filepath.Join(wd, "deep", "er", "mine.tar") }},
		{desc: "file, absolute", output: func(wd string) string { return filepath.Join(wd, "x.tar.zst") },
			want: func(wd string) string { return filepath.Join(wd, "x.tar.zst") }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			wd := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, wd)
			}
			d, err := openDestination(context.Background(), tt.output(wd), wd, "shop", testTime, archive.Zstd.Ext(), nil, storage.Config{})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want(wd)
			if d.final != want || d.stdout || d.up == nil {
				t.Fatalf("destination %+v, want final %s", d, want)
			}
			dir := filepath.Dir(want)
			partial, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(want)+".*.partial"))
			if len(partial) != 1 {
				t.Fatalf("temp files %v: want one hidden .partial beside %s", partial, want)
			}
			tmp := partial[0]
			fi, err := os.Stat(tmp)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("temp file mode %v, want 0600", fi.Mode().Perm())
			}
			if _, err := os.Stat(want); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("final name exists before commit: %v", err)
			}
			if _, err := d.w.Write([]byte("archive bytes")); err != nil {
				t.Fatal(err)
			}
			if err := d.commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, dir); len(got) != 1 || got[0] != filepath.Base(want) {
				t.Errorf("after commit %s holds %v, want only %s", dir, got, filepath.Base(want))
			}
			fi, err = os.Stat(want)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("archive mode %v, want 0600", fi.Mode().Perm())
			}
			if b, _ := os.ReadFile(want); string(b) != "archive bytes" {
				t.Errorf("archive holds %q", b)
			}
		})
	}
}

func mkdir(name string) func(t *testing.T, wd string) {
	return func(t *testing.T, wd string) {
		if err := os.MkdirAll(filepath.Join(wd, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenDestinationDefaultFolderMode(t *testing.T) {
	wd := t.TempDir()
	d, err := openDestination(context.Background(), "", wd, "shop", testTime, archive.Gzip.Ext(), nil, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.fail(context.Background(), nil)
	fi, err := os.Stat(filepath.Join(wd, DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("backups folder mode %v: want private", fi.Mode())
	}
	if !strings.HasSuffix(d.final, ".tar.gz") {
		t.Errorf("final %s", d.final)
	}
}

func TestOpenDestinationStdout(t *testing.T) {
	wd := t.TempDir()
	var buf bytes.Buffer
	d, err := openDestination(context.Background(), "-", wd, "shop", testTime, archive.Zstd.Ext(), &buf, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.stdout || d.up != nil || d.final != "-" {
		t.Fatalf("destination %+v", d)
	}
	d.w.Write([]byte("data"))
	if err := d.commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "data" {
		t.Errorf("stdout got %q", buf.String())
	}
	if err := d.fail(context.Background(), errors.New("x")); err == nil || err.Error() != "x" {
		t.Errorf("fail = %v", err)
	}
	if got := dirNames(t, wd); len(got) != 0 {
		t.Errorf("files written with -o -: %v", got)
	}
}

func TestOpenDestinationExisting(t *testing.T) {
	wd := t.TempDir()
	existing := filepath.Join(wd, "old.tar.zst")
	if err := os.WriteFile(existing, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(wd, "nowhere"), filepath.Join(wd, "dangling")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{"old.tar.zst", existing, "dangling"} {
		_, err := openDestination(context.Background(), out, wd, "shop", testTime, archive.Zstd.Ext(), nil, storage.Config{})
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("openDestination(%s) = %v, want already exists", out, err)
		}
	}
	// The same second twice in the default folder.
	d, err := openDestination(context.Background(), "", wd, "shop", testTime, archive.Zstd.Ext(), nil, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := openDestination(context.Background(), "", wd, "shop", testTime, archive.Zstd.Ext(), nil, storage.Config{}); err == nil {
		t.Error("second archive of the same second overwrote the first")
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Errorf("existing file changed: %q", b)
	}
	if got := dirNames(t, wd); len(got) != 3 {
		t.Errorf("left behind %v", got)
	}
}

func TestDestinationFail(t *testing.T) {
	wd := t.TempDir()
	d, err := openDestination(context.Background(), "out.tar", wd, "shop", testTime, archive.None.Ext(), nil, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d.w.Write([]byte("half an archive"))
	boom := errors.New("boom")
	if err := d.fail(context.Background(), boom); err != boom {
		t.Errorf("fail returned %v, want its argument", err)
	}
	if got := dirNames(t, wd); len(got) != 0 {
		t.Errorf("fail left %v", got)
	}
}

func TestDestinationCommitRace(t *testing.T) {
	// A file that appears under the final name meanwhile is never replaced.
	wd := t.TempDir()
	d, err := openDestination(context.Background(), "out.tar", wd, "shop", testTime, archive.None.Ext(), nil, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d.w.Write([]byte("new"))
	final := filepath.Join(wd, "out.tar")
	if err := os.WriteFile(final, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = d.commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "appeared") {
		t.Errorf("commit = %v, want an error", err)
	}
	if b, _ := os.ReadFile(final); string(b) != "other" {
		t.Errorf("the other file was replaced: %q", b)
	}
	if got := dirNames(t, wd); len(got) != 1 {
		t.Errorf("left %v, want only out.tar", got)
	}
}

func TestIndexWrittenAfterACancel(t *testing.T) {
	// SIGTERM to the daemon right after the commit cancels ctx: the
	// committed archive must still get its index, or ls calls it foreign
	// and prune never deletes it.
	wd := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := openDestination(ctx, "", wd, "shop", testTime, archive.Zstd.Ext(), nil, storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d.w.Write([]byte("archive bytes"))
	if err := d.commit(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	m := &archive.Manifest{Project: archive.Project{Name: "shop"}, CreatedAt: testTime}
	if err := d.index(ctx, m, &Result{Host: "vm"}, false); err != nil {
		t.Fatalf("index after a cancel: %v", err)
	}
	ix, err := storage.ReadIndex(context.Background(), d.store, d.name)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Project != "shop" || ix.Host != "vm" || ix.Size != int64(len("archive bytes")) {
		t.Errorf("index %+v", ix)
	}
}
