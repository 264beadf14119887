package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-backup/docker-backup/internal/storage"
	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

func TestS3Conformance(t *testing.T) {
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	var n atomic.Int32
	storagetest.Suite{New: func(t *testing.T) storage.Backend {
		bucket := fmt.Sprintf("conf-%d", n.Add(1))
		gw.Bucket(t, bucket)
		b, err := storage.NewS3(gw.Config(), bucket, "site/a b")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if up := gw.Uploads(t, bucket); len(up) > 0 {
				t.Errorf("multipart uploads left behind: %q", up)
			}
		})
		return b
	}}.Run(t)
}

// Credentials from the shared files, as the AWS tools read them; none at
// all is a setup error that says what to set.
func TestS3SharedCredentials(t *testing.T) {
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "bkt")
	home := t.TempDir()
	for _, v := range []string{"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", home)
	cfg := storage.S3Config{Endpoint: gw.Endpoint, Region: "us-east-1", Profile: "backups"}
	if _, err := storage.NewS3(cfg, "bkt", ""); err == nil || !strings.Contains(err.Error(), "no S3 credentials") {
		t.Fatalf("without credentials: %v", err)
	}
	os.MkdirAll(filepath.Join(home, ".aws"), 0o700)
	os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte("[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[backups]\naws_access_key_id = "+gw.Access+"\naws_secret_access_key = "+gw.Secret+"\n"), 0o600)
	b, err := storage.NewS3(cfg, "bkt", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.List(context.Background()); err != nil {
		t.Fatalf("with the profile's credentials: %v", err)
	}
}

func TestS3Errors(t *testing.T) {
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "bkt")
	ctx := context.Background()

	cfg := gw.Config()
	cfg.SecretAccessKey = "wrong-secret-value"
	b, err := storage.NewS3(cfg, "bkt", "x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Create(ctx, "a.tar.zst")
	if err == nil || !strings.Contains(err.Error(), "credentials") || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("wrong credentials: %v", err)
	}

	b, _ = storage.NewS3(gw.Config(), "missing", "x")
	if _, err = b.Create(ctx, "a.tar.zst"); err == nil || !strings.Contains(err.Error(), "bucket missing does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
	if _, err = b.List(ctx); err == nil || !strings.Contains(err.Error(), "bucket missing does not exist") {
		t.Errorf("missing bucket, list: %v", err)
	}

	b, _ = storage.NewS3(gw.Config(), "bkt", "x")
	if _, err := b.Open(ctx, "gone.tar.zst"); !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "docker backup ls") {
		t.Errorf("missing object: %v", err)
	}

	for _, bad := range []string{"ftp://host", "http://host/path", "not a url"} {
		if _, err := storage.NewS3(storage.S3Config{Endpoint: bad}, "bkt", ""); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}

// A server that dies mid-upload: the commit fails, and nothing is listed
// once it is back.
func TestS3ServerDiesMidUpload(t *testing.T) {
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "bkt")
	ctx := context.Background()
	b, err := storage.NewS3(gw.Config(), "bkt", "")
	if err != nil {
		t.Fatal(err)
	}
	up, err := b.Create(ctx, "p.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 20 { // past the first part
		if _, err := up.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	gw.Kill()
	var werr error
	for range 40 {
		if _, werr = up.Write(chunk); werr != nil {
			break
		}
	}
	cerr := up.Commit(ctx)
	if cerr == nil {
		t.Fatal("commit succeeded with the server dead")
	}
	t.Logf("write: %v; commit: %v", werr, cerr)
	if !strings.Contains(cerr.Error(), "could not be aborted") {
		t.Errorf("the error does not say the unfinished upload is left: %v", cerr)
	}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	infos, err := b.List(ctx)
	if err != nil || len(infos) != 0 {
		t.Fatalf("after restart: %v, %v", infos, err)
	}
}
