package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// trickle is an upload body that sends data a few bytes at a time, every
// pause, and then nothing (stall) until it is closed.
type trickle struct {
	data  []byte
	chunk int
	pause time.Duration
	// stallAfter bytes, the body sends nothing more; 0 for never.
	stallAfter int
	sent       int
	stop       chan struct{}
	once       sync.Once
}

func newTrickle(data []byte, chunk int, pause time.Duration, stallAfter int) *trickle {
	return &trickle{data: data, chunk: chunk, pause: pause, stallAfter: stallAfter, stop: make(chan struct{})}
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.sent >= len(t.data) {
		return 0, io.EOF
	}
	wait := t.pause
	if t.stallAfter > 0 && t.sent >= t.stallAfter {
		wait = time.Hour
	}
	if t.sent > 0 {
		select {
		case <-time.After(wait):
		case <-t.stop:
			return 0, errors.New("the test closed the trickle")
		}
	}
	n := copy(p[:min(len(p), t.chunk)], t.data[t.sent:])
	t.sent += n
	return n, nil
}

func (t *trickle) Close() error {
	t.once.Do(func() { close(t.stop) })
	return nil
}

// uploadAsync posts body as an upload and returns its answer when it comes.
func (f *fixture) uploadAsync(body io.ReadCloser) <-chan *http.Response {
	req, _ := http.NewRequest("POST", f.url+"/api/v1/restore?filename=shop-t.tar.zst", body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	out := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Errorf("the upload got no answer: %v", err)
			out <- nil
			return
		}
		out <- resp
	}()
	f.t.Cleanup(func() { body.Close() })
	return out
}

// partials are the files of uploads under way or left behind.
func (f *fixture) partials() []string {
	names, _ := filepath.Glob(filepath.Join(f.work, "restore", "*", "*"))
	more, _ := filepath.Glob(filepath.Join(f.work, "restore", "*", ".*"))
	return append(names, more...)
}

// A trickled upload holds no lock: a backup of the project starts and
// ends while it trickles; then it is cut, by the minimum rate (a byte
// now and then) or by the idle timeout (a stall), and leaves nothing.
func TestTrickledUploadHoldsNoLockAndIsCut(t *testing.T) {
	data := validArchive(t)
	for _, tc := range []struct {
		name, says string
		body       *trickle
	}{
		// 1 byte every 50 ms: never idle for a second, but 40 bytes in
		// 2 s, below 1 KiB.
		{"rate", "less than 1KiB in 2s", newTrickle(data, 1, 50*time.Millisecond, 0)},
		{"stall", "nothing for 1s", newTrickle(data, 8, time.Millisecond, 16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, 0, func(c *Config) {
				c.UploadIdleTimeout, c.UploadMinBytes, c.UploadWindow = time.Second, 1<<10, 2*time.Second
			})
			answer := f.uploadAsync(tc.body)
			for i := 0; len(f.partials()) == 0; i++ {
				if i == 1000 {
					t.Fatal("the upload never started")
				}
				time.Sleep(5 * time.Millisecond)
			}
			resp := f.do("POST", "/api/v1/backups", "application/json", nil)
			expect(t, resp, 202)
			if len(f.partials()) == 0 {
				t.Fatal("the upload ended before the backup started: make the trickle slower")
			}
			f.waitState(decode[Accepted](t, resp).ID, jobs.Succeeded)
			var up *http.Response
			select {
			case up = <-answer:
			case <-time.After(30 * time.Second):
				t.Fatal("the trickle was not cut")
			}
			if up == nil {
				return
			}
			defer up.Body.Close()
			expect(t, up, 408)
			e := decode[apiError](t, up)
			if !strings.Contains(e.Error, tc.says) || !strings.Contains(e.Error, "nothing was changed") {
				t.Errorf("error %q, want it to say %q", e.Error, tc.says)
			}
			for i := 0; len(f.partials()) != 0; i++ {
				if i == 1000 {
					t.Fatalf("the cut upload left %v", f.partials())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, p, _ := f.svc.counts(); p != 0 || f.svc.isLocked() {
				t.Fatalf("prepared %d, locked %v", p, f.svc.isLocked())
			}
		})
	}
}

// An upload at an ordinary pace is not cut, however long it takes: each
// window of the server's waiting brings enough.
func TestSteadyUploadIsNotCut(t *testing.T) {
	content := make([]byte, 32<<10)
	rand.Read(content) // incompressible: the archive is as large
	data := archiveOf(t, content)
	f := newFixtureWith(t, 0, func(c *Config) {
		c.UploadIdleTimeout, c.UploadMinBytes, c.UploadWindow = time.Second, 512, 250*time.Millisecond
	})
	// 512 bytes every 10 ms: some 12 KiB a window, over about three.
	body := newTrickle(data, 512, 10*time.Millisecond, 0)
	resp := <-f.uploadAsync(body)
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	expect(t, resp, 202)
	if body.sent != len(data) {
		t.Fatalf("sent %d of %d", body.sent, len(data))
	}
}

// A restore waiting for its confirmation holds no lock: a backup runs
// meanwhile; a confirmation while it runs is refused (409) and the
// restore keeps waiting; once confirmed, the restore is planned again
// under the lock and applied when the plan is the one shown.
func TestWaitingRestoreHoldsNoLock(t *testing.T) {
	data := validArchive(t)
	f := newFixture(t, 0)
	resp := f.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(data))
	expect(t, resp, 202)
	id := decode[Accepted](t, resp).ID
	f.waitState(id, jobs.Waiting)
	if f.svc.isLocked() {
		t.Fatal("the restore waits holding the lock")
	}
	f.svc.hold = make(chan struct{})
	resp = f.do("POST", "/api/v1/backups", "application/json", nil)
	expect(t, resp, 202)
	backupID := decode[Accepted](t, resp).ID
	f.waitState(backupID, jobs.Running)
	resp = f.do("POST", "/api/v1/jobs/"+id+"/confirm", "", nil)
	expect(t, resp, 409)
	if e := decode[apiError](t, resp); !strings.Contains(e.Error, "confirm again") {
		t.Errorf("409 says %q", e.Error)
	}
	f.waitState(id, jobs.Waiting)
	close(f.svc.hold)
	f.waitState(backupID, jobs.Succeeded)
	f.svc.hold = nil
	expect(t, f.do("POST", "/api/v1/jobs/"+id+"/confirm", "", nil), 200)
	v := f.waitState(id, jobs.Succeeded)
	if _, p, a := f.svc.counts(); p != 1 || a != 1 || f.svc.replans != 1 || f.svc.isLocked() {
		t.Fatalf("prepared %d, applied %d, replans %d, locked %v", p, a, f.svc.replans, f.svc.isLocked())
	}
	if n := len(plans(v)); n != 1 {
		t.Fatalf("%d plans shown for an unchanged project", n)
	}
}

