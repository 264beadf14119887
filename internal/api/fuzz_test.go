package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/storage"
)

var (
	fuzzOnce sync.Once
	fuzzURL  string
)

// fuzzServer is one API server for the whole fuzzing process, over a
// folder store and the fake service: every request goes through the real
// handlers, the body guard and the authentication.
func fuzzServer(f *testing.F) string {
	fuzzOnce.Do(func() {
		dir := f.TempDir()
		store := storage.NewLocal(dir)
		putArchive(context.Background(), store, "shop-2025-12-31T000000Z.tar.zst", time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), []byte("archive"))
		svc := &fakeService{store: store, locked: map[string]bool{}}
		work := f.TempDir()
		reg := &jobs.Registry{Keep: 5}
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := New(ctx, Config{Service: svc, Store: store, Jobs: reg, Token: token, WorkDir: work,
			MaxUpload: 1 << 20, ConfirmTimeout: 100 * time.Millisecond, UploadIdleTimeout: time.Second})
		if err != nil {
			f.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		// The jobs end before their folders go.
		f.Cleanup(func() { cancel(); reg.Wait(); hs.Close() })
		fuzzURL = hs.URL
	})
	return fuzzURL
}

var fuzzMethods = []string{"GET", "POST", "DELETE", "HEAD", "PUT", "PATCH", "OPTIONS"}

// open are the routes that answer without the token.
func open(path string) bool {
	return path == "/healthz" || !strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/api/v1/downloads/")
}

// FuzzAPIRequest sends arbitrary requests to the API: any method, path,
// query, content type, body and signature header, with and without the
// token. The server must answer every one (no panic, no hang, no broken
// connection), never with a 500, never without the token on a route that
// needs it, and with a bounded error.
func FuzzAPIRequest(f *testing.F) {
	archive := validArchive(&testing.T{})
	for _, seed := range []struct {
		method        uint8
		path, query   string
		ctype         string
		body          []byte
		sig           string
		authenticated bool
	}{
		{1, "/api/v1/restore", "filename=shop.tar.zst", "application/octet-stream", archive, "", true},
		{1, "/api/v1/restore", "yes=true&project=shop", "application/octet-stream", archive, "", true},
		{1, "/api/v1/restore", "", "application/json", []byte(`{"name":"shop-2025-12-31T000000Z.tar.zst","project":"shop"}`), "", true},
		{1, "/api/v1/restore", "", "multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"force\"\r\n\r\ntrue\r\n--X\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n-----BEGIN SSH SIGNATURE-----\r\n--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.tar.zst\"\r\n\r\n" + string(archive) + "\r\n--X--\r\n"), "", true},
		{1, "/api/v1/restore", "", "application/octet-stream", archive, "!!notbase64", true},
		{1, "/api/v1/backups", "", "application/json", []byte(`{"project":"shop"}`), "", true},
		{1, "/api/v1/backups", "", "application/json", []byte(`{"project":"../x"}`), "", false},
		{0, "/api/v1/backups/shop-2025-12-31T000000Z.tar.zst", "", "", nil, "", true},
		{2, "/api/v1/backups/..%2f..%2fetc%2fpasswd", "", "", nil, "", true},
		{1, "/api/v1/backups/x.tar.zst/link", "", "", nil, "", true},
		{0, "/api/v1/downloads/nope", "", "", nil, "", false},
		{1, "/api/v1/jobs/j1/confirm", "", "application/json", []byte(`{}`), "", true},
		{0, "/api/v1/jobs/j1/events", "", "", nil, "", true},
		{0, "/api/v1/status", "", "", nil, "", false},
		{0, "/healthz", "", "", nil, "", false},
		{0, "/", "", "", nil, "", false},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.ctype, seed.body, seed.sig, seed.authenticated)
	}
	base := fuzzServer(f)
	client := &http.Client{Timeout: 20 * time.Second}
	f.Fuzz(func(t *testing.T, m uint8, path, query, ctype string, body []byte, sig string, authenticated bool) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
			return
		}
		u, err := url.Parse(base + path)
		if err != nil {
			return
		}
		u.RawQuery = query
		req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		if authenticated {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if !headerValue(ctype) || !headerValue(sig) {
			return // not a header net/http sends
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: no answer: %v", method, u, err)
		}
		defer resp.Body.Close()
		if method == "GET" && strings.HasSuffix(u.Path, "/events") {
			return // a stream, which ends with its job
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil && resp.StatusCode < 400 {
			// A refusal may close the connection with the request's
			// body unread (net/http reads at most 256 KiB of it).
			t.Fatalf("%s %s: the answer broke: %v", method, u, err)
		}
		if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			return // net/http refused the request line before any handler
		}
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %s: 500: %s", method, u, answer)
		}
		// A path to clean is redirected: what answered is the last
		// request's route.
		if !authenticated && !open(resp.Request.URL.Path) && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s %s without the token: %d %s", method, u, resp.StatusCode, answer)
		}
		if resp.StatusCode >= 400 && len(answer) > 8<<10 {
			t.Fatalf("%s %s: an error of %d bytes", method, u, len(answer))
		}
	})
}

// headerValue tells whether net/http sends v as a header's value.
func headerValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
