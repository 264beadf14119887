package archive

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, hang or
// accept what it cannot account for; when it accepts, the manifest it
// returns must describe what ReadManifest reads.
func FuzzVerify(f *testing.F) {
	for _, c := range []Compression{None, Gzip, Zstd} {
		f.Add(build(f, c, 3000).archive)
	}
	f.Add([]byte{})
	f.Add([]byte("not an archive"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m *Manifest
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			m, err = Verify(context.Background(), bytes.NewReader(data))
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Verify hangs on %d bytes", len(data))
		}
		if err != nil {
			if m != nil {
				t.Fatal("a manifest with an error")
			}
			return
		}
		m2, err := ReadManifest(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatalf("verified, but ReadManifest fails: %v", err)
		}
		if m2.Project.Name != m.Project.Name || len(m2.Files) != len(m.Files) {
			t.Fatal("verified manifest and read manifest differ")
		}
	})
}

// FuzzParseManifest: any manifest.json is parsed or refused, never a panic.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"formatVersion":1,"project":{"name":"p"},"files":[]}`))
	f.Add([]byte(`{"formatVersion":2}`))
	f.Add([]byte(`{"formatVersion":1,"volumes":[{"name":"../x","entries":-1}],"files":[{"path":"/etc/passwd","size":-5,"parts":-1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err == nil && m.FormatVersion != FormatVersion {
			t.Fatalf("accepted format version %d", m.FormatVersion)
		}
	})
}
