package restore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/sign/signtest"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// signedArchive is a small archive of project, and its signature by key
// (nil: none).
func signedArchive(t *testing.T, key *sign.Key, project string) (data, sig []byte) {
	t.Helper()
	var out bytes.Buffer
	w, err := archive.NewWriter(&out, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("compose/compose.yaml", 0o644, time.Unix(1700000000, 0), []byte("services:\n  db:\n    image: postgres:16\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&archive.Manifest{Project: archive.Project{Name: project}}); err != nil {
		t.Fatal(err)
	}
	if key != nil {
		if sig, err = key.Sign(w.ManifestBytes()); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes(), sig
}

// mustNotRead is an archive no byte of which may be read.
type mustNotRead struct{ t *testing.T }

func (m mustNotRead) Read([]byte) (int, error) {
	m.t.Error("the archive was read before its signature was admitted")
	return 0, io.ErrUnexpectedEOF
}

func TestVerifySigned(t *testing.T) {
	key, trust := signtest.Key(t)
	_, otherTrust := signtest.Key(t)
	data, sig := signedArchive(t, key, "shop")
	// The same key's signature of another archive: a manifest changed and
	// the archive rebuilt around it.
	tampered, _ := signedArchive(t, key, "shoq")
	ctx := context.Background()

	m, st, err := VerifySigned(ctx, bytes.NewReader(data), VerifyOptions{Trust: trust, Signature: sig})
	if err != nil || m.Project.Name != "shop" {
		t.Fatalf("a signed archive: %v", err)
	}
	if !st.Signed || !st.Trusted || st.Key != key.Fingerprint() {
		t.Fatalf("status %+v", st)
	}
	if _, _, err := VerifySigned(ctx, bytes.NewReader(tampered), VerifyOptions{Trust: trust, Signature: sig}); !errors.Is(err, sign.ErrBadSignature) {
		t.Fatalf("a tampered manifest: %v, want ErrBadSignature", err)
	}
	if _, _, err := VerifySigned(ctx, bytes.NewReader(tampered), VerifyOptions{Signature: sig}); !errors.Is(err, sign.ErrBadSignature) {
		t.Fatalf("a tampered manifest without a trust list: %v, want ErrBadSignature", err)
	}
	if _, _, err := VerifySigned(ctx, mustNotRead{t}, VerifyOptions{Trust: trust}); !errors.Is(err, sign.ErrUnsigned) {
		t.Fatalf("unsigned: %v, want ErrUnsigned", err)
	}
	if _, _, err := VerifySigned(ctx, mustNotRead{t}, VerifyOptions{Trust: otherTrust, Signature: sig}); !errors.Is(err, sign.ErrUntrusted) {
		t.Fatalf("another key: %v, want ErrUntrusted", err)
	}
	_, st, err = VerifySigned(ctx, bytes.NewReader(data), VerifyOptions{Signature: sig})
	if err != nil || !st.Signed || st.Trusted {
		t.Fatalf("no trust list: %+v, %v", st, err)
	}
	_, st, err = VerifySigned(ctx, bytes.NewReader(data), VerifyOptions{})
	if err != nil || st.Signed {
		t.Fatalf("unsigned without a trust list: %+v, %v", st, err)
	}
}

// storeOf puts an archive (and its signature, unless nil, as NAME.sig or
// only in the index) into a storage whose archive must not be opened
// while forbid is set.
func storeOf(t *testing.T, data, sig []byte, inIndex bool) *guarded {
	t.Helper()
	b := stored(t, data, "")
	ctx := context.Background()
	if sig != nil {
		if inIndex {
			ix, err := storage.ReadIndex(ctx, b, "shop-1.tar.zst")
			if err != nil {
				t.Fatal(err)
			}
			ix.Signature = string(sig)
			if err := storage.WriteIndex(ctx, b, *ix); err != nil {
				t.Fatal(err)
			}
		} else if err := storage.WriteSignature(ctx, b, "shop-1.tar.zst", sig); err != nil {
			t.Fatal(err)
		}
	}
	return &guarded{Backend: b, t: t}
}

type guarded struct {
	storage.Backend
	t      *testing.T
	forbid bool
}

func (g *guarded) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if g.forbid && name == "shop-1.tar.zst" {
		g.t.Error("the archive was opened before its signature was admitted")
	}
	return g.Backend.Open(ctx, name)
}

func TestFetchChecksTheSignatureFirst(t *testing.T) {
	key, trust := signtest.Key(t)
	_, otherTrust := signtest.Key(t)
	data, sig := signedArchive(t, key, "shop")
	tampered, _ := signedArchive(t, key, "shoq")
	ctx := context.Background()

	for _, inIndex := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "backups")
		f, err := Fetch(ctx, storeOf(t, data, sig, inIndex), "shop-1.tar.zst", dir, VerifyOptions{Trust: trust})
		if err != nil {
			t.Fatalf("signature in the index %v: %v", inIndex, err)
		}
		if !f.Signature.Trusted || f.Signature.Key != key.Fingerprint() {
			t.Fatalf("fetched %+v", f.Signature)
		}
		// The copy keeps its signature, for a restore of it with --trust.
		if local, err := os.ReadFile(f.Path + sign.Ext); err != nil || !bytes.Equal(local, sig) {
			t.Fatalf("the local copy's signature: %q, %v", local, err)
		}
		if err := f.Discard(); err != nil {
			t.Fatal(err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Fatalf("Discard left %v", names)
		}
	}
	for _, c := range []struct {
		desc  string
		store *guarded
		trust *sign.Trust
		want  error
	}{
		{"unsigned", storeOf(t, data, nil, false), trust, sign.ErrUnsigned},
		{"another key", storeOf(t, data, sig, false), otherTrust, sign.ErrUntrusted},
		{"another key, in the index", storeOf(t, data, sig, true), otherTrust, sign.ErrUntrusted},
		{"not a signature", storeOf(t, data, []byte("hello"), false), trust, sign.ErrBadSignature},
	} {
		t.Run(c.desc, func(t *testing.T) {
			c.store.t, c.store.forbid = t, true
			dir := filepath.Join(t.TempDir(), "backups")
			_, err := Fetch(ctx, c.store, "shop-1.tar.zst", dir, VerifyOptions{Trust: c.trust})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "refused, nothing was changed") {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Fatalf("left %v", names)
			}
		})
	}
	t.Run("tampered", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "backups")
		_, err := Fetch(ctx, storeOf(t, tampered, sig, false), "shop-1.tar.zst", dir, VerifyOptions{Trust: trust})
		if !errors.Is(err, sign.ErrBadSignature) {
			t.Fatalf("%v, want ErrBadSignature", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Fatalf("left %v", names)
		}
	})
}

