package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The bounds of issue #30, measured in this process: peak RSS (VmHWM,
// reset through /proc/self/clear_refs) and CPU time (getrusage). The
// margins are wide: they are bounds, not benchmarks, and the hostile
// inputs are made here, streamed, never held whole.

// peakRSS resets the peak resident size after a collection, and returns
// a function that gives the growth of the peak since, in bytes.
func peakRSS(t *testing.T) func() int64 {
	t.Helper()
	noRace(t)
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	base := vmHWM(t)
	return func() int64 { return vmHWM(t) - base }
}

func vmHWM(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc/self/status")
	return 0
}

// cpuTime is the CPU time the process used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	noRace(t)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func noRace(t *testing.T) {
	if raceEnabled {
		t.Skip("resource bounds are not measured under the race detector")
	}
}

// lowGC makes the collector run often, so that the garbage the
// generators leave does not hide what verify keeps.
func lowGC(t *testing.T) {
	old := debug.SetGCPercent(25)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// stream writes an archive to a pipe as gen makes its entries, then a
// manifest made by manifest (nil: none), and counts the bytes read.
type stream struct {
	pr   *io.PipeReader
	read int64
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.pr.Read(p)
	s.read += int64(n)
	return n, err
}

// generate streams gen's entries (headers with their data written by
// gen), and then manifest.json from m once gen is done, if m is not nil.
func generate(t *testing.T, gen func(tw *tar.Writer) error, m func() *Manifest) *stream {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		tw := tar.NewWriter(bw)
		err := gen(tw)
		if err == nil && m != nil {
			b, _ := json.Marshal(m())
			if err = tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b)), ModTime: mtime}); err == nil {
				_, err = tw.Write(b)
			}
		}
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	s := &stream{pr: pr}
	t.Cleanup(func() { pr.CloseWithError(errors.New("test over")) })
	return s
}

// treeGen writes volume v's entries and keeps their digest, for a
// manifest that matches them.
type treeGen struct {
	d *TreeDigest
}

func (g *treeGen) add(tw *tar.Writer, h tar.Header) error {
	h.Format = tar.FormatPAX
	h.ModTime = mtime
	if err := tw.WriteHeader(&h); err != nil {
		return err
	}
	rel := strings.TrimSuffix(strings.TrimPrefix(h.Name, "volumes/v/"), "/")
	if rel == "" {
		rel = "."
	}
	sum := ""
	if h.Typeflag == tar.TypeReg {
		sum = hexSum(nil)
	}
	g.d.Add(treeEntry(rel, "", &h, sum))
	return nil
}

func (g *treeGen) manifest() *Manifest {
	s := g.d.Summary()
	return &Manifest{FormatVersion: FormatVersion, Project: Project{Name: "p"}, Files: []File{},
		Volumes: []Volume{{Name: "v", EngineName: "p_v", Entries: s.Entries, Bytes: s.Bytes, TreeSHA256: s.Digest}}}
}

// Long names: each entry with a 1 MiB name (a PAX record) used to be
// kept whole, the compose/ ones in a map and the symlinks in the tree's
// shape, and quoted in full in the errors: 58 KB of upload took the
// daemon to 1 GB. The first is refused now.
func TestVerifyRefusesLongNamesEarly(t *testing.T) {
	lowGC(t)
	// Just under archive/tar's bound of 1 MiB for a PAX header, which
	// it refuses itself.
	long := strings.Repeat("n", 1<<20-100)
	for _, tc := range []struct {
		name  string
		entry func(i int) tar.Header
	}{
		{"compose files", func(i int) tar.Header {
			return tar.Header{Name: fmt.Sprintf("compose/%06d-%s", i, long), Typeflag: tar.TypeReg, Mode: 0o644}
		}},
		{"volume symlinks", func(i int) tar.Header {
			return tar.Header{Name: fmt.Sprintf("volumes/v/%06d-%s", i, long), Typeflag: tar.TypeSymlink, Linkname: "x", Mode: 0o777}
		}},
		{"volume link targets", func(i int) tar.Header {
			return tar.Header{Name: fmt.Sprintf("volumes/v/%06d", i), Typeflag: tar.TypeSymlink, Linkname: long, Mode: 0o777}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			growth := peakRSS(t)
			s := generate(t, func(tw *tar.Writer) error {
				if err := tw.WriteHeader(&tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX}); err != nil {
					return err
				}
				for i := range 200 {
					h := tc.entry(i)
					h.Format = tar.FormatPAX
					if err := tw.WriteHeader(&h); err != nil {
						return err
					}
				}
				return nil
			}, nil)
			_, err := Verify(context.Background(), s)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if n := len(err.Error()); n > 2<<10 {
				t.Errorf("the error is %d bytes long", n)
			}
			if !strings.Contains(err.Error(), "4096") {
				t.Errorf("the error does not give the bound: %.300s", err)
			}
			if s.read > 8<<20 {
				t.Errorf("%d MiB were read before the refusal", s.read>>20)
			}
			if g := growth(); g > 50<<20 {
				t.Errorf("peak RSS grew by %d MiB", g>>20)
			}
		})
	}
}

