//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

// s3Env is the environment that points the plugin at gw, as users set it
// for the AWS tools; the secret comes from a file.
func s3Env(t *testing.T, gw *storagetest.VersityGW, secret string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"AWS_ENDPOINT_URL=" + gw.Endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + gw.Access, "AWS_SECRET_ACCESS_KEY_FILE=" + f,
		"AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "AWS_ENDPOINT_URL_S3=",
	}
}

type lsEntry struct {
	Name, Project string
	Size          int64
	Foreign       bool
	SafetyBackup  bool
}

func ls(t *testing.T, dir string, env []string, args ...string) []lsEntry {
	t.Helper()
	r := backup(t, dir, env, append([]string{"ls", "--json"}, args...)...)
	if r.Err != nil {
		t.Fatalf("ls: %s", r)
	}
	var out []lsEntry
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("ls --json: %v: %s", err, r.Stdout)
	}
	return out
}

// TestS3RoundTrip: create straight to a bucket (no local copy), ls, restore
// on a fresh host from the bucket, prune.
func TestS3RoundTrip(t *testing.T) {
	requireEngine(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "backups")
	env := s3Env(t, gw, gw.Secret)
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)

	var names []string
	for i := range 2 {
		if i > 0 {
			time.Sleep(time.Second) // archive names are to the second
		}
		r := backup(t, p.Dir, env, "create", "-p", p.Name, "--to", "s3://backups/site/", "--json")
		if r.Err != nil {
			t.Fatalf("create to S3: %s", r)
		}
		var res struct{ Path string }
		json.Unmarshal([]byte(r.Stdout), &res)
		if !strings.HasPrefix(res.Path, "s3://backups/site/"+p.Name+"-") {
			t.Fatalf("archive at %q", res.Path)
		}
		names = append(names, filepath.Base(res.Path))
	}
	// Streamed: nothing written locally.
	noArchives(t, filepath.Join(p.Dir, "backups"))
	want := pgState(t, p)

	// Someone else's file under the prefix.
	other, err := storage.NewS3(gw.Config(), "backups", "site")
	if err != nil {
		t.Fatal(err)
	}
	up, err := other.Create(context.Background(), "handmade.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("not ours"))
	if err := up.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}

	list := ls(t, p.Dir, env, "s3://backups/site")
	if len(list) != 3 {
		t.Fatalf("ls: %+v", list)
	}
	if list[1].Name != names[1] || list[2].Name != names[0] || list[1].Project != p.Name || list[1].Size == 0 || list[1].Foreign {
		t.Errorf("ls, newest first: %+v (created %v)", list, names)
	}
	if list[0].Name != "handmade.tar.gz" || !list[0].Foreign {
		t.Errorf("the foreign archive: %+v", list[0])
	}
	if got := ls(t, p.Dir, env, "--project", p.Name, "s3://backups/site"); len(got) != 2 {
		t.Errorf("ls --project: %+v", got)
	}

	// inspect and verify read from the bucket.
	if r := backup(t, p.Dir, env, "inspect", "s3://backups/site/"+names[1]); r.Err != nil || !strings.Contains(r.Stdout, p.Name) {
		t.Errorf("inspect from S3: %s", r)
	}
	if r := backup(t, p.Dir, env, "verify", "s3://backups/site/"+names[1]); r.Err != nil || !strings.Contains(r.Stderr, "OK") {
		t.Errorf("verify from S3: %s", r)
	}

	// A new host: nothing of the project is left.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if r := p.compose(ctx, "down", "-v"); r.Err != nil {
		t.Fatal(r)
	}
	r := backup(t, p.Dir, env, "restore", "-p", p.Name, "-y", "s3://backups/site/"+names[1])
	if r.Err != nil {
		t.Fatalf("restore from S3: %s", r)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after a restore from S3 differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "backups", names[1])); err != nil {
		t.Errorf("no verified local copy: %v", err)
	}
	if local := ls(t, p.Dir, nil); len(local) != 1 || local[0].Name != names[1] || local[0].Foreign {
		t.Errorf("ls of the local copy: %+v", local)
	}
	// Again with --no-local-copy: the copy already there is the same
	// archive, verified, not downloaded again, and it is not removed: it
	// was the user's before this restore.
	r = backup(t, p.Dir, env, "restore", "-p", p.Name, "-y", "--no-local-copy", "s3://backups/site/"+names[1])
	if r.Err != nil || !strings.Contains(r.Stderr, "not downloaded again") {
		t.Fatalf("restore from S3 over a local copy: %s", r)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "backups", names[1])); err != nil {
		t.Errorf("--no-local-copy removed the copy that was there before: %v", err)
	}

	// prune: the dry run deletes nothing, then the older archive goes; the
	// foreign one stays.
	r = backup(t, p.Dir, env, "prune", "-p", p.Name, "--keep-last", "1", "--dry-run", "s3://backups/site")
	if r.Err != nil || !strings.Contains(r.Stderr, "delete  "+names[0]) || !strings.Contains(r.Stderr, "keep    "+names[1]) {
		t.Errorf("prune --dry-run: %s", r)
	}
	if got := ls(t, p.Dir, env, "s3://backups/site"); len(got) != 3 {
		t.Errorf("the dry run deleted: %+v", got)
	}
	if r := backup(t, p.Dir, env, "prune", "-p", p.Name, "--keep-last", "1", "s3://backups/site"); r.Err == nil || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("prune without a terminal or --force: %s", r)
	}
	r = backup(t, p.Dir, env, "prune", "-p", p.Name, "--keep-last", "1", "--force", "s3://backups/site")
	if r.Err != nil {
		t.Fatalf("prune: %s", r)
	}
	list = ls(t, p.Dir, env, "s3://backups/site")
	if len(list) != 2 || list[0].Name != "handmade.tar.gz" || list[1].Name != names[1] {
		t.Errorf("after prune: %+v", list)
	}
	if _, err := other.Stat(context.Background(), names[0]+storage.IndexSuffix); err == nil {
		t.Errorf("the pruned archive's index is left")
	}

	// An archive deleted between ls and restore.
	r = backup(t, p.Dir, env, "restore", "-p", p.Name, "-y", "s3://backups/site/"+names[0])
	if r.Err == nil || !strings.Contains(r.Stderr, "does not exist") {
		t.Errorf("restore of a deleted archive: %s", r)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("a refused restore changed the data")
	}
}

