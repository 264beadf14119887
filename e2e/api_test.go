//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/docker-backup/docker-backup/internal/archive"
)

// apiClient talks to the daemon's API on loopback with the token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c *apiClient) do(method, path, ctype string, body io.Reader, auth bool) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (c *apiClient) want(resp *http.Response, code int) []byte {
	c.t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		c.t.Fatalf("%s %s: %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b, code)
	}
	return b
}

type apiEvent struct {
	Seq     int             `json:"seq"`
	Type    string          `json:"type"`
	Step    string          `json:"step"`
	Bytes   int64           `json:"bytes"`
	Message string          `json:"message"`
	Error   string          `json:"error"`
	Plan    json.RawMessage `json:"plan"`
}

// follow reads a job's server-sent events until the job ends.
func (c *apiClient) follow(id string) []apiEvent {
	c.t.Helper()
	resp := c.do("GET", "/api/v1/jobs/"+id+"/events", "", nil, true)
	if resp.StatusCode != 200 {
		c.want(resp, 200)
	}
	var evs []apiEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e apiEvent
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				c.t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	return evs
}

func (c *apiClient) job(id string) (state string, events []apiEvent) {
	c.t.Helper()
	var v struct {
		State  string     `json:"state"`
		Events []apiEvent `json:"events"`
	}
	if err := json.Unmarshal(c.want(c.do("GET", "/api/v1/jobs/"+id, "", nil, true), 200), &v); err != nil {
		c.t.Fatal(err)
	}
	return v.State, v.Events
}

func accepted(t *testing.T, b []byte) string {
	t.Helper()
	var a struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.ID == "" {
		t.Fatalf("202 body %s: %v", b, err)
	}
	return a.ID
}

func lastFinished(t *testing.T, evs []apiEvent) apiEvent {
	t.Helper()
	if len(evs) == 0 || evs[len(evs)-1].Type != "finished" {
		t.Fatalf("the job did not finish: %+v", evs)
	}
	return evs[len(evs)-1]
}