// PAX records are bounded per entry; names of the bound itself pass.
func TestReaderBoundsNamesAndPAX(t *testing.T) {
	root := tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755}
	atBound := "volumes/v/" + strings.Repeat("a", MaxNameLen-len("volumes/v/"))
	for _, tc := range []struct {
		name  string
		entry tar.Header
		want  string // "" when it passes
	}{
		{"name of 4096 bytes", tar.Header{Name: atBound, Typeflag: tar.TypeReg, Mode: 0o644}, ""},
		{"name of 4097 bytes", tar.Header{Name: atBound + "b", Typeflag: tar.TypeReg, Mode: 0o644}, "name is 4097 bytes"},
		{"symlink target of 4097 bytes", tar.Header{Name: "volumes/v/l", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("t", MaxNameLen+1)}, "link target is 4097 bytes"},
		{"100 KiB of xattrs", tar.Header{Name: "volumes/v/x", Typeflag: tar.TypeReg, Mode: 0o644,
			PAXRecords: map[string]string{"SCHILY.xattr.user.big": strings.Repeat("x", 100<<10)}}, "PAX records"},
		{"60 KiB of xattrs", tar.Header{Name: "volumes/v/x", Typeflag: tar.TypeReg, Mode: 0o644,
			PAXRecords: map[string]string{"SCHILY.xattr.user.big": strings.Repeat("x", 60<<10)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyBytes(t, rawArchive(t, false, []tar.Header{root, tc.entry}))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want ErrInvalid saying %q", err, tc.want)
			case tc.want != "" && len(err.Error()) > 1<<10:
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// Entries past MaxEntries are refused as soon as the bound is passed,
// without reading the rest.
func TestReaderRefusesEntriesPastMaxEntries(t *testing.T) {
	lowGC(t)
	growth := peakRSS(t)
	start := cpuTime(t)
	s := generate(t, func(tw *tar.Writer) error {
		for i := range 5_000_000 {
			if err := tw.WriteHeader(&tar.Header{Name: "volumes/v/" + strconv.Itoa(i), Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	_, err := VerifyWith(context.Background(), s, VerifyOptions{Limits: Limits{MaxEntries: 1000}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than 1000 entries") {
		t.Fatalf("got %v, want a refusal past 1000 entries", err)
	}
	// 1001 headers of 512 bytes, and what the buffers hold.
	if s.read > 1001*tarBlock+512<<10 {
		t.Errorf("%d bytes were read before the refusal", s.read)
	}
	if d := cpuTime(t) - start; d > 2*time.Second {
		t.Errorf("the refusal took %v of CPU", d)
	}
	if g := growth(); g > 50<<20 {
		t.Errorf("peak RSS grew by %d MiB", g>>20)
	}
	// Inspect and restore read through the same Reader.
	s = generate(t, func(tw *tar.Writer) error {
		for i := range 2000 {
			if err := tw.WriteHeader(&tar.Header{Name: "compose/" + strconv.Itoa(i), Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if _, err := ReadManifestWith(context.Background(), s, Limits{MaxEntries: 10}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadManifestWith: got %v, want ErrInvalid", err)
	}
	if _, err := OpenWith(bytes.NewReader(nil), Limits{MaxEntries: -1}); err == nil {
		t.Error("a negative limit was taken")
	}
}

// What verify keeps per entry is of one size, whatever the names: a
// million empty files verify in bounded memory, and so do many symlinks
// and compose/ files with long names (kept whole before).
func TestVerifyMemoryPerEntryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a few hundred MB of tar")
	}
	lowGC(t)
	t.Run("a million empty files", func(t *testing.T) {
		const n = 1_000_000
		growth := peakRSS(t)
		g := &treeGen{d: NewTreeDigest()}
		s := generate(t, func(tw *tar.Writer) error {
			if err := g.add(tw, tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return err
			}
			for i := range n - 1 {
				if err := g.add(tw, tar.Header{Name: fmt.Sprintf("volumes/v/d%03d/f%07d", i%1000, i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
					return err
				}
			}
			return nil
		}, g.manifest)
		start := cpuTime(t)
		m, err := Verify(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if m.Volumes[0].Entries != n {
			t.Fatalf("%d entries", m.Volumes[0].Entries)
		}
		grown := growth()
		t.Logf("%d entries: peak RSS +%d MiB (%d bytes an entry), %v of CPU with the generator", n, grown>>20, grown/n, cpuTime(t)-start)
		if grown > 120*n {
			t.Errorf("peak RSS grew by %d MiB, %d bytes an entry", grown>>20, grown/n)
		}
	})
	t.Run("symlinks with long names", func(t *testing.T) {
		const n = 50_000
		growth := peakRSS(t)
		g := &treeGen{d: NewTreeDigest()}
		long := strings.Repeat("s", 2000)
		s := generate(t, func(tw *tar.Writer) error {
			if err := g.add(tw, tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return err
			}
			for i := range n - 1 {
				if err := g.add(tw, tar.Header{Name: fmt.Sprintf("volumes/v/%s%06d", long, i), Typeflag: tar.TypeSymlink, Linkname: "/etc/hostname", Mode: 0o777}); err != nil {
					return err
				}
			}
			return nil
		}, g.manifest)
		if _, err := Verify(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		grown := growth()
		t.Logf("%d symlinks of 2 KB names: peak RSS +%d MiB", n, grown>>20)
		if grown > 50<<20 {
			t.Errorf("peak RSS grew by %d MiB (the names are %d MiB)", grown>>20, n*len(long)>>20)
		}
	})
	t.Run("compose files with long names", func(t *testing.T) {
		const n = 20_000
		growth := peakRSS(t)
		long := strings.Repeat("c", 4000)
		s := generate(t, func(tw *tar.Writer) error {
			for i := range n {
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("compose/%s%06d", long, i), Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
					return err
				}
			}
			return nil
		}, func() *Manifest {
			return &Manifest{FormatVersion: FormatVersion, Project: Project{Name: "p"}, Files: []File{}}
		})
		_, err := Verify(context.Background(), s)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not listed") {
			t.Fatalf("got %.500v, want entries not listed", err)
		}
		if len(err.Error()) > 8<<10 {
			t.Errorf("the error is %d bytes long", len(err.Error()))
		}
		grown := growth()
		t.Logf("%d compose files of 4 KB names: peak RSS +%d MiB", n, grown>>20)
		if grown > 50<<20 {
			t.Errorf("peak RSS grew by %d MiB (the names are %d MiB)", grown>>20, n*len(long)>>20)
		}
	})
}

// Deep paths cost time linear in their length: an entry's ancestors are
// looked up among the symlinks in one pass (path.Dir over and over made
// it quadratic: 56 s an entry at depth 200,000).
func TestVerifyDeepPathsTakeLinearTime(t *testing.T) {
	lowGC(t)
	const n = 5000
	deep := "volumes/v/" + strings.Repeat("a/", DefaultMaxDepth-3) // + a file: the default depth
	g := &treeGen{d: NewTreeDigest()}
	// n files deep in the volume, after a symlink named link.
	deepTree := func(link string) *stream {
		return generate(t, func(tw *tar.Writer) error {
			for _, h := range []tar.Header{
				{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755},
				{Name: "volumes/v/" + link, Typeflag: tar.TypeSymlink, Linkname: "/", Mode: 0o777},
			} {
				if err := g.add(tw, h); err != nil {
					return err
				}
			}
			for i := range n {
				if err := g.add(tw, tar.Header{Name: fmt.Sprintf("%sf%05d", deep, i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
					return err
				}
			}
			return nil
		}, g.manifest)
	}
	// Beside the symlink, every ancestor is looked up.
	s := deepTree("s")
	start := cpuTime(t)
	if _, err := Verify(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	d := cpuTime(t) - start
	t.Logf("%d entries %d deep beside a symlink: %v of CPU with the generator", n, DefaultMaxDepth, d)
	if d > 5*time.Second {
		t.Errorf("%d entries %d deep took %v of CPU", n, DefaultMaxDepth, d)
	}

	// Below the symlink, each is refused.
	s = deepTree("a")
	start = cpuTime(t)
	_, err := Verify(context.Background(), s)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "below symlink a") {
		t.Fatalf("got %.300v, want entries below symlink a", err)
	}
	if d := cpuTime(t) - start; d > 5*time.Second {
		t.Errorf("%d entries %d deep below a symlink took %v of CPU", n, DefaultMaxDepth, d)
	}

	// One deeper than the bound is refused; a bound set higher takes it.
	root := tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755}
	deeper := rawArchive(t, false, []tar.Header{root, {Name: deep + "a/f", Typeflag: tar.TypeReg, Mode: 0o644}})
	_, err = verifyBytes(t, deeper)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "1025 folders deep, more than the 1024 allowed") {
		t.Errorf("got %.300v, want a refusal at depth 1025", err)
	}
	if _, err := VerifyWith(context.Background(), bytes.NewReader(deeper), VerifyOptions{Limits: Limits{MaxDepth: 2000}}); err != nil {
		t.Errorf("with --max-depth 2000: %v", err)
	}
}

// zstdFrame wraps data in a zstd frame that declares a window of 2^log
// bytes, in raw blocks: what zstd --long=29 writes asks the decoder for
// as much, whatever the data.
func zstdFrame(data []byte, log uint) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(log-10) << 3}
	for len(data) > 0 || len(out) == 6 {
		n := min(len(data), 128<<10)
		last := uint32(0)
		if n == len(data) {
			last = 1
		}
		var h [4]byte
		binary.LittleEndian.PutUint32(h[:], uint32(n)<<3|last)
		out = append(out, h[:3]...)
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return out
}

// A zstd stream that asks for a window over 128 MiB is refused before
// anything is decoded: a 114 KB file made with zstd --long=29 took the
// daemon to 560 MB.
func TestReaderRefusesLargeZstdWindow(t *testing.T) {
	root := tar.Header{Name: "volumes/v/", Typeflag: tar.TypeDir, Mode: 0o755}
	plain := rawArchive(t, false, []tar.Header{root, {Name: "volumes/v/f", Typeflag: tar.TypeReg, Mode: 0o644}})
	if _, err := verifyBytes(t, zstdFrame(plain, 27)); err != nil {
		t.Fatalf("a 128 MiB window was refused: %v", err)
	}
	growth := peakRSS(t)
	_, err := verifyBytes(t, zstdFrame(plain, 29))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "window") {
		t.Errorf("a 512 MiB window: got %v, want ErrInvalid about the window", err)
	}
	if g := growth(); g > 64<<20 {
		t.Errorf("peak RSS grew by %d MiB", g>>20)
	}

	// The real thing, when the zstd tool is there.
	if _, err := exec.LookPath("zstd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the zstd tool is missing: .ci/run installs it")
		}
		t.Skip("no zstd tool")
	}
	big := rawArchive(t, false, []tar.Header{root, {Name: "volumes/v/f", Typeflag: tar.TypeReg, Mode: 0o644}})
	// From a pipe, as the attack did: zstd then cannot shrink the
	// window to the input's size.
	cmd := exec.Command("zstd", "-q", "-c", "--long=29")
	cmd.Stdin = bytes.NewReader(big)
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	growth = peakRSS(t)
	_, err = verifyBytes(t, data)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "window") {
		t.Errorf("zstd --long=29: got %v, want ErrInvalid about the window", err)
	}
	if g := growth(); g > 64<<20 {
		t.Errorf("peak RSS grew by %d MiB", g>>20)
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		"compose/compose.yaml": "compose/compose.yaml",
		"a b":                  `"a b"`,
		"":                     `""`,
		"nul\x00":              `"nul\x00"`,
		"naïve":                "naïve",
	} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %s, want %s", in, got, want)
		}
	}
	long := strings.Repeat("é", 1<<20)
	got := Short(long)
	if len(got) > 300 || !strings.HasPrefix(got, `"é`) || !strings.HasSuffix(got, "(2097152 bytes)") {
		t.Errorf("Short of 2 MiB: %s", got)
	}
}

// Many problems, each naming long entries, make one short error.
func TestVerifyProblemsStayShort(t *testing.T) {
	var entries []tar.Header
	for i := range 100 {
		entries = append(entries, tar.Header{Name: fmt.Sprintf("elsewhere/%04d-%s", i, strings.Repeat("x", 4000)), Typeflag: tar.TypeReg, Mode: 0o644})
	}
	_, err := verifyBytes(t, rawArchive(t, false, entries))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more problems") {
		t.Fatalf("got %.300v", err)
	}
	if n := len(err.Error()); n > 8<<10 {
		t.Errorf("the error is %d bytes long", n)
	}
}

// Files outside volumes/ are bounded apart: each costs more than a tree
// entry while it is read (its checksum, a dump's content checks).
func TestVerifyRefusesTooManyFiles(t *testing.T) {
	lowGC(t)
	growth := peakRSS(t)
	s := generate(t, func(tw *tar.Writer) error {
		for i := range 2 * maxFiles {
			if err := tw.WriteHeader(&tar.Header{Name: "compose/" + strconv.Itoa(i), Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	_, err := Verify(context.Background(), s)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than 100000 files outside volumes/") {
		t.Fatalf("got %.300v", err)
	}
	if s.read > (maxFiles+1)*tarBlock+512<<10 {
		t.Errorf("%d bytes were read before the refusal", s.read)
	}
	if g := growth(); g > 100<<20 {
		t.Errorf("peak RSS grew by %d MiB", g>>20)
	}
}