// TestS3Faults: each bad setting or fault fails with a clear error, leaves
// nothing that looks like a backup, and leaves the project running.
func TestS3Faults(t *testing.T) {
	requireEngine(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "backups")
	p := newProject(t, postgresProject(t))
	p.up()
	bigTable(t, p, 1_500_000)
	before := startedAt(t, p)
	bucket, err := storage.NewS3(gw.Config(), "backups", "")
	if err != nil {
		t.Fatal(err)
	}
	empty := func(what string) {
		t.Helper()
		if infos, err := bucket.List(context.Background()); err != nil || len(infos) != 0 {
			t.Errorf("%s: the bucket holds %v (%v)", what, infos, err)
		}
		noArchives(t, filepath.Join(p.Dir, "backups"))
		if after := startedAt(t, p); after != before {
			t.Errorf("%s: the project was not left as it was:\nbefore:\n%s\nafter:\n%s", what, before, after)
		}
	}

	// An unknown scheme is an error, not a folder named "gs:".
	r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", "gs://bucket/site/")
	if r.Err == nil || !strings.Contains(r.Stderr, "unknown storage scheme") {
		t.Errorf("create -o gs://: %s", r)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "gs:")); err == nil {
		t.Error("a folder named gs: was created")
	}

	r = backup(t, p.Dir, s3Env(t, gw, "wrong-secret-0123456789"), "create", "-p", p.Name, "-o", "s3://backups/")
	if r.Err == nil || !strings.Contains(r.Stderr, "credentials") || strings.Contains(r.Stderr, "wrong-secret") {
		t.Errorf("wrong credentials: %s", r)
	}
	empty("wrong credentials")

	env := s3Env(t, gw, gw.Secret)
	r = backup(t, p.Dir, env, "create", "-p", p.Name, "-o", "s3://nobucket/site/")
	if r.Err == nil || !strings.Contains(r.Stderr, "bucket nobucket does not exist") {
		t.Errorf("missing bucket: %s", r)
	}
	empty("missing bucket")

	// The server dies mid-upload.
	cmd, stderr := startBackupEnv(t, p, env, "create", "-p", p.Name, "-o", "s3://backups/", "--s3-part-size", "5MiB")
	deadline := time.Now().Add(60 * time.Second)
	for len(gw.Uploads(t, "backups")) == 0 || len(gw.Files(t, "backups")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no multipart upload under way within 60 s: %s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	gw.Kill()
	err = cmd.Wait()
	if err == nil {
		t.Fatalf("create succeeded with the server dead: %s", stderr)
	}
	if !strings.Contains(stderr.String(), "cannot reach the S3 endpoint") || !strings.Contains(stderr.String(), "could not be aborted") {
		t.Errorf("the error does not say what happened: %s", stderr)
	}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	empty("server killed mid-upload")
	// The unfinished upload, which could not be aborted, is no object.
	if ups := gw.Uploads(t, "backups"); len(ups) != 1 {
		t.Errorf("unfinished uploads: %v", ups)
	}
}
