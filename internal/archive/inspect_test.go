package archive

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestReadManifest(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("compose/compose.yaml", 0o644, time.Unix(0, 0), []byte("services: {}\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&Manifest{Project: Project{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(context.Background(), bytes.NewReader(out.Bytes()))
	if err != nil || m.Project.Name != "shop" || m.FormatVersion != FormatVersion || len(m.Files) != 1 {
		t.Fatalf("got %+v, %v", m, err)
	}
	// A plain tar without a manifest is not an archive of ours.
	var plain bytes.Buffer
	pw, _ := NewWriter(&plain, None)
	pw.WriteFile("compose/x", 0o644, time.Unix(0, 0), nil)
	pw.Abort()
	if _, err := ReadManifest(context.Background(), bytes.NewReader(plain.Bytes())); err == nil {
		t.Errorf("an archive without manifest was read")
	}
	if _, err := ReadManifest(context.Background(), bytes.NewReader([]byte("hello"))); !errors.Is(err, ErrNotArchive) && !errors.Is(err, ErrTruncated) {
		t.Errorf("got %v", err)
	}
}
