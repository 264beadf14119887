package api

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/docs"
	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/lock"
	"github.com/docker-backup/docker-backup/internal/storage"
)

const token = "0123456789abcdef-test-token"

// fakeService locks, backs up into the storage and restores, in memory.
type fakeService struct {
	store storage.Backend
	// hold, when set, keeps a backup running until it is closed.
	hold chan struct{}

	mu       sync.Mutex
	locked   map[string]bool
	backups  int
	prepared int
	applied  int
	replans  int
	// changes is how many of the next replans find a new plan.
	changes int
	// lockErr and backupErr, when set, are Lock's and Backup's error.
	lockErr, backupErr error
}

func (f *fakeService) Projects() []string { return []string{"shop"} }

func (f *fakeService) Lock(ctx context.Context, project string) (context.Context, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lockErr != nil {
		return nil, nil, f.lockErr
	}
	if f.locked[project] {
		return nil, nil, fmt.Errorf("%w: held by a test", lock.ErrLocked)
	}
	f.locked[project] = true
	return ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.locked[project] = false
	}, nil
}

func (f *fakeService) isLocked() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locked["shop"]
}

func (f *fakeService) Backup(ctx context.Context, project string, l backup.Locker, sink event.Sink) (any, error) {
	ctx, release, err := l(ctx, project)
	if err != nil {
		return nil, err
	}
	defer release()
	sink.Emit(event.Event{Type: event.StepStarted, Step: "volume data"})
	if f.backupErr != nil {
		return nil, f.backupErr
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	f.backups++
	n := f.backups
	f.mu.Unlock()
	name := fmt.Sprintf("shop-2026-01-0%dT000000Z.tar.zst", n)
	putArchive(context.Background(), f.store, name, time.Date(2026, 1, n, 0, 0, 0, 0, time.UTC), []byte("archive "+name))
	sink.Emit(event.Event{Type: event.StepFinished, Step: "volume data", Bytes: 42})
	return map[string]string{"archive": name}, nil
}

func (f *fakeService) PrepareRestore(ctx context.Context, req RestoreRequest, l backup.Locker, sink event.Sink) (Prepared, error) {
	if _, err := os.Stat(req.Path); err != nil {
		return nil, fmt.Errorf("the archive to restore is not there: %w", err)
	}
	_, release, err := l(ctx, req.Project)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.prepared++
	f.mu.Unlock()
	pr := &fakePrepared{f: f, project: req.Project, release: release, sink: sink,
		plan: &event.Plan{Project: req.Project, Archive: req.Path, Stop: []string{"app"}}}
	sink.Emit(event.Event{Type: event.PlanReady, Plan: pr.plan})
	return pr, nil
}

type fakePrepared struct {
	f       *fakeService
	project string
	release func()
	sink    event.Sink
	plan    *event.Plan
}

func (p *fakePrepared) Apply(context.Context) (any, error) {
	if p.release == nil {
		return nil, errors.New("applied without the lock")
	}
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.applied++
	return "restored", nil
}

func (p *fakePrepared) Release() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

// Replan takes the lock again; the plan changes (web is stopped too)
// while f.changes says so.
func (p *fakePrepared) Replan(ctx context.Context, l backup.Locker) (bool, error) {
	p.Release()
	_, release, err := l(ctx, p.project)
	if err != nil {
		return false, err
	}
	p.release = release
	p.f.mu.Lock()
	p.f.replans++
	changed := p.f.changes > 0
	if changed {
		p.f.changes--
	}
	p.f.mu.Unlock()
	if changed {
		np := *p.plan
		np.Stop = append(slices.Clone(np.Stop), "web")
		p.plan = &np
		p.sink.Emit(event.Event{Type: event.PlanReady, Plan: p.plan})
	}
	return changed, nil
}

func (p *fakePrepared) Close() { p.Release() }

func (f *fakeService) Health() error      { return nil }
func (f *fakeService) Schedule() Schedule { return Schedule{Cron: "@daily"} }

func (f *fakeService) counts() (int, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.backups, f.prepared, f.applied
}

func putArchive(ctx context.Context, b storage.Backend, name string, at time.Time, data []byte) {
	up, err := b.Create(ctx, name)
	if err != nil {
		panic(err)
	}
	up.Write(data)
	if err := up.Commit(ctx); err != nil {
		panic(err)
	}
	d := storage.NewDigest(true)
	d.Write(data)
	if err := storage.WriteIndex(ctx, b, storage.Index{Archive: name, Project: "shop", CreatedAt: at, Size: int64(len(data)), SHA256: d.SHA256()}); err != nil {
		panic(err)
	}
}

// validArchive is a real archive: one volume with one file.
func validArchive(t *testing.T) []byte {
	t.Helper()
	return archiveOf(t, []byte("hello"))
}

// archiveOf is a real archive whose volume holds one file, content.
func archiveOf(t *testing.T, content []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := archive.NewWriter(&out, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))})
	tw.Write(content)
	tw.Close()
	sum, err := w.WriteTree(context.Background(), "volumes/data/", tar.NewReader(&tb))
	if err != nil {
		t.Fatal(err)
	}
	m := &archive.Manifest{Project: archive.Project{Name: "shop"}, Volumes: []archive.Volume{{Name: "data", EngineName: "shop_data", Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest}}}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

