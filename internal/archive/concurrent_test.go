package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// slowReader hands out a few bytes at a time so that concurrent writers
// really interleave their entries.
type slowReader struct {
	r *bytes.Reader
}

func (s slowReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.r.Read(p)
}

func TestConcurrentStreamsAndTreesInterleaveAndVerify(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	w, err := NewWriter(&out, Zstd)
	if err != nil {
		t.Fatal(err)
	}
	dumps := map[string][]byte{
		"databases/db/a.pgdump":   randomData(ChunkSize+12345, 2),
		"databases/db/b.pgdump":   randomData(6*ChunkSize+1, 3),
		"databases/db2/c.sql":     randomData(777, 4),
		"databases/db2/users.sql": nil,
	}
	var g errgroup.Group
	for name, data := range dumps {
		g.Go(func() error {
			f, err := w.WriteStream(ctx, name, slowReader{bytes.NewReader(data)})
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(data)) {
				t.Errorf("%s: recorded %+v", name, f)
			}
			return nil
		})
	}
	trees := map[string]TreeSummary{}
	tarData := tarOf(t, volumeTree())
	for _, vol := range []string{"one", "two"} {
		g.Go(func() error {
			// The trees start once the longest dump's first part is in the
			// archive, so that the interleaving does not depend on the
			// machine's load: a writer that serialised whole streams would
			// still not interleave.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				w.mu.Lock()
				started := w.entries[PartName("databases/db/b.pgdump", 0)]
				w.mu.Unlock()
				if started {
					break
				}
			}
			s, err := w.WriteTree(ctx, "volumes/"+vol+"/", tar.NewReader(slowReader{bytes.NewReader(tarData)}))
			if err != nil {
				return err
			}
			w.mu.Lock()
			trees[vol] = s
			w.mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if trees["one"].Digest != trees["two"].Digest {
		t.Errorf("the same tree written concurrently got two digests")
	}
	m := &Manifest{Cold: true, Project: Project{Name: "p"}, Volumes: []Volume{{Name: "one"}, {Name: "two"}}}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	got, err := Verify(ctx, bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("an archive written concurrently does not verify: %v", err)
	}
	if len(got.Files) != len(dumps) || len(got.Volumes) != 2 {
		t.Errorf("manifest: %d files, %d volumes", len(got.Files), len(got.Volumes))
	}
	// The entries did interleave: some part of a dump comes between two
	// entries of a volume, or the test proves nothing.
	r, err := Open(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []byte
	for {
		hdr, err := r.Next()
		if err != nil {
			break
		}
		kinds = append(kinds, hdr.Name[0])
	}
	switches := 0
	for i := 1; i < len(kinds); i++ {
		if kinds[i] != kinds[i-1] {
			switches++
		}
	}
	if switches < 3 { // d...v...d...m or v...d...v...m at least
		t.Errorf("entries did not interleave (%d switches in %q)", switches, kinds)
	}
}
