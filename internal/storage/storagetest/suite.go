// Package storagetest is the conformance suite every storage backend
// passes, in the manner of restic's internal/backend/test: the same
// observable behaviour from a folder and from a bucket.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// Suite runs the conformance tests. New returns an empty backend of its
// own for each test.
type Suite struct {
	New func(t *testing.T) storage.Backend
	// LargeSize is the size of the streamed object (default 2 GiB); the
	// test runs unless -short. MaxHeap bounds the heap during it.
	LargeSize int64
	MaxHeap   uint64
}

// Run runs every test of the suite.
func (s Suite) Run(t *testing.T) {
	t.Run("CommitAndAbort", s.commitAndAbort)
	t.Run("ExistingName", s.existingName)
	t.Run("ListDuringWrite", s.listDuringWrite)
	t.Run("ConcurrentWriters", s.concurrentWriters)
	t.Run("SameNameWriters", s.sameNameWriters)
	t.Run("Ranges", s.ranges)
	t.Run("Delete", s.delete)
	t.Run("OddNames", s.oddNames)
	t.Run("InvalidNames", s.invalidNames)
	t.Run("Cancel", s.cancel)
	t.Run("MultiPart", s.multiPart)
	t.Run("Index", s.index)
	t.Run("Large", s.large)
}

func data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put writes and commits name, in chunks of odd sizes.
func put(t *testing.T, b storage.Backend, name string, content []byte) {
	t.Helper()
	ctx := context.Background()
	up, err := b.Create(ctx, name)
	if err != nil {
		t.Fatalf("create %q: %v", name, err)
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 7919)
		if _, err := up.Write(rest[:n]); err != nil {
			t.Fatalf("write %q: %v", name, err)
		}
		rest = rest[n:]
	}
	if err := up.Commit(ctx); err != nil {
		t.Fatalf("commit %q: %v", name, err)
	}
}

func get(t *testing.T, b storage.Backend, name string) []byte {
	t.Helper()
	r, err := b.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %q: %v", name, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return got
}

func names(t *testing.T, b storage.Backend) []string {
	t.Helper()
	infos, err := b.List(context.Background())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var out []string
	for _, in := range infos {
		out = append(out, in.Name)
	}
	sort.Strings(out)
	return out
}

func wantNames(t *testing.T, b storage.Backend, want ...string) {
	t.Helper()
	got := names(t, b)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
}

func notExist(t *testing.T, b storage.Backend, name string) {
	t.Helper()
	if _, err := b.Stat(context.Background(), name); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("stat %q: %v, want ErrNotExist", name, err)
	}
	if r, err := b.Open(context.Background(), name); !errors.Is(err, storage.ErrNotExist) {
		if r != nil {
			r.Close()
		}
		t.Errorf("open %q: %v, want ErrNotExist", name, err)
	}
}

func (s Suite) commitAndAbort(t *testing.T) {
	b := s.New(t)
	ctx := context.Background()
	content := data(1, 100_000)
	up, err := b.Create(ctx, "a.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(content); err != nil {
		t.Fatal(err)
	}
	wantNames(t, b)
	notExist(t, b, "a.tar.zst")
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Errorf("abort after commit: %v", err)
	}
	wantNames(t, b, "a.tar.zst")
	if got := get(t, b, "a.tar.zst"); !bytes.Equal(got, content) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(content))
	}
	in, err := b.Stat(ctx, "a.tar.zst")
	if err != nil || in.Size != int64(len(content)) || in.Name != "a.tar.zst" {
		t.Fatalf("stat: %+v, %v", in, err)
	}
	if time.Since(in.ModTime) > time.Hour || time.Until(in.ModTime) > time.Hour {
		t.Errorf("stat: modification time %v is not now", in.ModTime)
	}

	up, err = b.Create(ctx, "b.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := up.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := up.Commit(ctx); err == nil {
		t.Error("commit after abort succeeded")
	}
	wantNames(t, b, "a.tar.zst")
	notExist(t, b, "b.tar.zst")

	// An empty object is an object.
	put(t, b, "empty.tar", nil)
	if got := get(t, b, "empty.tar"); len(got) != 0 {
		t.Errorf("empty object read back as %d bytes", len(got))
	}
}

func (s Suite) existingName(t *testing.T) {
	b := s.New(t)
	put(t, b, "a.tar.zst", []byte("first"))
	if _, err := b.Create(context.Background(), "a.tar.zst"); !errors.Is(err, storage.ErrExist) {
		t.Fatalf("create over an existing object: %v, want ErrExist", err)
	}
	if got := get(t, b, "a.tar.zst"); string(got) != "first" {
		t.Fatalf("the existing object changed: %q", got)
	}
}

func (s Suite) listDuringWrite(t *testing.T) {
	b := s.New(t)
	ctx := context.Background()
	put(t, b, "done.tar.zst", []byte("x"))
	up, err := b.Create(ctx, "running.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := up.Write(data(2, 1<<20)); err != nil {
			t.Fatal(err)
		}
		wantNames(t, b, "done.tar.zst")
	}
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantNames(t, b, "done.tar.zst", "running.tar.zst")
}