type fixture struct {
	t    *testing.T
	url  string
	svc  *fakeService
	dir  string
	work string
	reg  *jobs.Registry
}

func newFixture(t *testing.T, maxUpload int64, with ...func(*Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, maxUpload, with...)
}

// newFixtureWith is newFixture with each of with changing the server's
// Config.
func newFixtureWith(t *testing.T, maxUpload int64, with ...func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	store := storage.NewLocal(dir)
	svc := &fakeService{store: store, locked: map[string]bool{}}
	reg := &jobs.Registry{}
	ctx, cancel := context.WithCancel(context.Background())
	work := t.TempDir()
	cfg := Config{Service: svc, Store: store, Jobs: reg, Token: token, WorkDir: work, MaxUpload: maxUpload,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "docker_backup_runs_total 1\n") })}
	for _, w := range with {
		w(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		cancel()
		reg.Wait()
		hs.Close()
	})
	return &fixture{t: t, url: hs.URL, svc: svc, dir: dir, work: work, reg: reg}
}

func (f *fixture) do(method, path, ctype string, body io.Reader, hdr ...string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decoding the answer (%d): %v", resp.StatusCode, err)
	}
	return v
}

func expect(t *testing.T, resp *http.Response, code int) {
	t.Helper()
	if resp.StatusCode != code {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b, code)
	}
}

// follow reads a job's server-sent events until it ends.
func (f *fixture) follow(id string) []event.Event {
	f.t.Helper()
	resp := f.do("GET", "/api/v1/jobs/"+id+"/events", "", nil)
	expect(f.t, resp, 200)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		f.t.Fatalf("content type %s", ct)
	}
	var evs []event.Event
	sc := bufio.NewScanner(resp.Body)
	var typ string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			var e event.Event
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				f.t.Fatal(err)
			}
			if string(e.Type) != typ {
				f.t.Fatalf("event %s carries %s", typ, e.Type)
			}
			evs = append(evs, e)
		}
	}
	return evs
}

