package restore

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/engine"
)

// fakeVolumes records the tar streams WriteVolume gets.
type fakeVolumes struct {
	mu      sync.Mutex
	entries map[string][]string // volume -> "name type link size content"
	// caps are the entries written with a capability attribute.
	caps []string
	fail error
}

func (f *fakeVolumes) PrepareReplace(_ context.Context, images []string, place engine.Place) (engine.Replacement, error) {
	if len(images) == 0 {
		return engine.Replacement{}, fmt.Errorf("no image")
	}
	return engine.Replacement{Volume: place.String(), Place: place, Image: images[0], Aside: "aside"}, nil
}

func (f *fakeVolumes) CommitReplace(context.Context, engine.Replacement) error { return nil }

func (f *fakeVolumes) RevertReplace(context.Context, engine.Replacement) error { return nil }

func (f *fakeVolumes) ExtractIntoVolume(_ context.Context, rep engine.Replacement, r io.Reader) error {
	volume := rep.Volume
	if rep.Image != "img" || rep.Aside != "aside" {
		return fmt.Errorf("copy into %+v, not the replacement prepared", rep)
	}
	if f.fail != nil {
		return f.fail
	}
	tr := tar.NewReader(r)
	var got []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %c %s %d:%d %o %s", hdr.Name, hdr.Typeflag, hdr.Linkname, hdr.Uid, hdr.Gid, hdr.Mode, body))
		if _, ok := hdr.PAXRecords[archive.CapabilityRecord]; ok {
			f.mu.Lock()
			f.caps = append(f.caps, hdr.Name)
			f.mu.Unlock()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.entries == nil {
		f.entries = map[string][]string{}
	}
	f.entries[volume] = got
	return nil
}

// fakeServer records what each load read.
type fakeServer struct {
	mu     sync.Mutex
	loads  []string // "globals:<len>" or "db:<name>:<len>:<sha-ish>"
	failOn string
	delay  time.Duration
}

func (s *fakeServer) LoadGlobals(_ context.Context, r io.Reader) error {
	b, err := io.ReadAll(r)
	s.mu.Lock()
	s.loads = append(s.loads, fmt.Sprintf("globals:%d", len(b)))
	s.mu.Unlock()
	return err
}

func (s *fakeServer) LoadDatabase(ctx context.Context, db string, r io.Reader) error {
	if db == s.failOn {
		// A tool that fails after reading a little.
		buf := make([]byte, 100)
		io.ReadFull(r, buf)
		return fmt.Errorf("pg_restore failed (exit code 1): boom")
	}
	time.Sleep(s.delay)
	b, err := io.ReadAll(r)
	s.mu.Lock()
	s.loads = append(s.loads, fmt.Sprintf("db:%s:%d:%x", db, len(b), b[len(b)-1]))
	s.mu.Unlock()
	return err
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// testArchive writes an archive where a database's dumps (one of several
// parts) and a volume are written concurrently, so that their entries
// interleave.
func testArchive(t *testing.T) ([]byte, *archive.Manifest) {
	t.Helper()
	var out bytes.Buffer
	w, err := archive.NewWriter(&out, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := &archive.Manifest{Project: archive.Project{Name: "shop"}}
	var g errgroup.Group
	g.Go(func() error {
		for _, d := range []struct {
			path string
			data []byte
		}{
			{"databases/db/globals.sql", []byte("CREATE ROLE app;\n")},
			{"databases/db/appdb.pgdump", pattern(2*archive.ChunkSize+99, 1)},
			{"databases/db/other.pgdump", pattern(5000, 2)},
		} {
			if _, err := w.WriteStream(ctx, d.path, slowReader{bytes.NewReader(d.data)}); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		var tb bytes.Buffer
		tw := tar.NewWriter(&tb)
		add := func(h *tar.Header, body []byte) {
			h.Size = int64(len(body))
			if h.Typeflag != tar.TypeReg {
				h.Size = 0
			}
			tw.WriteHeader(h)
			tw.Write(body)
		}
		add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 999, Gid: 999}, nil)
		add(&tar.Header{Name: "./a.txt", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1001}, []byte("hello"))
		add(&tar.Header{Name: "./big", Typeflag: tar.TypeReg, Mode: 0o644}, pattern(3<<20, 9))
		add(&tar.Header{Name: "./hard", Typeflag: tar.TypeLink, Linkname: "./a.txt", Mode: 0o640}, nil)
		add(&tar.Header{Name: "./sym", Typeflag: tar.TypeSymlink, Linkname: "a.txt", Mode: 0o777}, nil)
		tw.Close()
		sum, err := w.WriteTree(ctx, "volumes/uploads/", tar.NewReader(slowReader{bytes.NewReader(tb.Bytes())}))
		if err != nil {
			return err
		}
		m.Volumes = append(m.Volumes, archive.Volume{Name: "uploads", EngineName: "shop_uploads", Services: []string{"app"}, Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest})
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	m.Databases = []archive.Database{{Service: "db", Engine: "postgres", Flavor: "PostgreSQL", Version: "15.1", Dumps: []archive.Dump{
		{Path: "databases/db/globals.sql", Kind: "globals", Format: "sql"},
		{Path: "databases/db/appdb.pgdump", Database: "appdb", Kind: "database", Format: "pg_dump-custom"},
		{Path: "databases/db/other.pgdump", Database: "other", Kind: "database", Format: "pg_dump-custom"},
	}}}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	got, err := archive.Verify(ctx, bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), got
}

type slowReader struct{ r *bytes.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.r.Read(p)
}

func testWork(m *archive.Manifest, srv loader) *work {
	return &work{
		volumes: []*volumeTarget{{Volume: m.Volumes[0], Target: "staging_uploads", Place: engine.VolumePlace("staging_uploads"), Images: []string{"img"}}},
		dbs:     []*dbTarget{{Database: m.Databases[0], Dumps: m.Databases[0].Dumps, server: srv}},
	}
}

func TestApplyRestoresInterleavedEntries(t *testing.T) {
	data, m := testArchive(t)
	vols, srv := &fakeVolumes{}, &fakeServer{}
	if err := apply(context.Background(), bytes.NewReader(data), m, testWork(m, srv), vols, backup.Lines{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"globals:17", fmt.Sprintf("db:appdb:%d:%x", 2*archive.ChunkSize+99, pattern(2*archive.ChunkSize+99, 1)[2*archive.ChunkSize+98]), fmt.Sprintf("db:other:5000:%x", pattern(5000, 2)[4999])}
	if strings.Join(srv.loads, " ") != strings.Join(want, " ") {
		t.Errorf("loads %q, want %q", srv.loads, want)
	}
	got := vols.entries["staging_uploads"]
	p := engine.VolumeTarPrefix
	wantVol := []string{
		p + " 5  999:999 750 ",
		p + "a.txt 0  1000:1001 640 hello",
		p + "big 0  0:0 644 " + string(pattern(3<<20, 9)),
		p + "hard 1 " + p + "a.txt 0:0 640 ",
		p + "sym 2 a.txt 0:0 777 ",
	}
	if len(got) != len(wantVol) {
		t.Fatalf("volume entries %d, want %d", len(got), len(wantVol))
	}
	for i := range got {
		if got[i] != wantVol[i] {
			t.Errorf("entry %d: %.80q, want %.80q", i, got[i], wantVol[i])
		}
	}
}

func TestApplySelectsAndSkips(t *testing.T) {
	data, m := testArchive(t)
	vols, srv := &fakeVolumes{}, &fakeServer{}
	// Only the roles, and no volume: everything else is skipped.
	w := &work{dbs: []*dbTarget{{Database: m.Databases[0], Dumps: m.Databases[0].Dumps[:1], server: srv}}}
	if err := apply(context.Background(), bytes.NewReader(data), m, w, vols, backup.Lines{}); err != nil {
		t.Fatal(err)
	}
	if len(srv.loads) != 1 || srv.loads[0] != "globals:17" || len(vols.entries) != 0 {
		t.Errorf("loads %q, volumes %v", srv.loads, vols.entries)
	}
}

func TestApplyStopsAtTheFirstLoadError(t *testing.T) {
	data, m := testArchive(t)
	for _, tc := range []struct {
		name string
		srv  *fakeServer
		vols *fakeVolumes
		want string
	}{
		{"database", &fakeServer{failOn: "appdb"}, &fakeVolumes{}, "boom"},
		{"volume", &fakeServer{delay: 50 * time.Millisecond}, &fakeVolumes{fail: errors.New("disk full")}, "disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				done <- apply(context.Background(), bytes.NewReader(data), m, testWork(m, tc.srv), tc.vols, backup.Lines{})
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %v, want %q", err, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("apply deadlocked after a failed load")
			}
			for _, l := range tc.srv.loads {
				if strings.HasPrefix(l, "db:other") {
					t.Errorf("a load after the failure ran: %q", tc.srv.loads)
				}
			}
		})
	}
}

// A test restore loads every database, each failure recorded apart.
func TestApplyKeepsGoingForATestRestore(t *testing.T) {
	data, m := testArchive(t)
	srv := &fakeServer{failOn: "appdb"}
	db := &dbTarget{Database: m.Databases[0], Dumps: m.Databases[0].Dumps, server: srv, keepGoing: true}
	if err := apply(context.Background(), bytes.NewReader(data), m, &work{dbs: []*dbTarget{db}}, nil, backup.Lines{}); err != nil {
		t.Fatalf("a failed load failed the test restore's pass: %v", err)
	}
	if err := db.failures["appdb"]; err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("appdb's failure: %v (all: %v)", err, db.failures)
	}
	if len(db.failures) != 1 {
		t.Errorf("failures %v, want appdb's only", db.failures)
	}
	want := []string{"globals:17", fmt.Sprintf("db:other:5000:%x", pattern(5000, 2)[4999])}
	if fmt.Sprint(srv.loads) != fmt.Sprint(want) {
		t.Errorf("loads %q, want %q", srv.loads, want)
	}
}

func TestApplyRefusesDumpsOutOfOrder(t *testing.T) {
	data, m := testArchive(t)
	srv := &fakeServer{}
	w := testWork(m, srv)
	// The manifest's order says other comes before appdb; the archive
	// holds appdb first.
	d := w.dbs[0].Dumps
	w.dbs[0].Dumps = []archive.Dump{d[0], d[2], d[1]}
	err := apply(context.Background(), bytes.NewReader(data), m, w, &fakeVolumes{}, backup.Lines{})
	if !errors.Is(err, archive.ErrInvalid) || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("got %v", err)
	}
}

func TestApplyCancelled(t *testing.T) {
	data, m := testArchive(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := apply(ctx, bytes.NewReader(data), m, testWork(m, &fakeServer{}), &fakeVolumes{}, backup.Lines{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}