func plans(v jobs.View) []*event.Plan {
	var out []*event.Plan
	for _, e := range v.Events {
		if e.Type == event.PlanReady {
			out = append(out, e.Plan)
		}
	}
	return out
}

// A project that changed while the restore waited gets a new plan: it is
// shown and waits for a confirmation of its own before it is applied.
func TestChangedPlanWaitsForItsOwnConfirmation(t *testing.T) {
	data := validArchive(t)
	f := newFixture(t, 0)
	f.svc.changes = 1
	resp := f.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(data))
	expect(t, resp, 202)
	id := decode[Accepted](t, resp).ID
	f.waitState(id, jobs.Waiting)
	expect(t, f.do("POST", "/api/v1/jobs/"+id+"/confirm", "", nil), 200)
	for i := 0; ; i++ {
		v := f.waitState(id, jobs.Waiting)
		if ps := plans(v); len(ps) == 2 {
			if !slices.Equal(ps[1].Stop, []string{"app", "web"}) {
				t.Fatalf("the new plan %+v", ps[1])
			}
			break
		}
		if i == 1000 {
			t.Fatal("no new plan shown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, a := f.svc.counts(); a != 0 || f.svc.isLocked() {
		t.Fatalf("a changed plan was applied (%d) or holds the lock (%v)", a, f.svc.isLocked())
	}
	expect(t, f.do("POST", "/api/v1/jobs/"+id+"/confirm", "", nil), 200)
	f.waitState(id, jobs.Succeeded)
	if _, _, a := f.svc.counts(); a != 1 || f.svc.replans != 2 || f.svc.isLocked() {
		t.Fatalf("applied %d, replans %d, locked %v", a, f.svc.replans, f.svc.isLocked())
	}
}

// A symlink placed in the store is no archive: not listed, not served,
// no link made for it, not restored.
func TestSymlinkInTheStoreIsNotServed(t *testing.T) {
	f := newFixture(t, 0)
	secret := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(secret, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
	putArchive(context.Background(), f.svc.store, "shop-1.tar.zst", time.Now(), []byte("real"))
	if err := os.Symlink(secret, filepath.Join(f.dir, "x.tar.zst")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("shop-1.tar.zst", filepath.Join(f.dir, "shop-2.tar.zst"))
	for _, name := range []string{"x.tar.zst", "shop-2.tar.zst"} {
		for _, m := range []string{"GET", "HEAD"} {
			resp := f.do(m, "/api/v1/backups/"+name, "", nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 404 || bytes.Contains(b, []byte("root:")) {
				t.Errorf("%s %s: %d %q", m, name, resp.StatusCode, b)
			}
		}
		expect(t, f.do("POST", "/api/v1/backups/"+name+"/link", "", nil), 404)
		expect(t, f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"`+name+`"}`)), 404)
	}
	list := decode[[]storage.Listed](t, f.do("GET", "/api/v1/backups", "", nil))
	if len(list) != 1 || list[0].Name != "shop-1.tar.zst" {
		t.Fatalf("listed %+v", list)
	}
}

// syncBuffer is a log's output, written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// An error quoting a huge input makes a small answer, job and log line.
func TestHugeErrorsStaySmall(t *testing.T) {
	var logged syncBuffer
	f := newFixtureWith(t, 0, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logged, nil)) })
	huge := strings.Repeat("A", 10<<20)

	f.svc.lockErr = errors.New("the engine said " + huge)
	resp := f.do("POST", "/api/v1/backups", "application/json", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || len(b) > 8<<10 || !bytes.Contains(b, []byte("bytes in all")) {
		t.Fatalf("%d, %d bytes", resp.StatusCode, len(b))
	}
	f.svc.lockErr = nil

	// A job that fails so: its JSON, its events, the status.
	f.svc.backupErr = errors.New("the storage said " + huge)
	resp = f.do("POST", "/api/v1/backups", "application/json", nil)
	expect(t, resp, 202)
	id := decode[Accepted](t, resp).ID
	f.waitState(id, jobs.Failed)
	for _, path := range []string{"/api/v1/jobs/" + id, "/api/v1/jobs/" + id + "/events", "/api/v1/status", "/api/v1/jobs"} {
		b, _ := io.ReadAll(f.do("GET", path, "", nil).Body)
		if len(b) > 8<<10 || !bytes.Contains(b, []byte("bytes in all")) {
			t.Errorf("%s: %d bytes", path, len(b))
		}
	}

	// A refused request's log line: a path of 500 KB without the token.
	expect(t, f.do("GET", "/api/v1/"+strings.Repeat("p", 500<<10), "", nil, "Authorization", ""), 401)
	for _, l := range logged.lines() {
		if len(l) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s", len(l), l)
		}
	}
}

// The daemon's --max-entries bounds what its API verifies, as it bounds
// the restore that applies it: an upload over it is refused before
// anything, not verified with the defaults and then refused halfway
// through applying.
func TestUploadsAreVerifiedWithTheDaemonsLimits(t *testing.T) {
	data := validArchive(t) // a volume of two entries
	f := newFixtureWith(t, 0, func(c *Config) { c.Limits = archive.Limits{MaxEntries: 1} })
	resp := f.do("POST", "/api/v1/restore?filename=shop.tar.zst", "application/octet-stream", bytes.NewReader(data))
	expect(t, resp, 422)
	if _, p, _ := f.svc.counts(); p != 0 {
		t.Fatalf("an upload over the limit was prepared (%d)", p)
	}
	f = newFixtureWith(t, 0, func(c *Config) { c.Limits = archive.Limits{MaxEntries: 10} })
	expect(t, f.do("POST", "/api/v1/restore?filename=shop.tar.zst", "application/octet-stream", bytes.NewReader(data)), 202)
}

// An error quoting what the client sent stays short as JSON too: each
// byte of invalid UTF-8, and each <, > or &, used to be written as a
// six-byte escape, so a clipped error came out six times its bound.
func TestErrorsStayShortAsJSON(t *testing.T) {
	f := newFixture(t, 0)
	for _, q := range []string{strings.Repeat(">", 20000), strings.Repeat("%A2", 20000)} {
		resp := f.do("POST", "/api/v1/restore?"+q+"=1", "application/octet-stream", strings.NewReader("x"))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(body) > 3<<10 {
			t.Errorf("%d, an answer of %d bytes", resp.StatusCode, len(body))
		}
	}
}
