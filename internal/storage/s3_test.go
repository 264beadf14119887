package storage_test

import (
	"context"
	"errors"
	"fmt"
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