// startAPIDaemon runs `docker backup daemon --listen` for the project,
// without a schedule, archives in a folder.
func startAPIDaemon(t *testing.T, p *project, store string, extra ...string) *apiClient {
	t.Helper()
	port := freePort(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	token := "e2e-token-" + strings.Repeat("x", 20)
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	args := append([]string{"daemon", "--cron", "none", "--project", p.Name, "--to", store,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--api-token-file", tokenFile,
		"--work-dir", filepath.Join(t.TempDir(), "work"), "--status-file", filepath.Join(t.TempDir(), "status.json")}, extra...)
	cmd, stderr := startBackup(t, p, args...)
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the daemon exited with %v:\n%s", err, stderr)
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Errorf("the daemon did not stop:\n%s", stderr)
		}
	})
	c := &apiClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), token: token}
	eventually(t, time.Minute, "the API answers /healthz:\n"+stderr.String(), func() bool {
		resp, err := http.Get(c.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// TestAPIBackupDownloadUploadRestore drives the daemon's API over real
// HTTP against a real stack: refusals first, then a backup followed to its
// end, downloaded and verified, and uploaded back to restore changed data.
func TestAPIBackupDownloadUploadRestore(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	want := pgState(t, p)
	store := t.TempDir()
	c := startAPIDaemon(t, p, store, "--max-upload-size", "100m")
	before := startedAt(t, p)

	// No token, or a wrong one: 401, and nothing happens.
	c.want(c.do("POST", "/api/v1/backups", "application/json", nil, false), 401)
	wrong := *c
	wrong.token = "not-the-token-not-the-token"
	wrong.want(wrong.do("POST", "/api/v1/backups", "application/json", nil, true), 401)
	wrong.want(wrong.do("GET", "/api/v1/backups", "", nil, true), 401)
	// Oversized and malformed uploads: 4xx, nothing stopped.
	c.want(c.do("POST", "/api/v1/restore", "application/octet-stream", bytes.NewReader(make([]byte, 101<<20)), true), 413)
	c.want(c.do("POST", "/api/v1/restore", "application/octet-stream", strings.NewReader("not an archive at all"), true), 422)
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Fatalf("refused requests wrote %v", entries)
	}
	if startedAt(t, p) != before {
		t.Fatal("a refused request stopped a container")
	}

	// Two backups at once: one 202, one 409.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	bodies := make([][]byte, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", c.base+"/api/v1/backups", nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			bodies[i], _ = io.ReadAll(resp.Body)
		}()
	}
	wg.Wait()
	if !(codes[0] == 202 && codes[1] == 409 || codes[0] == 409 && codes[1] == 202) {
		t.Fatalf("two concurrent POSTs: %v %s %s", codes, bodies[0], bodies[1])
	}
	won := 0
	if codes[1] == 202 {
		won = 1
	}
	id := accepted(t, bodies[won])
	evs := c.follow(id)
	if end := lastFinished(t, evs); end.Error != "" {
		t.Fatalf("the backup failed: %s", end.Error)
	}
	steps := 0
	for _, e := range evs {
		if e.Type == "step-finished" && e.Bytes > 0 {
			steps++
		}
	}
	if steps < 3 { // two databases, the volume
		t.Fatalf("steps with sizes: %d in %+v", steps, evs)
	}

	var list []struct {
		Name    string `json:"name"`
		Project string `json:"project"`
		Size    int64  `json:"size"`
	}
	json.Unmarshal(c.want(c.do("GET", "/api/v1/backups", "", nil, true), 200), &list)
	if len(list) != 1 || list[0].Project != p.Name {
		t.Fatalf("archives %+v", list)
	}
	name := list[0].Name

	// A client that leaves mid-download leaves nothing behind.
	resp := c.do("GET", "/api/v1/backups/"+name, "", nil, true)
	io.CopyN(io.Discard, resp.Body, 100)
	resp.Body.Close()
	// The whole download, verified by the CLI.
	resp = c.do("GET", "/api/v1/backups/"+name, "", nil, true)
	data := c.want(resp, 200)
	if int64(len(data)) != list[0].Size || resp.ContentLength != list[0].Size || !strings.HasPrefix(resp.Header.Get("ETag"), `"sha256-`) {
		t.Fatalf("download: %d bytes of %d, ETag %s", len(data), list[0].Size, resp.Header.Get("ETag"))
	}
	local := filepath.Join(t.TempDir(), name)
	os.WriteFile(local, data, 0o600)
	if r := backup(t, p.Dir, nil, "verify", local); r.Err != nil {
		t.Fatalf("verify of the download: %s", r)
	}
	req, _ := http.NewRequest("GET", c.base+"/api/v1/backups/"+name, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Range", "bytes=10-19")
	rr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rr.Body)
	rr.Body.Close()
	if rr.StatusCode != 206 || !bytes.Equal(part, data[10:20]) {
		t.Fatalf("range: %d %q", rr.StatusCode, part)
	}

	// An upload cut short leaves nothing, and no lock.
	pr, pw := io.Pipe()
	go func() {
		pw.Write(data[:len(data)/2])
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	req, _ = http.NewRequest("POST", c.base+"/api/v1/restore", pr)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("a cut upload was accepted: %d", resp.StatusCode)
		}
	}

	// The data changes; the upload brings it back, after the plan is
	// confirmed.
	change(t, p)
	if pgState(t, p) == want {
		t.Fatal("the change changed nothing")
	}
	var resp2 *http.Response
	eventually(t, 30*time.Second, "the lock of the cut upload is given back", func() bool {
		resp2 = c.do("POST", "/api/v1/restore?filename="+name, "application/octet-stream", bytes.NewReader(data), true)
		return resp2.StatusCode != 409
	})
	id = accepted(t, c.want(resp2, 202))
	var plan apiEvent
	eventually(t, 2*time.Minute, "the restore waits for its confirmation", func() bool {
		state, evs := c.job(id)
		for _, e := range evs {
			if e.Type == "plan" {
				plan = e
			}
		}
		if state == "failed" {
			t.Fatalf("the restore failed: %+v", evs)
		}
		return state == "waiting-confirmation"
	})
	if !strings.Contains(string(plan.Plan), `"dbdata"`) && !strings.Contains(string(plan.Plan), `"appdata"`) && !strings.Contains(string(plan.Plan), `"databases"`) {
		t.Fatalf("plan %s", plan.Plan)
	}
	if pgState(t, p) == want {
		t.Fatal("data changed before the confirmation")
	}
	c.want(c.do("POST", "/api/v1/jobs/"+id+"/confirm", "", nil, true), 200)
	if end := lastFinished(t, c.follow(id)); end.Error != "" {
		t.Fatalf("the restore failed: %s", end.Error)
	}
	if got := pgState(t, p); got != want {
		t.Fatalf("after the restore:\n%s\nwant:\n%s", got, want)
	}
	var st struct {
		Running bool `json:"running"`
		Restore struct {
			Succeeded bool `json:"succeeded"`
		} `json:"restore"`
	}
	json.Unmarshal(c.want(c.do("GET", "/api/v1/status", "", nil, true), 200), &st)
	if st.Running || !st.Restore.Succeeded {
		t.Fatalf("status %+v", st)
	}
}

