package backup

import (
	"archive/tar"
	"bytes"
	"io"
	"reflect"
	"testing"
)

func TestLeftoverReaderFindsWhatAKilledRestoreLeft(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./.docker-backup-replaced-0a1b2c/", Typeflag: tar.TypeDir, Mode: 0o700},
		{Name: "./.docker-backup-replaced-0a1b2c/uploads/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./uploads/.docker-backup-replaced-ffffff/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./.docker-backup-replaced-notes.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
		{Name: "./docker-backup-replaced-nodot/", Typeflag: tar.TypeDir, Mode: 0o755},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = tw.Write([]byte("hi"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l := &leftoverReader{Reader: tar.NewReader(&b)}
	n := 0
	for {
		_, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if _, err := io.Copy(io.Discard, l); err != nil {
			t.Fatal(err)
		}
	}
	if n != 6 {
		t.Errorf("read %d entries, want all 6", n)
	}
	if want := []string{".docker-backup-replaced-0a1b2c"}; !reflect.DeepEqual(l.found, want) {
		t.Errorf("found %q, want %q (only folders at the root)", l.found, want)
	}
}
