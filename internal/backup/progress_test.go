package backup

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{999, "999 B"},
		{1000, "1.0 kB"},
		{1500, "1.5 kB"},
		{999_499, "999.5 kB"},
		{1_000_000, "1.0 MB"},
		{1_234_567_890, "1.2 GB"},
		{5 * 1_000_000_000_000, "5.0 TB"},
		{2 * 1_000_000_000_000_000, "2.0 PB"},
		{9_223_372_036_854_775_807, "9.2 EB"},
	}
	for _, tt := range tests {
		if got := HumanBytes(tt.n); got != tt.want {
			t.Errorf("HumanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestLinesProgress(t *testing.T) {
	var buf bytes.Buffer
	c := Lines{W: &buf}.Start("db/app")
	r := c.Reader(io.NopCloser(strings.NewReader(strings.Repeat("x", 1500))))
	if n, err := io.Copy(io.Discard, r); n != 1500 || err != nil {
		t.Fatalf("copy %d %v", n, err)
	}
	c.Done(nil)
	if !regexp.MustCompile(`^db/app: 1\.5 kB in \S+ \(\S+ \S*B/s\)\n$`).MatchString(buf.String()) {
		t.Errorf("line %q", buf.String())
	}

	buf.Reset()
	c = Lines{W: &buf}.Start("volume data")
	io.Copy(io.Discard, c.Reader(io.NopCloser(strings.NewReader("abc"))))
	c.Done(errors.New("boom"))
	if buf.String() != "volume data: failed after 3 B\n" {
		t.Errorf("line %q", buf.String())
	}

	// Quiet: the reader is passed through, nothing written.
	src := io.NopCloser(strings.NewReader("abc"))
	q := Lines{}.Start("x")
	if q.Reader(src) != io.Reader(src) {
		t.Error("quiet progress wraps the reader")
	}
	q.Done(nil)
}
