package archive

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]struct {
		c     Compression
		level int
	}{
		"": {Zstd, 0}, "zstd": {Zstd, 0}, "zstd:1": {Zstd, 1}, "ZSTD:19": {Zstd, 19}, "gzip": {Gzip, 0}, "gzip:9": {Gzip, 9}, "none": {None, 0},
	} {
		c, level, err := ParseCompression(in)
		if err != nil || c != want.c || level != want.level {
			t.Errorf("%q: %s %d %v, want %s %d", in, c, level, err, want.c, want.level)
		}
	}
	for in, msg := range map[string]string{
		"zstd:0": "from 1 to 22", "zstd:23": "from 1 to 22", "gzip:10": "from 1 to 9", "gzip:x": "from 1 to 9", "none:1": "takes no level", "lz4": "unknown compression",
	} {
		if _, _, err := ParseCompression(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

// The level reaches the compressor: the fastest makes a larger archive of
// text than the strongest, and both read back.
func TestWriterLevel(t *testing.T) {
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog, again and again; "), 1<<14)
	for i := range text {
		if i%97 == 0 {
			text[i] = byte('a' + i%26)
		}
	}
	for _, c := range []Compression{Zstd, Gzip} {
		sizes := map[int]int{}
		for _, level := range []int{1, 9} {
			var b bytes.Buffer
			w, err := NewWriterLevel(&b, c, level)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteStream(context.Background(), "databases/db/x.sql", bytes.NewReader(text)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(&Manifest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(context.Background(), bytes.NewReader(b.Bytes())); err != nil {
				t.Fatalf("%s:%d does not verify: %v", c, level, err)
			}
			sizes[level] = b.Len()
		}
		if sizes[1] <= sizes[9] {
			t.Errorf("%s: level 1 made %d bytes, level 9 %d", c, sizes[1], sizes[9])
		}
	}
}

// The default and fast levels use zstd's own 2 MiB window, which readers
// with little memory need and which keeps the encoder small; the strong
// levels keep a larger one.
func TestZstdWindow(t *testing.T) {
	for level, want := range map[int]uint64{0: fastWindow, 1: fastWindow, 3: fastWindow, 19: 8 << 20} {
		var b bytes.Buffer
		w, err := NewWriterLevel(&b, Zstd, level)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteStream(context.Background(), "databases/db/x.sql", bytes.NewReader(randomData(3<<20, 1))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(&Manifest{}); err != nil {
			t.Fatal(err)
		}
		var h zstd.Header
		if err := h.Decode(b.Bytes()); err != nil {
			t.Fatal(err)
		}
		if h.WindowSize != want {
			t.Errorf("zstd:%d: window %d, want %d", level, h.WindowSize, want)
		}
	}
}