func (s Suite) concurrentWriters(t *testing.T) {
	b := s.New(t)
	ctx := context.Background()
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := b.Create(ctx, fmt.Sprintf("w%d.tar", i))
			if err != nil {
				errs[i] = err
				return
			}
			content := data(uint64(10+i), 300_000)
			for rest := content; len(rest) > 0; {
				k := min(len(rest), 4096*(i+1))
				if _, err := up.Write(rest[:k]); err != nil {
					errs[i] = err
					return
				}
				rest = rest[k:]
				runtime.Gosched()
			}
			errs[i] = up.Commit(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	for i := range n {
		if got := get(t, b, fmt.Sprintf("w%d.tar", i)); !bytes.Equal(got, data(uint64(10+i), 300_000)) {
			t.Errorf("w%d.tar does not hold what its writer wrote", i)
		}
	}
}

// sameNameWriters: two uploads of one name, started before either commits.
// At least one commits; the object is whole, one of the two, never a mix.
func (s Suite) sameNameWriters(t *testing.T) {
	b := s.New(t)
	ctx := context.Background()
	one, two := data(20, 200_000), data(21, 200_000)
	u1, err := b.Create(ctx, "same.tar")
	if err != nil {
		t.Fatal(err)
	}
	u2, err := b.Create(ctx, "same.tar")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(one); i += 50_000 {
		if _, err := u1.Write(one[i : i+50_000]); err != nil {
			t.Fatal(err)
		}
		if _, err := u2.Write(two[i : i+50_000]); err != nil {
			t.Fatal(err)
		}
	}
	e1, e2 := u1.Commit(ctx), u2.Commit(ctx)
	if e1 != nil && e2 != nil {
		t.Fatalf("both commits failed: %v; %v", e1, e2)
	}
	for _, e := range []error{e1, e2} {
		if e != nil && !errors.Is(e, storage.ErrExist) {
			t.Errorf("a losing commit failed with %v, want ErrExist", e)
		}
	}
	got := get(t, b, "same.tar")
	if !bytes.Equal(got, one) && !bytes.Equal(got, two) {
		t.Fatal("the object is neither upload's content")
	}
	wantNames(t, b, "same.tar")
}

func (s Suite) ranges(t *testing.T) {
	b := s.New(t)
	content := data(3, 1_000_003)
	put(t, b, "r.tar.gz", content)
	size := int64(len(content))
	for _, c := range []struct{ off, n int64 }{
		{0, 10}, {0, -1}, {5, -1}, {size - 3, 3}, {size - 3, -1}, {size, -1}, {123_456, 654_321}, {size - 10, 100}, {17, 0},
	} {
		r, err := b.OpenRange(context.Background(), "r.tar.gz", c.off, c.n)
		if err != nil {
			t.Fatalf("range %d+%d: %v", c.off, c.n, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("range %d+%d: %v", c.off, c.n, err)
		}
		end := size
		if c.n >= 0 {
			end = min(size, c.off+c.n)
		}
		if !bytes.Equal(got, content[c.off:end]) {
			t.Errorf("range %d+%d: %d bytes, not the %d expected", c.off, c.n, len(got), end-c.off)
		}
	}
	if _, err := b.OpenRange(context.Background(), "missing.tar", 0, 10); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("range of a missing object: %v, want ErrNotExist", err)
	}
}

func (s Suite) delete(t *testing.T) {
	b := s.New(t)
	ctx := context.Background()
	put(t, b, "keep.tar", []byte("k"))
	put(t, b, "gone.tar", []byte("g"))
	if err := b.Delete(ctx, "gone.tar"); err != nil {
		t.Fatal(err)
	}
	notExist(t, b, "gone.tar")
	wantNames(t, b, "keep.tar")
	if err := b.Delete(ctx, "gone.tar"); err != nil {
		t.Errorf("deleting a missing object: %v", err)
	}
	// The name is free again.
	put(t, b, "gone.tar", []byte("again"))
	if got := get(t, b, "gone.tar"); string(got) != "again" {
		t.Errorf("recreated object reads %q", got)
	}
}

func (s Suite) oddNames(t *testing.T) {
	b := s.New(t)
	odd := []string{
		"a b.tar.zst", "ünïcødé-日本.tar.zst", "x+y%20z#1?.tar", "semi;colon&amp=1.tar.gz",
		`quote'"back\slash.tar`, "tab\there.tar", "percent%2F.tar", "star*[].tar",
	}
	for i, n := range odd {
		put(t, b, n, []byte(n+fmt.Sprint(i)))
	}
	wantNames(t, b, odd...)
	for i, n := range odd {
		if got := get(t, b, n); string(got) != n+fmt.Sprint(i) {
			t.Errorf("%q reads %q", n, got)
		}
		if in, err := b.Stat(context.Background(), n); err != nil || in.Name != n {
			t.Errorf("stat %q: %+v, %v", n, in, err)
		}
	}
	for _, n := range odd {
		if err := b.Delete(context.Background(), n); err != nil {
			t.Errorf("delete %q: %v", n, err)
		}
	}
	wantNames(t, b)
}

func (s Suite) invalidNames(t *testing.T) {
	b := s.New(t)
	for _, n := range []string{"", "a/b.tar", "../x.tar", ".hidden.tar", "nul\x00.tar"} {
		if up, err := b.Create(context.Background(), n); err == nil {
			up.Abort(context.Background())
			t.Errorf("create %q succeeded", n)
		}
	}
	wantNames(t, b)
}

// cancel: a write cut by a cancel commits nothing and leaves nothing.
func (s Suite) cancel(t *testing.T) {
	b := s.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	up, err := b.Create(ctx, "cut.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(data(4, 3<<20)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, _ = up.Write(data(5, 20<<20))
	if err := up.Commit(ctx); err == nil {
		t.Fatal("commit after cancel succeeded")
	}
	if err := up.Abort(ctx); err != nil {
		t.Errorf("abort after cancel: %v", err)
	}
	wantNames(t, b)
	notExist(t, b, "cut.tar.zst")
}

// multiPart: an object larger than any backend's first part, written in
// odd chunks, reads back whole.
func (s Suite) multiPart(t *testing.T) {
	b := s.New(t)
	content := data(6, 37<<20+7)
	put(t, b, "big.tar.zst", content)
	if got := get(t, b, "big.tar.zst"); !bytes.Equal(got, content) {
		t.Fatalf("read back %d bytes differing from the %d written", len(got), len(content))
	}
}

func (s Suite) index(t *testing.T) {
	b := s.New(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	put(t, b, "p-1.tar.zst", []byte("one"))
	put(t, b, "p-2.tar.zst", []byte("two!"))
	put(t, b, "foreign.tar.gz", []byte("someone else's"))
	put(t, b, "notes.txt", []byte("not an archive"))
	for i, n := range []string{"p-1.tar.zst", "p-2.tar.zst"} {
		in, _ := b.Stat(ctx, n)
		if err := storage.WriteIndex(ctx, b, storage.Index{Archive: n, Project: "p", CreatedAt: t0.Add(time.Duration(i) * time.Hour), Size: in.Size}); err != nil {
			t.Fatal(err)
		}
	}
	// An index whose archive is gone, and one of another archive's size.
	put(t, b, "gone.tar.zst", []byte("x"))
	if err := storage.WriteIndex(ctx, b, storage.Index{Archive: "gone.tar.zst", Project: "p", Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "gone.tar.zst"); err != nil {
		t.Fatal(err)
	}
	entries, orphans, err := storage.Catalog(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		p := "foreign"
		if e.Index != nil {
			p = e.Index.Project
		}
		got = append(got, e.Name+":"+p)
	}
	// Newest first: p-2, p-1 (2026), then the foreign one by its mtime (now).
	want := []string{"foreign.tar.gz:foreign", "p-2.tar.zst:p", "p-1.tar.zst:p"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("catalog %v, want %v", got, want)
	}
	if fmt.Sprint(orphans) != "[gone.tar.zst.index.json]" {
		t.Errorf("orphans %v", orphans)
	}
	// An archive replaced after its index was written is foreign.
	if err := b.Delete(ctx, "p-1.tar.zst"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "p-1.tar.zst", []byte("replaced by hand"))
	entries, _, err = storage.Catalog(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == "p-1.tar.zst" && (e.Index != nil || e.Why == "") {
			t.Errorf("a replaced archive kept its index: %+v", e)
		}
	}
}

// pattern writes n bytes that differ at every MiB, cheaply.
type pattern struct {
	block []byte
	off   int64
	n     int64
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	i := p.off % int64(len(p.block))
	k := copy(b, p.block[i:])
	k = int(min(int64(k), p.n-p.off))
	if i == 0 && k >= 8 {
		binary.LittleEndian.PutUint64(b, uint64(p.off))
	}
	p.off += int64(k)
	return k, nil
}

// large streams an object of LargeSize through the backend and reads it
// back, with the heap bounded all along: nothing buffers it whole.
func (s Suite) large(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	size := s.LargeSize
	if size == 0 {
		size = 2 << 30
	}
	limit := s.MaxHeap
	if limit == 0 {
		limit = 128 << 20
	}
	b := s.New(t)
	ctx := context.Background()
	// What earlier tests left is not this test's: measured from here.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	block := data(7, 1<<20)
	up, err := b.Create(ctx, "large.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(up, sum), &pattern{block: block, n: size}, make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := b.Open(ctx, "large.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	back := sha256.New()
	n, err := io.CopyBuffer(back, r, make([]byte, 256<<10))
	r.Close()
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(sum.Sum(nil), back.Sum(nil)) {
		t.Fatalf("read back %d bytes (want %d), checksums equal: %v", n, size, bytes.Equal(sum.Sum(nil), back.Sum(nil)))
	}
	peak -= min(peak, base.HeapInuse)
	t.Logf("%d MiB streamed; peak heap in use %d MiB above the start", size>>20, peak>>20)
	if peak > limit {
		t.Errorf("peak heap in use %d MiB, over the %d MiB bound: something buffers the object", peak>>20, limit>>20)
	}
	if err := b.Delete(ctx, "large.tar.zst"); err != nil {
		t.Error(err)
	}
}