func (f *fixture) waitState(id string, s jobs.State) jobs.View {
	f.t.Helper()
	for range 2000 {
		v := decode[jobs.View](f.t, f.do("GET", "/api/v1/jobs/"+id, "", nil))
		if v.State == s {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.t.Fatalf("job %s never reached %s", id, s)
	return jobs.View{}
}

func TestRoutesMatchTheOpenAPIDocument(t *testing.T) {
	var doc struct {
		OpenAPI  string                                `json:"openapi"`
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || len(doc.Security) != 1 {
		t.Fatalf("openapi %s, security %v", doc.OpenAPI, doc.Security)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Security  *[]any                     `json:"security"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = op.Security == nil || len(*op.Security) > 0
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses documented", key)
			}
			if documented[key] {
				if _, ok := op.Responses["401"]; !ok {
					t.Errorf("%s needs the token but documents no 401", key)
				}
			}
		}
	}
	s := &Server{}
	served := map[string]bool{}
	for _, r := range s.routes() {
		key := r.Method + " " + r.Path
		served[key] = true
		auth, ok := documented[key]
		if !ok {
			t.Errorf("%s is served but not in docs/openapi.json", key)
			continue
		}
		if auth != r.Auth {
			t.Errorf("%s: the document says token %v, the server %v", key, auth, r.Auth)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in docs/openapi.json but not served", key)
		}
	}
}

func TestEveryRouteButHealthNeedsTheToken(t *testing.T) {
	f := newFixture(t, 0)
	putArchive(context.Background(), f.svc.store, "shop-a.tar.zst", time.Now(), []byte("a"))
	putArchive(context.Background(), f.svc.store, "shop-b.tar.zst", time.Now().Add(time.Hour), []byte("b"))
	s := &Server{}
	for _, r := range s.routes() {
		path := strings.NewReplacer("{name}", "shop-a.tar.zst", "{id}", "x", "{ticket}", "x").Replace(r.Path)
		for _, auth := range []string{"", "Bearer wrong-token-wrong-token", "Bearer " + token + "x", "Basic " + token, token} {
			resp := f.do(r.Method, path, "application/json", strings.NewReader(`{"name":"shop-a.tar.zst"}`), "Authorization", auth)
			switch {
			case !r.Auth && r.Path == "/healthz":
				expect(t, resp, 200)
			case !r.Auth: // the one-time links: the ticket is the credential
				expect(t, resp, 404)
			default:
				expect(t, resp, 401)
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate", path)
				}
			}
		}
	}
	if b, p, a := f.svc.counts(); b+p+a != 0 {
		t.Fatalf("an unauthenticated request did something: %d %d %d", b, p, a)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "shop-a.tar.zst")); err != nil {
		t.Fatal("an unauthenticated DELETE deleted", err)
	}
	// The page itself holds no data and loads without the token.
	resp := f.do("GET", "/", "", nil, "Authorization", "")
	expect(t, resp, 200)
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	expect(t, f.do("GET", "/api/v1/nothing", "", nil), 404)
	expect(t, f.do("GET", "/api/v1/nothing", "", nil, "Authorization", ""), 401)
}

func TestBackupJobConflictAndStatus(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.hold = make(chan struct{})
	resp := f.do("POST", "/api/v1/backups", "application/json", nil)
	expect(t, resp, 202)
	acc := decode[Accepted](t, resp)
	if resp.Header.Get("Location") != "/api/v1/jobs/"+acc.ID || acc.Events != acc.Location+"/events" {
		t.Fatalf("accepted %+v, Location %s", acc, resp.Header.Get("Location"))
	}
	// The engine-wide lock: a second backup, or a restore, waits its turn.
	expect(t, f.do("POST", "/api/v1/backups", "application/json", strings.NewReader(`{}`)), 409)
	expect(t, f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"shop-2026-01-01T000000Z.tar.zst"}`)), 404)
	st := decode[Status](t, f.do("GET", "/api/v1/status", "", nil))
	if !st.Running || st.Backup == nil || st.Backup.ID != acc.ID || st.Backup.State != jobs.Running || st.Restore != nil {
		t.Fatalf("status while running %+v", st)
	}
	close(f.svc.hold)
	evs := f.follow(acc.ID)
	types := []event.Type{}
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []event.Type{event.Started, event.StepStarted, event.StepFinished, event.Finished}) {
		t.Fatalf("events %v", types)
	}
	v := f.waitState(acc.ID, jobs.Succeeded)
	if v.Result == nil || len(v.Events) != 4 {
		t.Fatalf("job %+v", v)
	}
	st = decode[Status](t, f.do("GET", "/api/v1/status", "", nil))
	if st.Running || !st.Backup.Succeeded || st.Backup.EndDate == nil || st.Schedule.Cron != "@daily" || !st.Healthy {
		t.Fatalf("status after %+v", st)
	}
	if f.svc.isLocked() {
		t.Fatal("the lock was not given back")
	}
	// The project is checked.
	expect(t, f.do("POST", "/api/v1/backups", "application/json", strings.NewReader(`{"project":"blog"}`)), 404)
	expect(t, f.do("POST", "/api/v1/backups", "application/json", strings.NewReader(`{"projekt":"shop"}`)), 400)
	list := decode[[]storage.Listed](t, f.do("GET", "/api/v1/backups", "", nil))
	if len(list) != 1 || list[0].Project != "shop" {
		t.Fatalf("list %+v", list)
	}
	resp = f.do("GET", "/metrics", "", nil)
	expect(t, resp, 200)
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "docker_backup_runs_total") {
		t.Fatalf("metrics %s", b)
	}
	expect(t, f.do("GET", "/api/v1/jobs/nope", "", nil), 404)
	if jl := decode[[]jobs.View](t, f.do("GET", "/api/v1/jobs", "", nil)); len(jl) != 1 {
		t.Fatalf("jobs %+v", jl)
	}
}