// TestWebPage drives the page in a real headless chromium: log in with
// the token, back up, see the job finish and the archive listed, download
// it. Screenshots of each state go to the test's artifacts.
func TestWebPage(t *testing.T) {
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("chromium is needed (apt-get install chromium): %v", err)
	}
	p := newProject(t, postgresProject(t))
	p.up()
	store := t.TempDir()
	c := startAPIDaemon(t, p, store)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.WindowSize(390, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	shots := t.ArtifactDir()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg) // 100: PNG
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	fail := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("in the browser: %v (screenshots in %s)", err, shots)
		}
	}
	downloads := t.TempDir()
	fail(chromedp.Do(ctx, chromedp.Navigate(c.base+"/")))
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
	fail(err)
	fail(chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#token")),
		shot("1-login"),
		// A wrong token is refused and the login shows again.
		chromedp.SendKeys(chromedp.CSS("#token"), "wrong-token-wrong-token"),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	))
	loginErr, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#login-error")))
	fail(err)
	fail(chromedp.Do(ctx,
		chromedp.Clear(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), c.token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#main")),
		chromedp.WaitVisible(chromedp.CSS("#archives li.empty")),
		shot("2-logged-in"),
		chromedp.Click(chromedp.CSS("#backup-now")),
		chromedp.WaitVisible(chromedp.CSS("#job-result.ok")),
		shot("3-backup-done"),
		chromedp.WaitVisible(chromedp.CSS("#archives li.archive[data-name] button.download")),
		shot("4-archive-listed"),
		chromedp.Click(chromedp.CSS("#archives li.archive[data-name] button.download")),
	))
	if strings.TrimSpace(loginErr) == "" {
		t.Error("a wrong token showed no message")
	}
	entries, _ := os.ReadDir(store)
	var name string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar.zst") {
			name = e.Name()
		}
	}
	if name == "" {
		t.Fatalf("no archive in the storage: %v", entries)
	}
	result, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#job-result")))
	if !strings.Contains(result, "succeeded") {
		t.Errorf("result %q", result)
	}
	path := filepath.Join(downloads, name)
	eventually(t, time.Minute, "the browser downloads "+name, func() bool {
		fi, err := os.Stat(path)
		want, err2 := os.Stat(filepath.Join(store, name))
		return err == nil && err2 == nil && fi.Size() == want.Size()
	})
	if r := backup(t, p.Dir, nil, "verify", path); r.Err != nil {
		t.Fatalf("verify of the browser's download: %s", r)
	}
	fail(chromedp.Do(ctx, shot("5-downloaded")))
}

// slowBody sends data one byte every pause, as the attack did (154 bytes
// in 160 s), until it is closed.
type slowBody struct {
	data  []byte
	pause time.Duration
	sent  atomic.Int64
	stop  chan struct{}
	once  sync.Once
}

func (b *slowBody) Read(p []byte) (int, error) {
	n := b.sent.Load()
	if n >= int64(len(b.data)) {
		return 0, io.EOF
	}
	if n > 0 {
		select {
		case <-time.After(b.pause):
		case <-b.stop:
			return 0, errors.New("closed")
		}
	}
	p[0] = b.data[n]
	b.sent.Add(1)
	return 1, nil
}

func (b *slowBody) Close() error {
	b.once.Do(func() { close(b.stop) })
	return nil
}

// TestAPITrickledUploadHoldsNoLock trickles an upload into the real
// daemon: while it trickles, a backup of the project is accepted and
// completes; the daemon cuts the trickle (less than 64 KiB in a minute)
// and the lock is free after it.
func TestAPITrickledUploadHoldsNoLock(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	store := t.TempDir()
	c := startAPIDaemon(t, p, store)

	// The start of a real archive: the daemon reads it, waiting for more.
	var arch bytes.Buffer
	aw, err := archive.NewWriter(&arch, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(&archive.Manifest{Project: archive.Project{Name: p.Name}}); err != nil {
		t.Fatal(err)
	}
	body := &slowBody{data: arch.Bytes(), pause: time.Second, stop: make(chan struct{})}
	t.Cleanup(func() { body.Close() })
	if len(body.data) < 90 {
		t.Fatalf("an archive of %d bytes would arrive whole before the cut", len(body.data))
	}
	req, _ := http.NewRequest("POST", c.base+"/api/v1/restore?filename=shop.tar.zst", body)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	type answer struct {
		code  int
		body  []byte
		err   error
		after time.Duration
	}
	answered := make(chan answer, 1)
	start := time.Now()
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err, after: time.Since(start)}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{code: resp.StatusCode, body: b, after: time.Since(start)}
	}()
	eventually(t, 30*time.Second, "the upload is under way", func() bool { return body.sent.Load() >= 5 })

	resp := c.do("POST", "/api/v1/backups", "application/json", nil, true)
	id := accepted(t, c.want(resp, 202))
	select {
	case a := <-answered:
		t.Fatalf("the upload ended before the backup was accepted: %+v", a)
	default:
	}
	if end := lastFinished(t, c.follow(id)); end.Error != "" {
		t.Fatalf("the backup during the upload failed: %s", end.Error)
	}

	var a answer
	select {
	case a = <-answered:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the trickle was not cut: %d bytes sent in %s", body.sent.Load(), time.Since(start))
	}
	if a.err != nil || a.code != 408 || !strings.Contains(string(a.body), "less than 64KiB in 1m0s") {
		t.Fatalf("the trickled upload: %d %s (%v) after %s, %d bytes sent", a.code, a.body, a.err, a.after, body.sent.Load())
	}
	t.Logf("the trickle was cut after %s, %d bytes sent", a.after.Round(time.Second), body.sent.Load())
	// Nothing of it is left, and the lock is free.
	entries, _ := os.ReadDir(store)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), p.Name+"-") {
			t.Errorf("the store holds %s", e.Name())
		}
	}
	id = accepted(t, c.want(c.do("POST", "/api/v1/backups", "application/json", nil, true), 202))
	if end := lastFinished(t, c.follow(id)); end.Error != "" {
		t.Fatalf("the backup after the upload failed: %s", end.Error)
	}
}