func TestReceiveChecksTheSignatureFirst(t *testing.T) {
	key, trust := signtest.Key(t)
	_, otherTrust := signtest.Key(t)
	data, sig := signedArchive(t, key, "shop")
	tampered, _ := signedArchive(t, key, "shoq")
	ctx := context.Background()
	dir := t.TempDir()
	f, err := Receive(ctx, bytes.NewReader(data), "shop-1.tar.zst", dir, 0, VerifyOptions{Trust: trust, Signature: sig})
	if err != nil || !f.Signature.Trusted {
		t.Fatalf("a signed upload: %+v, %v", f, err)
	}
	for desc, vo := range map[string]VerifyOptions{
		"unsigned":    {Trust: trust},
		"another key": {Trust: otherTrust, Signature: sig},
	} {
		if _, err := Receive(ctx, mustNotRead{t}, "shop-2.tar.zst", t.TempDir(), 0, vo); !errors.Is(err, sign.ErrUnsigned) && !errors.Is(err, sign.ErrUntrusted) {
			t.Errorf("%s: %v", desc, err)
		}
	}
	if _, err := Receive(ctx, bytes.NewReader(tampered), "shop-3.tar.zst", dir, 0, VerifyOptions{Trust: trust, Signature: sig}); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("tampered: %v, want ErrBadSignature", err)
	}
}

// A restore of a local archive finds its signature beside it, and with a
// trust list refuses it before reading a byte.
func TestRestoreChecksTheSignatureBeside(t *testing.T) {
	key, trust := signtest.Key(t)
	_, otherTrust := signtest.Key(t)
	data, sig := signedArchive(t, key, "shop")
	dir := t.TempDir()
	path := filepath.Join(dir, "shop-1.tar.zst")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	ctx := context.Background()
	if _, _, err := verifyArchive(ctx, mustNotRead{t}, fi, Options{Archive: path, Trust: trust}); !errors.Is(err, sign.ErrUnsigned) {
		t.Fatalf("no .sig beside: %v, want ErrUnsigned", err)
	}
	if err := os.WriteFile(path+sign.Ext, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := verifyArchive(ctx, mustNotRead{t}, fi, Options{Archive: path, Trust: otherTrust}); !errors.Is(err, sign.ErrUntrusted) {
		t.Fatalf("signed by another key: %v, want ErrUntrusted", err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	_, st, err := verifyArchive(ctx, f, fi, Options{Archive: path, Trust: trust})
	if err != nil || !st.Trusted {
		t.Fatalf("signed, trusted: %+v, %v", st, err)
	}

	// Fetched without a trust list, restored with one: not taken on
	// trust, checked again.
	bucket := storeOf(t, data, sig, false)
	fetched, err := Fetch(ctx, bucket, "shop-1.tar.zst", filepath.Join(dir, "dl"), VerifyOptions{})
	if err != nil || fetched.Signature.Trusted {
		t.Fatalf("fetched %+v, %v", fetched, err)
	}
	ffi, _ := os.Stat(fetched.Path)
	if _, _, err := verifyArchive(ctx, mustNotRead{t}, ffi, Options{Archive: fetched.Path, Fetched: fetched, Trust: otherTrust}); !errors.Is(err, sign.ErrUntrusted) {
		t.Fatalf("fetched without a trust list, restored with another's: %v, want ErrUntrusted", err)
	}
}