func TestDownloadRangesAndETag(t *testing.T) {
	f := newFixture(t, 0)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	putArchive(context.Background(), f.svc.store, "shop-1.tar.zst", time.Now(), data)
	resp := f.do("GET", "/api/v1/backups/shop-1.tar.zst", "", nil)
	expect(t, resp, 200)
	body, _ := io.ReadAll(resp.Body)
	etag := resp.Header.Get("ETag")
	if !bytes.Equal(body, data) || resp.ContentLength != int64(len(data)) || !strings.HasPrefix(etag, `"sha256-`) {
		t.Fatalf("%d bytes, length %d, etag %s", len(body), resp.ContentLength, etag)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=shop-1.tar.zst` {
		t.Errorf("Content-Disposition %q", cd)
	}
	resp = f.do("GET", "/api/v1/backups/shop-1.tar.zst", "", nil, "Range", "bytes=1005-1014")
	expect(t, resp, 206)
	if body, _ := io.ReadAll(resp.Body); string(body) != "5678901234" || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1005-1014/%d", len(data)) {
		t.Fatalf("range: %q %s", body, resp.Header.Get("Content-Range"))
	}
	resp = f.do("GET", "/api/v1/backups/shop-1.tar.zst", "", nil, "Range", "bytes=9990-")
	expect(t, resp, 206)
	if body, _ := io.ReadAll(resp.Body); string(body) != "0123456789" {
		t.Fatalf("suffix range %q", body)
	}
	expect(t, f.do("GET", "/api/v1/backups/shop-1.tar.zst", "", nil, "If-None-Match", etag), 304)
	expect(t, f.do("GET", "/api/v1/backups/shop-1.tar.zst", "", nil, "Range", "bytes=20000-"), 416)
	resp = f.do("HEAD", "/api/v1/backups/shop-1.tar.zst", "", nil)
	expect(t, resp, 200)
	if resp.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD length %d", resp.ContentLength)
	}
	for _, bad := range []string{"nope.tar.zst", "shop-1.tar.zst.index.json", "..%2fetc%2fpasswd", ".hidden.tar.zst"} {
		if resp := f.do("GET", "/api/v1/backups/"+bad, "", nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}

	// A one-time link, for browsers: no token, once.
	resp = f.do("POST", "/api/v1/backups/shop-1.tar.zst/link", "", nil)
	expect(t, resp, 201)
	link := decode[Link](t, resp)
	resp = f.do("GET", link.URL, "", nil, "Authorization", "")
	expect(t, resp, 200)
	if body, _ := io.ReadAll(resp.Body); !bytes.Equal(body, data) {
		t.Fatal("the link served something else")
	}
	expect(t, f.do("GET", link.URL, "", nil, "Authorization", ""), 404)
	expect(t, f.do("POST", "/api/v1/backups/nope.tar.zst/link", "", nil), 404)
}

func TestDeleteNeverTheNewest(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	putArchive(ctx, f.svc.store, "shop-1.tar.zst", time.Now().Add(-time.Hour), []byte("1"))
	putArchive(ctx, f.svc.store, "shop-2.tar.zst", time.Now(), []byte("2"))
	os.WriteFile(filepath.Join(f.dir, "foreign.tar.zst"), []byte("x"), 0o644)
	expect(t, f.do("DELETE", "/api/v1/backups/shop-2.tar.zst", "", nil), 409)
	expect(t, f.do("DELETE", "/api/v1/backups/foreign.tar.zst", "", nil), 409)
	expect(t, f.do("DELETE", "/api/v1/backups/nope.tar.zst", "", nil), 404)
	expect(t, f.do("DELETE", "/api/v1/backups/shop-1.tar.zst", "", nil), 204)
	names, _ := filepath.Glob(filepath.Join(f.dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "foreign.tar.zst,shop-2.tar.zst,shop-2.tar.zst.index.json" {
		t.Fatalf("left %v", names)
	}
}

func TestRestoreUploadConfirmAndRefusals(t *testing.T) {
	data := validArchive(t)
	f := newFixture(t, int64(len(data)))
	workLeft := func() []string {
		t.Helper()
		names, _ := filepath.Glob(filepath.Join(f.work, "restore", "*", "*"))
		return names
	}

	// Refused before anything: too large, not an archive, a damaged one,
	// an unknown content type.
	big := append(append([]byte(nil), data...), 0)
	resp := f.do("POST", "/api/v1/restore?filename=shop.tar.zst", "application/octet-stream", bytes.NewReader(big))
	expect(t, resp, 413)
	resp = f.do("POST", "/api/v1/restore", "application/octet-stream", strings.NewReader("not an archive"))
	expect(t, resp, 422)
	// Many bytes: a zstd stream has bits no decoder reads.
	bad := append([]byte(nil), data...)
	for i := len(bad)/2 - 32; i < len(bad)/2+32; i++ {
		bad[i] ^= 0xff
	}
	expect(t, f.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(bad)), 422)
	expect(t, f.do("POST", "/api/v1/restore", "text/plain", strings.NewReader("x")), 415)
	expect(t, f.do("POST", "/api/v1/restore?yes=maybe", "application/octet-stream", bytes.NewReader(data)), 400)
	if _, p, _ := f.svc.counts(); p != 0 || len(workLeft()) != 0 || f.svc.isLocked() {
		t.Fatalf("a refused upload left something: prepared %d, files %v, locked %v", p, workLeft(), f.svc.isLocked())
	}

	// Accepted: the plan, then it waits for the confirmation.
	resp = f.do("POST", "/api/v1/restore?filename=shop-x.tar.zst", "application/octet-stream", bytes.NewReader(data))
	expect(t, resp, 202)
	acc := decode[Accepted](t, resp)
	v := f.waitState(acc.ID, jobs.Waiting)
	var plan *event.Plan
	for _, e := range v.Events {
		if e.Type == event.PlanReady {
			plan = e.Plan
		}
	}
	if plan == nil || filepath.Base(plan.Archive) != "shop-x.tar.zst" {
		t.Fatalf("no plan in %+v", v.Events)
	}
	if _, _, a := f.svc.counts(); a != 0 {
		t.Fatal("applied before the confirmation")
	}
	// A restore waiting for its confirmation holds no lock.
	resp = f.do("POST", "/api/v1/backups", "application/json", nil)
	expect(t, resp, 202)
	f.waitState(decode[Accepted](t, resp).ID, jobs.Succeeded)
	expect(t, f.do("POST", "/api/v1/jobs/"+acc.ID+"/confirm", "", nil), 200)
	f.follow(acc.ID)
	f.waitState(acc.ID, jobs.Succeeded)
	expect(t, f.do("POST", "/api/v1/jobs/"+acc.ID+"/confirm", "", nil), 409)
	if _, p, a := f.svc.counts(); p != 1 || a != 1 || len(workLeft()) != 0 {
		t.Fatalf("prepared %d, applied %d, left %v", p, a, workLeft())
	}

	// Cancelled while it waits: nothing applied, the lock given back.
	resp = f.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(data))
	expect(t, resp, 202)
	acc = decode[Accepted](t, resp)
	f.waitState(acc.ID, jobs.Waiting)
	expect(t, f.do("DELETE", "/api/v1/jobs/"+acc.ID, "", nil), 202)
	f.waitState(acc.ID, jobs.Cancelled)
	expect(t, f.do("DELETE", "/api/v1/jobs/"+acc.ID, "", nil), 409)
	if _, _, a := f.svc.counts(); a != 1 || f.svc.isLocked() {
		t.Fatalf("applied %d, locked %v", a, f.svc.isLocked())
	}

	// Multipart, fields first, with yes: applied at once.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("yes", "true")
	fw, _ := mw.CreateFormFile("archive", "shop-y.tar.zst")
	fw.Write(data)
	mw.Close()
	resp = f.do("POST", "/api/v1/restore", mw.FormDataContentType(), &mp)
	expect(t, resp, 202)
	acc = decode[Accepted](t, resp)
	f.waitState(acc.ID, jobs.Succeeded)
	if _, _, a := f.svc.counts(); a != 2 {
		t.Fatalf("applied %d", a)
	}

	// A stored archive, by name.
	putArchive(context.Background(), f.svc.store, "shop-1.tar.zst", time.Now(), data)
	resp = f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"shop-1.tar.zst","yes":true}`))
	expect(t, resp, 202)
	acc = decode[Accepted](t, resp)
	f.waitState(acc.ID, jobs.Succeeded)
	expect(t, f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{"name":"gone.tar.zst"}`)), 404)
	expect(t, f.do("POST", "/api/v1/restore", "application/json", strings.NewReader(`{}`)), 400)
	st := decode[Status](t, f.do("GET", "/api/v1/status", "", nil))
	if st.Restore == nil || st.Restore.ID != acc.ID || !st.Restore.Succeeded {
		t.Fatalf("status %+v", st.Restore)
	}
}

// A client that goes away mid-upload leaves nothing: no file, no lock.
func TestUploadCutShortLeavesNothing(t *testing.T) {
	data := validArchive(t)
	f := newFixture(t, 0)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", f.url+"/api/v1/restore", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	pw.Write(data[:len(data)/2])
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	for range 500 {
		names, _ := filepath.Glob(filepath.Join(f.work, "restore", "*"))
		if len(names) == 0 && !f.svc.isLocked() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	names, _ := filepath.Glob(filepath.Join(f.work, "restore", "*", "*"))
	t.Fatalf("left %v, locked %v", names, f.svc.isLocked())
}

func TestNewRefusesAShortToken(t *testing.T) {
	_, err := New(context.Background(), Config{Token: "short"})
	if err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatal(err)
	}
}

// countingReader counts what the server read of a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// An upload whose declared length is over the limit is refused before
// the server reads it: a client sending gigabytes learns at once.
func TestDeclaredOversizeRefusedUnread(t *testing.T) {
	f := newFixture(t, 1000)
	body := &countingReader{r: bytes.NewReader(make([]byte, 5000))}
	req, _ := http.NewRequest("POST", f.url+"/api/v1/restore", body)
	req.ContentLength = 5000
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Expect", "100-continue")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	expect(t, resp, 413)
	if body.n != 0 {
		t.Fatalf("the client sent %d bytes of a refused upload", body.n)
	}
}
