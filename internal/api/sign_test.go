package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/sign/signtest"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// manifestOf is manifest.json as data stores it: what a signature covers.
func manifestOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var raw []byte
	if _, err := archive.VerifyWith(context.Background(), bytes.NewReader(data), archive.VerifyOptions{Manifest: func(b []byte) error {
		raw = append([]byte(nil), b...)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	return raw
}

// otherArchive is an archive of another project: its manifest differs.
func otherArchive(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := archive.NewWriter(&out, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&archive.Manifest{Project: archive.Project{Name: "shoq"}}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// With a trust list, the API refuses an unsigned upload, and one signed
// by another key, without reading it; a tampered one once verification
// reaches its manifest; a stored one from its signature, at once.
func TestRestoreWithATrustList(t *testing.T) {
	key, trust := signtest.Key(t)
	other, _ := signtest.Key(t)
	data := validArchive(t)
	sig, err := key.Sign(manifestOf(t, data))
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := other.Sign(manifestOf(t, data))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 0, func(c *Config) { c.Trust = trust })
	header := func(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

	unread := func(sig []byte, want int) {
		t.Helper()
		body := &countingReader{r: bytes.NewReader(data)}
		req, _ := http.NewRequest("POST", f.url+"/api/v1/restore?filename=shop.tar.zst", body)
		req.ContentLength = int64(len(data))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Expect", "100-continue")
		if sig != nil {
			req.Header.Set(SignatureHeader, header(sig))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		expect(t, resp, want)
		if body.n != 0 {
			t.Fatalf("the client sent %d bytes of a refused upload", body.n)
		}
	}
	unread(nil, 422)
	unread(otherSig, 422)
	expect(t, f.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(data), SignatureHeader, "not base64!"), 400)
	// Signed by the key, over another manifest: read, and refused.
	expect(t, f.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(otherArchive(t)), SignatureHeader, header(sig)), 422)
	if _, p, _ := f.svc.counts(); p != 0 || f.svc.isLocked() {
		t.Fatalf("a refused upload was prepared (%d) or left the lock", p)
	}

	// Signed: accepted, as a header and as a form field before the file.
	resp := f.do("POST", "/api/v1/restore?yes=true", "application/octet-stream", bytes.NewReader(data), SignatureHeader, header(sig))
	expect(t, resp, 202)
	f.waitState(decode[Accepted](t, resp).ID, jobs.Succeeded)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("yes", "true")
	mw.WriteField(SignatureField, string(sig))
	fw, _ := mw.CreateFormFile("archive", "shop-y.tar.zst")
	fw.Write(data)
	mw.Close()
	resp = f.do("POST", "/api/v1/restore", mw.FormDataContentType(), &mp)
	expect(t, resp, 202)
	f.waitState(decode[Accepted](t, resp).ID, jobs.Succeeded)

	// Stored: refused from the signature beside it, before the job.
	ctx := context.Background()
	putArchive(ctx, f.svc.store, "shop-1.tar.zst", time.Now(), data)
	resp = f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"shop-1.tar.zst","yes":true}`))
	expect(t, resp, 422)
	if e := decode[apiError](t, resp); !strings.Contains(e.Error, sign.ErrUnsigned.Error()) {
		t.Fatalf("error %q", e.Error)
	}
	if err := storage.WriteSignature(ctx, f.svc.store, "shop-1.tar.zst", otherSig); err != nil {
		t.Fatal(err)
	}
	expect(t, f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"shop-1.tar.zst","yes":true}`)), 422)
	if err := storage.WriteSignature(ctx, f.svc.store, "shop-1.tar.zst", sig); err != nil {
		t.Fatal(err)
	}
	resp = f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"shop-1.tar.zst","yes":true}`))
	expect(t, resp, 202)
	f.waitState(decode[Accepted](t, resp).ID, jobs.Succeeded)
	if _, p, a := f.svc.counts(); p != 3 || a != 3 {
		t.Fatalf("prepared %d, applied %d: want the three signed restores", p, a)
	}
}
